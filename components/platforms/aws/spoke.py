"""An edge site on EC2 (a stand-in for a site, or a real cloud edge).

- a small VPC with one public subnet (or ``aws.subnetId``);
- a network interface and Elastic IP: a stable egress address for allow-lists;
- a security group with no inbound NATS rule at all (a spoke only dials out), except the
  leaf port of a mid-tier spoke, open to its children's addresses;
- a Secrets Manager secret with the leaf's credentials and the lattice CA (a mid-tier
  spoke: also its leaf listener's TLS key and certificate), a role that reads only it;
- the instance: the leaf nats-server bound to 127.0.0.1 and, with ``wasmcloudHost``, a
  wasmCloud host as a second systemd service connecting anonymously to it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.platforms.aws.network import (
    Network,
    ingress_from,
    node_security_group,
    public_network,
    zones,
)
from components.platforms.aws.node import ami, node_address, node_instance, node_profile, node_secret
from components.platforms.contract import BuiltSpoke, SpokeInputs
from components.platforms.files import children_dial, spoke_files, with_config
from lattice.addressing import PORTS, Addressing, spoke_addressing
from lattice.allowlists import host_cidr, leaf_sources, open_leaf_mark
from lattice.natsconf import ServerFiles, render_server_config
from lattice.node.cloudinit import MIRROR_RUN, MIRROR_STATE, NodeBoot, render_user_data
from lattice.outputs import oci_mirror, spoke_connection
from lattice.registry import node_mirror_config

NODE_FILES = ServerFiles()


def build_spoke(inputs: SpokeInputs) -> BuiltSpoke:
    plan, spec, name = inputs.plan, inputs.spoke, inputs.name
    planned = plan.spoke(spec.name)
    region, settings, lattice = str(spec.region), spec.aws, plan.lattice

    network = _network(inputs, region)
    rules = []
    if planned.is_mid_tier:
        sources = inputs.child_cidrs.apply(lambda cidrs: leaf_sources(settings.leaf_allowed_cidrs, cidrs))
        rules.append(ingress_from(PORTS.leaf, "leaf links from this spoke children and leafAllowedCidrs", sources))
    group = node_security_group(
        f"{name}-node",
        lattice=lattice,
        region=region,
        vpc_id=network.vpc_id,
        description=f"NATS spoke {spec.name} of lattice {lattice}: dials out only",
        rules=rules,
        extra_tags=open_leaf_mark(settings.leaf_allowed_cidrs) if planned.is_mid_tier else None,
        opts=inputs.child,
    )
    address = node_address(
        name,
        lattice=lattice,
        region=region,
        subnet_id=network.subnet_ids[0],
        security_group_id=group.id,
        network=network,
        opts=inputs.child,
    )

    def resolve(values: list[Any]) -> Addressing:
        urls, ip = values
        return spoke_addressing(plan, spec.name, urls, ip)

    addressing = pulumi.Output.all(inputs.upstream_urls, address.public_ip).apply(resolve)
    config = addressing.apply(lambda a: render_server_config(plan, spec.name, a, NODE_FILES))
    files_out = spoke_files(inputs, addressing, NODE_FILES)
    stored = node_secret(name, lattice=lattice, region=region, files=with_config(files_out, config), opts=inputs.child)
    profile = node_profile(name, lattice=lattice, secret_arn=stored.arn, opts=inputs.child)
    connection = spoke_connection(plan, spec.name, mirror=oci_mirror(plan, spec.name))
    host_args = connection["washHostArgs"] if spec.wasmcloud_host else None
    mirror_config = (
        node_mirror_config(plan.workload_registry, MIRROR_RUN, MIRROR_STATE)
        if plan.mirrors(spec.name) and plan.workload_registry
        else None
    )

    def boot(arn: str) -> str:
        return render_user_data(
            NodeBoot(
                server=spec.name,
                lattice=lattice,
                secret_id=arn,
                region=region,
                files=NODE_FILES,
                artifact_mirror=inputs.plan.artifact_mirror,
                wasmcloud_host_args=host_args,
                registry_mirror=mirror_config,
            )
        )

    instance = node_instance(
        name,
        lattice=lattice,
        server=spec.name,
        region=region,
        ami=ami(inputs.lookups, settings.ami, region, inputs.parent),
        ami_pinned=bool(settings.ami),
        instance_type=settings.instance_type,
        interface_id=address.interface.id,
        profile=profile,
        user_data=stored.arn.apply(boot),
        root_gib=settings.volume_gib,
        network=network,
        opts=inputs.child,
    )
    return BuiltSpoke(
        config=config,
        files=files_out,
        leaf_urls=children_dial(inputs, addressing),
        public_ip=address.public_ip,
        egress_cidrs=address.public_ip.apply(lambda ip: [host_cidr(ip)]),
        instance_id=instance.id,
    )


def _network(inputs: SpokeInputs, region: str) -> Network:
    settings = inputs.spoke.aws
    if settings.subnet_id:
        subnet = aws.ec2.get_subnet_output(
            id=settings.subnet_id, region=region, opts=pulumi.InvokeOutputOptions(parent=inputs.parent)
        )
        return Network(
            vpc_id=subnet.vpc_id,
            vpc_cidrs=subnet.cidr_block.apply(lambda c: [c]),
            subnet_ids=[pulumi.Output.from_input(settings.subnet_id)],
            zones=[subnet.availability_zone],
        )
    return public_network(
        inputs.name,
        lattice=inputs.plan.lattice,
        region=region,
        cidr=settings.vpc_cidr,
        zones=zones(inputs.lookups, (), region, inputs.parent),
        count=1,
        opts=inputs.child,
    )
