"""What a spoke's leaf user may carry across its link to a hub: least privilege by subject.

nats-server applies a leaf user's permissions on the hub's side of the link: ``publish``
is what the spoke may send into the hub, ``subscribe`` what interest it may register (so
what the hub sends down). Both lists are the same here: the wasmCloud subjects of the
lattice's profile, the JetStream API of the hub and of every spoke the link carries, and
the application's own subjects from the stack. Anything else never crosses.

A spoke that dials a mid-tier spoke logs in with a password (config mode), and
nats-server has no permissions for such leaf users; its traffic reaches the hub only
through the mid-tier spoke's leaf user, whose lists cover its whole subtree.
"""

from __future__ import annotations

from dataclasses import dataclass

from lattice.plan import LatticePlan

PROFILES: dict[str, tuple[str, ...]] = {
    # wasmCloud v2: the runtime's control and data subjects; replies on inboxes.
    "wasmcloud-v2": ("runtime.>", "_INBOX.>"),
    # wasmCloud v1: control interface, wadm, wRPC under the lattice name, KV buckets.
    "wasmcloud-v1": ("wasmbus.>", "wadm.api.{lattice}.>", "{lattice}.>", "$KV.>", "_INBOX.>"),
}


@dataclass(frozen=True)
class LeafAllow:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def profile_subjects(plan: LatticePlan, lattice: str) -> tuple[str, ...]:
    return tuple(s.format(lattice=lattice) for s in PROFILES[plan.leaf_profile])


def leaf_permissions(plan: LatticePlan, spoke: str) -> LeafAllow:
    """The allow-lists of ``spoke``'s leaf user (a spoke that dials a hub)."""
    domains = [plan.hub_domain, *(plan.spoke(s).jetstream_domain for s in plan.subtree(spoke))]
    lattice = plan.lattice_of(spoke)
    subjects = {*profile_subjects(plan, lattice), *plan.leaf_subjects, *(f"$JS.{d}.API.>" for d in domains)}
    allowed = tuple(sorted(subjects))
    return LeafAllow(publish=allowed, subscribe=allowed)
