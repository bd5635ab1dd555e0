"""What the real cloud APIs and Pulumi providers accept, as code with its sources.

Pulumi's mocks accept any value, so a name one character too long or a description with a
character EC2 refuses passes every mocked test and fails the first real ``pulumi up``. Each
function here is one rule a real provider or API enforces on a property this project sets;
it returns the problems with a value (an empty list: valid). ``@rule(origin, source)`` names
where the rule comes from (a validator in a provider's source, an API model or reference
page) and registers it in :data:`RULES`, so a rule without a source cannot exist.

:func:`auto_name` gives the physical name a provider picks when a program sets no name
(the mocks return the resource name itself): the bridge's and pulumi-kubernetes' prefix,
separator and random suffix, with a fixed placeholder of the suffix's length and charset.

Pure: no Pulumi import, so the spec can reuse the same limits.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import ParamSpec

Problems = list[str]
P = ParamSpec("P")


class Origin(Enum):
    """Who enforces a rule (what the closing note counts rules by)."""

    KUBERNETES = "Kubernetes API server validation"
    TERRAFORM_AWS = "terraform-provider-aws validator"
    AWS_API = "AWS API model / reference"
    TERRAFORM_TLS = "terraform-provider-tls validator"
    TERRAFORM_RANDOM = "terraform-provider-random validator"
    PULUMI = "Pulumi auto-naming"
    OCI = "OCI image reference grammar (what container runtimes pull)"


@dataclass(frozen=True)
class RuleSource:
    origin: Origin
    source: str
    """File and function, or the API page and shape, that enforces the rule."""


RULES: dict[str, RuleSource] = {}
"""Rule function name -> its source, for every rule in this module."""


def rule(origin: Origin, source: str) -> Callable[[Callable[P, Problems]], Callable[P, Problems]]:
    """Register a rule with the source that enforces it."""

    def register(check: Callable[P, Problems]) -> Callable[P, Problems]:
        RULES[check.__name__] = RuleSource(origin, source)
        return check

    return register


def _too_long(value: str, limit: int, unit: str = "characters") -> Problems:
    return [f"must be no more than {limit} {unit}, is {len(value)}"] if len(value) > limit else []


def _in_range(value: int, low: int, high: int) -> Problems:
    return [] if low <= value <= high else [f"must be between {low} and {high} inclusive, is {value}"]


# --- Kubernetes -----------------------------------------------------------------------------
# apimachinery = github.com/kubernetes/apimachinery (staging/src/k8s.io/apimachinery in
# kubernetes/kubernetes); core = kubernetes/kubernetes pkg/apis/core/validation/validation.go.

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_PORT_NAME_CHARSET = r"[-a-z0-9]+"
_ENV_VAR_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY = r"[-._a-zA-Z0-9]+"
K8S_LABEL_MAX = 63
K8S_SUBDOMAIN_MAX = 253
K8S_ANNOTATIONS_MAX_BYTES = 256 * (1 << 10)
K8S_DATA_MAX_BYTES = 1 << 20


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsDNS1123Label")
def dns1123_label(value: str) -> Problems:
    """A lowercase RFC 1123 label: at most 63, [a-z0-9-], alphanumeric at both ends."""
    problems = _too_long(value, K8S_LABEL_MAX)
    if not re.fullmatch(_DNS1123_LABEL, value):
        problems.append(
            "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric"
        )
    return problems


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsDNS1123Subdomain")
def dns1123_subdomain(value: str) -> Problems:
    """A lowercase RFC 1123 subdomain: at most 253, labels joined by '.'."""
    problems = _too_long(value, K8S_SUBDOMAIN_MAX)
    if not re.fullmatch(_DNS1123_SUBDOMAIN, value):
        problems.append(
            "must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric"
        )
    return problems


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsDNS1035Label")
def dns1035_label(value: str) -> Problems:
    """A DNS-1035 label: like a DNS-1123 label, but it must start with a letter."""
    problems = _too_long(value, K8S_LABEL_MAX)
    if not re.fullmatch(_DNS1035_LABEL, value):
        problems.append(
            "must consist of lower case alphanumeric characters or '-', start with a letter "
            "and end with an alphanumeric"
        )
    return problems


@rule(Origin.KUBERNETES, "apimachinery pkg/api/validation/generic.go ValidateNamespaceName = NameIsDNSLabel")
def k8s_namespace_name(value: str) -> Problems:
    return dns1123_label(value)


@rule(Origin.KUBERNETES, "core validation.go ValidateServiceName = NameIsDNS1035Label")
def k8s_service_name(value: str) -> Problems:
    return dns1035_label(value)


@rule(
    Origin.KUBERNETES,
    "core validation.go ValidateConfigMapName/ValidateSecretName, "
    "pkg/apis/apps/validation/validation.go ValidateStatefulSetName = NameIsDNSSubdomain",
)
def k8s_object_name(value: str) -> Problems:
    return dns1123_subdomain(value)


@rule(Origin.KUBERNETES, "apimachinery pkg/api/validate/content/kube.go IsLabelKey (IsQualifiedName)")
def k8s_label_key(key: str) -> Problems:
    """An optional DNS-subdomain prefix and '/', then a name of at most 63 [A-Za-z0-9-_.]."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["must be a name with an optional DNS subdomain prefix and one '/'"]
    problems: Problems = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        problems += ["prefix part " + p for p in dns1123_subdomain(prefix)] if prefix else ["prefix part is empty"]
    if not name:
        return [*problems, "name part is empty"]
    problems += ["name part " + p for p in _too_long(name, K8S_LABEL_MAX)]
    if not re.fullmatch(_LABEL_KEY_NAME, name):
        problems.append("name part must consist of alphanumerics, '-', '_' or '.', alphanumeric at both ends")
    return problems


