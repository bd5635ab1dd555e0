"""LatticeKeys: the stored entropy of every key, and the credentials minted from it."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pulumi
import pulumi_random as random

from components.base import LatticeComponent, secret
from components.credentials import (
    KEY_ENTROPY_BYTES,
    LATTICE_ACCOUNT_KEY,
    OPERATOR_KEY,
    SERVICE_USER_KEY,
    SYSTEM_ACCOUNT_KEY,
    ChildLogin,
    child_login,
    hub_trust,
    leaf_user_creds,
    leaf_user_key,
    plan_key_names,
    revocations,
    revoked_key_names,
    service_user_creds,
)
from components.natsconf import render_trust
from components.permissions import leaf_permissions
from components.plan import LatticePlan

TYPE = "wasmcloud-lattice:index:LatticeKeys"


class LatticeKeys(LatticeComponent):
    """One ``random.RandomBytes`` (32 bytes) per key: the operator, the SYS and lattice
    accounts, the service user and one leaf user per spoke, retired spokes included.

    Entropy lives only in Pulumi's encrypted state, so keys are stable across runs;
    nkeys, JWTs and ``.creds`` come from it through :mod:`components.credentials`, the
    code the sandbox uses. Each credential is derived from just the keys it needs, so a
    spoke's secrets depend on its own key and the account's, and adding a spoke adds one
    resource and changes none.
    """

    trust_conf: pulumi.Output[str]
    """The hubs' ``trust.conf``: operator and account JWTs (with revocations), public by design."""
    service_creds: pulumi.Output[str]
    """``.creds`` of the cloud-side service user (a secret)."""

    def __init__(self, name: str, plan: LatticePlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self._lattice = plan.lattice
        self._entropy: dict[str, pulumi.Output[bytes]] = {}
        for key in plan_key_names(plan):
            stored = random.RandomBytes(f"{name}-{key}", length=KEY_ENTROPY_BYTES, opts=self.child())
            self._entropy[key] = secret(stored.base64).apply(base64.b64decode)

        self._plan = plan
        revoked_keys = revoked_key_names(plan)

        def trust(values: list[bytes]) -> str:
            operator, system, account, *revoked_entropy = values
            revoked = revocations(revoked_keys, dict(zip(revoked_keys, revoked_entropy, strict=True)))
            return render_trust(hub_trust(plan.lattice, operator, system, account, revoked_users=revoked))

        parts = [self._entropy[k] for k in (OPERATOR_KEY, SYSTEM_ACCOUNT_KEY, LATTICE_ACCOUNT_KEY)]
        parts += [self._entropy[k] for k in revoked_keys]
        # JWTs and public keys only: the hygiene tests check it carries no seed.
        self.trust_conf = pulumi.Output.unsecret(pulumi.Output.all(*parts).apply(trust))
        self.service_creds = secret(
            pulumi.Output.all(self._entropy[LATTICE_ACCOUNT_KEY], self._entropy[SERVICE_USER_KEY]).apply(
                lambda v: service_user_creds(plan.lattice, v[0], v[1])
            )
        )
        self.register_outputs({"trustConf": self.trust_conf, "serviceCreds": self.service_creds})

    def _leaf_key(self, spoke: str) -> pulumi.Output[bytes]:
        """The spoke's current key generation."""
        return self._entropy[leaf_user_key(spoke, self._plan.spoke(spoke).key_rotation)]

    def leaf_creds(self, spoke: str, *, websocket: bool = False) -> pulumi.Output[str]:
        """``.creds`` of a spoke that dials a hub (a secret), with its subject allow-lists."""
        allow = leaf_permissions(self._plan, spoke)
        parts = pulumi.Output.all(self._entropy[LATTICE_ACCOUNT_KEY], self._leaf_key(spoke))
        return secret(parts.apply(lambda v: leaf_user_creds(spoke, v[0], v[1], websocket=websocket, allow=allow)))

    def child_login(self, spoke: str) -> pulumi.Output[ChildLogin]:
        """The login of a spoke that dials a mid-tier spoke (a secret)."""
        return secret(self._leaf_key(spoke).apply(lambda e: child_login(spoke, e)))

    def child_logins(self, spokes: Sequence[str]) -> pulumi.Output[dict[str, ChildLogin]]:
        """Logins of a mid-tier spoke's children (a secret; only their hashes reach it)."""
        logins = {s: self.child_login(s) for s in spokes}
        return secret(pulumi.Output.from_input(logins))
