"""A NATS node's network on EC2: a VPC with public subnets (or a caller's), and security
groups whose whole inbound policy reads in one diff.

Resources carry their ``region`` (pulumi-aws v7), so one program spans regions without a
provider per region.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import ChildOpts
from components.platforms.contract import Lookups
from lattice import provider_rules

ANYWHERE = "0.0.0.0/0"


def tags(lattice: str, name: str, **extra: str) -> dict[str, str]:
    return {"Name": name, "wasmcloud-lattice": lattice, **extra}


ZONE_TYPE_FILTER = aws.GetAvailabilityZonesFilterArgs(name="zone-type", values=["availability-zone"])
"""Availability Zones only: Local and Wavelength Zones (``us-east-1-bos-1a``) sort among
them and offer no network load balancer."""


def zones(lookups: Lookups, given: Sequence[str], region: str, parent: pulumi.Resource) -> pulumi.Output[list[str]]:
    """``given``, or the region's first three Availability Zones (one invoke per region)."""
    if given:
        return pulumi.Output.from_input(list(given))

    def look_up() -> pulumi.Output[list[str]]:
        found = aws.get_availability_zones_output(
            state="available",
            filters=[ZONE_TYPE_FILTER],
            region=region,
            opts=pulumi.InvokeOutputOptions(parent=parent),
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
    vpc_cidrs: pulumi.Output[list[str]]
    """Every CIDR block of the VPC (an existing VPC may have secondary blocks)."""
    subnet_ids: list[pulumi.Output[str]]
    zones: list[pulumi.Output[str]]
    internet_gateway: aws.ec2.InternetGateway | None = None
    """The gateway this program attached (with ``vpc_id``, the attachment is part of its
    create): what reaches the internet waits for it (an NLB, an Elastic IP association, an
    instance that downloads at boot), a known first-apply race."""

    def online(self) -> list[pulumi.Resource]:
        """``depends_on`` for resources that need the VPC's internet route."""
        return [self.internet_gateway] if self.internet_gateway is not None else []


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
    return Network(
        vpc_id=vpc.id,
        vpc_cidrs=vpc.cidr_block.apply(lambda c: [c]),
        subnet_ids=subnet_ids,
        zones=subnet_zones,
        internet_gateway=igw,
    )


def associated_cidrs(primary: str, associations: Sequence[Any] | None) -> list[str]:
    """A VPC's CIDR blocks: the primary and every secondary one that is associated
    (DescribeVpcs' CidrBlockAssociationSet; states associating, associated, disassociating...)."""
    secondary = {a.cidr_block for a in associations or () if a.state == "associated"}
    return sorted({primary, *secondary})


def existing_network(vpc_id: str, subnet_ids: Sequence[str], region: str, opts: ChildOpts) -> Network:
    """A caller's VPC and public subnets, looked up for their CIDR blocks and zones."""
    invoke = pulumi.InvokeOutputOptions(parent=opts().parent)
    vpc = aws.ec2.get_vpc_output(id=vpc_id, region=region, opts=invoke)
    subnets = [aws.ec2.get_subnet_output(id=s, region=region, opts=invoke) for s in subnet_ids]
    return Network(
        vpc_id=pulumi.Output.from_input(vpc_id),
        vpc_cidrs=vpc.apply(lambda v: associated_cidrs(v.cidr_block, v.cidr_block_associations)),
        subnet_ids=[pulumi.Output.from_input(s) for s in subnet_ids],
        zones=[s.availability_zone for s in subnets],
    )


def rule_description(text: str) -> str:
    """``text``, refused here if EC2 would refuse it (its character set is narrow)."""
    problems = provider_rules.ec2_sg_rule_description(text)
    if problems:
        raise ValueError("; ".join(problems))
    return text


def ingress(port: int, description: str, **sources: Any) -> aws.ec2.SecurityGroupIngressArgs:
    return aws.ec2.SecurityGroupIngressArgs(
        protocol="tcp", from_port=port, to_port=port, description=rule_description(description), **sources
    )


IngressRules = pulumi.Output[list[aws.ec2.SecurityGroupIngressArgs]]


def ingress_from(port: int, description: str, cidrs: pulumi.Output[list[str]]) -> IngressRules:
    """A rule admitting ``cidrs``, or no rule while nobody is to be admitted (a hub with no
    spoke yet): a rule with no source admits nothing and reads as a mistake."""
    return cidrs.apply(lambda c: [ingress(port, description, cidr_blocks=list(c))] if c else [])


EGRESS_ALL = aws.ec2.SecurityGroupEgressArgs(
    protocol="-1", from_port=0, to_port=0, cidr_blocks=[ANYWHERE], description=rule_description("nodes dial out")
)


def node_security_group(
    prefix: str,
    *,
    lattice: str,
    region: str,
    vpc_id: pulumi.Input[str],
    description: str,
    rules: Sequence[aws.ec2.SecurityGroupIngressArgs | IngressRules],
    opts: ChildOpts,
    extra_tags: Mapping[str, str] | None = None,
) -> aws.ec2.SecurityGroup:
    """Inbound ``rules`` only (inline, so the group's whole policy reads in one diff); any egress."""
    parts = [r if isinstance(r, pulumi.Output) else pulumi.Output.from_input([r]) for r in rules]
    return aws.ec2.SecurityGroup(
        prefix,
        description=description,
        vpc_id=vpc_id,
        ingress=pulumi.Output.all(*parts).apply(lambda lists: [rule for part in lists for rule in part]),
        egress=[EGRESS_ALL],
        region=region,
        tags=tags(lattice, prefix, **(extra_tags or {})),
        opts=opts(),
    )
