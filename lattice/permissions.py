"""What a spoke's leaf user may carry across its link to a hub: least privilege by subject
and by direction, so no site can command another site's wasmCloud hosts.

nats-server applies a leaf user's permissions on the hub's side of the link (for an
accepted leaf it swaps them, server/leafnode.go: "inside the hub need to be reversed since
data is flowing in the opposite direction"): ``publish`` is what the spoke may send up
into the hub (an LMSG outside it is a ``Publish Violation`` and closes the link),
``subscribe`` what the hub sends down (interest and deliveries outside it are dropped).

- **up**: what a site's hosts say to the cloud: their heartbeats (v2) or lattice events
  (v1), the hub's JetStream API, the application's own subjects. Never a host command.
- **down**: what the cloud sends a site: host commands, replies to the site's own
  requests (``_INBOX.>``), its JetStream domains' API, the application's subjects.
- **replies** go up on ``_INBOX.>``: the ``resp`` claim (``allow_responses``) cannot
  replace it for a leaf user. A spoke forwards a reply only where the hub advertised
  interest in the requester's inbox, which it does only where the leaf user may publish;
  and nats-server 2.15.1 refuses even a leaf's answer to the inbox it just delivered
  (``Publish Violation``). Both tested live in the attack suite.

A host's id is random per start (``wash host`` has no id option), so commands sent down
cannot be scoped to one site's own hosts by subject: see README, Threat model.

A spoke that dials a mid-tier spoke logs in with a password (config mode), and
nats-server has no permissions for such leaf users; its traffic reaches the hub only
through the mid-tier spoke's leaf user, whose lists cover its whole subtree.
"""

from __future__ import annotations

from dataclasses import dataclass

from lattice.plan import LatticePlan


@dataclass(frozen=True)
class Profile:
    """A wasmCloud version's subjects by direction (``{lattice}``: the lattice name)."""

    up: tuple[str, ...]
    down: tuple[str, ...]


PROFILES: dict[str, Profile] = {
    # wasmCloud v2: hosts publish heartbeats (runtime.operator.heartbeat.<id>) and take
    # commands on runtime.host.<id>.{workload.start,workload.stop,workload.status,heartbeat}.
    "wasmcloud-v2": Profile(
        up=("runtime.operator.heartbeat.*", "_INBOX.>"),
        down=("runtime.host.*.>", "_INBOX.>"),
    ),
    # wasmCloud v1: hosts publish lattice events (wasmbus.evt.<lattice>[.<type>], heartbeats
    # among them) and take the control interface (wasmbus.ctl.v1.<lattice>.>); wRPC between
    # components runs under <lattice>.> both ways. wadm's API (wadm.api.<lattice>.>) deploys
    # to every site's hosts, so it stays cloud-side.
    "wasmcloud-v1": Profile(
        up=("wasmbus.evt.{lattice}", "wasmbus.evt.{lattice}.>", "{lattice}.>", "_INBOX.>"),
        down=("wasmbus.ctl.v1.{lattice}.>", "{lattice}.>", "_INBOX.>"),
    ),
}


@dataclass(frozen=True)
class LeafAllow:
    publish: tuple[str, ...]
    """Up: what the spoke may send into the hub."""
    subscribe: tuple[str, ...]
    """Down: what the hub may send to the spoke."""


def profile_subjects(plan: LatticePlan, lattice: str) -> Profile:
    profile = PROFILES[plan.leaf_profile]
    return Profile(
        up=tuple(s.format(lattice=lattice) for s in profile.up),
        down=tuple(s.format(lattice=lattice) for s in profile.down),
    )


def leaf_permissions(plan: LatticePlan, spoke: str) -> LeafAllow:
    """The allow-lists of ``spoke``'s leaf user (a spoke that dials a hub): up, the hub's
    JetStream API; down, that of every spoke the link carries (its subtree)."""
    profile = profile_subjects(plan, plan.lattice_of(spoke))
    own_domains = [plan.spoke(s).jetstream_domain for s in plan.subtree(spoke)]
    up = {*profile.up, *plan.leaf_subjects, f"$JS.{plan.hub_domain}.API.>"}
    down = {*profile.down, *plan.leaf_subjects, *(f"$JS.{d}.API.>" for d in own_domains)}
    return LeafAllow(publish=tuple(sorted(up)), subscribe=tuple(sorted(down)))
