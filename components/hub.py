"""HubCluster: one hub region, a NATS cluster on EC2 that spokes and other regions dial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict, cast

import pulumi
import pulumi_aws as aws

from components.base import LatticeComponent, secret
from components.certificates import CaMaterial, server_certificate
from components.platforms.aws import (
    Network,
    NodeAddress,
    RegionLookups,
    existing_network,
    ingress,
    node_address,
    node_instance,
    node_profile,
    node_secret,
    node_security_group,
    public_network,
    tags,
)
from lattice.addressing import Addressing, Ports, ServerAddress, certificate_hosts
from lattice.natsconf import TRUST_INCLUDE, ServerFiles, ServerTls, render_server_config, render_tls_files
from lattice.node.cloudinit import NodeBoot, render_user_data
from lattice.plan import LatticePlan
from lattice.spec import AwsHubSettings, HubSpec

TYPE = "wasmcloud-lattice:index:HubCluster"
PORTS = Ports()
ROOT_VOLUME_GIB = 16
NODE_FILES = ServerFiles()


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
    lookups: NotRequired[RegionLookups]
    """Shared AMI and zone lookups (a ``Lattice`` passes one); default: the component's own."""
    kubeconfig: NotRequired[pulumi.Input[str] | None]
    """``platform: kubernetes``: the cluster's kubeconfig (a secret)."""


def hub_addressing(
    plan: LatticePlan,
    hub: str,
    private_ips: Sequence[str],
    public_ips: Sequence[str],
    leaf_host: str,
    peer_gateway_hosts: Mapping[str, Sequence[str]],
) -> Addressing:
    """Routes over private IPs, gateways over Elastic IPs (advertised, so gossip reaches
    them), leaf links through the balancer (``no_advertise``: spokes keep dialing it)."""
    servers = plan.hub(hub).servers
    missing = [g for g in plan.server(servers[0]).gateways if g not in peer_gateway_hosts]
    if missing:
        raise ValueError(f"hub {hub}: no gateway addresses given for hub(s) {', '.join(missing)}")
    gateway_urls = {
        peer: tuple(f"nats://{h}:{PORTS.gateway}" for h in hosts) for peer, hosts in peer_gateway_hosts.items()
    }
    gateway_urls[hub] = tuple(f"nats://{ip}:{PORTS.gateway}" for ip in public_ips)
    return Addressing(
        servers={s: ServerAddress(dial_host=ip) for s, ip in zip(servers, private_ips, strict=True)},
        leaf_urls={hub: (f"nats-leaf://{leaf_host}:{PORTS.leaf}",)},
        gateway_urls=gateway_urls,
        gateway_advertise={s: f"{ip}:{PORTS.gateway}" for s, ip in zip(servers, public_ips, strict=True)},
        leaf_behind_balancer=frozenset({hub}),
    )


def node_files(
    plan: LatticePlan,
    server: str,
    trust_conf: pulumi.Input[str],
    tls: pulumi.Output[ServerTls],
    files: ServerFiles = NODE_FILES,
) -> pulumi.Output[dict[str, str]]:
    """File name -> text of what a hub server's config includes: ``trust.conf`` and its TLS
    files (a secret: the key is among them), rendered by the one renderer."""

    def render(values: list[Any]) -> dict[str, str]:
        trust, material = values
        rendered = render_tls_files(plan, server, files, material)
        return {TRUST_INCLUDE: trust, **{path.rsplit("/", 1)[1]: text for path, text in rendered.items()}}

    return secret(pulumi.Output.all(trust_conf, tls).apply(render))


def _check_args(name: str, args: HubClusterArgs) -> tuple[str, ...]:
    """Refuse bad arguments before anything is registered; return the peer regions."""
    hub = args["hub"]
    if hub.platform == "aws" and not hub.region:
        raise ValueError(f"HubCluster {name}: hub {hub.name} on aws needs a region")
    if hub.platform not in ("aws", "kubernetes"):
        raise ValueError(f"HubCluster {name}: hub {hub.name} is {hub.platform!r}; nothing to build for it")
    if hub.platform == "kubernetes" and args.get("kubeconfig") is None and not hub.kubernetes.ambient_kubeconfig:
        raise ValueError(f"HubCluster {name}: hub {hub.name} needs a kubeconfig (or kubernetes.ambientKubeconfig)")
    gateways = args["plan"].server(args["plan"].hub(hub.name).servers[0]).gateways
    peers = args.get("peer_gateway_hosts", {})
    if isinstance(peers, Mapping):
        missing = [g for g in gateways if g not in peers]
        if missing:
            raise ValueError(f"hub {hub.name}: no gateway addresses given for hub(s) {', '.join(missing)}")
    return gateways


