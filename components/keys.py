"""LatticeKeys: the stored entropy of every key, and the credentials minted from it."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pulumi
import pulumi_random as random

from components.credentials import KEY_ENTROPY_BYTES, LatticeAuth, lattice_auth_for_plan, plan_key_names
from components.natsconf import render_trust
from components.plan import LatticePlan
from components.platforms.aws import LatticeComponent

TYPE = "wasmcloud-lattice:index:LatticeKeys"


class LatticeKeys(LatticeComponent):
    """One ``random.RandomBytes`` (32 bytes) per key: the operator, the SYS and lattice
    accounts, the service user and one leaf user per spoke, retired spokes included.

    Entropy lives only in Pulumi's encrypted state, so keys are stable across runs;
    nkeys, JWTs and ``.creds`` come from it through :mod:`components.credentials`, the
    code the sandbox uses. Adding a spoke adds one resource and changes none.
    """

    auth: pulumi.Output[LatticeAuth]
    """Every credential of the lattice (a secret)."""
    trust_conf: pulumi.Output[str]
    """The hubs' ``trust.conf``: operator and account JWTs, public by design."""
    service_creds: pulumi.Output[str]
    """``.creds`` of the cloud-side service user (a secret)."""

    def __init__(self, name: str, plan: LatticePlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        entropy: dict[str, pulumi.Output[str]] = {}
        for key in plan_key_names(plan):
            stored = random.RandomBytes(f"{name}-{key}", length=KEY_ENTROPY_BYTES, opts=self.child())
            entropy[key] = pulumi.Output.secret(stored.base64)

        def mint(values: Mapping[str, str]) -> LatticeAuth:
            return lattice_auth_for_plan(plan, {k: base64.b64decode(v) for k, v in values.items()})

        self.auth = pulumi.Output.secret(pulumi.Output.all(**entropy).apply(mint))
        # JWTs and public keys only: checked by the hygiene tests to carry no seed.
        self.trust_conf = pulumi.Output.unsecret(self.auth.apply(lambda a: render_trust(a.trust)))
        self.service_creds = pulumi.Output.secret(self.auth.apply(lambda a: a.service_creds))
        self.register_outputs({"trustConf": self.trust_conf, "serviceCreds": self.service_creds})
