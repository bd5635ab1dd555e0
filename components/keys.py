"""LatticeKeys: the stored entropy of every key, and the credentials minted from it."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pulumi
import pulumi_random as random

from components.base import LatticeComponent, secret
from lattice.credentials import (
    KEY_ENTROPY_BYTES,
    OPERATOR_KEY,
    SYSTEM_ACCOUNT_KEY,
    ChildLogin,
    account_key,
    child_login,
    hub_trust,
    leaf_user_creds,
    leaf_user_key,
    plan_key_names,
    revocations,
    revoked_key_names,
    service_key,
    service_user_creds,
)
from lattice.natsconf import render_trust
from lattice.permissions import leaf_permissions
from lattice.plan import LatticePlan

TYPE = "wasmcloud-lattice:index:LatticeKeys"


class LatticeKeys(LatticeComponent):
    """One ``random.RandomBytes`` (32 bytes) per key: the operator, the SYS account, an
    account and a service user per lattice on the hubs, and one leaf user per spoke and
    key generation, retired spokes included.

    Entropy lives only in Pulumi's encrypted state, so keys are stable across runs;
    nkeys, JWTs and ``.creds`` come from it through :mod:`lattice.credentials`, the
    code the sandbox uses. Each credential is derived from just the keys it needs, so a
    spoke's secrets depend on its own key and the account's, and adding a spoke adds one
    resource and changes none.
    """

    trust_conf: pulumi.Output[str]
    """The hubs' ``trust.conf``: operator and account JWTs (with revocations), public by design."""
    service_creds: pulumi.Output[str]
    """``.creds`` of the cloud-side service user of the stack's own lattice (a secret)."""
    lattice_service_creds: dict[str, pulumi.Output[str]]
    """Lattice -> its service user's ``.creds`` (secrets), one per lattice on the hubs."""

    def __init__(self, name: str, plan: LatticePlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self._entropy: dict[str, pulumi.Output[bytes]] = {}
        for key in plan_key_names(plan):
            stored = random.RandomBytes(f"{name}-{key}", length=KEY_ENTROPY_BYTES, opts=self.child())
            self._entropy[key] = secret(stored.base64).apply(base64.b64decode)

        self._plan = plan
        lattices = plan.all_lattices
        revoked_keys = revoked_key_names(plan)
        flat = [(lat, k) for lat in lattices for k in revoked_keys.get(lat, ())]

        def trust(values: list[bytes]) -> str:
            operator, system = values[0], values[1]
            accounts = dict(zip(lattices, values[2 : 2 + len(lattices)], strict=True))
            revoked_entropy = values[2 + len(lattices) :]
            entropy = {k: e for (_, k), e in zip(flat, revoked_entropy, strict=True)}
            revoked = {lat: revocations(revoked_keys.get(lat, ()), entropy) for lat in lattices}
            return render_trust(hub_trust(plan.lattice, operator, system, accounts, revoked=revoked))

        parts = [self._entropy[OPERATOR_KEY], self._entropy[SYSTEM_ACCOUNT_KEY]]
        parts += [self._account(lat) for lat in lattices]
        parts += [self._entropy[k] for _, k in flat]
        # JWTs and public keys only: the hygiene tests check it carries no seed.
        self.trust_conf = pulumi.Output.unsecret(pulumi.Output.all(*parts).apply(trust))
        self.lattice_service_creds = {lat: self._service_creds(lat) for lat in lattices}
        self.service_creds = self.lattice_service_creds[plan.lattice]
        self.register_outputs(
            {
                "trustConf": self.trust_conf,
                "serviceCreds": self.service_creds,
                "latticeServiceCreds": self.lattice_service_creds,
            }
        )

    def _account(self, lattice: str) -> pulumi.Output[bytes]:
        return self._entropy[account_key(lattice, lattice == self._plan.lattice)]

    def _service_creds(self, lattice: str) -> pulumi.Output[str]:
        service = self._entropy[service_key(lattice, lattice == self._plan.lattice)]
        return secret(
            pulumi.Output.all(self._account(lattice), service).apply(lambda v: service_user_creds(lattice, v[0], v[1]))
        )

    def _leaf_key(self, spoke: str) -> pulumi.Output[bytes]:
        """The spoke's current key generation."""
        return self._entropy[leaf_user_key(spoke, self._plan.spoke(spoke).key_rotation)]

    def leaf_creds(self, spoke: str, *, websocket: bool = False) -> pulumi.Output[str]:
        """``.creds`` of a spoke that dials a hub (a secret), with its subject allow-lists."""
        allow = leaf_permissions(self._plan, spoke)
        lattice = self._plan.lattice_of(spoke)
        parts = pulumi.Output.all(self._account(lattice), self._leaf_key(spoke))
        return secret(parts.apply(lambda v: leaf_user_creds(spoke, v[0], v[1], websocket=websocket, allow=allow)))

    def child_login(self, spoke: str) -> pulumi.Output[ChildLogin]:
        """The login of a spoke that dials a mid-tier spoke (a secret)."""
        return secret(self._leaf_key(spoke).apply(lambda e: child_login(spoke, e)))

    def child_logins(self, spokes: Sequence[str]) -> pulumi.Output[dict[str, ChildLogin]]:
        """Logins of a mid-tier spoke's children (a secret; only their hashes reach it)."""
        logins = {s: self.child_login(s) for s in spokes}
        return secret(pulumi.Output.from_input(logins))
