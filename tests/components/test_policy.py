"""The CrossGuard pack: every stack's resources pass; each bad resource fails, clearly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from lattice.allowlists import OPEN_LEAF_MARK
from lattice.plan import plan_lattice
from policy.policies import CHECKS, _nats_configs, policies, violations
from tests.support.helpers import STACK_NAMES, load_stack
from tests.support.program import ProgramRun, runs_of


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, ProgramRun]]:
    yield from runs_of(STACK_NAMES)


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_resource_of_every_stack_passes(stack: str, runs: dict[str, ProgramRun]) -> None:
    checked = 0
    for resource in runs[stack].mocks.resources:
        assert violations(resource.typ, resource.inputs) == {}, resource.name
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_the_config_checks_see_every_server_of_ours(stack: str, runs: dict[str, ProgramRun]) -> None:
    """An EC2 node's config travels in its secret, a Kubernetes server's in a ConfigMap: the
    policies read both, so none passes for want of a config to look at."""
    configs = [c for r in runs[stack].mocks.resources for c in _nats_configs(r.typ, r.inputs)]
    plan = plan_lattice(load_stack(stack))
    ours = [s for s in plan.servers if not (s.role == "hub" and plan.hub(s.group).is_external)]
    assert sorted(c.split('server_name: "', 1)[1].split('"', 1)[0] for c in configs) == sorted(s.name for s in ours)


TLS = '  tls: {\n    cert_file: "c.pem"\n    key_file: "k.pem"\n    ca_file: "ca.pem"\n    min_version: "1.2"\n  }\n'
HUB_CONFIG = f'server_name: "use1-0"\nlisten: "127.0.0.1:4222"\nleafnodes: {{\n  listen: "0.0.0.0:7422"\n{TLS}}}\n'
TOP_TLS = "".join(line[2:] + "\n" for line in TLS.splitlines())
SPOKE_CONFIG = f'server_name: "s"\nlisten: "0.0.0.0:4222"\n{TOP_TLS}no_auth_user: "local"\n'
TRUST = 'include "trust.conf"\n'
VERIFY = TLS.replace("  }\n", "    verify: true\n  }\n")
NO_TLS_HUB = (
    f'server_name: "use1-0"\nlisten: "0.0.0.0:4222"\n{TRUST}cluster: {{\n  listen: "0.0.0.0:6222"\n{VERIFY}}}\n'
)
NO_TLS_REMOTE = (
    'server_name: "s"\nlisten: "127.0.0.1:4222"\nleafnodes: {\n  remotes: [\n    {\n'
    '      urls: ["nats-leaf://hub:7422"]\n    }\n  ]\n}\n'
)
BAD: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "no-nats-private-port-open-to-the-world",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"fromPort": 4222, "toPort": 4222, "cidrBlocks": ["0.0.0.0/0"]}]},
        "the NATS client port 4222 is open to the world (0.0.0.0/0)",
    ),
    (
        "no-nats-private-port-open-to-the-world",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"fromPort": 6000, "toPort": 6999, "ipv6CidrBlocks": ["::/0"]}]},
        "the NATS route port 6222 is open to the world (::/0)",
    ),
    (
        "imdsv2-required",
        "aws:ec2/instance:Instance",
        {"metadataOptions": {"httpTokens": "optional"}, "rootBlockDevice": {"encrypted": True}},
        "IMDSv2 is not required (metadataOptions.httpTokens must be 'required')",
    ),
    (
        "volumes-encrypted",
        "aws:ebs/volume:Volume",
        {"encrypted": False},
        "the volume is not encrypted",
    ),
    (
        "hub-leaf-listeners-authenticate",
        "kubernetes:core/v1:ConfigMap",
        {"data": {"use1-0.conf": HUB_CONFIG}},
        "a NATS leaf listener has neither operator (JWT) auth nor an authorization block",
    ),
    (
        "nats-links-use-tls",
        "kubernetes:core/v1:ConfigMap",
        {"data": {"use1-0.conf": NO_TLS_HUB}},
        "a NATS client listener beyond loopback has no TLS",
    ),
    (
        "nats-links-use-tls",
        "kubernetes:core/v1:ConfigMap",
        {
            "data": {
                "use1-0.conf": NO_TLS_HUB.replace('listen: "0.0.0.0:4222"', 'listen: "127.0.0.1:4222"').replace(
                    VERIFY, TLS
                )
            }
        },
        "NATS routes are not mutual TLS (tls with verify: true)",
    ),
    (
        "nats-links-use-tls",
        "kubernetes:core/v1:ConfigMap",
        {"data": {"s.conf": NO_TLS_REMOTE}},
        "a NATS leaf remote dials without verifying the server (tls with ca_file)",
    ),
    (
        "spoke-clients-on-loopback",
        "kubernetes:core/v1:ConfigMap",
        {"data": {"nats-server.conf": SPOKE_CONFIG}},
        "a spoke's anonymous client listener is not bound to 127.0.0.1",
    ),
    (
        "spoke-clients-on-loopback",
        "aws:secretsmanager/secretVersion:SecretVersion",
        {"secretString": {"value": json.dumps({"files": {"nats-server.conf": SPOKE_CONFIG}})}},
        "a spoke's anonymous client listener is not bound to 127.0.0.1",
    ),
    (
        "no-plaintext-credentials",
        "kubernetes:core/v1:ConfigMap",
        {"data": {"leaf.creds": "-----BEGIN NATS USER JWT-----\nx\n"}},
        "a credential (nkey seed, .creds or clear password) is in plain text",
    ),
    (
        "no-plaintext-credentials",
        "aws:ec2/instance:Instance",
        {
            "metadataOptions": {"httpTokens": "required"},
            "rootBlockDevice": {"encrypted": True},
            "userData": "#!/bin/bash\necho SUAMLK4OTSTA2GWOYGXJBX2W4ULSGRMTZKWKVNYJG3U7OTAVXX4MHBHUEM\n",
        },
        "a credential (nkey seed, .creds or clear password) is in plain text",
    ),
    (
        "nats-leaf-ports-admit-listed-sources",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"fromPort": 7422, "toPort": 7422, "cidrBlocks": ["0.0.0.0/0"]}], "tags": {}},
        "the NATS leaf port 7422 is open to every address without leafAllowedCidrs opting in",
    ),
    (
        "nats-leaf-ports-admit-listed-sources",
        "kubernetes:core/v1:Service",
        {"metadata": {"name": "site-a-leaf"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 7422}]}},
        "a NATS LoadBalancer admits every address (no loadBalancerSourceRanges) without an opt-in",
    ),
    (
        "images-pinned",
        "kubernetes:apps/v1:StatefulSet",
        {"spec": {"template": {"spec": {"containers": [{"name": "nats", "image": "nats:2.15-alpine"}]}}}},
        "container nats: image 'nats:2.15-alpine' floats (pin an exact version tag or a digest)",
    ),
    (
        "images-pinned",
        "kubernetes:apps/v1:StatefulSet",
        {"spec": {"template": {"spec": {"initContainers": [{"name": "x", "image": "python:3.11-slim"}]}}}},
        "container x: image 'python:3.11-slim' floats (pin an exact version tag or a digest)",
    ),
]


def test_an_explicitly_opened_leaf_port_and_a_digest_pass() -> None:
    opened = {"metadata": {"annotations": {OPEN_LEAF_MARK: "leafAllowedCidrs"}}}
    service = {
        **opened,
        "spec": {"type": "LoadBalancer", "ports": [{"port": 7422}], "loadBalancerSourceRanges": ["0.0.0.0/0"]},
    }
    assert violations("kubernetes:core/v1:Service", service) == {}
    rule = {"fromPort": 7422, "toPort": 7422, "cidrBlocks": ["0.0.0.0/0"]}
    assert violations("aws:ec2/securityGroup:SecurityGroup", {"ingress": [rule], "tags": {OPEN_LEAF_MARK: "x"}}) == {}
    digest = "registry.acme.io/nats@sha256:" + "a" * 64
    pod = {"spec": {"template": {"spec": {"containers": [{"name": "nats", "image": digest}]}}}}
    assert violations("kubernetes:apps/v1:StatefulSet", pod) == {}


@pytest.mark.parametrize(("policy", "typ", "props", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_each_policy_fails_a_bad_resource_with_a_clear_message(
    policy: str, typ: str, props: dict[str, Any], message: str
) -> None:
    assert violations(typ, props) == {policy: [message]}


def test_the_pack_reports_through_pulumi_policys_own_interface() -> None:
    pack = {p.name: p for p in policies()}
    assert set(pack) == set(CHECKS)
    policy = pack["imdsv2-required"]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []
    urn = "urn:pulumi:x::y::aws:ec2/instance:Instance::n"
    no_options: Any = None  # the checks read only the type and the properties
    args = ResourceValidationArgs("aws:ec2/instance:Instance", {"metadataOptions": {}}, urn, "n", no_options, None)
    validate = policy.validate
    assert callable(validate)
    validate(args, lambda message, urn: reported.append(message))
    assert reported == ["IMDSv2 is not required (metadataOptions.httpTokens must be 'required')"]