@rule(Origin.KUBERNETES, "apimachinery pkg/api/validate/content/kube.go IsLabelValue")
def k8s_label_value(value: str) -> Problems:
    """Empty, or at most 63 [A-Za-z0-9-_.] with an alphanumeric at both ends."""
    problems = _too_long(value, K8S_LABEL_MAX)
    if value and not re.fullmatch(_LABEL_KEY_NAME, value):
        problems.append("must be empty or consist of alphanumerics, '-', '_' or '.', alphanumeric at both ends")
    return problems


@rule(
    Origin.KUBERNETES,
    "apimachinery pkg/api/validation/objectmeta.go ValidateAnnotations: IsQualifiedName(strings.ToLower(key))",
)
def k8s_annotation_key(key: str) -> Problems:
    return k8s_label_key(key.lower())


@rule(
    Origin.KUBERNETES,
    "apimachinery pkg/api/validation/objectmeta.go ValidateAnnotationsSize, TotalAnnotationSizeLimitB = 256 KiB",
)
def k8s_annotations_size(annotations: Mapping[str, str]) -> Problems:
    """All keys and values of one object's annotations together: at most 256 KiB."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    limit = K8S_ANNOTATIONS_MAX_BYTES
    return [f"annotations total {total} bytes, more than the limit of {limit}"] if total > limit else []


@rule(Origin.KUBERNETES, "core validation.go validateContainerCommon: ValidateDNS1123Label(ctr.Name)")
def k8s_container_name(value: str) -> Problems:
    return dns1123_label(value)


@rule(Origin.KUBERNETES, "core validation.go validateVolumes: ValidateDNS1123Label(vol.Name)")
def k8s_volume_name(value: str) -> Problems:
    return dns1123_label(value)


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsValidPortName (IANA_SVC_NAME)")
def k8s_port_name(value: str) -> Problems:
    """A container port name: at most 15 [-a-z0-9], a letter, no leading, trailing or double '-'."""
    problems = _too_long(value, 15)
    if not re.fullmatch(_PORT_NAME_CHARSET, value):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        problems.append("must contain at least one letter (a-z)")
    if "--" in value:
        problems.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsValidPortNum")
def k8s_port_number(value: int) -> Problems:
    return _in_range(value, 1, 65535)


@rule(Origin.KUBERNETES, "core validation.go ValidatePodSpec: ValidateNonnegativeField(terminationGracePeriodSeconds)")
def k8s_termination_grace_period(value: int) -> Problems:
    return [] if value >= 0 else [f"{value} must be zero or more seconds"]


@rule(
    Origin.KUBERNETES,
    'core validation.go validatePodSpecSecurityContext: "ShareProcessNamespace and HostPID cannot both be enabled"',
)
def k8s_process_namespace(share: bool, host_pid: bool) -> Problems:
    return ["shareProcessNamespace and hostPID cannot both be enabled"] if share and host_pid else []


@rule(Origin.KUBERNETES, "core validation.go validateExecAction: command is required")
def k8s_exec_command(command: list[str]) -> Problems:
    return [] if command and all(isinstance(c, str) for c in command) else ["an exec handler needs a command"]


@rule(Origin.KUBERNETES, "core validation.go validateServicePort: ValidateDNS1123Label(sp.Name)")
def k8s_service_port_name(value: str) -> Problems:
    return dns1123_label(value)


@rule(
    Origin.KUBERNETES,
    "core validation.go validateServicePort: name Required when more than one port (requireName), Duplicate",
)
def k8s_service_port_names(names: Sequence[str]) -> Problems:
    """With more than one port every port is named, and no name twice."""
    problems: Problems = []
    if len(names) > 1 and any(not n for n in names):
        problems.append("every port needs a name when a Service has more than one")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    problems += [f"port name {n!r} is used more than once" for n in duplicates]
    return problems


@rule(Origin.KUBERNETES, "core validation.go ValidatePortNumOrName (service targetPort)")
def k8s_port_number_or_name(value: int | str) -> Problems:
    return k8s_port_name(value) if isinstance(value, str) else k8s_port_number(value)


@rule(
    Origin.KUBERNETES,
    "apimachinery pkg/util/validation/validation.go IsEnvVarName "
    "(stricter than IsRelaxedEnvVarName, which only newer clusters accept)",
)
def k8s_env_var_name(value: str) -> Problems:
    problems = [] if re.fullmatch(_ENV_VAR_NAME, value) else ["must be [-._a-zA-Z][-._a-zA-Z0-9]*"]
    return problems + _chdir_prefix(value)


def _chdir_prefix(value: str) -> Problems:
    """apimachinery validation.go hasChDirPrefix (part of IsEnvVarName and IsConfigMapKey)."""
    if value in (".", ".."):
        return [f"must not be {value!r}"]
    return ["must not start with '..'"] if value.startswith("..") else []


@rule(Origin.KUBERNETES, "apimachinery pkg/util/validation/validation.go IsConfigMapKey (ConfigMap and Secret keys)")
def k8s_config_key(key: str) -> Problems:
    problems = _too_long(key, K8S_SUBDOMAIN_MAX)
    if not re.fullmatch(_CONFIG_KEY, key):
        problems.append("must consist of alphanumeric characters, '-', '_' or '.'")
    return problems + _chdir_prefix(key)


@rule(
    Origin.KUBERNETES,
    "core validation.go ValidateConfigMap/ValidateSecret: totalSize > core.MaxSecretSize (1 MiB)",
)
def k8s_data_size(data: Mapping[str, str]) -> Problems:
    """A ConfigMap's or Secret's values together: at most 1 MiB."""
    total = sum(len(v.encode()) for v in data.values())
    return [f"data totals {total} bytes, more than 1 MiB"] if total > K8S_DATA_MAX_BYTES else []


_NUMBER = r"(\d+(\.\d*)?|\.\d+)"
_QUANTITY = rf"[+-]?{_NUMBER}(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?{_NUMBER}|m|k|M|G|T|P|E)?"


@rule(
    Origin.KUBERNETES,
    "apimachinery pkg/api/resource/quantity.go ParseQuantity: <signedNumber><suffix>, suffix one of "
    "Ki Mi Gi Ti Pi Ei, e<n>/E<n>, m, k, M, G, T, P, E or none",
)
def k8s_quantity(value: str) -> Problems:
    """A resource quantity such as ``500m``, ``1Gi`` or ``10G`` (``1GB`` or ``1gi`` do not parse)."""
    return [] if re.fullmatch(_QUANTITY, value) else [f"{value!r} is not a quantity (e.g. 500m, 1Gi, 10G)"]


_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity_value(value: str) -> Decimal:
    """What a quantity means (``1Gi`` -> 1073741824, ``500m`` -> 0.5), as
    apimachinery's ParseQuantity reads it; a ValueError where :func:`k8s_quantity` fails."""
    problems = k8s_quantity(value)
    if problems:
        raise ValueError(problems[0])
    number = re.match(rf"[+-]?{_NUMBER}", value)
    assert number is not None  # k8s_quantity matched
    base, suffix = Decimal(number.group(0)), value[number.end() :]
    if suffix in _BINARY_SUFFIXES:
        return base * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return base.scaleb(_DECIMAL_SUFFIXES[suffix])
    return base.scaleb(int(Decimal(suffix[1:])))  # e<n> / E<n>


