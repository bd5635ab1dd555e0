"""What a spoke's leaf user may carry across its link to a hub: least privilege by subject
and by direction, so no site can command another site's wasmCloud hosts.

nats-server applies a leaf user's permissions on the hub's side of the link (for an
accepted leaf it swaps them, server/leafnode.go: "inside the hub need to be reversed since
data is flowing in the opposite direction"): ``publish`` is what the spoke may send up
into the hub (an LMSG outside it is a ``Publish Violation`` and closes the link),
``subscribe`` what the hub sends down (interest and deliveries outside it are dropped).

- **up**: what a site's hosts say to the cloud: their heartbeats (v2) or lattice events
  (v1), replies, the application's own subjects, and what the hub streams that name the
  site need (:mod:`lattice.jetstream`). Never a host command, never the hubs' JetStream
  API beyond resetting the site's own mirror consumers: a site cannot create, change,
  purge or delete a stream or consumer at the hubs, nor read the account's usage.
- **down**: what the cloud sends a site: host commands, replies to the site's own
  requests (``_INBOX.>``), its JetStream domains' API (the cloud manages a site's own
  streams), the application's subjects, and its hub streams' deliveries to it.
- **replies** go up on ``_INBOX.>``: the ``resp`` claim (``allow_responses``) cannot
  replace it for a leaf user. A spoke forwards a reply only where the hub advertised
  interest in the requester's inbox, which it does only where the leaf user may publish;
  and nats-server 2.15.1 refuses even a leaf's answer to the inbox it just delivered
  (``Publish Violation``). Both tested live in the attack suite.

A spoke never forwards what its lists refuse: the hub tells it its lists when the link
comes up, and a local client's request outside them gets no responder (measured: the
link stays up). Only a hand-made leaf connection sends it, and the hub closes that one.

A host's id is random per start (``wash host`` has no id option), so commands sent down
cannot be scoped to one site's own hosts by subject: see README, Threat model.

A spoke that dials a mid-tier spoke logs in with a password (config mode), and
nats-server has no permissions for such leaf users; its traffic reaches the hub only
through the mid-tier spoke's leaf user, whose lists cover its whole subtree.
"""

from __future__ import annotations

from dataclasses import dataclass

from lattice.jetstream import Grants, site_grants
from lattice.jetstream_sync import domain_api
from lattice.plan import LatticePlan
from lattice.profiles import Profile, subjects_of


@dataclass(frozen=True)
class LeafAllow:
    publish: tuple[str, ...]
    """Up: what the spoke may send into the hub."""
    subscribe: tuple[str, ...]
    """Down: what the hub may send to the spoke."""


def profile_subjects(plan: LatticePlan, lattice: str) -> Profile:
    return subjects_of(plan.leaf_profile, lattice)


def leaf_permissions(plan: LatticePlan, spoke: str) -> LeafAllow:
    """The allow-lists of ``spoke``'s leaf user (a spoke that dials a hub): the profile's
    subjects and the application's both ways; down, the JetStream API of every spoke the
    link carries (its subtree); both ways, what the subtree's hub streams need."""
    profile = profile_subjects(plan, plan.lattice_of(spoke))
    subtree = plan.subtree(spoke)
    grants = Grants()
    for name in subtree:
        grants |= site_grants(plan, name)
    up = {*profile.up, *plan.leaf_subjects, *grants.up}
    down = {
        *profile.down,
        *plan.leaf_subjects,
        *grants.down,
        *(f"{domain_api(plan.spoke(s).jetstream_domain)}.>" for s in subtree),
    }
    return LeafAllow(publish=tuple(sorted(up)), subscribe=tuple(sorted(down)))
