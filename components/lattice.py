"""Lattice: a whole validated spec as resources: keys, every hub region, every spoke."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.hub import HubCluster, HubClusterArgs
from components.keys import LatticeKeys
from components.outputs import spoke_connection
from components.plan import LatticePlan, plan_lattice
from components.platforms.aws import LatticeComponent, RegionLookups
from components.spec import HubSpec, LatticeSpec, LatticeSpecError, Problem, SpokeSpec
from components.spoke import EdgeSpoke, EdgeSpokeArgs

TYPE = "wasmcloud-lattice:index:Lattice"
DEPLOYABLE_PLATFORMS = ("aws",)


def undeployable(spec: LatticeSpec) -> list[Problem]:
    """Spec entries the program cannot build yet (the sandbox runs them all)."""
    problems = []
    groups: tuple[tuple[str, Sequence[HubSpec | SpokeSpec]], ...] = (("hubs", spec.hubs), ("spokes", spec.spokes))
    for kind, entries in groups:
        for i, entry in enumerate(entries):
            if entry.platform not in DEPLOYABLE_PLATFORMS:
                problems.append(
                    Problem(
                        f"lattice.{kind}[{i}].platform",
                        f"platform {entry.platform!r} is not deployable by this program yet (supported: "
                        + ", ".join(DEPLOYABLE_PLATFORMS)
                        + ")",
                    )
                )
    return problems


class Lattice(LatticeComponent):
    """The whole lattice. Creates ``LatticeKeys``, one ``HubCluster`` per hub region with
    gateways wired to every other region, and one ``EdgeSpoke`` per spoke in upstream
    order (a mid-tier spoke before its children, its leaf port open to them only)."""

    plan: LatticePlan
    keys: LatticeKeys
    hub_clusters: dict[str, HubCluster]
    edge_spokes: dict[str, EdgeSpoke]
    hubs: dict[str, dict[str, pulumi.Output[Any]]]
    """Per hub region: ``leafUrls``, ``gatewayUrls``, ``clientUrls``, ``jsDomain``."""
    spokes: dict[str, dict[str, Any]]
    """Per spoke: its connection outputs, and ``creds`` (a secret)."""
    service_creds: pulumi.Output[str]

    def __init__(self, name: str, spec: LatticeSpec, opts: pulumi.ResourceOptions | None = None):
        problems = undeployable(spec)
        if problems:
            raise LatticeSpecError(f"Lattice {name}", problems)
        super().__init__(TYPE, name, None, opts)
        self.plan = plan = plan_lattice(spec)
        self.keys = keys = LatticeKeys(f"{name}-keys", plan, opts=self.child())
        lookups = RegionLookups()

        # Each region's nodes need every other region's gateway addresses, and the other
        # way round; deferred outputs close that loop (addresses do not depend on nodes).
        deferred = {h.name: pulumi.deferred_output() for h in spec.hubs}  # type: ignore[var-annotated]
        self.hub_clusters = {}
        for hub in spec.hubs:
            peers = {p.name: deferred[p.name][0] for p in spec.hubs if p.name != hub.name}
            args = HubClusterArgs(
                plan=plan, hub=hub, trust_conf=self.keys.trust_conf, peer_gateway_hosts=peers, lookups=lookups
            )
            self.hub_clusters[hub.name] = HubCluster(f"{name}-{hub.name}", args, opts=self.child())
        for hub_name, (_, resolve) in deferred.items():
            resolve(self.hub_clusters[hub_name].gateway_hosts)

        # A mid-tier spoke opens its leaf port to its children's addresses, known later.
        child_ips = {s.name: pulumi.deferred_output() for s in plan.spokes if s.is_mid_tier}  # type: ignore[var-annotated]
        self.edge_spokes = {}
        spoke_specs = {s.name: s for s in spec.spokes}
        for planned in plan.spokes:
            entry = spoke_specs[planned.name]
            self.edge_spokes[planned.name] = EdgeSpoke(
                f"{name}-{planned.name}",
                EdgeSpokeArgs(
                    plan=plan,
                    spoke=entry,
                    upstream_urls=(
                        self.hub_clusters[planned.upstream].leaf_urls
                        if planned.upstream_is_hub
                        else self.edge_spokes[planned.upstream].leaf_urls
                    ),
                    leaf_creds=keys.leaf_creds(planned.name, websocket=planned.leaf_transport == "websocket")
                    if planned.upstream_is_hub
                    else None,
                    upstream_login=None if planned.upstream_is_hub else keys.child_login(planned.name),
                    child_logins=keys.child_logins(planned.children) if planned.is_mid_tier else {},
                    child_cidrs=child_ips[planned.name][0] if planned.is_mid_tier else [],
                    lookups=lookups,
                ),
                opts=self.child(),
            )
        for mid_tier, (_, resolve) in child_ips.items():
            children = [self.edge_spokes[c].public_ip for c in plan.spoke(mid_tier).children]
            resolve(pulumi.Output.all(*children).apply(lambda ips: [f"{ip}/32" for ip in ips]))

        # Plain dicts of outputs, so each field keeps its own secretness when exported:
        # only ``creds`` is a secret, the rest stays readable in `pulumi stack output`.
        self.hubs = {
            h: {
                "leafUrls": c.leaf_urls,
                "gatewayUrls": c.gateway_urls,
                "clientUrls": c.client_urls,
                "jsDomain": c.jetstream_domain,
            }
            for h, c in self.hub_clusters.items()
        }
        self.spokes = {s: {**spoke_connection(plan, s), "creds": e.creds} for s, e in self.edge_spokes.items()}
        self.service_creds = self.keys.service_creds
        self.register_outputs({"hubs": self.hubs, "spokes": self.spokes, "serviceCreds": self.service_creds})
