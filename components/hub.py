"""HubCluster: one hub region, a NATS cluster that spokes and other regions dial.

It checks its arguments, hands one :class:`~components.platforms.contract.HubInputs` to the
platform the spec names (:mod:`components.platforms.aws`, :mod:`components.platforms.kubernetes`)
and exposes what that platform resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict, cast

import pulumi

from components.base import LatticeComponent
from components.certificates import CaMaterial, server_certificate
from components.platforms import PLATFORMS, platform_for
from components.platforms.contract import HubInputs, Lookups
from lattice.addressing import CertificateHosts
from lattice.natsconf import ServerTls
from lattice.plan import LatticePlan
from lattice.rules import cluster_access_problem
from lattice.spec import HubSpec

TYPE = "wasmcloud-lattice:index:HubCluster"


class HubClusterArgs(TypedDict):
    """Inputs of a :class:`HubCluster`."""

    plan: LatticePlan
    """The lattice plan; it says which servers this hub runs and which regions it gateways to."""
    hub: HubSpec
    """This region's spec entry (``platform: aws`` or ``kubernetes``, with that block's settings)."""
    trust_conf: pulumi.Input[str]
    """``trust.conf`` (operator and account JWTs), e.g. ``LatticeKeys.trust_conf``."""
    ca: CaMaterial
    """The lattice CA (``LatticeCA.material``): every listener's certificate comes from it."""
    peer_gateway_hosts: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[Sequence[str]]]]]
    """Every other hub region -> its nodes' public gateway addresses (``HubCluster.gateway_hosts``)."""
    child_cidrs: NotRequired[pulumi.Input[Sequence[str]]]
    """Its spokes' egress CIDRs (``EdgeSpoke.egress_cidrs``), which its leaf port admits."""
    lookups: NotRequired[Lookups]
    """Shared AMI and zone lookups (a ``Lattice`` passes one); default: the component's own."""
    kubeconfig: NotRequired[pulumi.Input[str] | None]
    """``platform: kubernetes``: the cluster's kubeconfig (a secret)."""
    agent_jwt: NotRequired[pulumi.Input[str] | None]
    """The hub-stream agent's bearer JWT (``LatticeKeys.agent_jwt``, a secret): required when
    the plan declares ``hubStreams``, which the region keeps with it."""


def _check_args(name: str, args: HubClusterArgs) -> None:
    """Refuse bad arguments before anything is registered."""
    hub = args["hub"]
    if hub.platform not in PLATFORMS:
        raise ValueError(f"HubCluster {name}: hub {hub.name} is {hub.platform!r}; nothing to build for it")
    problem = cluster_access_problem(hub, kubeconfig_given=args.get("kubeconfig") is not None)
    if problem:
        raise ValueError(f"HubCluster {name}: hub {hub.name} {problem}")
    if args["plan"].hub_streams and args.get("agent_jwt") is None:
        raise ValueError(f"HubCluster {name}: the plan declares hubStreams: agent_jwt is required")
    gateways = args["plan"].server(args["plan"].hub(hub.name).servers[0]).gateways
    peers = args.get("peer_gateway_hosts", {})
    if isinstance(peers, Mapping):
        missing = [g for g in gateways if g not in peers]
        if missing:
            raise ValueError(f"hub {hub.name}: no gateway addresses given for hub(s) {', '.join(missing)}")


class HubCluster(LatticeComponent):
    """One hub region: routes among its nodes, JetStream, a leaf listener behind one
    balancer, gateways to every other region. What it creates depends on the platform:
    see :mod:`components.platforms.aws.hub` and :mod:`components.platforms.kubernetes.hub`."""

    leaf_urls: pulumi.Output[list[str]]
    """What spokes dial (the balancer)."""
    websocket_urls: pulumi.Output[list[str]]
    """What spokes with ``leafTransport: websocket`` dial (Kubernetes hubs)."""
    namespace: pulumi.Output[str | None]
    """The hub's namespace (Kubernetes hubs)."""
    gateway_hosts: pulumi.Output[list[str]]
    """The nodes' gateway addresses (Elastic IPs, per-pod Services), which other regions dial and allow."""
    gateway_urls: pulumi.Output[list[str]]
    client_urls: pulumi.Output[list[str]]
    """For cloud-side services inside the VPC or cluster (service user credentials required)."""
    jetstream_domain: pulumi.Output[str]
    vpc_id: pulumi.Output[str | None]
    security_group_id: pulumi.Output[str | None]
    instance_ids: pulumi.Output[list[str]]
    configs: pulumi.Output[dict[str, str]]
    """Server name -> rendered nats-server config (public; what the boot scripts write)."""

    def __init__(self, name: str, args: HubClusterArgs, opts: pulumi.ResourceOptions | None = None):
        hub = args["hub"]
        _check_args(name, args)
        super().__init__(TYPE, name, None, opts)
        ca = args["ca"]

        def issue(prefix: str, common_name: str, hosts: pulumi.Output[CertificateHosts]) -> pulumi.Output[ServerTls]:
            return server_certificate(prefix, common_name, hosts, ca, self.child)

        # resolved, a mapping of plain lists (Output.from_input unwraps nested outputs)
        peers = cast(
            pulumi.Output[Mapping[str, Sequence[str]]], pulumi.Output.from_input(args.get("peer_gateway_hosts", {}))
        )
        built = platform_for(hub.platform).build_hub(
            HubInputs(
                name=name,
                plan=args["plan"],
                hub=hub,
                trust_conf=args["trust_conf"],
                peer_gateway_hosts=peers,
                child_cidrs=cast(pulumi.Output[Sequence[str]], pulumi.Output.from_input(args.get("child_cidrs", []))),
                issue_certificate=issue,
                child=self.child,
                parent=self,
                lookups=args.get("lookups") or Lookups(),
                kubeconfig=args.get("kubeconfig"),
                agent_jwt=args.get("agent_jwt"),
            )
        )
        self.jetstream_domain = pulumi.Output.from_input(hub.jetstream_domain)
        self.configs, self.leaf_urls, self.websocket_urls = built.configs, built.leaf_urls, built.websocket_urls
        self.gateway_hosts, self.gateway_urls, self.client_urls = (
            built.gateway_hosts,
            built.gateway_urls,
            built.client_urls,
        )
        self.namespace, self.vpc_id, self.security_group_id = built.namespace, built.vpc_id, built.security_group_id
        self.instance_ids = built.instance_ids
        self.register_outputs(
            {
                "leafUrls": self.leaf_urls,
                "websocketUrls": self.websocket_urls,
                "gatewayHosts": self.gateway_hosts,
                "gatewayUrls": self.gateway_urls,
                "clientUrls": self.client_urls,
                "jetstreamDomain": self.jetstream_domain,
                "vpcId": self.vpc_id,
                "securityGroupId": self.security_group_id,
                "namespace": self.namespace,
                "instanceIds": self.instance_ids,
                "configs": self.configs,
            }
        )
