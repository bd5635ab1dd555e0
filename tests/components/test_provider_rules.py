"""Every custom resource every stack registers, against what the real providers accept.

Pulumi's mocks accept any input, so this applies :mod:`lattice.provider_rules` (each rule
with its source) to the inputs of every registered custom resource, after the provider's
auto-naming: a resource the program leaves unnamed gets the worst-case physical name the
provider would pick (:func:`lattice.provider_rules.auto_name`), not the mock's resource
name. :data:`CHECKS` maps each resource type to the property paths and the rule for each;
a type it does not know fails the test, so a new resource type must get its rules.

The rules themselves are tested below the stack test, each with valid and invalid values.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from lattice import provider_rules as r
from tests.support.helpers import EXTREME_STACKS, STACK_NAMES
from tests.support.mocks import LatticeMocks, is_secret
from tests.support.program import ProgramRun, runs_of

Arguments = Callable[[Any, "Resource"], tuple[Any, ...]]


@dataclass(frozen=True)
class Resource:
    """A registered custom resource as the real provider would see it: auto-named where the
    program set no name, references to auto-named resources resolved to their names."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    auto_named: frozenset[str] = frozenset()


def _value(value: Any, _: Resource) -> tuple[Any, ...]:
    return (value,)


@dataclass(frozen=True)
class Check:
    """Apply ``rule`` to every value ``selector`` picks from a resource's inputs.

    A selector is dot-separated keys; ``*`` is every item of a list or value of a mapping,
    ``~`` every key of a mapping, and the empty selector the whole inputs. ``arguments``
    turns a picked value (and the resource) into the rule's arguments.
    """

    selector: str
    rule: Callable[..., list[str]]
    arguments: Arguments = _value


@dataclass(frozen=True)
class Picked:
    path: str
    value: Any
    secret: bool


def pick(value: Any, selector: str, path: str = "", secret: bool = False) -> Iterator[Picked]:
    """The values ``selector`` picks from ``value``, with their concrete paths."""
    if is_secret(value):
        yield from pick(value["value"], selector, path, True)
        return
    if not selector:
        yield Picked(path, value, secret)
        return
    head, _, rest = selector.partition(".")
    if head == "~" and isinstance(value, Mapping):
        for key in value:
            if not rest:
                yield Picked(f"{path}[{key!r}] (key)", key, secret)
    elif head == "*" and isinstance(value, Mapping):
        for key, item in value.items():
            yield from pick(item, rest, f"{path}[{key!r}]", secret)
    elif head == "*" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from pick(item, rest, f"{path}[{i}]", secret)
    elif isinstance(value, Mapping) and head in value:
        yield from pick(value[head], rest, f"{path}.{head}" if path else head, secret)


def _int(value: Any) -> int:
    """The mocks deliver numbers as floats (7422.0); the providers take integers."""
    return int(value)


def _number(value: Any, _: Resource) -> tuple[Any, ...]:
    return (_int(value),)


def _whole(value: Any, _: Resource) -> tuple[Any, ...]:
    return (list(value),)


