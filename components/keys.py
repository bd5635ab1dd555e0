"""LatticeKeys: the stored entropy of every key, and the credentials minted from it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

import pulumi
import pulumi_random as random

from components.base import LatticeComponent, secret
from lattice.credentials import (
    ChildLogin,
    Recipe,
    agent_recipe,
    child_login_recipe,
    leaf_creds_recipe,
    plan_key_names,
    service_creds_recipe,
    trust_recipe,
)
from lattice.natsconf import render_trust
from lattice.plan import LatticePlan

TYPE = "wasmcloud-lattice:index:LatticeKeys"
T = TypeVar("T")


KEY_SOURCE_CHARS = 64
"""Characters of each key's stored random string (letters and digits: 64 x log2(62), about
381 bits), hashed to the key's 32 bytes of entropy."""


def key_entropy(stored: str) -> bytes:
    """A key's 32 bytes of entropy from its stored random string."""
    return hashlib.sha256(stored.encode()).digest()


class LatticeKeys(LatticeComponent):
    """One ``random.RandomPassword`` per key: the operator, the SYS account, an account and
    a service user per lattice on the hubs, and one leaf user per spoke and key generation,
    retired spokes included.

    A RandomPassword, not a RandomBytes: pulumi-random makes a RandomBytes' id its
    ``base64`` value (``computeRandomBytesID``), and a resource id is never encrypted, so
    every key's entropy would sit in the state in clear. A RandomPassword's id is ``none``
    and its ``result`` a secret. Entropy lives only in Pulumi's encrypted state, so keys
    are stable across runs;
    nkeys, JWTs and ``.creds`` come from it through the recipes of
    :mod:`lattice.credentials`, the ones the sandbox assembles from. Each credential is
    derived from just the keys its recipe names, so a spoke's secrets depend on its own
    key and the account's, and adding a spoke adds one resource and changes none.
    """

    trust_conf: pulumi.Output[str]
    """The hubs' ``trust.conf``: operator and account JWTs (with revocations), public by design."""
    service_creds: pulumi.Output[str]
    """``.creds`` of the cloud-side service user of the stack's own lattice (a secret)."""
    lattice_service_creds: dict[str, pulumi.Output[str]]
    """Lattice -> its service user's ``.creds`` (secrets), one per lattice on the hubs."""
    agent_jwt: pulumi.Output[str] | None
    """The hub-stream agent's bearer JWT (a secret), where the plan declares ``hubStreams``."""

    def __init__(self, name: str, plan: LatticePlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self._plan = plan
        self._entropy: dict[str, pulumi.Output[bytes]] = {}
        for key in plan_key_names(plan):
            stored = random.RandomPassword(f"{name}-{key}", length=KEY_SOURCE_CHARS, special=False, opts=self.child())
            self._entropy[key] = secret(stored.result).apply(key_entropy)

        # JWTs and public keys only: the hygiene tests check it carries no seed.
        self.trust_conf = pulumi.Output.unsecret(self._derive(trust_recipe(plan)).apply(render_trust))
        self.lattice_service_creds = {lat: self._derive(service_creds_recipe(plan, lat)) for lat in plan.all_lattices}
        self.service_creds = self.lattice_service_creds[plan.lattice]
        self.agent_jwt = self._derive(agent_recipe(plan)) if plan.hub_streams else None
        self.register_outputs(
            {
                "trustConf": self.trust_conf,
                "serviceCreds": self.service_creds,
                "latticeServiceCreds": self.lattice_service_creds,
            }
        )

    def _derive(self, recipe: Recipe[T]) -> pulumi.Output[T]:
        """The recipe's credential from exactly its keys' entropy (a secret)."""
        return secret(pulumi.Output.all(*[self._entropy[k] for k in recipe.keys]).apply(recipe.make))

    def leaf_creds(self, spoke: str, sources: pulumi.Input[Sequence[str]] = ()) -> pulumi.Output[str]:
        """``.creds`` of a spoke that dials a hub (a secret), with its subject allow-lists,
        usable only from ``sources`` (its egress CIDRs, e.g. an Elastic IP known at deploy
        time; empty: from anywhere)."""
        given = pulumi.Output.from_input(sources)
        return secret(given.apply(lambda cidrs: self._derive(leaf_creds_recipe(self._plan, spoke, tuple(cidrs)))))

    def child_login(self, spoke: str) -> pulumi.Output[ChildLogin]:
        """The login of a spoke that dials a mid-tier spoke (a secret)."""
        return self._derive(child_login_recipe(self._plan, spoke))

    def child_logins(self, spokes: Sequence[str]) -> pulumi.Output[dict[str, ChildLogin]]:
        """Logins of a mid-tier spoke's children (a secret; only their hashes reach it)."""
        logins = {s: self.child_login(s) for s in spokes}
        return secret(pulumi.Output.from_input(logins))