@rule(
    Origin.KUBERNETES,
    "pkg/controller/statefulset/stateful_set_utils.go initIdentity (pod.Spec.Hostname = pod.Name = <set>-<ordinal>) "
    "+ core validation.go ValidatePodSpec: ValidateDNS1123Label(spec.Hostname)",
)
def k8s_statefulset_pod_hostnames(name: str, replicas: int) -> Problems:
    """Each pod of a StatefulSet is named and hostnamed ``<name>-<ordinal>``: a DNS-1123 label."""
    return [f"pod {name}-{i}: {p}" for i in range(replicas) for p in dns1123_label(f"{name}-{i}")]


@rule(
    Origin.KUBERNETES,
    "pkg/controller/statefulset/stateful_set_utils.go initIdentity (pod.Spec.Subdomain = set.Spec.ServiceName) "
    "+ core validation.go ValidatePodSpec: ValidateDNS1123Label(spec.Subdomain)",
)
def k8s_statefulset_service_name(value: str) -> Problems:
    return dns1123_label(value)


@rule(
    Origin.KUBERNETES,
    "pkg/apis/apps/validation/validation.go ValidatePodTemplateSpecForStatefulSet: selector must match template labels",
)
def k8s_selector_matches(match_labels: Mapping[str, str], template_labels: Mapping[str, str]) -> Problems:
    missing = sorted(k for k, v in match_labels.items() if template_labels.get(k) != v)
    return [f"selector label {k!r} is not on the pod template" for k in missing]


