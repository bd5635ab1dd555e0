"""A NATS node's network on EC2: a VPC with public subnets (or a caller's), and security
groups whose whole inbound policy reads in one diff.

Resources carry their ``region`` (pulumi-aws v7), so one program spans regions without a
provider per region.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import ChildOpts
from components.platforms.contract import Lookups

ANYWHERE = "0.0.0.0/0"


def tags(lattice: str, name: str, **extra: str) -> dict[str, str]:
    return {"Name": name, "wasmcloud-lattice": lattice, **extra}


def zones(lookups: Lookups, given: Sequence[str], region: str, parent: pulumi.Resource) -> pulumi.Output[list[str]]:
    """``given``, or the region's first three available zones (one invoke per region)."""
    if given:
        return pulumi.Output.from_input(list(given))

    def look_up() -> pulumi.Output[list[str]]:
        found = aws.get_availability_zones_output(
            state="available", region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
        )
        return found.names.apply(lambda names: sorted(names)[:3])

    return lookups.once(("aws-zones", region), look_up)


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """``count`` equal subnets at the start of ``vpc_cidr`` (16x smaller, at most /28)."""
    net = ipaddress.ip_network(vpc_cidr)
    prefix = min(net.prefixlen + 4, 28)
    return [str(s) for s in islice(net.subnets(new_prefix=prefix), count)]


def _round_robin(index: int) -> Callable[[list[str]], str]:
    return lambda names: names[index % len(names)]


@dataclass(frozen=True)
class Network:
    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    zones: list[pulumi.Output[str]]


def public_network(
    prefix: str,
    *,
    lattice: str,
    region: str,
    cidr: str,
    zones: pulumi.Output[list[str]],
    count: int,
    opts: ChildOpts,
) -> Network:
    """A VPC with ``count`` public subnets (one per zone, round-robin) behind an IGW."""
    vpc = aws.ec2.Vpc(
        f"{prefix}-vpc",
        cidr_block=cidr,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        region=region,
        tags=tags(lattice, f"{prefix}-vpc"),
        opts=opts(),
    )
    igw = aws.ec2.InternetGateway(
        f"{prefix}-igw", vpc_id=vpc.id, region=region, tags=tags(lattice, f"{prefix}-igw"), opts=opts()
    )
    table = aws.ec2.RouteTable(
        f"{prefix}-public",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, gateway_id=igw.id)],
        region=region,
        tags=tags(lattice, f"{prefix}-public"),
        opts=opts(),
    )
    subnet_ids, subnet_zones = [], []
    for i, block in enumerate(subnet_cidrs(cidr, count)):
        zone = zones.apply(_round_robin(i))
        subnet = aws.ec2.Subnet(
            f"{prefix}-public-{i}",
            vpc_id=vpc.id,
            cidr_block=block,
            availability_zone=zone,
            region=region,
            tags=tags(lattice, f"{prefix}-public-{i}"),
            opts=opts(),
        )
        aws.ec2.RouteTableAssociation(
            f"{prefix}-public-{i}", subnet_id=subnet.id, route_table_id=table.id, region=region, opts=opts()
        )
        subnet_ids.append(subnet.id)
        subnet_zones.append(subnet.availability_zone)
    return Network(vpc_id=vpc.id, vpc_cidr=vpc.cidr_block, subnet_ids=subnet_ids, zones=subnet_zones)


def existing_network(vpc_id: str, subnet_ids: Sequence[str], region: str, opts: ChildOpts) -> Network:
    """A caller's VPC and public subnets, looked up for their CIDR and zones."""
    invoke = pulumi.InvokeOutputOptions(parent=opts().parent)
    vpc = aws.ec2.get_vpc_output(id=vpc_id, region=region, opts=invoke)
    subnets = [aws.ec2.get_subnet_output(id=s, region=region, opts=invoke) for s in subnet_ids]
    return Network(
        vpc_id=pulumi.Output.from_input(vpc_id),
        vpc_cidr=vpc.cidr_block,
        subnet_ids=[pulumi.Output.from_input(s) for s in subnet_ids],
        zones=[s.availability_zone for s in subnets],
    )


def ingress(port: int, description: str, **sources: Any) -> aws.ec2.SecurityGroupIngressArgs:
    return aws.ec2.SecurityGroupIngressArgs(
        protocol="tcp", from_port=port, to_port=port, description=description, **sources
    )


EGRESS_ALL = aws.ec2.SecurityGroupEgressArgs(
    protocol="-1", from_port=0, to_port=0, cidr_blocks=[ANYWHERE], description="nodes dial out"
)


def node_security_group(
    prefix: str,
    *,
    lattice: str,
    region: str,
    vpc_id: pulumi.Input[str],
    description: str,
    rules: Sequence[aws.ec2.SecurityGroupIngressArgs],
    opts: ChildOpts,
) -> aws.ec2.SecurityGroup:
    """Inbound ``rules`` only (inline, so the group's whole policy reads in one diff); any egress."""
    return aws.ec2.SecurityGroup(
        prefix,
        description=description,
        vpc_id=vpc_id,
        ingress=list(rules),
        egress=[EGRESS_ALL],
        region=region,
        tags=tags(lattice, prefix),
        opts=opts(),
    )
