"""The hub streams of a lattice as JetStream sees them: the assets the hubs keep for the
sites (streams, a consumer per mirroring site, each site's own streams), and the subjects
each site's leaf link needs for them, by direction, and nothing more.

One source for both, so a grant exists exactly where a declared stream uses it. What each
recipe sends where (nats-server 2.15.1 ``server/stream.go``, checked live by
``tests/live/test_store_and_forward.py`` and the attack suite):

- **a hub stream sources a site's stream**: the hub asks the site's own API
  (``$JS.<site>.API.CONSUMER.CREATE.<stream>``, down, the cloud managing the site's
  streams); the site's API answers on ``$JSC.R.<id>`` and its consumer delivers to the
  deliver subject the hub stream chose, here ``$JS.S.<site domain>.S.<id>`` (the stream's
  ``external.deliver`` prefix), both up; the hub stream answers flow control on
  ``$JS.FC.<site stream>.<consumer>.<id>``, down. Without that answer the consumer stalls
  once 2 MB are unanswered.
- **a site mirrors a hub stream**: through a durable consumer the hub keeps for that site
  alone (``site-<domain>``, ``ack_policy: flow_control``, its deliver subject
  ``$JS.M.<domain>.<stream>`` fixed by the cloud), which the mirror binds to
  (``mirror.consumer``): the site sends up only ``CONSUMER.RESET.<stream>.site-<domain>``
  and its flow-control answers ``$JS.FC.<stream>.site-<domain>.<id>`` (they are its acks),
  and receives its deliveries and the reset's answer (``$JSC.R.<id>``). It creates no
  consumer, so it chooses no deliver subject, and the name in each subject is its own.
- **a site publishes into a hub stream** with acks: its own subjects (``{spoke}``) up, the
  ack on ``_INBOX.>`` down (the wasmCloud profile carries it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lattice.jetstream_sync import (
    HUB_API,
    domain_api,
    expand,
    for_site,
    mirror_consumer,
    mirror_deliver_subject,
    source_deliver_prefix,
)
from lattice.plan import HubStreamPlan, LatticePlan
from lattice.subjects import as_stream_subject

AGENT_INBOX = "_INBOX.jetstream-sync"
AGENT_CONFIG_FILE = "jetstream-sync.json"
AGENT_JWT_FILE = "jetstream-sync.jwt"
AGENT_PROGRAM = "jetstream_sync.py"


@dataclass(frozen=True)
class Grants:
    """Subjects one site's part in the hub streams needs across its link, by direction."""

    up: frozenset[str] = frozenset()
    down: frozenset[str] = frozenset()

    def __or__(self, other: Grants) -> Grants:
        return Grants(self.up | other.up, self.down | other.down)


def site_grants(plan: LatticePlan, spoke: str) -> Grants:
    """What ``spoke``'s own streams need (a mid-tier's link carries its children's too:
    :func:`lattice.permissions.leaf_permissions` joins the subtree's)."""
    domain = plan.spoke(spoke).jetstream_domain
    up: set[str] = set()
    down: set[str] = set()
    for stream in plan.hub_streams:
        if spoke in stream.publishers:
            up.update(for_site(s, spoke) for s in stream.subjects)
        if stream.sources is not None and spoke in stream.sources.spokes:
            up.update({f"{source_deliver_prefix(domain)}.>", "$JSC.R.>"})
            down.add(f"$JS.FC.{stream.sources.stream}.>")
        if stream.mirrors is not None and spoke in stream.mirrors.spokes:
            consumer = mirror_consumer(domain)
            up.add(f"{domain_api(plan.hub_domain)}.CONSUMER.RESET.{stream.name}.{consumer}")
            up.add(f"$JS.FC.{stream.name}.{consumer}.*")
            down.update({mirror_deliver_subject(domain, stream.name), "$JSC.R.>"})
    return Grants(frozenset(up), frozenset(down))


# --- the assets ---------------------------------------------------------------------------


def _hub_stream_config(plan: LatticePlan, stream: HubStreamPlan) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": stream.name,
        "storage": "file",
        "num_replicas": stream.replicas,
        "max_bytes": stream.max_bytes,
        "discard": stream.discard,
        # said when empty too, so subjects the stack drops are dropped at the hubs
        "subjects": [as_stream_subject(s) for s in stream.subjects],
    }
    if len(plan.hubs) > 1:  # a super-cluster: say which region's cluster holds it
        config["placement"] = {"cluster": stream.hub}
    return config