_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REFERENCE = (
    rf"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
    rf"{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


@rule(
    Origin.OCI,
    "github.com/distribution/reference regexp.go ReferenceRegexp (domain[:port]/path:tag@digest); the API "
    "server only refuses an empty or whitespace-padded image (core validation.go validateContainerCommon)",
)
def container_image(value: str) -> Problems:
    """An image a kubelet can pull: ``[registry[:port]/]path[:tag][@sha256:<digest>]``."""
    if not value or value != value.strip():
        return [f"{value!r} is empty or padded with whitespace"]
    if not re.fullmatch(_IMAGE_REFERENCE, value):
        return [f"{value!r} is not an image reference like nats:2.15.1-alpine or registry/name@sha256:<digest>"]
    return []


# --- AWS: EC2 / VPC -------------------------------------------------------------------------
# tf = hashicorp/terraform-provider-aws; model = the AWS API model as botocore ships it
# (botocore/data/<service>/<version>/service-2.json), whose documentation is the API reference.

_EC2_SG_ALLOWED = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]"


def _ec2_sg_text(value: str) -> Problems:
    """Up to 255 of ``a-z A-Z 0-9``, spaces and ``._-:/()#,@[]+=&;{}!$*`` (what EC2 takes in a
    security group's name, description and rule descriptions)."""
    problems = _too_long(value, 255)
    bad = sorted(set(re.sub(_EC2_SG_ALLOWED, "", value)))
    if bad:
        problems.append(f"contains {''.join(bad)!r}; allowed: a-z A-Z 0-9 spaces ._-:/()#,@[]+=&;{{}}!$*")
    return problems