class HubCluster(LatticeComponent):
    """One hub region: on Kubernetes, see :mod:`components.platforms.kubernetes`; on AWS it creates:

    - a VPC with a public subnet per zone (or uses ``aws.vpcId``/``aws.subnetIds``);
    - a security group: route port among the nodes only, gateway port from the other
      regions' nodes only, leaf port from ``aws.leafAllowedCidrs``, client and monitoring
      ports from inside the VPC only;
    - per node: a network interface and an Elastic IP that outlive the instance, an
      encrypted gp3 JetStream volume, a TLS key and certificate from the lattice CA naming
      every address peers dial, a Secrets Manager secret with ``trust.conf`` and the TLS
      files, a role that reads only that secret, and the instance (IMDSv2 required,
      encrypted root);
    - a network load balancer on the leaf port: the one URL every spoke dials.
    """

    leaf_urls: pulumi.Output[list[str]]
    """What spokes dial (the balancer)."""
    websocket_urls: pulumi.Output[list[str]]
    """What spokes with ``leafTransport: websocket`` dial (Kubernetes hubs)."""
    namespace: pulumi.Output[str | None]
    """The hub's namespace (Kubernetes hubs)."""
    gateway_hosts: pulumi.Output[list[str]]
    """The nodes' Elastic IPs, which other regions dial and allow."""
    gateway_urls: pulumi.Output[list[str]]
    client_urls: pulumi.Output[list[str]]
    """For cloud-side services inside the VPC (service user credentials required)."""
    jetstream_domain: pulumi.Output[str]
    vpc_id: pulumi.Output[str | None]
    security_group_id: pulumi.Output[str | None]
    instance_ids: pulumi.Output[list[str]]
    configs: pulumi.Output[dict[str, str]]
    """Server name -> rendered nats-server config (public; what the boot scripts write)."""

    def __init__(self, name: str, args: HubClusterArgs, opts: pulumi.ResourceOptions | None = None):
        hub = args["hub"]
        gateways = _check_args(name, args)
        super().__init__(TYPE, name, None, opts)
        self.jetstream_domain = pulumi.Output.from_input(hub.jetstream_domain)
        none: pulumi.Output[Any] = pulumi.Output.from_input(None)
        self.vpc_id = self.security_group_id = self.namespace = none
        self.websocket_urls = pulumi.Output.from_input([])
        if hub.platform == "kubernetes":
            from components.platforms.kubernetes import build_hub

            built = build_hub(self, name, args, self.child)
            self.configs, self.leaf_urls, self.websocket_urls = built.configs, built.leaf_urls, built.websocket_urls
            self.gateway_hosts, self.client_urls, self.namespace = (
                built.gateway_hosts,
                built.client_urls,
                built.namespace,
            )
            self.instance_ids = pulumi.Output.from_input([])
        else:
            self._on_aws(name, args, gateways)
        self.gateway_urls = self.gateway_hosts.apply(lambda hosts: [f"nats://{h}:{PORTS.gateway}" for h in hosts])
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

    def _on_aws(self, name: str, args: HubClusterArgs, gateways: tuple[str, ...]) -> None:
        plan, hub = args["plan"], args["hub"]
        servers = plan.hub(hub.name).servers
        region, settings, lattice = str(hub.region), hub.aws, plan.lattice
        self._lookups = args.get("lookups") or RegionLookups()

        network = self._network(name, lattice, region, len(servers), settings)
        # resolved, a mapping of plain lists (Output.from_input unwraps nested outputs)
        peers = cast(
            pulumi.Output[Mapping[str, Sequence[str]]], pulumi.Output.from_input(args.get("peer_gateway_hosts", {}))
        )
        peer_cidrs = peers.apply(lambda p: sorted(f"{h}/32" for hosts in p.values() for h in hosts))
        rules = [
            ingress(PORTS.cluster, "routes: among this cluster's nodes only", self=True),
            ingress(
                PORTS.leaf, "leaf links from spokes (JWT-authenticated)", cidr_blocks=list(settings.leaf_allowed_cidrs)
            ),
            ingress(PORTS.client, "clients inside the VPC", cidr_blocks=[network.vpc_cidr]),
            ingress(
                PORTS.monitor, "monitoring and balancer health checks inside the VPC", cidr_blocks=[network.vpc_cidr]
            ),
        ]
        if gateways:
            rules.append(ingress(PORTS.gateway, "gateways from the other hub regions' nodes", cidr_blocks=peer_cidrs))
        group = node_security_group(
            f"{name}-nodes",
            lattice=lattice,
            region=region,
            vpc_id=network.vpc_id,
            description=f"NATS hub {hub.name} of lattice {lattice}",
            rules=rules,
            opts=self.child,
        )

        addresses = [
            node_address(
                f"{name}-{i}",
                lattice=lattice,
                region=region,
                subnet_id=network.subnet_ids[i % len(network.subnet_ids)],
                security_group_id=group.id,
                opts=self.child,
            )
            for i in range(len(servers))
        ]
        balancer, target_group = self._balancer(name, lattice, region, network)

        private_ips = pulumi.Output.all(*[a.private_ip for a in addresses])
        public_ips = pulumi.Output.all(*[a.public_ip for a in addresses])

        def resolve(values: list[Any]) -> Addressing:
            priv, pub, dns, peer_hosts = values
            return hub_addressing(plan, hub.name, priv, pub, dns, peer_hosts)

        resolved = pulumi.Output.all(private_ips, public_ips, balancer.dns_name, peers).apply(resolve)
        self.configs = resolved.apply(lambda a: {s: render_server_config(plan, s, a, ServerFiles()) for s in servers})
        ami = self._lookups.ami(settings.ami, region, self)
        instances = []
        for i, server in enumerate(servers):
            hosts = resolved.apply(lambda a, server=server: certificate_hosts(plan, server, a))  # type: ignore[misc]
            material = server_certificate(f"{name}-{i}", server, hosts, args["ca"], self.child)
            files = node_files(plan, server, args["trust_conf"], material)
            instances.append(
                self._node(
                    f"{name}-{i}", server, i, lattice, region, ami, network, addresses[i], files, target_group, settings
                )
            )

        self.leaf_urls = balancer.dns_name.apply(lambda dns: [f"nats-leaf://{dns}:{PORTS.leaf}"])
        self.gateway_hosts = public_ips.apply(list)
        self.client_urls = private_ips.apply(lambda ips: [f"nats://{ip}:{PORTS.client}" for ip in ips])
        self.vpc_id = network.vpc_id
        self.security_group_id = group.id
        self.instance_ids = pulumi.Output.all(*[inst.id for inst in instances]).apply(list)

    def _network(self, name: str, lattice: str, region: str, nodes: int, settings: AwsHubSettings) -> Network:
        if settings.vpc_id:
            return existing_network(settings.vpc_id, settings.subnet_ids, region, self.child)
        zones = self._lookups.zones(settings.availability_zones, region, self)
        return public_network(
            name,
            lattice=lattice,
            region=region,
            cidr=settings.vpc_cidr,
            zones=zones,
            count=min(nodes, 3),
            opts=self.child,
        )

    def _balancer(
        self, name: str, lattice: str, region: str, network: Network
    ) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup]:
        balancer = aws.lb.LoadBalancer(
            f"{name}-leaf",
            load_balancer_type="network",
            internal=False,
            subnets=network.subnet_ids,
            enable_cross_zone_load_balancing=True,
            region=region,
            tags=tags(lattice, f"{name}-leaf"),
            opts=self.child(),
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-leaf",
            port=PORTS.leaf,
            protocol="TCP",
            target_type="instance",
            vpc_id=network.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="HTTP", port=str(PORTS.monitor), path="/healthz", interval=10, healthy_threshold=2
            ),
            region=region,
            tags=tags(lattice, f"{name}-leaf"),
            opts=self.child(),
        )
        aws.lb.Listener(
            f"{name}-leaf",
            load_balancer_arn=balancer.arn,
            port=PORTS.leaf,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            region=region,
            tags=tags(lattice, f"{name}-leaf"),
            opts=self.child(),
        )
        return balancer, target_group

    def _node(
        self,
        prefix: str,
        server: str,
        index: int,
        lattice: str,
        region: str,
        ami: pulumi.Input[str],
        network: Network,
        address: NodeAddress,
        files_out: pulumi.Output[dict[str, str]],
        target_group: aws.lb.TargetGroup,
        settings: AwsHubSettings,
    ) -> aws.ec2.Instance:
        files = ServerFiles()
        zone = network.zones[index % len(network.zones)]
        volume = aws.ebs.Volume(
            f"{prefix}-jetstream",
            availability_zone=zone,
            size=settings.data_volume_gib,
            type="gp3",
            encrypted=True,
            region=region,
            tags=tags(lattice, f"{prefix}-jetstream", **{"nats-server": server}),
            opts=self.child(),
        )
        secret = node_secret(
            prefix,
            lattice=lattice,
            region=region,
            files=files_out,
            opts=self.child,
        )
        profile = node_profile(prefix, lattice=lattice, secret_arn=secret.arn, opts=self.child)

        def boot(values: list[Any]) -> str:
            configs, arn, volume_id = values
            return render_user_data(
                NodeBoot(
                    server=server,
                    lattice=lattice,
                    config=configs[server],
                    secret_id=arn,
                    region=region,
                    files=files,
                    data_volume_id=volume_id,
                )
            )

        instance = node_instance(
            prefix,
            lattice=lattice,
            server=server,
            region=region,
            ami=ami,
            ami_pinned=bool(settings.ami),
            instance_type=settings.instance_type,
            interface_id=address.interface.id,
            profile=profile,
            user_data=pulumi.Output.all(self.configs, secret.arn, volume.id).apply(boot),
            root_gib=ROOT_VOLUME_GIB,
            opts=self.child,
        )
        aws.ec2.VolumeAttachment(
            f"{prefix}-jetstream",
            device_name="/dev/sdf",
            volume_id=volume.id,
            instance_id=instance.id,
            stop_instance_before_detaching=True,
            region=region,
            opts=self.child(delete_before_replace=True),
        )
        aws.lb.TargetGroupAttachment(
            f"{prefix}-leaf",
            target_group_arn=target_group.arn,
            target_id=instance.id,
            port=PORTS.leaf,
            region=region,
            opts=self.child(),
        )
        return instance