def _sites(plan: LatticePlan, spokes: Sequence[str]) -> list[list[str]]:
    return [[s, plan.spoke(s).jetstream_domain] for s in spokes]


def streams_document(plan: LatticePlan) -> list[dict[str, Any]]:
    """The hub streams with their sites, as the agent takes them (it makes every asset of
    them: :func:`lattice.jetstream_sync.expand`); a site costs its name and domain."""
    out = []
    for stream in plan.hub_streams:
        entry: dict[str, Any] = {"name": stream.name, "config": _hub_stream_config(plan, stream)}
        if stream.sources is not None:
            src = stream.sources
            entry["sources"] = {
                "stream": src.stream,
                "subjects": list(src.subjects),
                "config": {"storage": "file", "max_bytes": src.max_bytes, "discard": src.discard},
                "sites": _sites(plan, src.spokes),
            }
        if stream.mirrors is not None:
            entry["mirrors"] = {"stream": stream.mirrors.stream, "sites": _sites(plan, stream.mirrors.spokes)}
        out.append(entry)
    return out


def assets(plan: LatticePlan) -> list[dict[str, Any]]:
    """Every stream and consumer the agent keeps for ``plan``, in order: what the sandbox
    and the tests read, made by the agent's own expansion."""
    return expand({"hub_domain": plan.hub_domain, "streams": streams_document(plan)})


@dataclass(frozen=True)
class AgentPermissions:
    publish: tuple[str, ...]
    deny_publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def agent_permissions(plan: LatticePlan) -> AgentPermissions:
    """What the agent that keeps the assets may do: look up, create and update the declared
    hub streams and, in any site's domain, the declared site streams (never delete or purge
    a stream, never through the hubs' own domain prefix, where a site stream's name would
    make a hub stream); look up, create, update and delete the consumers of the declared hub
    streams (it deletes only ``site-*`` ones of sites no longer declared: a consumer's name
    is one token, which an allow-list cannot narrow by prefix); its own inbox."""
    publish: set[str] = set()
    for stream in plan.hub_streams:
        publish.update(f"{HUB_API}.STREAM.{verb}.{stream.name}" for verb in ("INFO", "CREATE", "UPDATE"))
        publish.update(f"{HUB_API}.CONSUMER.{verb}.{stream.name}.*" for verb in ("INFO", "CREATE", "DELETE"))
        publish.add(f"{HUB_API}.CONSUMER.NAMES.{stream.name}")
        site_streams = [s.stream for s in (stream.sources, stream.mirrors) if s is not None]
        for name in site_streams:
            publish.update(f"$JS.*.API.STREAM.{verb}.{name}" for verb in ("INFO", "CREATE", "UPDATE"))
    return AgentPermissions(
        publish=tuple(sorted(publish)),
        deny_publish=(f"{domain_api(plan.hub_domain)}.>",),
        subscribe=(f"{AGENT_INBOX}.>",),
    )


def agent_config(plan: LatticePlan, servers: Sequence[str], ca_file: str, jwt_file: str = AGENT_JWT_FILE) -> str:
    """The agent's settings (``jetstream-sync.json``): the hub servers it dials (their TLS
    client URLs), its files (relative to the settings' directory), the hub streams and
    their sites. Public: the bearer JWT it names is the secret, in its own file."""
    document = {
        "servers": list(servers),
        "ca_file": ca_file,
        "jwt_file": jwt_file,
        "inbox": AGENT_INBOX,
        "hub_domain": plan.hub_domain,
        "streams": streams_document(plan),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"


def site_quota(plan: LatticePlan, spoke: str) -> int:
    """The most bytes ``spoke`` can make the hubs store: every hub stream it publishes
    into or the hubs source from it, at its ``maxBytes`` times its replicas (a stream shared
    with other sites counts whole: one site may fill it). Mirrors store nothing at the hubs."""
    total = 0
    for stream in plan.hub_streams:
        feeds = spoke in stream.publishers or (stream.sources is not None and spoke in stream.sources.spokes)
        if feeds:
            total += stream.max_bytes * stream.replicas
    return total