@rule(
    Origin.AWS_API,
    "EC2 API CreateSecurityGroup Description: up to 255, a-z A-Z 0-9 spaces ._-:/()#,@[]+=&;{}!$* "
    "(tf internal/service/ec2/vpc_security_group.go description: StringLenBetween(0, 255))",
)
def ec2_sg_description(value: str) -> Problems:
    return _ec2_sg_text(value)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/ec2/validate.go validSecurityGroupRuleDescription (EC2 API IpRange Description)",
)
def ec2_sg_rule_description(value: str) -> Problems:
    return _ec2_sg_text(value)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/ec2/vpc_security_group.go name: StringLenBetween(0, 255), StringDoesNotMatch(^sg-); "
    "EC2 API CreateSecurityGroup GroupName: same characters as the description",
)
def ec2_sg_name(value: str) -> Problems:
    return _ec2_sg_text(value) + (["cannot begin with 'sg-'"] if value.startswith("sg-") else [])


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/verify/validate.go ValidIPv4CIDRNetworkAddress (ValidateIPv4CIDRBlock): "
    "SG rule cidr_blocks, aws_subnet and aws_route_table route cidr_block",
)
def cidr_block(value: str) -> Problems:
    """An IPv4 CIDR whose host bits are zero (``10.0.0.1/24`` is refused, not rounded)."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [f"{value!r} is not a valid CIDR block"]
    if network.version != 4:
        return [f"{value!r} is not a valid IPv4 CIDR block"]
    return [] if str(network) == value else [f"{value!r} is not a network address; did you mean {str(network)!r}?"]


@rule(Origin.TERRAFORM_AWS, "tf internal/service/ec2/vpc_.go cidr_block: IsCIDRNetwork(16, 28)")
def vpc_cidr_block(value: str) -> Problems:
    problems = cidr_block(value)
    if problems:
        return problems
    prefix = ipaddress.ip_network(value).prefixlen
    return [] if 16 <= prefix <= 28 else [f"prefix length must be between /16 and /28, is /{prefix}"]


_PORTED_PROTOCOLS = {"tcp", "udp", "6", "17"}


@rule(
    Origin.AWS_API,
    "EC2 API IpPermission FromPort/ToPort/IpProtocol: tcp and udp need a port range (0-65535); "
    "-1 (all protocols) allows every port",
)
def ec2_port_range(protocol: str, from_port: int, to_port: int) -> Problems:
    if str(protocol).lower() not in _PORTED_PROTOCOLS:
        return []
    problems = [f"from_port {p}" for p in _in_range(from_port, 0, 65535)]
    problems += [f"to_port {p}" for p in _in_range(to_port, 0, 65535)]
    if from_port > to_port:
        problems.append(f"from_port {from_port} is above to_port {to_port}")
    return problems


_AWS_RESERVED_TAG_PREFIX = "aws:"


def _reserved_prefix(value: str) -> Problems:
    """AWS tagging guide, tag naming limits: any case of ``aws:`` is reserved for AWS."""
    return ["the 'aws:' prefix is reserved for AWS"] if value.lower().startswith(_AWS_RESERVED_TAG_PREFIX) else []


@rule(Origin.AWS_API, "EC2 API Tag Key: at most 127 Unicode characters, may not begin with aws:")
def ec2_tag_key(key: str) -> Problems:
    problems = ["must not be empty"] if not key else []
    return problems + _too_long(key, 127) + _reserved_prefix(key)


@rule(Origin.AWS_API, "EC2 API Tag Value: at most 256 Unicode characters")
def ec2_tag_value(value: str) -> Problems:
    return _too_long(value, 256)


def _tag_charset(value: str) -> Problems:
    """Letters, separators (spaces), numbers and ``_.:/=+-@`` (``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``)."""
    bad = sorted({c for c in value if unicodedata.category(c)[0] not in "LZN" and c not in "_.:/=+-@"})
    return [f"contains {''.join(bad)!r}; allowed: letters, digits, spaces and _.:/=+-@"] if bad else []


@rule(
    Origin.AWS_API,
    "IAM model tagKeyType / ELBv2 model TagKey: 1-128, [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]; aws: reserved (tagging guide)",
)
def aws_tag_key(key: str) -> Problems:
    problems = ["must not be empty"] if not key else []
    return problems + _too_long(key, 128) + _tag_charset(key) + _reserved_prefix(key)


@rule(Origin.AWS_API, "IAM model tagValueType / ELBv2 model TagValue: 0-256, [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*")
def aws_tag_value(value: str) -> Problems:
    return _too_long(value, 256) + _tag_charset(value)


@rule(Origin.AWS_API, "Secrets Manager model TagKeyType: 1-128; aws: reserved (tagging guide)")
def secretsmanager_tag_key(key: str) -> Problems:
    problems = ["must not be empty"] if not key else []
    return problems + _too_long(key, 128) + _reserved_prefix(key)


@rule(Origin.AWS_API, "Secrets Manager model TagValueType: 0-256")
def secretsmanager_tag_value(value: str) -> Problems:
    return _too_long(value, 256)


EC2_USER_DATA_MAX_BYTES = 16 * 1024


@rule(
    Origin.AWS_API,
    "EC2 User Guide, instance user data: limited to 16 KB in raw form, before it is base64-encoded",
)
def ec2_user_data(value: str) -> Problems:
    size = len(value.encode())
    limit = EC2_USER_DATA_MAX_BYTES
    return [f"user data is {size} bytes, more than {limit}"] if size > limit else []


@rule(Origin.AWS_API, "EC2 API InstanceMetadataOptionsRequest HttpPutResponseHopLimit: integers from 1 to 64")
def ec2_metadata_hop_limit(value: int) -> Problems:
    return _in_range(value, 1, 64)


_EBS_SIZES_GIB = {
    "gp2": (1, 16384),
    "gp3": (1, 65536),
    "io1": (4, 16384),
    "io2": (4, 65536),
    "st1": (125, 16384),
    "sc1": (125, 16384),
    "standard": (1, 1024),
}


@rule(Origin.AWS_API, "EC2 API CreateVolume Size / EbsBlockDevice VolumeSize: valid sizes per volume type")
def ebs_volume_size(volume_type: str, size_gib: int) -> Problems:
    if volume_type not in _EBS_SIZES_GIB:
        return [f"volume type {volume_type!r} is not one of {sorted(_EBS_SIZES_GIB)}"]
    low, high = _EBS_SIZES_GIB[volume_type]
    return [f"{volume_type} size {p}" for p in _in_range(size_gib, low, high)]


# --- AWS: Elastic Load Balancing v2 ---------------------------------------------------------


ELB_NAME_MAX = 32
"""Load balancer and target group names (validName, validTargetGroupName)."""


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/validate.go validName (ELBv2 API CreateLoadBalancer Name)",
)
def elb_name(value: str) -> Problems:
    """At most 32 alphanumerics and hyphens, no hyphen at either end, not ``internal-...``."""
    problems = _too_long(value, ELB_NAME_MAX)
    if not re.fullmatch("[0-9A-Za-z-]+", value):
        problems.append("only alphanumeric characters and hyphens allowed")
    if value.startswith("-") or value.endswith("-"):
        problems.append("cannot begin or end with a hyphen")
    if value.startswith("internal-"):
        problems.append("cannot begin with 'internal-'")
    return problems


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/validate.go validTargetGroupName (ELBv2 API CreateTargetGroup Name)",
)
def target_group_name(value: str) -> Problems:
    problems = _too_long(value, ELB_NAME_MAX)
    if not re.fullmatch("[0-9A-Za-z-]+", value):
        problems.append("only alphanumeric characters and hyphens allowed")
    if value.startswith("-") or value.endswith("-"):
        problems.append("cannot begin or end with a hyphen")
    return problems


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/target_group.go port: IntBetween(1, 65535); ELBv2 model Port: 1-65535 "
    "(listeners and target group attachments too)",
)
def elb_port(value: int) -> Problems:
    return _in_range(value, 1, 65535)


@rule(Origin.TERRAFORM_AWS, "tf internal/service/elbv2/target_group.go deregistration_delay: IntBetween(0, 3600)")
def target_group_deregistration_delay(value: int) -> Problems:
    return _in_range(value, 0, 3600)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/target_group.go health_check.interval: IntBetween(5, 300) "
    "(ELBv2 model HealthCheckIntervalSeconds)",
)
def target_group_health_check_interval(value: int) -> Problems:
    return _in_range(value, 5, 300)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/target_group.go health_check.healthy_threshold/unhealthy_threshold: "
    "IntBetween(2, 10) (ELBv2 model HealthCheckThresholdCount)",
)
def target_group_health_check_threshold(value: int) -> Problems:
    return _in_range(value, 2, 10)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/target_group.go health_check.path: StringLenBetween(1, 1024), StringHasPrefix('/')",
)
def target_group_health_check_path(value: str) -> Problems:
    problems = ["must not be empty"] if not value else _too_long(value, 1024)
    return problems + ([] if value.startswith("/") else ["must begin with '/'"])


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/elbv2/target_group.go validTargetGroupHealthCheckPort: 'traffic-port' or a port "
    "(ELBv2 model Port: 1-65535)",
)
def target_group_health_check_port(value: str) -> Problems:
    if value == "traffic-port":
        return []
    if not value.isdigit():
        return ["must be a port number or 'traffic-port'"]
    return _in_range(int(value), 1, 65535)


# --- AWS: IAM -------------------------------------------------------------------------------

_IAM_NAME = r"[\w+=,.@-]+"


def _iam_name(value: str, limit: int) -> Problems:
    """tf internal/service/iam/validate.go validResourceName(max): 1..max of ``[\\w+=,.@-]``."""
    problems = ["must not be empty"] if not value else _too_long(value, limit)
    if value and not re.fullmatch(_IAM_NAME, value, flags=re.ASCII):
        problems.append("must match [\\w+=,.@-]")
    return problems


IAM_ROLE_NAME_MAX = 64
IAM_INSTANCE_PROFILE_NAME_MAX = 128
IAM_ROLE_POLICY_NAME_MAX = 128
UNIQUE_ID_SUFFIX_LENGTH = 26
"""terraform-plugin-sdk helper/id UniqueIDSuffixLength: what a ``name_prefix`` leaves room for."""


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/role.go name: validResourceName(roleNameMaxLen = 64) (IAM model roleNameType)",
)
def iam_role_name(value: str) -> Problems:
    return _iam_name(value, IAM_ROLE_NAME_MAX)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/role.go name_prefix: validResourceName(roleNamePrefixMaxLen = 64 - UniqueIDSuffixLength)",
)
def iam_role_name_prefix(value: str) -> Problems:
    return _iam_name(value, IAM_ROLE_NAME_MAX - UNIQUE_ID_SUFFIX_LENGTH)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/instance_profile.go name: validResourceName(instanceProfileNameMaxLen = 128) "
    "(IAM model instanceProfileNameType)",
)
def iam_instance_profile_name(value: str) -> Problems:
    return _iam_name(value, IAM_INSTANCE_PROFILE_NAME_MAX)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/validate.go validRolePolicyName = validResourceName(rolePolicyNameMaxLen = 128) "
    "(IAM model policyNameType)",
)
def iam_role_policy_name(value: str) -> Problems:
    return _iam_name(value, IAM_ROLE_POLICY_NAME_MAX)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/validate.go validRolePolicyRole: 1-128 of [\\w+=,.@-], the role's name, not its ARN",
)
def iam_role_reference(value: str) -> Problems:
    problems = _iam_name(value, 128)
    return problems + (["must be the role's name, not its ARN"] if value.startswith("arn:") else [])


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/iam/role.go description: StringLenBetween(0, 1000), no curly quotes \u201c \u2018; "
    "IAM model roleDescriptionType pattern [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*",
)
def iam_role_description(value: str) -> Problems:
    problems = _too_long(value, 1000)
    if re.search("[\u201c\u2018]", value):
        problems.append("cannot contain the curly quotes \u201c or \u2018")
    bad = sorted({c for c in value if not ("\u0020" <= c <= "\u007e" or "\u00a1" <= c <= "\u00ff" or c in "\t\n\r")})
    if bad:
        problems.append(f"contains characters outside the IAM description pattern: {''.join(bad)!r}")
    return problems


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/verify/validate.go ValidIAMPolicyJSON (starts with '{', valid JSON); IAM model policyDocumentType: "
    "1-131072 of [\\u0009\\u000A\\u000D\\u0020-\\u00FF]",
)
def iam_policy_document(value: str) -> Problems:
    if not value.startswith("{"):
        return ["must be a JSON object starting with '{' (no leading space)"]
    try:
        json.loads(value)
    except ValueError as error:
        return [f"is not valid JSON: {error}"]
    problems: Problems = []
    problems += _too_long(value, 131072)
    bad = sorted({c for c in value if not ("\u0020" <= c <= "\u00ff" or c in "\t\n\r")})
    if bad:
        problems.append(f"contains characters outside the IAM policy pattern: {''.join(bad)!r}")
    return problems


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/verify/validate.go ValidARN (aws-sdk-go-v2 arn.Parse: arn:partition:service:region:account:resource); "
    "IAM model arnType: 20-2048",
)
def aws_arn(value: str) -> Problems:
    sections = value.split(":", 5)
    if not value.startswith("arn:") or len(sections) != 6:
        return ["must be an ARN: arn:partition:service:region:account:resource"]
    problems = [
        f"ARN {part} is empty" for part, i in (("partition", 1), ("service", 2), ("resource", 5)) if not sections[i]
    ]
    if not 20 <= len(value) <= 2048:
        problems.append(f"must be 20 to 2048 characters, is {len(value)}")
    return problems


# --- AWS: Secrets Manager -------------------------------------------------------------------


SECRETSMANAGER_NAME_MAX = 512


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/secretsmanager/validate.go validSecretName (Secrets Manager model NameType 1-512)",
)
def secretsmanager_secret_name(value: str) -> Problems:
    problems = _too_long(value, SECRETSMANAGER_NAME_MAX)
    if not re.fullmatch("[0-9A-Za-z/_+=.@-]+", value):
        problems.append("only alphanumeric characters and /_+=.@- are allowed")
    return problems


@rule(Origin.AWS_API, "Secrets Manager model DescriptionType: at most 2048")
def secretsmanager_description(value: str) -> Problems:
    return _too_long(value, 2048)


@rule(Origin.AWS_API, "Secrets Manager model SecretStringType: 1-65536")
def secretsmanager_secret_string(value: str) -> Problems:
    return ["must not be empty"] if not value else _too_long(value, 65536)


@rule(
    Origin.TERRAFORM_AWS,
    "tf internal/service/secretsmanager/secret.go recovery_window_in_days: Any(IntBetween(7, 30), IntInSlice(0)) "
    "(Secrets Manager API DeleteSecret RecoveryWindowInDays: 7 to 30)",
)
def secretsmanager_recovery_window(days: int) -> Problems:
    return [] if days == 0 or 7 <= days <= 30 else [f"must be 0 or between 7 and 30, is {days}"]


# --- pulumi-tls and pulumi-random (terraform-provider-tls / -random underneath) ----------------

TLS_KEY_USAGES = frozenset(
    {
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "cert_signing",
        "crl_signing",
        "encipher_only",
        "decipher_only",
        "any_extended",
        "server_auth",
        "client_auth",
        "code_signing",
        "email_protection",
        "ipsec_end_system",
        "ipsec_tunnel",
        "ipsec_user",
        "timestamping",
        "ocsp_signing",
        "microsoft_server_gated_crypto",
        "netscape_server_gated_crypto",
        "microsoft_commercial_code_signing",
        "microsoft_kernel_code_signing",
    }
)


@rule(Origin.TERRAFORM_TLS, "internal/provider/resource_private_key.go algorithm: OneOf(supportedAlgorithmsStr())")
def tls_key_algorithm(value: str) -> Problems:
    return [] if value in ("RSA", "ECDSA", "ED25519") else [f"must be RSA, ECDSA or ED25519, is {value!r}"]


@rule(Origin.TERRAFORM_TLS, "internal/provider/resource_private_key.go ecdsa_curve: OneOf(supportedECDSACurvesStr())")
def tls_ecdsa_curve(value: str) -> Problems:
    curves = ("P224", "P256", "P384", "P521")
    return [] if value in curves else [f"must be one of {', '.join(curves)}, is {value!r}"]


@rule(
    Origin.TERRAFORM_TLS,
    "internal/provider/resource_self_signed_cert.go / resource_locally_signed_cert.go allowed_uses: "
    "OneOf(supportedKeyUsagesStr()) (common_cert.go keyUsages, extKeyUsages)",
)
def tls_key_usage(value: str) -> Problems:
    return [] if value in TLS_KEY_USAGES else [f"{value!r} is not a key usage terraform-provider-tls knows"]


@rule(
    Origin.TERRAFORM_TLS,
    "internal/provider/resource_self_signed_cert.go / resource_locally_signed_cert.go validity_period_hours, "
    "early_renewal_hours: AtLeast(0)",
)
def tls_hours(value: int) -> Problems:
    return [] if value >= 0 else [f"must be at least 0, is {value}"]


@rule(Origin.TERRAFORM_TLS, "internal/provider/resource_cert_request.go Create: net.ParseIP of each ip_addresses entry")
def tls_ip_address(value: str) -> Problems:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [f"{value!r} is not an IP address"]
    return []


@rule(Origin.TERRAFORM_RANDOM, "internal/provider/resource_bytes.go length: int64validator.AtLeast(1)")
def random_bytes_length(value: int) -> Problems:
    return [] if value >= 1 else [f"must be at least 1, is {value}"]


@rule(
    Origin.TERRAFORM_RANDOM,
    "internal/provider/resource_password.go (shared string attributes) length: int64validator.AtLeast(1), "
    "and at least the sum of min_upper, min_lower, min_numeric and min_special",
)
def random_password_length(value: int) -> Problems:
    return [] if value >= 1 else [f"must be at least 1, is {value}"]


# --- Auto-naming ----------------------------------------------------------------------------

HEX = "0123456789abcdef"


@dataclass(frozen=True)
class AutoNaming:
    """How a provider names a resource the program did not name: ``<resource name><separator>``
    then ``random_length`` characters of ``charset``; the bridge refuses (it does not truncate)
    when that is longer than ``max_length``."""

    property: str
    """The property the provider fills (``name``, or ``metadata.name`` on Kubernetes)."""
    random_length: int
    separator: str = "-"
    max_length: int | None = None
    charset: str = HEX
    source: str = ""

    def placeholder(self) -> str:
        """A fixed suffix of the random part's length, from its charset."""
        return self.charset[-1] * self.random_length


