"""Lattice: a whole validated spec as resources: keys, every hub region, every spoke."""

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi

from components.base import LatticeComponent
from components.certificates import LatticeCA
from components.hub import HubCluster, HubClusterArgs
from components.keys import LatticeKeys
from components.platforms.contract import Lookups
from components.spoke import EdgeSpoke, EdgeSpokeArgs
from lattice.credentials import binds_source
from lattice.outputs import SpokeConnection, oci_mirror, spoke_connection
from lattice.plan import LatticePlan, plan_lattice
from lattice.problems import LatticeSpecError
from lattice.rules import deployment_problems
from lattice.spec import LatticeSpec

TYPE = "wasmcloud-lattice:index:Lattice"


class HubOutputs(TypedDict):
    """One hub region's outputs (stack output ``hubs.<hub>``). Typed, so other languages get
    typed fields (Pulumi YAML drops values nested in an untyped ``Any``)."""

    leafUrls: pulumi.Input[list[str]]
    websocketUrls: pulumi.Input[list[str]]
    gatewayUrls: pulumi.Input[list[str]]
    clientUrls: pulumi.Input[list[str]]
    jsDomain: pulumi.Input[str]


class SpokeOutputs(SpokeConnection):
    """One spoke's outputs (stack output ``spokes.<spoke>``): what the wasmCloud host beside it
    needs (:func:`lattice.outputs.spoke_connection`) and ``creds`` (a secret)."""

    creds: pulumi.Input[str]


