"""How a NATS node lives on EC2: the building blocks HubCluster and EdgeSpoke share.

A node is a stable network interface (its private IP and Elastic IP outlive any
instance), a per-node Secrets Manager secret with the files its config includes, an
instance role that may read that one secret, and an instance with IMDSv2 required and
encrypted volumes that boots from the script in :mod:`lattice.node.cloudinit`.

Resources carry their ``region`` (pulumi-aws v7), so one program spans regions without
a provider per region.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import ChildOpts, secret

AMI_NAME_PATTERN = "al2023-ami-2023.*-kernel-*-x86_64"
"""Amazon Linux 2023: ships python3, curl and the AWS CLI the boot script uses."""
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
"""Shell access through Session Manager, so no node opens SSH."""
ANYWHERE = "0.0.0.0/0"


def tags(lattice: str, name: str, **extra: str) -> dict[str, str]:
    return {"Name": name, "wasmcloud-lattice": lattice, **extra}


class RegionLookups:
    """AMI and zone lookups: one invoke per region however many nodes ask. A ``Lattice``
    shares one across its components; a component used alone makes its own."""

    def __init__(self) -> None:
        self._amis: dict[str, pulumi.Output[str]] = {}
        self._zones: dict[str, pulumi.Output[list[str]]] = {}

    def ami(self, pinned: str | None, region: str, parent: pulumi.Resource | None) -> pulumi.Input[str]:
        """The pinned AMI, or the newest Amazon Linux 2023 in ``region``."""
        if pinned:
            return pinned
        if region not in self._amis:
            found = aws.ec2.get_ami_output(
                most_recent=True,
                owners=["amazon"],
                filters=[aws.ec2.GetAmiFilterArgs(name="name", values=[AMI_NAME_PATTERN])],
                region=region,
                opts=pulumi.InvokeOutputOptions(parent=parent),
            )
            self._amis[region] = found.id
        return self._amis[region]

    def zones(self, given: Sequence[str], region: str, parent: pulumi.Resource | None) -> pulumi.Output[list[str]]:
        """``given``, or the region's first three available zones."""
        if given:
            return pulumi.Output.from_input(list(given))
        if region not in self._zones:
            zones = aws.get_availability_zones_output(
                state="available", region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
            )
            self._zones[region] = zones.names.apply(lambda names: sorted(names)[:3])
        return self._zones[region]


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


@dataclass(frozen=True)
class NodeAddress:
    interface: aws.ec2.NetworkInterface
    eip: aws.ec2.Eip

    @property
    def private_ip(self) -> pulumi.Output[str]:
        return self.interface.private_ip

    @property
    def public_ip(self) -> pulumi.Output[str]:
        return self.eip.public_ip


def node_address(
    prefix: str,
    *,
    lattice: str,
    region: str,
    subnet_id: pulumi.Input[str],
    security_group_id: pulumi.Input[str],
    opts: ChildOpts,
) -> NodeAddress:
    """A network interface and an Elastic IP that outlive instances: a replaced node keeps
    the private IP its peers route to and the public IP others dial or allow-list."""
    interface = aws.ec2.NetworkInterface(
        f"{prefix}-eni",
        subnet_id=subnet_id,
        security_groups=[security_group_id],
        description=f"{prefix}: stable address of a NATS node",
        region=region,
        tags=tags(lattice, f"{prefix}-eni"),
        opts=opts(),
    )
    eip = aws.ec2.Eip(f"{prefix}-eip", domain="vpc", region=region, tags=tags(lattice, f"{prefix}-eip"), opts=opts())
    aws.ec2.EipAssociation(
        f"{prefix}-eip", allocation_id=eip.allocation_id, network_interface_id=interface.id, region=region, opts=opts()
    )
    return NodeAddress(interface=interface, eip=eip)


def node_secret(
    prefix: str,
    *,
    lattice: str,
    region: str,
    files: pulumi.Output[Mapping[str, str]],
    opts: ChildOpts,
) -> aws.secretsmanager.Secret:
    """The node's files (``{"files": {name: text}}``), a Pulumi secret end to end."""
    stored = aws.secretsmanager.Secret(
        f"{prefix}-files",
        description=f"{prefix}: files the node's nats-server config includes (read by nats-sync)",
        recovery_window_in_days=7,
        region=region,
        tags=tags(lattice, f"{prefix}-files"),
        opts=opts(),
    )
    document = secret(files).apply(lambda f: json.dumps({"files": dict(f)}, sort_keys=True, indent=1))
    aws.secretsmanager.SecretVersion(
        f"{prefix}-files", secret_id=stored.id, secret_string=secret(document), region=region, opts=opts()
    )
    return stored


def _assume_ec2() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        sort_keys=True,
    )


def read_one_secret_policy(secret_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}],
        },
        sort_keys=True,
    )


def node_profile(
    prefix: str, *, lattice: str, secret_arn: pulumi.Output[str], opts: ChildOpts
) -> aws.iam.InstanceProfile:
    """An instance role that may read exactly this node's secret (and use Session Manager)."""
    role = aws.iam.Role(
        f"{prefix}-role",
        assume_role_policy=_assume_ec2(),
        description=f"{prefix}: a NATS node of lattice {lattice}",
        tags=tags(lattice, f"{prefix}-role"),
        opts=opts(),
    )
    aws.iam.RolePolicy(
        f"{prefix}-read-files", role=role.id, policy=secret_arn.apply(read_one_secret_policy), opts=opts()
    )
    aws.iam.RolePolicyAttachment(f"{prefix}-ssm", role=role.name, policy_arn=SSM_CORE_POLICY, opts=opts())
    return aws.iam.InstanceProfile(
        f"{prefix}-profile", role=role.name, tags=tags(lattice, f"{prefix}-profile"), opts=opts()
    )


def node_instance(
    prefix: str,
    *,
    lattice: str,
    server: str,
    region: str,
    ami: pulumi.Input[str],
    ami_pinned: bool,
    instance_type: str,
    interface_id: pulumi.Input[str],
    profile: aws.iam.InstanceProfile,
    user_data: pulumi.Input[str],
    root_gib: int,
    opts: ChildOpts,
) -> aws.ec2.Instance:
    """The EC2 instance: IMDSv2 only, encrypted root volume, boots from ``user_data``.

    A changed boot script replaces the instance (cloud-init runs once, so an in-place
    stop/start would keep the old config); the interface, and with it the node's
    addresses, moves to the new instance, hence delete-before-replace.
    """
    return aws.ec2.Instance(
        prefix,
        ami=ami,
        instance_type=instance_type,
        iam_instance_profile=profile.name,
        primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(network_interface_id=interface_id),
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
            encrypted=True, volume_type="gp3", volume_size=root_gib, delete_on_termination=True
        ),
        user_data=user_data,
        user_data_replace_on_change=True,
        region=region,
        tags=tags(lattice, prefix, **{"nats-server": server}),
        opts=opts(delete_before_replace=True, ignore_changes=[] if ami_pinned else ["ami"]),
    )