_BRIDGE_DEFAULT = (
    "pulumi-aws provider/autonaming.go setAutonaming: tfbridge.AutoName(name, 255, '-') for every resource "
    "with an input 'name'; pulumi-terraform-bridge pkg/tfbridge/info/autonaming.go AutoName: Randlen 7"
)
AUTO_NAMING: dict[str, AutoNaming] = {
    "aws:lb/loadBalancer:LoadBalancer": AutoNaming(
        "name", 7, max_length=255, source=_BRIDGE_DEFAULT + " (provider/aliases.go gives aws_lb no override)"
    ),
    "aws:lb/targetGroup:TargetGroup": AutoNaming(
        "name", 7, max_length=32, source="pulumi-aws provider/aliases.go aws_lb_target_group: AutoName('name', 32, '-')"
    ),
    "aws:iam/role:Role": AutoNaming(
        "name",
        7,
        max_length=64,
        source="pulumi-aws provider/resource_overrides.go aws_iam_role: AutoName('name', 64, '-')",
    ),
    "aws:iam/instanceProfile:InstanceProfile": AutoNaming("name", 7, max_length=255, source=_BRIDGE_DEFAULT),
    "aws:iam/rolePolicy:RolePolicy": AutoNaming("name", 7, max_length=255, source=_BRIDGE_DEFAULT),
    "aws:ec2/securityGroup:SecurityGroup": AutoNaming("name", 7, max_length=255, source=_BRIDGE_DEFAULT),
    "aws:secretsmanager/secret:Secret": AutoNaming("name", 7, max_length=255, source=_BRIDGE_DEFAULT),
}
"""Every auto-named AWS resource type this program registers. Without ``pulumi:autonaming``
stack config the engine proposes nothing (pulumi pkg/resource/autonaming/strategy.go Default
returns nil options) and these provider defaults apply."""

