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
- **store and forward**: a hub stream may source a site's stream (``$JS.<domain>.API``) and
  a site's stream may mirror a hub stream (``$JS.<hub domain>.API``). JetStream's own
  replication subjects carry it (:data:`STREAM_REPLICATION`), each only in the direction
  its messages flow; none of them is a host command.
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


STREAM_REPLICATION = Profile(
    # nats-server/server/stream.go (trySetupSourceConsumer, setupMirrorConsumer) and
    # consumer.go (fcReply): a stream that sources or mirrors another domain's stream asks
    # that domain's API for a consumer, with its answer on ``$JSC.R.<id>``; the consumer
    # pushes to ``$JS.S.<id>`` (a source) or ``$JS.M.<id>`` (a mirror) and asks for flow
    # control on ``$JS.FC.<stream>.<consumer>.<id>``, which the receiving stream answers.
    # Without $JS.FC a consumer stops once 2 MB are unanswered (JsFlowControlMaxPending/16):
    # "stream source consumer stalled on flow control" (found live: 260 of 3000 8 KB messages).
    up=(  # a hub stream sources a site's stream: the site's consumer delivers up
        "$JS.S.>",  # deliveries to the hub's sourcing stream
        "$JS.FC.>",  # flow-control answers of the site's mirroring stream
        "$JSC.R.>",  # the site's API answering the hub stream's consumer create
    ),
    down=(  # a site's stream mirrors a hub stream: the hub's consumer delivers down
        "$JS.M.>",  # deliveries to the site's mirroring stream
        "$JS.FC.>",  # flow-control answers of the hub's sourcing stream
        "$JSC.R.>",  # the hub's API answering the site stream's consumer create
    ),
)
"""JetStream's replication subjects, by direction: with them and each domain's API a hub
stream sources a site's stream and a site mirrors a hub stream, across partitions (see
README, Store and forward). None is a host command. A site cannot feed data into another
site's replication: the hub's deliver subjects for a site's stream (``$JS.S.<id>``) travel
only on that site's link. It can overhear what the hub sends down to other sites' mirrors
(deliveries, flow control, consumer answers) and answer their flow control early, as it can
overhear the cloud's host commands to them (README, Threat model)."""


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
    JetStream API; down, that of every spoke the link carries (its subtree); both ways,
    JetStream's replication subjects in the direction their messages flow."""
    profile = profile_subjects(plan, plan.lattice_of(spoke))
    own_domains = [plan.spoke(s).jetstream_domain for s in plan.subtree(spoke)]
    up = {*profile.up, *STREAM_REPLICATION.up, *plan.leaf_subjects, f"$JS.{plan.hub_domain}.API.>"}
    down = {
        *profile.down,
        *STREAM_REPLICATION.down,
        *plan.leaf_subjects,
        *(f"$JS.{d}.API.>" for d in own_domains),
    }
    return LeafAllow(publish=tuple(sorted(up)), subscribe=tuple(sorted(down)))