class Lattice(LatticeComponent):
    """The whole lattice. Creates ``LatticeKeys``, one ``HubCluster`` per hub region with
    gateways wired to every other region (nothing for an external hub), and one
    ``EdgeSpoke`` per spoke in upstream order (a mid-tier spoke before its children, its
    leaf port open to them only). Platforms mix: a hub on Kubernetes, spokes on AWS."""

    # Class-level annotations are the component's outputs (the package schema reads them);
    # ``plan``, ``keys``, ``ca``, ``hub_clusters`` and ``edge_spokes`` are Python-only handles.
    hubs: dict[str, HubOutputs]
    """Per hub region: where spokes, other regions and cloud-side services reach it."""
    spokes: dict[str, SpokeOutputs]
    """Per spoke: its connection outputs, and ``creds`` (a secret)."""
    service_creds: pulumi.Output[str]
    lattice_service_creds: dict[str, pulumi.Output[str]]
    """Lattice -> the ``.creds`` of its cloud-side service user (secrets), one per lattice."""
    ca_cert: pulumi.Output[str]
    """The lattice CA certificate (public): clients of the hubs verify them against it."""

    def __init__(
        self,
        name: str,
        spec: LatticeSpec,
        secrets: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``secrets``: the secret config values the spec names (see :func:`lattice.rules.secret_names`)."""
        given = dict(secrets or {})
        problems = deployment_problems(spec, lambda key: key in given)
        if problems:
            raise LatticeSpecError(f"Lattice {name}", problems)
        super().__init__(TYPE, name, None, opts)
        self.plan: LatticePlan = plan_lattice(spec)
        plan = self.plan
        self.keys: LatticeKeys = LatticeKeys(f"{name}-keys", plan, opts=self.child())
        keys = self.keys
        self.ca: LatticeCA = LatticeCA(f"{name}-ca", plan.lattice, opts=self.child())
        ca = self.ca
        lookups = Lookups()
        hub_specs = {h.name: h for h in spec.hubs}
        built = [h for h in spec.hubs if not plan.hub(h.name).is_external]

        # Each region's nodes need every other region's gateway addresses, and the other
        # way round; deferred outputs close that loop (addresses do not depend on nodes).
        deferred = {h.name: pulumi.deferred_output() for h in built}  # type: ignore[var-annotated]
        # A hub's leaf port admits its spokes' addresses, known once the spokes are built.
        parents = [h.name for h in built] + [s.name for s in plan.spokes if s.is_mid_tier]
        child_ips = {p: pulumi.deferred_output() for p in parents}  # type: ignore[var-annotated]
        self.hub_clusters: dict[str, HubCluster] = {}
        for hub in built:
            peers = {p.name: deferred[p.name][0] for p in built if p.name != hub.name}
            args = HubClusterArgs(
                plan=plan,
                hub=hub,
                trust_conf=keys.trust_conf,
                ca=ca.material,
                peer_gateway_hosts=peers,
                child_cidrs=child_ips[hub.name][0],
                lookups=lookups,
                kubeconfig=given.get(hub.kubernetes.kubeconfig or ""),
                agent_jwt=keys.agent_jwt,
            )
            self.hub_clusters[hub.name] = HubCluster(f"{name}-{hub.name}", args, opts=self.child())
        for hub_name, (_, resolve) in deferred.items():
            resolve(self.hub_clusters[hub_name].gateway_hosts)

        # A mid-tier spoke opens its leaf port to its children's addresses, known later.
        # A spoke's leaf user is bound to its own egress address (an Elastic IP, known
        # once the spoke is built; the credential does not feed the address, so no cycle).
        egress = {s.name: pulumi.deferred_output() for s in plan.spokes if binds_source(plan, s.name)}  # type: ignore[var-annotated]
        self.edge_spokes: dict[str, EdgeSpoke] = {}
        spoke_specs = {s.name: s for s in spec.spokes}
        for planned in plan.spokes:
            entry = spoke_specs[planned.name]
            external = hub_specs[planned.upstream] if plan.dials_external_hub(planned.name) else None
            websocket = planned.leaf_transport == "websocket"
            if external is not None:
                upstream_urls: Any = list(external.urls)
                creds: Any = pulumi.Output.secret(given[str(entry.creds_secret or external.creds_secret)])
            elif planned.upstream_is_hub:
                cluster = self.hub_clusters[planned.upstream]
                upstream_urls = cluster.websocket_urls if websocket else cluster.leaf_urls
                creds = keys.leaf_creds(planned.name, egress[planned.name][0] if planned.name in egress else ())
            else:
                upstream_urls, creds = self.edge_spokes[planned.upstream].leaf_urls, None
            self.edge_spokes[planned.name] = EdgeSpoke(
                f"{name}-{planned.name}",
                EdgeSpokeArgs(
                    plan=plan,
                    spoke=entry,
                    upstream_urls=upstream_urls,
                    leaf_creds=creds,
                    upstream_login=None if planned.upstream_is_hub else keys.child_login(planned.name),
                    child_logins=keys.child_logins(planned.children) if planned.is_mid_tier else {},
                    child_cidrs=child_ips[planned.name][0] if planned.is_mid_tier else [],
                    ca_cert_pem=ca.cert_pem,
                    ca_key_pem=ca.material.key_pem,
                    lookups=lookups,
                    kubeconfig=given.get(entry.kubernetes.kubeconfig or ""),
                ),
                opts=self.child(),
            )
        for spoke_name, (_, resolve) in egress.items():
            resolve(self.edge_spokes[spoke_name].egress_cidrs)
        for parent, (_, resolve) in child_ips.items():
            kids = plan.server(plan.group_servers(parent)[0]).leaf_children
            children = [self.edge_spokes[c].egress_cidrs for c in kids]
            resolve(pulumi.Output.all(*children).apply(lambda lists: sorted({c for cidrs in lists for c in cidrs})))

        # Plain dicts of outputs, so each field keeps its own secretness when exported:
        # only ``creds`` is a secret, the rest stays readable in `pulumi stack output`.
        self.hubs = {}
        for hub in spec.hubs:
            if plan.hub(hub.name).is_external:
                self.hubs[hub.name] = {
                    "leafUrls": list(hub.urls),
                    "websocketUrls": [],
                    "gatewayUrls": [],
                    "clientUrls": [],
                    "jsDomain": hub.jetstream_domain,
                }
                continue
            c = self.hub_clusters[hub.name]
            self.hubs[hub.name] = {
                "leafUrls": c.leaf_urls,
                "websocketUrls": c.websocket_urls,
                "gatewayUrls": c.gateway_urls,
                "clientUrls": c.client_urls,
                "jsDomain": c.jetstream_domain,
            }
        self.spokes = {
            s: SpokeOutputs(**spoke_connection(plan, s, mirror=oci_mirror(plan, s)), creds=e.creds)
            for s, e in self.edge_spokes.items()
        }
        self.service_creds = keys.service_creds
        self.lattice_service_creds = keys.lattice_service_creds
        self.ca_cert = ca.cert_pem
        self.register_outputs(
            {
                "hubs": self.hubs,
                "spokes": self.spokes,
                "serviceCreds": self.service_creds,
                "latticeServiceCreds": self.lattice_service_creds,
                "caCert": self.ca_cert,
            }
        )

    def stack_outputs(self) -> dict[str, Any]:
        """What a stack exports (README "Stack outputs"); the mock tests read the same dict.
        Plain dicts of outputs, so each field keeps its own secretness."""
        return {
            "lattice": self.plan.lattice,
            "hubs": self.hubs,
            "spokes": self.spokes,
            "serviceCreds": self.service_creds,
            # one per lattice on the hubs (the stack's own included): each is its own account
            "latticeServiceCreds": self.lattice_service_creds,
            # public: what clients of the hubs' TLS-only client ports verify them against
            "caCert": self.ca_cert,
        }