def _process_namespace(spec: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (bool(spec.get("shareProcessNamespace")), bool(spec.get("hostPID")))


def _port_range(rule_: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (rule_["protocol"], _int(rule_["fromPort"]), _int(rule_["toPort"]))


# --- the table: resource type -> property path -> rule ----------------------------------------


def ec2_tags() -> list[Check]:
    return [Check("tags.~", r.ec2_tag_key), Check("tags.*", r.ec2_tag_value)]


def iam_elb_tags() -> list[Check]:
    return [Check("tags.~", r.aws_tag_key), Check("tags.*", r.aws_tag_value)]


def security_group_rules(direction: str) -> list[Check]:
    return [
        Check(f"{direction}.*.description", r.ec2_sg_rule_description),
        Check(f"{direction}.*.cidrBlocks.*", r.cidr_block),
        Check(f"{direction}.*", r.ec2_port_range, _port_range),
    ]


def k8s_metadata(name_rule: Callable[[str], list[str]] | None, *, namespaced: bool = True) -> list[Check]:
    checks = [
        Check("metadata.labels.~", r.k8s_label_key),
        Check("metadata.labels.*", r.k8s_label_value),
        Check("metadata.annotations.~", r.k8s_annotation_key),
        Check("metadata.annotations", r.k8s_annotations_size),
    ]
    if name_rule is not None:
        checks.append(Check("metadata.name", name_rule))
    if namespaced:
        checks.append(Check("metadata.namespace", r.k8s_namespace_name))
    return checks


def pod_template(prefix: str) -> list[Check]:
    """A pod template's metadata, containers (init ones too), ports, env and volumes."""
    checks = [
        Check(f"{prefix}.metadata.labels.~", r.k8s_label_key),
        Check(f"{prefix}.metadata.labels.*", r.k8s_label_value),
        Check(f"{prefix}.metadata.annotations.~", r.k8s_annotation_key),
        Check(f"{prefix}.metadata.annotations", r.k8s_annotations_size),
        Check(f"{prefix}.spec.volumes.*.name", r.k8s_volume_name),
        Check(f"{prefix}.spec.terminationGracePeriodSeconds", r.k8s_termination_grace_period, _number),
        Check(f"{prefix}.spec", r.k8s_process_namespace, _process_namespace),
    ]
    for containers in ("containers", "initContainers"):
        base = f"{prefix}.spec.{containers}.*"
        checks += [
            Check(f"{base}.name", r.k8s_container_name),
            Check(f"{base}.image", r.container_image),
            Check(f"{base}.lifecycle.preStop.exec.command", r.k8s_exec_command, _whole),
            Check(f"{base}.ports.*.name", r.k8s_port_name),
            Check(f"{base}.ports.*.containerPort", r.k8s_port_number, _number),
            Check(f"{base}.env.*.name", r.k8s_env_var_name),
            Check(f"{base}.resources.requests.*", r.k8s_quantity),
            Check(f"{base}.resources.limits.*", r.k8s_quantity),
        ]
    return checks


def _selector_and_template(spec: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])


def _statefulset_pods(whole: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (whole["metadata"]["name"], _int(whole["spec"]["replicas"]))


def _service_port_names(ports: Sequence[Mapping[str, Any]], _: Resource) -> tuple[Any, ...]:
    return ([p.get("name", "") for p in ports],)


def _target_port(value: Any, _: Resource) -> tuple[Any, ...]:
    return (value if isinstance(value, str) else _int(value),)


def _volume(whole: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (whole["type"], _int(whole["size"]))


def _root_volume(device: Mapping[str, Any], _: Resource) -> tuple[Any, ...]:
    return (device["volumeType"], _int(device["volumeSize"]))


CHECKS: dict[str, list[Check]] = {
    # --- AWS: network
    "aws:ec2/vpc:Vpc": [Check("cidrBlock", r.vpc_cidr_block), *ec2_tags()],
    "aws:ec2/subnet:Subnet": [Check("cidrBlock", r.cidr_block), *ec2_tags()],
    "aws:ec2/internetGateway:InternetGateway": ec2_tags(),
    "aws:ec2/routeTable:RouteTable": [Check("routes.*.cidrBlock", r.cidr_block), *ec2_tags()],
    "aws:ec2/routeTableAssociation:RouteTableAssociation": [],  # ids only: nothing a rule constrains
    "aws:ec2/securityGroup:SecurityGroup": [
        Check("name", r.ec2_sg_name),
        Check("description", r.ec2_sg_description),
        *security_group_rules("ingress"),
        *security_group_rules("egress"),
        *ec2_tags(),
    ],
    # an ENI's description: the EC2 API documents no limit on it, so no rule
    "aws:ec2/networkInterface:NetworkInterface": ec2_tags(),
    "aws:ec2/eip:Eip": ec2_tags(),
    "aws:ec2/eipAssociation:EipAssociation": [],  # ids only
    # --- AWS: nodes
    "aws:ec2/instance:Instance": [
        Check("userData", r.ec2_user_data),
        Check("metadataOptions.httpPutResponseHopLimit", r.ec2_metadata_hop_limit, _number),
        Check("rootBlockDevice", r.ebs_volume_size, _root_volume),
        *ec2_tags(),
    ],
    "aws:ebs/volume:Volume": [Check("", r.ebs_volume_size, _volume), *ec2_tags()],
    "aws:ec2/volumeAttachment:VolumeAttachment": [],  # ids and a device name the EC2 API only gives examples for
    # --- AWS: load balancing
    "aws:lb/loadBalancer:LoadBalancer": [Check("name", r.elb_name), *iam_elb_tags()],
    "aws:lb/targetGroup:TargetGroup": [
        Check("name", r.target_group_name),
        Check("port", r.elb_port, _number),
        Check("deregistrationDelay", r.target_group_deregistration_delay, _number),
        Check("healthCheck.interval", r.target_group_health_check_interval, _number),
        Check("healthCheck.healthyThreshold", r.target_group_health_check_threshold, _number),
        Check("healthCheck.unhealthyThreshold", r.target_group_health_check_threshold, _number),
        Check("healthCheck.path", r.target_group_health_check_path),
        Check("healthCheck.port", r.target_group_health_check_port),
        *iam_elb_tags(),
    ],
    "aws:lb/listener:Listener": [Check("port", r.elb_port, _number), *iam_elb_tags()],
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": [Check("port", r.elb_port, _number)],
    # --- AWS: IAM (role references resolved to the role's physical name)
    "aws:iam/role:Role": [
        Check("name", r.iam_role_name),
        Check("description", r.iam_role_description),
        Check("assumeRolePolicy", r.iam_policy_document),
        *iam_elb_tags(),
    ],
    "aws:iam/rolePolicy:RolePolicy": [
        Check("name", r.iam_role_policy_name),
        Check("role", r.iam_role_reference),
        Check("policy", r.iam_policy_document),
    ],
    # AttachRolePolicy and AddRoleToInstanceProfile take the role's name (IAM model roleNameType)
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": [
        Check("role", r.iam_role_name),
        Check("policyArn", r.aws_arn),
    ],
    "aws:iam/instanceProfile:InstanceProfile": [
        Check("name", r.iam_instance_profile_name),
        Check("role", r.iam_role_name),
        *iam_elb_tags(),
    ],
    # --- AWS: Secrets Manager
    "aws:secretsmanager/secret:Secret": [
        Check("name", r.secretsmanager_secret_name),
        Check("description", r.secretsmanager_description),
        Check("recoveryWindowInDays", r.secretsmanager_recovery_window, _number),
        Check("tags.~", r.secretsmanager_tag_key),
        Check("tags.*", r.secretsmanager_tag_value),
    ],
    "aws:secretsmanager/secretVersion:SecretVersion": [Check("secretString", r.secretsmanager_secret_string)],
    # --- Kubernetes
    "pulumi:providers:kubernetes": [],  # a kubeconfig: no rule a provider applies to it
    "kubernetes:core/v1:Namespace": k8s_metadata(r.k8s_namespace_name, namespaced=False),
    "kubernetes:core/v1:Service": [
        *k8s_metadata(r.k8s_service_name),
        Check("spec.selector.~", r.k8s_label_key),
        Check("spec.selector.*", r.k8s_label_value),
        Check("spec.ports.*.name", r.k8s_service_port_name),
        Check("spec.ports.*.port", r.k8s_port_number, _number),
        Check("spec.ports.*.targetPort", r.k8s_port_number_or_name, _target_port),
        Check("spec.ports", r.k8s_service_port_names, _service_port_names),
    ],
    "kubernetes:core/v1:ConfigMap": [
        *k8s_metadata(r.k8s_object_name),
        Check("data.~", r.k8s_config_key),
        Check("data", r.k8s_data_size),
    ],
    "kubernetes:cert-manager.io/v1:Certificate": [
        *k8s_metadata(r.k8s_object_name),
        # the Secret cert-manager writes, which the hub's pods mount: a Secret's name
        Check("spec.secretName", r.k8s_object_name),
        Check("spec.dnsNames.*", r.dns1123_subdomain),
    ],
    "kubernetes:core/v1:Secret": [
        *k8s_metadata(r.k8s_object_name),
        Check("stringData.~", r.k8s_config_key),
        Check("stringData", r.k8s_data_size),
    ],
    "kubernetes:apps/v1:StatefulSet": [
        *k8s_metadata(r.k8s_object_name),
        Check("", r.k8s_statefulset_pod_hostnames, _statefulset_pods),
        Check("spec.serviceName", r.k8s_statefulset_service_name),
        Check("spec.selector.matchLabels.~", r.k8s_label_key),
        Check("spec.selector.matchLabels.*", r.k8s_label_value),
        Check("spec", r.k8s_selector_matches, _selector_and_template),
        *pod_template("spec.template"),
        # the controller adds each claim template to the pod as a volume of the claim's name
        # (pkg/controller/statefulset/stateful_set_utils.go updateStorage)
        Check("spec.volumeClaimTemplates.*.metadata.name", r.k8s_volume_name),
        Check("spec.volumeClaimTemplates.*.spec.resources.requests.*", r.k8s_quantity),
    ],
    "kubernetes:apps/v1:Deployment": [
        *k8s_metadata(r.k8s_object_name),
        Check("spec.selector.matchLabels.~", r.k8s_label_key),
        Check("spec.selector.matchLabels.*", r.k8s_label_value),
        Check("spec", r.k8s_selector_matches, _selector_and_template),
        *pod_template("spec.template"),
    ],
    # a PDB's name: the policy validation checks only its spec (ValidatePodDisruptionBudget)
    "kubernetes:policy/v1:PodDisruptionBudget": [
        *k8s_metadata(None),
        Check("spec.selector.matchLabels.~", r.k8s_label_key),
        Check("spec.selector.matchLabels.*", r.k8s_label_value),
    ],
    # --- pulumi-tls, pulumi-random
    "tls:index/privateKey:PrivateKey": [
        Check("algorithm", r.tls_key_algorithm),
        Check("ecdsaCurve", r.tls_ecdsa_curve),
    ],
    "tls:index/selfSignedCert:SelfSignedCert": [
        Check("allowedUses.*", r.tls_key_usage),
        Check("validityPeriodHours", r.tls_hours, _number),
        Check("earlyRenewalHours", r.tls_hours, _number),
    ],
    "tls:index/certRequest:CertRequest": [Check("ipAddresses.*", r.tls_ip_address)],
    "tls:index/locallySignedCert:LocallySignedCert": [
        Check("allowedUses.*", r.tls_key_usage),
        Check("validityPeriodHours", r.tls_hours, _number),
        Check("earlyRenewalHours", r.tls_hours, _number),
    ],
    "random:index/randomBytes:RandomBytes": [Check("length", r.random_bytes_length, _number)],
    "random:index/randomPassword:RandomPassword": [Check("length", r.random_password_length, _number)],
}

REFERENCES: dict[str, tuple[str, ...]] = {
    "aws:iam/rolePolicy:RolePolicy": ("role",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role",),
    "aws:iam/instanceProfile:InstanceProfile": ("role",),
}
"""Inputs that hold another resource's name or id: under the mocks the referenced resource's
resource name (or ``<name>-id``), for real its physical (auto-)name."""


# --- applying the table -------------------------------------------------------------------


def _set_path(target: dict[str, Any], path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[leaf] = value


def _has_path(source: Mapping[str, Any], path: str) -> bool:
    value: Any = source
    for key in path.split("."):
        if not isinstance(value, Mapping) or not value.get(key):
            return False
        value = value[key]
    return True


def physical_resources(run: ProgramRun) -> list[Resource]:
    """The run's custom resources with the names the real providers would give them."""
    custom = [(urn, reg) for urn, reg in run.registered.items() if reg["custom"]]
    physical: dict[str, str] = {}
    resources = []
    for urn, reg in custom:
        typ, name = urn.split("::")[2].split("$")[-1], urn.split("::")[3]
        inputs = copy.deepcopy(reg["inputs"])
        naming = r.auto_naming(typ)
        auto_named: frozenset[str] = frozenset()
        if naming is not None and not _has_path(inputs, naming.property):
            _set_path(inputs, naming.property, r.auto_name(typ, name))
            auto_named = frozenset({naming.property})
            # what the mocks answer for this resource's name and id (tests/support/mocks.py)
            physical[name] = physical[f"{name}-id"] = r.auto_name(typ, name)
        resources.append(Resource(urn, typ, name, inputs, auto_named))
    for resource in resources:
        for key in REFERENCES.get(resource.type, ()):
            value = resource.inputs.get(key)
            if isinstance(value, str) and value in physical:
                resource.inputs[key] = physical[value]
    return resources


@dataclass
class Report:
    resources: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def by_origin(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for name, n in self.applied.items():
            counts[r.RULES[name].origin.value] += n
        return counts


def _shown(value: Any, secret: bool) -> str:
    if secret:
        return "[secret]"
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def check_run(run: ProgramRun) -> Report:
    report = Report()
    for resource in physical_resources(run):
        if resource.type not in CHECKS:
            report.violations.append(f"{resource.urn}: no provider rules for type {resource.type}; add them to CHECKS")
            continue
        report.resources += 1
        checks = list(CHECKS[resource.type])
        for prop in sorted(resource.auto_named):
            name_problems = r.pulumi_auto_name_length(resource.type, resource.name)
            report.applied[r.pulumi_auto_name_length.__name__] += 1
            for problem in name_problems:
                report.violations.append(
                    f"{resource.urn} {prop} = {resource.name!r} (auto-named): pulumi_auto_name_length: {problem}"
                )
        for check in checks:
            for picked in pick(resource.inputs, check.selector):
                report.applied[check.rule.__name__] += 1
                auto = " (auto-named)" if picked.path in resource.auto_named else ""
                for problem in check.rule(*check.arguments(picked.value, resource)):
                    report.violations.append(
                        f"{resource.urn} {picked.path or '(whole)'} = {_shown(picked.value, picked.secret)}{auto}: "
                        f"{check.rule.__name__}: {problem}"
                    )
    return report


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, ProgramRun]]:
    yield from runs_of(CHECKED_STACKS)


CHECKED_STACKS = [*STACK_NAMES, *EXTREME_STACKS]
"""Every stack, and the extreme ones of the test corpus."""


@pytest.mark.parametrize("stack", CHECKED_STACKS)
def test_every_resource_passes_the_provider_rules(
    stack: str, runs: dict[str, ProgramRun], record_property: Callable[[str, object], None]
) -> None:
    report = check_run(runs[stack])
    summary = (
        f"{stack}: {report.resources} resources checked, {sum(report.applied.values())} rule applications "
        f"({dict(sorted(report.by_origin().items()))}); {len(report.violations)} violations"
    )
    print(summary)
    record_property("resources_checked", report.resources)
    record_property("rules_applied_by_rule", dict(sorted(report.applied.items())))
    record_property("rules_applied_by_origin", dict(sorted(report.by_origin().items())))
    assert report.resources > 0
    assert not report.violations, summary + "\n" + "\n".join(report.violations)


def test_every_table_rule_is_registered_with_a_source() -> None:
    used = {check.rule.__name__ for checks in CHECKS.values() for check in checks}
    assert used <= set(r.RULES)
    assert all(source.source for source in r.RULES.values())


def test_the_table_reaches_nested_kubernetes_properties(runs: dict[str, ProgramRun]) -> None:
    """Selectors that name a missing path pick nothing, silently; prove the deep ones pick."""
    statefulsets = [x for x in physical_resources(runs["edge-k8s"]) if x.type == "kubernetes:apps/v1:StatefulSet"]
    assert statefulsets
    for selector in (
        "spec.template.spec.containers.*.name",
        "spec.template.spec.containers.*.ports.*.name",
        "spec.template.spec.initContainers.*.name",
        "spec.template.metadata.labels.~",
        "spec.volumeClaimTemplates.*.metadata.name",
    ):
        assert any(list(pick(s.inputs, selector)) for s in statefulsets), selector


def test_unnamed_resources_get_the_providers_worst_case_names(runs: dict[str, ProgramRun]) -> None:
    resources = {x.urn.split("::")[3] + " " + x.type: x for x in physical_resources(runs["dev"])}
    role = next(x for k, x in resources.items() if k.endswith("aws:iam/role:Role"))
    assert role.inputs["name"] == role.name + "-fffffff"
    policy = next(x for x in resources.values() if x.type == "aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"].endswith("-role-fffffff")
    namespace = next(
        (x for x in physical_resources(runs["edge-k8s"]) if x.type == "kubernetes:core/v1:Namespace"), None
    )
    assert namespace is not None
    assert "metadata.name" not in namespace.auto_named  # the program names its Kubernetes objects


def test_the_checker_flags_what_a_real_up_would_refuse() -> None:
    """The audit's failures, on a hand-made run: an auto-named target group too long for the
    bridge and for ELB, a Service named like a spoke that starts with a digit, an unknown type."""
    tg_urn = "urn:pulumi:x::p::aws:lb/targetGroup:TargetGroup::" + "a" * 25
    svc_urn = "urn:pulumi:x::p::kubernetes:core/v1:Service::svc"
    odd_urn = "urn:pulumi:x::p::aws:s3/bucket:Bucket::b"
    service = {"metadata": {"name": "7-eleven-leaf", "namespace": "acme-7-eleven"}, "spec": {"ports": []}}
    run = ProgramRun(
        mocks=LatticeMocks(),
        namespace={},
        registered={
            tg_urn: {"custom": True, "provider": "", "inputs": {"port": 7422.0}},
            svc_urn: {"custom": True, "provider": "", "inputs": service},
            odd_urn: {"custom": True, "provider": "", "inputs": {}},
        },
    )
    report = check_run(run)
    text = "\n".join(report.violations)
    assert "pulumi_auto_name_length" in text
    assert f"{tg_urn} name = '{'a' * 25}-fffffff' (auto-named): target_group_name" in text
    assert f"{svc_urn} metadata.name = '7-eleven-leaf': k8s_service_name" in text
    assert f"{odd_urn}: no provider rules for type aws:s3/bucket:Bucket" in text
    assert report.resources == 2


# --- the rules themselves: valid and invalid values --------------------------------------------

A = "a"
RULE_CASES: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {
    # name: ([valid argument tuples], [invalid argument tuples])
    "dns1123_label": ([("a",), ("7-eleven",), (A * 63,)], [(A * 64,), ("-a",), ("a-",), ("A",), ("a.b",), ("",)]),
    "dns1123_subdomain": (
        [("a.b-c",), ("7",), (".".join([A * 63] * 3) + "." + A * 61,)],
        [(A * 254,), ("a..b",), ("a_b",), (".a",), ("",)],
    ),
    "dns1035_label": ([("a7",), ("a-b",), (A * 63,)], [("7-eleven",), (A * 64,), ("a-",), ("a.b",)]),
    "k8s_namespace_name": ([("acme-site-a",)], [("acme.site",), (A * 64,)]),
    "container_image": (
        [("nats:2.15.1-alpine",), ("registry.acme.io:5000/team/nats:2.15.1-alpine@sha256:" + "a" * 64,), ("nats",)],
        [("nats:2.15.1 ",), ("",), ("Nats:2.15",), ("nats@sha256:abc",), ("nats:-x",)],
    ),
    "k8s_service_name": ([("site-a-leaf",)], [("7-eleven-leaf",), ("site_a",)]),
    "k8s_termination_grace_period": ([(0,), (60,)], [(-1,)]),
    "k8s_process_namespace": ([(True, False), (False, True), (False, False)], [(True, True)]),
    "k8s_exec_command": ([(["/bin/sh", "-c", "x"],)], [([],)]),
    "k8s_object_name": ([("hub.config",), ("7-eleven",)], [("Hub",), (A * 254,)]),
    "k8s_label_key": (
        [("app.kubernetes.io/instance",), ("a",), (A * 63,), ("x.io/" + A * 63,)],
        [(A * 64,), ("x.io/" + A * 64,), ("a/b/c",), ("/a",), ("a/",), ("-a",), ("Bad_Prefix/a",)],
    ),
    "k8s_label_value": ([("",), ("acme-dev",), (A * 63,), ("a_b.c",)], [(A * 64,), ("-a",), ("a b",)]),
    "k8s_annotation_key": ([("wasmcloud-lattice/config",), ("Example.COM/Key",)], [("a/b/c",), (A * 64,)]),
    "k8s_annotations_size": ([({"k": "v" * 1000},)], [({"k": "v" * (256 * 1024)},)]),
    "k8s_container_name": ([("wasmcloud-host",)], [("wasmcloud_host",), (A * 64,)]),
    "k8s_volume_name": ([("host-home",)], [("host.home",)]),
    "k8s_port_name": (
        [("client",), ("http-2",), (A * 15,)],
        [(A * 16,), ("8080",), ("a--b",), ("-a",), ("a-",), ("Leaf",), ("",)],
    ),
    "k8s_port_number": ([(1,), (65535,)], [(0,), (65536,)]),
    "k8s_service_port_name": ([("websocket",), (A * 63,)], [(A * 64,), ("web_socket",)]),
    "k8s_service_port_names": ([(["a", "b"],), ([""],), ([],)], [(["a", ""],), (["a", "a"],)]),
    "k8s_port_number_or_name": ([(7422,), ("leaf",)], [(0,), ("7422",)]),
    "k8s_env_var_name": ([("POD_NAME",), ("my.env-name",)], [("1A",), ("A=B",), ("..A",)]),
    "k8s_config_key": ([("use1-0.conf",), ("leaf.creds",)], [("a/b",), ("..a",), (".",), (A * 254,)]),
    "k8s_quantity": (
        [("500m",), ("1Gi",), ("10G",), ("1.5",), ("1e3",), ("+.5Ki",), ("2E",)],
        [("1GB",), ("1gi",), ("",), ("1.2.3",), ("Gi",), ("1 Gi",)],
    ),
    "k8s_data_size": ([({"a": "x" * 1024},)], [({"a": "x" * (1 << 20), "b": "y"},)]),
    "k8s_statefulset_pod_hostnames": ([("use1", 3), (A * 61, 10)], [(A * 62, 10), ("a.b", 1)]),
    "k8s_statefulset_service_name": ([("use1",)], [("use.1",), (A * 64,)]),
    "k8s_selector_matches": ([({"a": "1"}, {"a": "1", "b": "2"})], [({"a": "1"}, {"a": "2"}), ({"a": "1"}, {})]),
    "ec2_sg_description": (
        [("NATS hub use1 of lattice acme: routes (TLS) #1 [a]+=&;{}!$*@,/",), (A * 255,)],
        [("this spoke's children",), (A * 256,), ("caf\u00e9",), ('"quoted"',)],
    ),
    "ec2_sg_rule_description": ([("leaf links from spokes (JWT-authenticated)",)], [("regions' nodes",), (A * 256,)]),
    "ec2_sg_name": ([("acme-use1-nodes-fffffff",), (A * 255,)], [("sg-nodes",), (A * 256,), ("a'b",)]),
    "cidr_block": ([("10.42.0.0/16",), ("198.18.1.4/32",), ("0.0.0.0/0",)], [("10.42.0.1/16",), ("10.42.0.0",)]),
    "vpc_cidr_block": ([("10.42.0.0/16",), ("10.43.0.0/28",)], [("10.0.0.0/8",), ("10.43.0.0/29",), ("10.0.0.1/16",)]),
    "ec2_port_range": (
        [("tcp", 0, 65535), ("-1", 0, 0), ("tcp", 7422, 7422)],
        [("tcp", 7422, 7421), ("tcp", -1, 80), ("udp", 0, 65536)],
    ),
    "ec2_tag_key": ([("Name",), (A * 127,)], [(A * 128,), ("aws:Name",), ("AWS:x",), ("",)]),
    "ec2_tag_value": ([("",), (A * 256,)], [(A * 257,)]),
    "aws_tag_key": ([("wasmcloud-lattice",), ("a b_.:/=+-@",), (A * 128,)], [(A * 129,), ("a'b",), ("aws:x",), ("",)]),
    "aws_tag_value": ([("",), ("acme-use1-leaf",), (A * 256,)], [(A * 257,), ("a'b",), ("a,b",)]),
    "secretsmanager_tag_key": ([("Name",), (A * 128,)], [(A * 129,), ("aws:x",), ("",)]),
    "secretsmanager_tag_value": ([("",), (A * 256,)], [(A * 257,)]),
    "ec2_user_data": ([("x" * 16384,)], [("x" * 16385,), ("\u00e9" * 8193,)]),
    "ec2_metadata_hop_limit": ([(1,), (64,)], [(0,), (65,)]),
    "ebs_volume_size": (
        [("gp3", 16), ("gp3", 65536), ("st1", 125)],
        [("gp3", 0), ("gp2", 16385), ("st1", 124), ("x", 1)],
    ),
    "elb_name": (
        [("acme-use1-leaf-fffffff",), (A * 32,)],
        [(A * 33,), ("internal-leaf",), ("-a",), ("a-",), ("a_b",)],
    ),
    "target_group_name": ([("internal-leaf",), (A * 32,)], [(A * 33,), ("-a",), ("a-",), ("a.b",)]),
    "elb_port": ([(1,), (65535,)], [(0,), (65536,)]),
    "target_group_deregistration_delay": ([(0,), (3600,)], [(-1,), (3601,)]),
    "target_group_health_check_interval": ([(5,), (300,)], [(4,), (301,)]),
    "target_group_health_check_threshold": ([(2,), (10,)], [(1,), (11,)]),
    "target_group_health_check_path": ([("/healthz",), ("/" + A * 1023,)], [("healthz",), ("",), ("/" + A * 1024,)]),
    "target_group_health_check_port": ([("traffic-port",), ("8222",)], [("0",), ("65536",), ("monitor",)]),
    "iam_role_name": (
        [("acme-use1-0-role-fffffff",), (A * 64,), ("a+=,.@_-",)],
        [(A * 65,), ("a b",), ("a/b",), ("",)],
    ),
    "iam_role_name_prefix": ([(A * 38,)], [(A * 39,), ("a b",)]),
    "iam_instance_profile_name": ([(A * 128,)], [(A * 129,), ("a:b",)]),
    "iam_role_policy_name": ([("acme-use1-0-read-files-fffffff",), (A * 128,)], [(A * 129,), ("a b",)]),
    "iam_role_reference": ([("acme-role",), (A * 128,)], [("arn:aws:iam::123456789012:role/x",), (A * 129,)]),
    "iam_role_description": (
        [("acme-use1-0: a NATS node of lattice acme",), ("caf\u00e9",), (A * 1000,)],
        [(A * 1001,), ("\u201cquoted\u201d",), ("\u2603",)],
    ),
    "iam_policy_document": ([('{"Version": "2012-10-17"}',)], [(' {"a": 1}',), ("[1]",), ("{",), ('{"a": "\u2603"}',)]),
    "aws_arn": (
        [("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",)],
        [("AmazonSSMManagedInstanceCore",), ("arn:aws:iam::aws",), ("arn::iam::aws:policy/x",)],
    ),
    "secretsmanager_secret_name": (
        [("acme-use1-0-files-fffffff",), ("a/b_+=.@-",), (A * 512,)],
        [(A * 513,), ("a b",)],
    ),
    "secretsmanager_description": ([(A * 2048,)], [(A * 2049,)]),
    "secretsmanager_secret_string": ([("{}",), (A * 65536,)], [("",), (A * 65537,)]),
    "secretsmanager_recovery_window": ([(0,), (7,), (30,)], [(1,), (6,), (31,)]),
    "tls_key_algorithm": ([("ECDSA",), ("RSA",), ("ED25519",)], [("ecdsa",), ("DSA",)]),
    "tls_ecdsa_curve": ([("P256",), ("P521",)], [("P-256",), ("secp256r1",)]),
    "tls_key_usage": ([("server_auth",), ("cert_signing",)], [("serverAuth",), ("signing",)]),
    "tls_hours": ([(0,), (87600,)], [(-1,)]),
    "tls_ip_address": ([("203.0.113.29",), ("::1",)], [("203.0.113",), ("host.example",)]),
    "random_password_length": ([(64,), (1,)], [(0,), (-1,)]),
    "random_bytes_length": ([(1,), (32,)], [(0,)]),
    "pulumi_auto_name_length": (
        [("aws:lb/targetGroup:TargetGroup", A * 24), ("aws:iam/role:Role", A * 56), ("aws:ec2/vpc:Vpc", A * 300)],
        [("aws:lb/targetGroup:TargetGroup", A * 25), ("aws:iam/role:Role", A * 57)],
    ),
}


def test_every_rule_has_valid_and_invalid_cases() -> None:
    assert set(RULE_CASES) == set(r.RULES)


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_rule_accepts_valid_and_refuses_invalid_values(name: str) -> None:
    check = getattr(r, name)
    valid, invalid = RULE_CASES[name]
    assert valid and invalid
    for arguments in valid:
        assert check(*arguments) == [], (name, arguments)
    for arguments in invalid:
        assert check(*arguments) != [], (name, arguments)


def test_auto_name_uses_each_providers_suffix() -> None:
    assert r.auto_name("aws:lb/targetGroup:TargetGroup", "acme-use1-leaf") == "acme-use1-leaf-fffffff"
    assert r.auto_name("aws:iam/role:Role", "x") == "x-fffffff"
    assert r.auto_name("kubernetes:core/v1:Namespace", "acme-dev-ns") == "acme-dev-ns-ffffffff"
    assert r.auto_naming("aws:ec2/vpc:Vpc") is None  # a VPC has no name input
    assert r.auto_naming("kubernetes:index:Provider") is None
    with pytest.raises(ValueError, match="not auto-named"):
        r.auto_name("aws:ec2/vpc:Vpc", "x")
