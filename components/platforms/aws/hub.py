"""A hub region on EC2.

- a VPC with a public subnet per zone (or ``aws.vpcId``/``aws.subnetIds``);
- a security group: route port among the nodes only, gateway port from the other
  regions' nodes only, leaf port from the lattice's own spokes and ``aws.leafAllowedCidrs``,
  client and monitoring ports from inside the VPC (every CIDR block of it) only;
- per node: a network interface and an Elastic IP that outlive the instance, an
  encrypted gp3 JetStream volume, a TLS key and certificate from the lattice CA naming
  every address peers dial, a Secrets Manager secret with ``trust.conf`` and the TLS
  files, a role that reads only that secret, and the instance (IMDSv2 required,
  encrypted root);
- a network load balancer on the leaf port: the one URL every spoke dials.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.platforms.aws.network import (
    IngressRules,
    Network,
    existing_network,
    ingress,
    ingress_from,
    node_security_group,
    public_network,
    tags,
    zones,
)
from components.platforms.aws.node import (
    NodeAddress,
    agent_secret,
    ami,
    node_address,
    node_instance,
    node_profile,
    node_secret,
)
from components.platforms.contract import BuiltHub, HubInputs
from components.platforms.files import agent_files, hub_files, with_config
from lattice import provider_rules
from lattice.addressing import PORTS, Addressing, balanced_hub_addressing, balanced_leaf_urls, certificate_hosts
from lattice.allowlists import gateway_sources, leaf_sources, open_leaf_mark
from lattice.names import auto_named
from lattice.natsconf import CA_FILE, ServerFiles, render_server_config
from lattice.node.cloudinit import NodeBoot, render_user_data

ROOT_VOLUME_GIB = 16
NODE_FILES = ServerFiles()


def build_hub(inputs: HubInputs) -> BuiltHub:
    plan, hub, name = inputs.plan, inputs.hub, inputs.name
    servers = plan.hub(hub.name).servers
    gateways = plan.server(servers[0]).gateways
    region, settings, lattice = str(hub.region), hub.aws, plan.lattice

    network = _network(inputs, region, len(servers))
    # The NLB keeps client addresses, so the nodes' group sees each spoke's own address.
    leaf_cidrs = inputs.child_cidrs.apply(lambda c: leaf_sources(settings.leaf_allowed_cidrs, c))
    rules: list[aws.ec2.SecurityGroupIngressArgs | IngressRules] = [
        ingress(PORTS.cluster, "routes among this cluster nodes only", self=True),
        ingress_from(PORTS.leaf, "leaf links from the lattice spokes and leafAllowedCidrs", leaf_cidrs),
        ingress_from(PORTS.client, "clients inside the VPC", network.vpc_cidrs),
        ingress_from(PORTS.monitor, "monitoring and balancer health checks inside the VPC", network.vpc_cidrs),
    ]
    if gateways:
        peer_cidrs = inputs.peer_gateway_hosts.apply(lambda p: gateway_sources(plan, hub.name, p))
        rules.append(ingress_from(PORTS.gateway, "gateways from the other hub regions nodes", peer_cidrs))
    group = node_security_group(
        f"{name}-nodes",
        lattice=lattice,
        region=region,
        vpc_id=network.vpc_id,
        description=f"NATS hub {hub.name} of lattice {lattice}",
        rules=rules,
        extra_tags=open_leaf_mark(settings.leaf_allowed_cidrs),
        opts=inputs.child,
    )

    addresses = [
        node_address(
            f"{name}-{i}",
            lattice=lattice,
            region=region,
            subnet_id=network.subnet_ids[i % len(network.subnet_ids)],
            security_group_id=group.id,
            network=network,
            opts=inputs.child,
        )
        for i in range(len(servers))
    ]
    target_group, balancer_dns = _balancer(inputs, region, network)

    private_ips = pulumi.Output.all(*[a.private_ip for a in addresses])
    public_ips = pulumi.Output.all(*[a.public_ip for a in addresses])

    def resolve(values: list[Any]) -> Addressing:
        private, public, dns, peer_hosts = values
        return balanced_hub_addressing(
            plan,
            hub.name,
            dial_hosts=private,  # routes over private IPs
            advertise_hosts=public,  # gateways over Elastic IPs, advertised so gossip reaches them
            leaf_host=dns,
            peer_gateway_hosts=peer_hosts,
        )

    addressing = pulumi.Output.all(private_ips, public_ips, balancer_dns, inputs.peer_gateway_hosts).apply(resolve)
    configs = addressing.apply(lambda a: {s: render_server_config(plan, s, a, NODE_FILES) for s in servers})
    image = ami(inputs.lookups, settings.ami, region, inputs.parent)
    # every node runs the hub-stream agent after nats-sync, against the region's client URLs
    agent = agent_files(plan, addressing.apply(lambda a: a.client_urls(servers)), inputs.agent_jwt, CA_FILE)
    agent_arn = (
        agent_secret(name, lattice=lattice, region=region, agent=agent, opts=inputs.child).arn
        if agent is not None
        else None
    )
    instances: list[aws.ec2.Instance] = []
    for i, server in enumerate(servers):
        hosts = addressing.apply(lambda a, server=server: certificate_hosts(plan, server, a))  # type: ignore[misc]
        material = inputs.issue_certificate(f"{name}-{i}", server, hosts)
        files = with_config(
            hub_files(plan, server, inputs.trust_conf, material, NODE_FILES),
            configs.apply(lambda c, server=server: c[server]),  # type: ignore[misc]
        )
        node = _node(
            inputs,
            f"{name}-{i}",
            server,
            i,
            region,
            image,
            network,
            addresses[i],
            files,
            target_group,
            instances,
            agent_arn,
        )
        instances.append(node)

    return BuiltHub(
        configs=configs,
        leaf_urls=balancer_dns.apply(lambda dns: list(balanced_leaf_urls(dns))),  # the balancer only
        websocket_urls=pulumi.Output.from_input([]),
        gateway_hosts=public_ips.apply(list),
        gateway_urls=addressing.apply(lambda a: list(a.gateway_urls[hub.name])),
        client_urls=addressing.apply(lambda a: a.client_urls(servers)),
        vpc_id=network.vpc_id,
        security_group_id=group.id,
        instance_ids=pulumi.Output.all(*[inst.id for inst in instances]).apply(list),
    )


def _network(inputs: HubInputs, region: str, nodes: int) -> Network:
    settings = inputs.hub.aws
    if settings.vpc_id:
        return existing_network(settings.vpc_id, settings.subnet_ids, region, inputs.child)
    return public_network(
        inputs.name,
        lattice=inputs.plan.lattice,
        region=region,
        cidr=settings.vpc_cidr,
        zones=zones(inputs.lookups, settings.availability_zones, region, inputs.parent),
        count=min(nodes, 3),
        opts=inputs.child,
    )


def _balancer(inputs: HubInputs, region: str, network: Network) -> tuple[aws.lb.TargetGroup, pulumi.Output[str]]:
    """The network load balancer on the leaf port; returns its target group and DNS name.
    Both are auto-named (a replacement never collides) from a name that leaves room for
    the random suffix within their 32 characters."""
    name, lattice = inputs.name, inputs.plan.lattice
    leaf = auto_named(f"{name}-leaf", "aws:lb/loadBalancer:LoadBalancer", provider_rules.ELB_NAME_MAX)
    balancer = aws.lb.LoadBalancer(
        leaf,
        load_balancer_type="network",
        internal=False,
        subnets=network.subnet_ids,
        enable_cross_zone_load_balancing=True,
        region=region,
        tags=tags(lattice, f"{name}-leaf"),
        opts=inputs.child(depends_on=network.online()),
    )
    target_group = aws.lb.TargetGroup(
        leaf,
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
        opts=inputs.child(),
    )
    aws.lb.Listener(
        leaf,
        load_balancer_arn=balancer.arn,
        port=PORTS.leaf,
        protocol="TCP",
        default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
        region=region,
        tags=tags(lattice, f"{name}-leaf"),
        opts=inputs.child(),
    )
    return target_group, balancer.dns_name


def _node(
    inputs: HubInputs,
    prefix: str,
    server: str,
    index: int,
    region: str,
    image: pulumi.Input[str],
    network: Network,
    address: NodeAddress,
    files_out: pulumi.Output[dict[str, str]],
    target_group: aws.lb.TargetGroup,
    earlier: list[aws.ec2.Instance],
    agent_arn: pulumi.Output[str] | None = None,
) -> aws.ec2.Instance:
    settings, lattice, child = inputs.hub.aws, inputs.plan.lattice, inputs.child
    zone = network.zones[index % len(network.zones)]
    volume = aws.ebs.Volume(
        f"{prefix}-jetstream",
        availability_zone=zone,
        size=settings.data_volume_gib,
        type="gp3",
        encrypted=True,
        region=region,
        tags=tags(lattice, f"{prefix}-jetstream", **{"nats-server": server}),
        opts=child(),
    )
    stored = node_secret(prefix, lattice=lattice, region=region, files=files_out, opts=child, agent_secret=agent_arn)
    profile = node_profile(prefix, lattice=lattice, secret_arn=stored.arn, opts=child, agent_secret_arn=agent_arn)

    def boot(values: list[Any]) -> str:
        arn, volume_id = values
        return render_user_data(
            NodeBoot(
                server=server,
                lattice=lattice,
                secret_id=arn,
                region=region,
                files=NODE_FILES,
                artifact_mirror=inputs.plan.artifact_mirror,
                data_volume_id=volume_id,
                slot=index,
                slots=len(inputs.plan.hub(inputs.hub.name).servers),
            )
        )

    instance = node_instance(
        prefix,
        lattice=lattice,
        server=server,
        region=region,
        ami=image,
        ami_pinned=bool(settings.ami),
        instance_type=settings.instance_type,
        interface_id=address.interface.id,
        profile=profile,
        user_data=pulumi.Output.all(stored.arn, volume.id).apply(boot),
        root_gib=ROOT_VOLUME_GIB,
        network=network,
        opts=child,
        after=earlier[-1] if earlier else None,  # one node of the cluster at a time
    )
    aws.ec2.VolumeAttachment(
        f"{prefix}-jetstream",
        device_name="/dev/sdf",
        volume_id=volume.id,
        instance_id=instance.id,
        stop_instance_before_detaching=True,
        region=region,
        opts=child(delete_before_replace=True),
    )
    aws.lb.TargetGroupAttachment(
        f"{prefix}-leaf",
        target_group_arn=target_group.arn,
        target_id=instance.id,
        port=PORTS.leaf,
        region=region,
        opts=child(),
    )
    return instance