KUBERNETES_AUTO_NAMING = AutoNaming(
    "metadata.name",
    8,
    source="pulumi-kubernetes provider/pkg/metadata/naming.go AssignNameIfAutonamable: "
    "NewUniqueName(seed, urn.Name()+'-', 0, 0, nil) (pulumi sdk resource_id.go: randlen 0 -> 8, hex, no maxlen)",
)


def auto_naming(provider_type: str) -> AutoNaming | None:
    """How ``provider_type`` is named when the program sets no name; None: it has no name."""
    if provider_type.startswith("kubernetes:") and not provider_type.startswith("kubernetes:index"):
        return KUBERNETES_AUTO_NAMING
    return AUTO_NAMING.get(provider_type)


def auto_name(provider_type: str, resource_name: str) -> str:
    """The worst-case physical name of an unnamed ``resource_name`` of ``provider_type``:
    the resource name, the separator, a placeholder of the random suffix's length."""
    naming = auto_naming(provider_type)
    if naming is None:
        raise ValueError(f"{provider_type} is not auto-named")
    return resource_name + naming.separator + naming.placeholder()


@rule(
    Origin.PULUMI,
    "pulumi sdk/go/common/resource/resource_id.go NewUniqueName: error "
    "'name ... plus N random chars is longer than maximum length' (the bridge fails, it does not truncate)",
)
def pulumi_auto_name_length(provider_type: str, resource_name: str) -> Problems:
    naming = auto_naming(provider_type)
    if naming is None or naming.max_length is None:
        return []
    prefix = resource_name + naming.separator
    if len(prefix) + naming.random_length <= naming.max_length:
        return []
    return [
        f"name {prefix!r} plus {naming.random_length} random chars is longer than maximum length {naming.max_length}"
    ]
