"""A NATS node on EC2: a stable network interface (its private IP and Elastic IP outlive
any instance), a per-node Secrets Manager secret with its rendered config, the files the
config includes and the programs of ``nats-sync``, an instance role that may read that
one secret, and an instance with IMDSv2 required and encrypted volumes that boots from the
script in :mod:`lattice.node.cloudinit`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import ChildOpts, secret
from components.platforms.aws.network import Network, tags
from components.platforms.contract import Lookups
from lattice import provider_rules
from lattice.jetstream import AGENT_CONFIG_FILE, AGENT_JWT_FILE, AGENT_PROGRAM
from lattice.names import auto_named
from lattice.node.cloudinit import agent_program, sync_programs

AMI_NAME_PATTERN = "al2023-ami-2023.*-kernel-*-x86_64"
"""Amazon Linux 2023: ships python3, curl and the AWS CLI the boot script uses."""
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
"""Shell access through Session Manager, so no node opens SSH."""


def ami(lookups: Lookups, pinned: str | None, region: str, parent: pulumi.Resource) -> pulumi.Input[str]:
    """The pinned AMI, or the newest Amazon Linux 2023 in ``region`` (one invoke per region)."""
    if pinned:
        return pinned

    def look_up() -> pulumi.Output[str]:
        found = aws.ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[aws.ec2.GetAmiFilterArgs(name="name", values=[AMI_NAME_PATTERN])],
            region=region,
            opts=pulumi.InvokeOutputOptions(parent=parent),
        )
        return found.id

    return lookups.once(("aws-ami", region), look_up)


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
    network: Network,
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
    aws.ec2.EipAssociation(  # an Elastic IP associates only once the VPC's gateway is attached
        f"{prefix}-eip",
        allocation_id=eip.allocation_id,
        network_interface_id=interface.id,
        region=region,
        opts=opts(depends_on=network.online()),
    )
    return NodeAddress(interface=interface, eip=eip)


def _stored_document(
    prefix: str,
    description: str,
    *,
    lattice: str,
    region: str,
    document: pulumi.Output[str],
    opts: ChildOpts,
) -> aws.secretsmanager.Secret:
    """A Secrets Manager secret holding ``document`` (a Pulumi secret end to end)."""
    stored = aws.secretsmanager.Secret(
        auto_named(prefix, "aws:secretsmanager/secret:Secret", provider_rules.SECRETSMANAGER_NAME_MAX),
        description=description,
        recovery_window_in_days=7,
        region=region,
        tags=tags(lattice, prefix),
        opts=opts(),
    )
    aws.secretsmanager.SecretVersion(
        auto_named(prefix, "aws:secretsmanager/secret:Secret", provider_rules.SECRETSMANAGER_NAME_MAX),
        secret_id=stored.id,
        secret_string=secret(document),
        region=region,
        opts=opts(),
    )
    return stored


def node_secret(
    prefix: str,
    *,
    lattice: str,
    region: str,
    files: pulumi.Output[Mapping[str, str]],
    opts: ChildOpts,
    agent_secret: pulumi.Output[str] | None = None,
) -> aws.secretsmanager.Secret:
    """The node's files (``{"files": {name: text}, "programs": {...}}``: its config and what
    the config includes, and what ``nats-sync`` runs), and where the node finds its
    region's hub-stream agent (``agent``: that secret's ARN), if it runs one."""
    programs = sync_programs()

    def render(values: list[Any]) -> str:
        document: dict[str, Any] = {"files": dict(values[0]), "programs": programs}
        if agent_secret is not None:
            document["agent"] = values[1]
        return json.dumps(document, sort_keys=True, indent=1)

    parts: list[Any] = [secret(files)] + ([agent_secret] if agent_secret is not None else [])
    return _stored_document(
        f"{prefix}-files",
        f"{prefix}: files the node's nats-server config includes (read by nats-sync)",
        lattice=lattice,
        region=region,
        document=pulumi.Output.all(*parts).apply(render),
        opts=opts,
    )


def agent_secret(
    prefix: str,
    *,
    lattice: str,
    region: str,
    agent: tuple[pulumi.Output[str], pulumi.Output[str]],
    opts: ChildOpts,
) -> aws.secretsmanager.Secret:
    """A hub region's hub-stream agent (``{"files": {settings, JWT}, "programs": {agent}}``),
    apart from the nodes' own secrets: those stay within Secrets Manager's 64 KiB whatever
    the number of sites the settings name. Every node of the region reads it."""
    settings, jwt = agent
    program = agent_program()
    document = pulumi.Output.all(settings, secret(jwt)).apply(
        lambda v: json.dumps(
            {"files": {AGENT_CONFIG_FILE: v[0], AGENT_JWT_FILE: v[1]}, "programs": {AGENT_PROGRAM: program}},
            sort_keys=True,
            indent=1,
        )
    )
    return _stored_document(
        f"{prefix}-jetstream-sync",
        f"{prefix}: the hub-stream agent every node of the region runs after nats-sync",
        lattice=lattice,
        region=region,
        document=document,
        opts=opts,
    )


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


def read_secrets_policy(*secret_arns: str) -> str:
    """GetSecretValue on exactly these secrets (one ARN: the plain form every node had)."""
    resource: str | list[str] = secret_arns[0] if len(secret_arns) == 1 else sorted(secret_arns)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": resource}],
        },
        sort_keys=True,
    )


def node_profile(
    prefix: str,
    *,
    lattice: str,
    secret_arn: pulumi.Output[str],
    opts: ChildOpts,
    agent_secret_arn: pulumi.Output[str] | None = None,
) -> aws.iam.InstanceProfile:
    """An instance role that may read exactly this node's secret and, on a hub that runs the
    hub-stream agent, its region's agent secret (and use Session Manager)."""
    role = aws.iam.Role(
        auto_named(f"{prefix}-role", "aws:iam/role:Role", provider_rules.IAM_ROLE_NAME_MAX),
        assume_role_policy=_assume_ec2(),
        description=f"{prefix}: a NATS node of lattice {lattice}",
        tags=tags(lattice, f"{prefix}-role"),
        opts=opts(),
    )
    aws.iam.RolePolicy(
        auto_named(f"{prefix}-read-files", "aws:iam/rolePolicy:RolePolicy", provider_rules.IAM_ROLE_POLICY_NAME_MAX),
        role=role.id,
        policy=pulumi.Output.all(secret_arn, *([agent_secret_arn] if agent_secret_arn is not None else [])).apply(
            lambda arns: read_secrets_policy(*arns)
        ),
        opts=opts(),
    )
    aws.iam.RolePolicyAttachment(f"{prefix}-ssm", role=role.name, policy_arn=SSM_CORE_POLICY, opts=opts())
    return aws.iam.InstanceProfile(
        auto_named(
            f"{prefix}-profile", "aws:iam/instanceProfile:InstanceProfile", provider_rules.IAM_INSTANCE_PROFILE_NAME_MAX
        ),
        role=role.name,
        tags=tags(lattice, f"{prefix}-profile"),
        opts=opts(),
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
    network: Network,
    opts: ChildOpts,
    after: aws.ec2.Instance | None = None,
) -> aws.ec2.Instance:
    """The EC2 instance: IMDSv2 only, encrypted root volume, boots from ``user_data``.

    A changed boot script replaces the instance (cloud-init runs once, so an in-place
    stop/start would keep the old machine); the interface, and with it the node's
    addresses, moves to the new instance, hence delete-before-replace. The boot script
    holds no config, so it changes only with the machine (binaries, units, volume).

    ``after``: the previous node of the same cluster. Its registration completes only once
    its own create, replacement or update has (the engine answers a registration after the
    step), so this node's registration, and with it the deletion of its old instance, waits
    for the previous node's new instance: a cluster is replaced one node at a time within
    one ``up``. A plain ``dependsOn`` edge never drags this node into the previous one's
    delete-before-replace (the engine's ``calculateDependentReplacements`` follows property
    dependencies only).
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
        # it downloads its binaries at boot: the VPC's internet route must exist first
        opts=opts(
            delete_before_replace=True,
            ignore_changes=[] if ami_pinned else ["ami"],
            depends_on=[*network.online(), *([after] if after is not None else [])],
        ),
    )
