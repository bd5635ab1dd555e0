"""The lattice spec: what a user writes under ``wasmcloud-lattice:lattice`` in a stack file.

Validation reports every problem at once, each as ``<stack file>: <key path>: <what is
wrong>``, so a user fixes a stack in one pass. Nothing here knows about Pulumi.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

CONFIG_KEY = "wasmcloud-lattice:lattice"
DEFAULT_HUB_DOMAIN = "hub"
NODE_COUNTS = (1, 3, 5)

# DNS-label shaped: valid as a NATS server, cluster and gateway name, a JetStream domain,
# a Kubernetes name and an AWS tag, so one name travels through every platform unchanged.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
NAME_RULE = "lowercase letters, digits and '-', 1-40 characters, not starting or ending with '-'"


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a valid name ({NAME_RULE})")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
    )


def _each(check: Callable[[str], str]) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    """A list validator from an item validator."""

    def run(values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            check(value)
        return values

    return run


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR block like '10.0.0.0/16'") from None
    return value


def _check_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        _check_cidr(value)
    return values


def _check_volume_gib(value: int) -> int:
    if not 8 <= value <= 16384:
        raise ValueError(f"must be between 8 and 16384 GiB, got {value}")
    return value


class AwsHubSettings(_Model):
    """``hubs[].aws``: how a hub region lives on EC2. Every key is optional."""

    instance_type: str = "t3.medium"
    ami: str | None = None
    """Pin an AMI to roll nodes deliberately; unset, the newest Amazon Linux 2023 AMI is
    looked up once and later releases are ignored (no surprise replacements)."""
    vpc_cidr: str = "10.42.0.0/16"
    vpc_id: str | None = None
    """Use an existing VPC; then ``subnetIds`` (public subnets) are required."""
    subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    """Where nodes go, round-robin; unset, the region's first three zones."""
    leaf_allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the leaf port (authenticated with JWTs); narrow it to your sites."""
    data_volume_gib: int = 20

    _cidr = field_validator("vpc_cidr")(_check_cidr)
    _cidrs = field_validator("leaf_allowed_cidrs")(_check_cidrs)
    _size = field_validator("data_volume_gib")(_check_volume_gib)


class AwsSpokeSettings(_Model):
    """``spokes[].aws``: an edge VM on EC2 (a stand-in for a site, or a real cloud edge)."""

    instance_type: str = "t3.small"
    ami: str | None = None
    vpc_cidr: str = "10.43.0.0/24"
    subnet_id: str | None = None
    """Use an existing public subnet instead of creating a small VPC."""
    leaf_allowed_cidrs: tuple[str, ...] = ()
    """A mid-tier spoke's leaf port opens to its AWS children's addresses; add CIDRs here
    for children elsewhere."""
    volume_gib: int = 16

    _cidr = field_validator("vpc_cidr")(_check_cidr)
    _cidrs = field_validator("leaf_allowed_cidrs")(_check_cidrs)
    _size = field_validator("volume_gib")(_check_volume_gib)


class KubernetesSettings(_Model):
    """``hubs[].kubernetes`` / ``spokes[].kubernetes``: how a hub or spoke lives on a cluster."""

    kubeconfig: str | None = None
    """Name of a secret config value of this project holding the cluster's kubeconfig
    (``pulumi config set --secret <name> < kubeconfig.yaml``)."""
    ambient_kubeconfig: bool = False
    """Use the ambient kubeconfig (``KUBECONFIG``, ``~/.kube/config``) instead; off by default."""
    namespace: str | None = None
    """Default ``<lattice>-<hub or spoke>``, so two lattices can share a cluster."""
    service_type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """How the leaf and gateway ports are exposed (a hub, or a mid-tier spoke's leaf port)."""
    storage_class: str | None = None
    storage_gib: int = 10
    image: str = "nats:2.15.1-alpine"
    """The nats-server image (the release the tests run; pin a digest for production)."""
    cpu: str = "500m"
    memory: str = "1Gi"
    websocket_tls_secret: str | None = None
    """A hub's ``kubernetes.io/tls`` Secret for its WebSocket listener (e.g. from cert-manager)."""

    @field_validator("storage_gib")
    @classmethod
    def _storage(cls, value: int) -> int:
        if not 1 <= value <= 16384:
            raise ValueError(f"must be between 1 and 16384 GiB, got {value}")
        return value


class HubSpec(_Model):
    """One cloud region's NATS cluster. Two or more hubs form a super-cluster via gateways."""

    name: str
    platform: Literal["aws", "kubernetes", "external"]
    region: str | None = None
    nodes: int = 3
    jetstream_domain: str = DEFAULT_HUB_DOMAIN
    urls: tuple[str, ...] = ()
    """external only: the leaf URLs spokes dial (e.g. ``tls://connect.ngs.global``)."""
    creds_secret: str | None = None
    """external only: name of a secret config value holding the ``.creds`` its spokes use
    (a spoke may name its own)."""
    aws: AwsHubSettings = AwsHubSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()

    _names = field_validator("name", "jetstream_domain")(_check_name)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: int) -> int:
        if value not in NODE_COUNTS:
            raise ValueError(f"must be 1, 3 or 5 (a JetStream cluster needs a quorum), got {value}")
        return value

    def server_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{i}" for i in range(self.nodes))


SUBJECT_TOKEN = re.compile(r"^[^\s.*>]+$")


def _check_subject(value: str) -> str:
    """A NATS subject, with ``*`` tokens and a final ``>`` allowed (what an allow-list holds)."""
    parts = value.split(".")
    for i, part in enumerate(parts):
        wildcard = part == "*" or (part == ">" and i == len(parts) - 1)
        if wildcard or SUBJECT_TOKEN.match(part):
            continue
        raise ValueError(f"{value!r} is not a NATS subject (dot-separated tokens, '*' or a final '>')")
    return value


LEAF_PROFILES = ("wasmcloud-v2", "wasmcloud-v1")


class LeafPermissions(_Model):
    """What a spoke's leaf user may publish to and subscribe from its hub: the wasmCloud
    subjects of ``profile``, each spoke's JetStream domains, and ``subjects`` (the
    application's own). Everything else stays on the spoke's side of the link."""

    profile: Literal["wasmcloud-v2", "wasmcloud-v1"] = "wasmcloud-v2"
    subjects: tuple[str, ...] = ()

    _subjects = field_validator("subjects")(_each(_check_subject))


class TlsSettings(_Model):
    """TLS is always on for every link that leaves a machine; these settings tune it."""

    handshake_first: bool = False
    """Leaf links start with the TLS handshake (for middleboxes that drop a plaintext
    INFO); set on both sides, so every leaf listener and remote of the lattice gets it."""


class RetiredSpoke(_Model):
    """A retired spoke whose key had been rotated: every generation up to ``keyRotation``
    is revoked."""

    name: str
    key_rotation: int = 0
    lattice: str | None = None
    """Its lattice, if not the stack's own (its keys were in that lattice's account)."""

    _names = field_validator("name")(_check_name)

    @field_validator("key_rotation")
    @classmethod
    def _rotation(cls, value: int) -> int:
        return _check_rotation(value)


def _check_rotation(value: int) -> int:
    if not 0 <= value <= 1000:
        raise ValueError(f"must be between 0 and 1000, got {value}")
    return value


class SpokeSpec(_Model):
    """One edge site: a leaf nats-server that dials a hub or another spoke."""

    name: str
    upstream: str
    platform: Literal["aws", "kubernetes"]
    region: str | None = None
    jetstream_domain: str | None = None
    wasmcloud_host: bool = True
    leaf_transport: Literal["tcp", "websocket"] = "tcp"
    """``websocket``: dial the hub's WebSocket listener where only HTTPS leaves the site."""
    creds_secret: str | None = None
    """A spoke of an external hub: name of a secret config value holding its ``.creds``."""
    lattice: str | None = None
    """Which lattice the spoke serves: the stack's ``name`` (default) or one of its
    ``lattices``. Each lattice is its own NATS account at the hubs."""
    key_rotation: int = 0
    """Raise by one to rotate the spoke's leaf key: a new key is stored, the old ones are
    revoked (kept only for that), and only this spoke's credentials and the hubs' account
    JWT change."""
    aws: AwsSpokeSettings = AwsSpokeSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()

    _names = field_validator("name", "upstream")(_check_name)

    @field_validator("key_rotation")
    @classmethod
    def _rotation(cls, value: int) -> int:
        return _check_rotation(value)

    @field_validator("jetstream_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    @property
    def domain(self) -> str:
        return self.jetstream_domain or self.name


class LatticeSpec(_Model):
    """A whole lattice: its hub regions and edge spokes."""

    name: str
    hubs: tuple[HubSpec, ...]
    spokes: tuple[SpokeSpec, ...] = ()
    retired_spokes: tuple[str | RetiredSpoke, ...] = ()
    """Spokes taken out of service: their keys are kept only to revoke their credentials.
    A name, or ``{name, keyRotation}`` for a spoke whose key had been rotated."""
    lattices: tuple[str, ...] = ()
    """Further wasmCloud lattices on the same hubs. Each is a NATS account of its own, so
    its spokes and services cannot see another lattice's traffic."""
    leaf_permissions: LeafPermissions = LeafPermissions()
    tls: TlsSettings = TlsSettings()

    _names = field_validator("name")(_check_name)

    _lattices = field_validator("lattices")(_each(_check_name))

    @field_validator("retired_spokes")
    @classmethod
    def _retired(cls, values: tuple[str | RetiredSpoke, ...]) -> tuple[str | RetiredSpoke, ...]:
        for value in values:
            if isinstance(value, str):
                _check_name(value)
        return values

    @property
    def retired(self) -> tuple[RetiredSpoke, ...]:
        """Every retired spoke with its last key rotation."""
        return tuple(RetiredSpoke(name=r) if isinstance(r, str) else r for r in self.retired_spokes)

    @property
    def all_lattices(self) -> tuple[str, ...]:
        """The stack's own lattice first, then the others sharing its hubs."""
        return (self.name, *self.lattices)

    @property
    def hub_domain(self) -> str:
        return self.hubs[0].jetstream_domain

    def hub(self, name: str) -> HubSpec | None:
        return next((h for h in self.hubs if h.name == name), None)

    def spoke(self, name: str) -> SpokeSpec | None:
        return next((s for s in self.spokes if s.name == name), None)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def render(self, source: str) -> str:
        return f"{source}: {self.path}: {self.message}"


class LatticeSpecError(ValueError):
    """Every problem found in one stack, ready to print one per line."""

    def __init__(self, source: str, problems: Sequence[Problem]):
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


def _loc_to_path(loc: Iterable[Any]) -> str:
    path = "lattice"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}"
    return path


def _pydantic_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors():
        loc = list(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        # YAML gives lists; the models hold tuples only to stay immutable.
        message = message.replace("valid tuple", "valid list").replace("Tuple should", "List should")
        # Literal/union errors carry a nested loc piece naming the branch; drop it.
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("literal[", "function-")))]
        problems.append(Problem(_loc_to_path(loc), message))
    return problems


def _entries(raw: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = raw.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _cross_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Checks that span entries. Tolerant of bad types, so they run beside type errors."""
    problems: list[Problem] = []
    hubs = _entries(raw, "hubs")
    spokes = _entries(raw, "spokes")
    if raw.get("hubs") == []:
        problems.append(Problem("lattice.hubs", "at least one hub is required"))

    seen: dict[str, str] = {}
    for kind, entries in (("hubs", hubs), ("spokes", spokes)):
        for i, entry in entries:
            name = entry.get("name")
            if not isinstance(name, str):
                continue
            path = f"lattice.{kind}[{i}].name"
            if name in seen:
                problems.append(Problem(path, f"duplicate name {name!r} (already used by {seen[name]})"))
            else:
                seen[name] = path

    # Hub node server names (<hub>-<i>) share the server-name space with spokes.
    for _, hub in hubs:
        nodes = hub.get("nodes", 3)
        if isinstance(hub.get("name"), str) and isinstance(nodes, int) and nodes in NODE_COUNTS:
            for n in range(nodes):
                server = f"{hub['name']}-{n}"
                if server in seen and seen[server].startswith("lattice.spokes"):
                    problems.append(
                        Problem(seen[server], f"name {server!r} collides with a node of hub {hub['name']!r}")
                    )

    hub_names = {h.get("name") for _, h in hubs}
    spoke_names = {s.get("name") for _, s in spokes}
    upstream_of = {
        s["name"]: s["upstream"]
        for _, s in spokes
        if isinstance(s.get("name"), str) and isinstance(s.get("upstream"), str)
    }
    for i, spoke in spokes:
        upstream = spoke.get("upstream")
        if not isinstance(upstream, str):
            continue
        path = f"lattice.spokes[{i}].upstream"
        if upstream == spoke.get("name"):
            problems.append(Problem(path, "a spoke cannot be its own upstream"))
        elif upstream not in hub_names and upstream not in spoke_names:
            problems.append(Problem(path, f"no hub or spoke named {upstream!r}"))
        else:
            chain, cur = [spoke.get("name")], upstream
            while cur in upstream_of and cur not in chain:
                chain.append(cur)
                cur = upstream_of[cur]
            if cur == spoke.get("name"):
                cycle = " -> ".join(str(c) for c in [*chain, cur])
                problems.append(Problem(path, f"upstream cycle: {cycle}"))

    hub_domains = {h.get("jetstreamDomain", DEFAULT_HUB_DOMAIN) for _, h in hubs}
    if len(hub_domains) > 1:
        for i, hub in hubs:
            if "jetstreamDomain" in hub:
                problems.append(
                    Problem(
                        f"lattice.hubs[{i}].jetstreamDomain",
                        "all hubs of a super-cluster share one JetStream domain, found "
                        + ", ".join(sorted(repr(d) for d in hub_domains)),
                    )
                )
    domains: dict[str, str] = {str(d): "the hub domain" for d in hub_domains}
    for i, spoke in spokes:
        domain = spoke.get("jetstreamDomain", spoke.get("name"))
        if not isinstance(domain, str):
            continue
        key = "jetstreamDomain" if "jetstreamDomain" in spoke else "name"
        if domain in domains:
            problems.append(
                Problem(
                    f"lattice.spokes[{i}].{key}",
                    f"JetStream domain {domain!r} is already {domains[domain]}; "
                    "every leaf link needs a different domain on each side",
                )
            )
        else:
            domains[domain] = f"used by spoke {spoke.get('name')!r}"

    if len(hubs) > 1:
        for i, hub in hubs:
            if hub.get("nodes") == 1:
                problems.append(
                    Problem(
                        f"lattice.hubs[{i}].nodes",
                        "a 1-node hub cannot join a super-cluster: nats-server refuses clustered "
                        "JetStream without routes; use 3 or 5 nodes",
                    )
                )
    for i, hub in hubs:
        platform = hub.get("platform")
        if platform == "aws" and not hub.get("region"):
            problems.append(Problem(f"lattice.hubs[{i}].region", "required when platform is 'aws'"))
        if platform == "external" and not hub.get("urls"):
            problems.append(
                Problem(f"lattice.hubs[{i}].urls", "required when platform is 'external' (the URLs spokes dial)")
            )
        if platform != "external" and "urls" in hub:
            problems.append(Problem(f"lattice.hubs[{i}].urls", "only valid when platform is 'external'"))
    hub_platforms = {h.get("name"): h.get("platform") for _, h in hubs}
    for i, spoke in spokes:
        if spoke.get("leafTransport") == "websocket":
            upstream = spoke.get("upstream")
            if upstream in spoke_names:
                problems.append(
                    Problem(f"lattice.spokes[{i}].leafTransport", "websocket is only for a spoke that dials a hub")
                )
            elif hub_platforms.get(upstream) == "external":
                problems.append(
                    Problem(
                        f"lattice.spokes[{i}].leafTransport",
                        "an external hub's urls decide the transport (use wss:// urls there)",
                    )
                )
    if len(hubs) > 1:
        for i, hub in hubs:
            if hub.get("platform") == "external":
                problems.append(
                    Problem(
                        f"lattice.hubs[{i}].platform",
                        "an external hub must be the lattice's only hub (its gateways are not ours to configure)",
                    )
                )
    for i, spoke in spokes:
        if spoke.get("platform") == "aws" and not spoke.get("region"):
            problems.append(Problem(f"lattice.spokes[{i}].region", "required when platform is 'aws'"))
    for kind, entries in (("hubs", hubs), ("spokes", spokes)):
        for i, entry in entries:
            for block in ("aws", "kubernetes"):
                if block in entry and entry.get("platform") != block:
                    problems.append(Problem(f"lattice.{kind}[{i}].{block}", f"only valid when platform is '{block}'"))
    external = {h.get("name"): (i, h) for i, h in hubs if h.get("platform") == "external"}
    for i, hub in hubs:
        if "credsSecret" in hub and hub.get("platform") != "external":
            problems.append(Problem(f"lattice.hubs[{i}].credsSecret", "only valid when platform is 'external'"))
    for i, spoke in spokes:
        upstream = spoke.get("upstream")
        if "credsSecret" in spoke and upstream not in external:
            problems.append(
                Problem(f"lattice.spokes[{i}].credsSecret", "only valid for a spoke that dials an external hub")
            )
        elif upstream in external and not spoke.get("credsSecret") and not external[upstream][1].get("credsSecret"):
            problems.append(
                Problem(
                    f"lattice.spokes[{i}].credsSecret",
                    f"required: hub {upstream!r} is external, so the leaf's .creds come from a secret config value "
                    "(set credsSecret here or on the hub)",
                )
            )
    for i, hub in hubs:
        aws = hub.get("aws")
        if isinstance(aws, Mapping) and aws.get("vpcId") and not aws.get("subnetIds"):
            problems.append(
                Problem(f"lattice.hubs[{i}].aws.subnetIds", "required with vpcId (public subnets for the nodes)")
            )
        if isinstance(aws, Mapping) and aws.get("subnetIds") and not aws.get("vpcId"):
            problems.append(Problem(f"lattice.hubs[{i}].aws.vpcId", "required with subnetIds"))
    problems += _lattice_problems(raw, spokes)
    retired = raw.get("retiredSpokes")
    if isinstance(retired, list):
        seen_retired: set[Any] = set()
        for i, entry in enumerate(retired):
            path = f"lattice.retiredSpokes[{i}]"
            name = entry.get("name") if isinstance(entry, Mapping) else entry
            if not isinstance(name, str):
                continue
            if name in spoke_names:
                problems.append(
                    Problem(
                        path, f"{name!r} is also a spoke; a retired key stays revoked, so a new spoke needs a new name"
                    )
                )
            elif name in seen_retired:
                problems.append(Problem(path, f"duplicate name {name!r}"))
            seen_retired.add(name)
    return problems


def _lattice_problems(raw: Mapping[str, Any], spokes: list[tuple[int, Mapping[str, Any]]]) -> list[Problem]:
    """Spokes name a lattice of the stack, and a spoke of a spoke shares its upstream's
    (the mid-tier's leaf user carries its children's traffic in its own account)."""
    problems: list[Problem] = []
    extra = raw.get("lattices")
    names = [raw.get("name"), *(extra if isinstance(extra, list) else [])]
    if isinstance(extra, list):
        for i, name in enumerate(extra):
            if name in names[: i + 1]:
                problems.append(Problem(f"lattice.lattices[{i}]", f"duplicate lattice name {name!r}"))
    own = raw.get("name")
    lattice_of = {s.get("name"): s.get("lattice", own) for _, s in spokes}
    for i, spoke in spokes:
        chosen = spoke.get("lattice", own)
        if "lattice" in spoke and isinstance(chosen, str) and chosen not in names:
            problems.append(
                Problem(
                    f"lattice.spokes[{i}].lattice",
                    f"no lattice {chosen!r} in this stack (name it under lattices, or use {own!r})",
                )
            )
            continue
        upstream = spoke.get("upstream")
        if upstream in lattice_of and lattice_of[upstream] != chosen:
            problems.append(
                Problem(
                    f"lattice.spokes[{i}].lattice",
                    f"{chosen!r} differs from its upstream spoke {upstream!r} ({lattice_of[upstream]!r}): "
                    "a spoke of a spoke travels in its upstream's account",
                )
            )
    retired = raw.get("retiredSpokes")
    for i, entry in enumerate(retired if isinstance(retired, list) else []):
        if isinstance(entry, Mapping) and "lattice" in entry and entry["lattice"] not in names:
            problems.append(
                Problem(f"lattice.retiredSpokes[{i}].lattice", f"no lattice {entry['lattice']!r} in this stack")
            )
    return problems


def parse_lattice(raw: Any, source: str) -> LatticeSpec:
    """Validate the raw config object; raise :class:`LatticeSpecError` with every problem."""
    if not isinstance(raw, Mapping):
        raise LatticeSpecError(source, [Problem("lattice", f"must be a mapping, got {type(raw).__name__}")])
    problems: list[Problem] = []
    spec: LatticeSpec | None = None
    try:
        spec = LatticeSpec.model_validate(_lists_to_tuples(raw))
    except ValidationError as err:
        problems.extend(_pydantic_problems(err))
    problems.extend(_cross_problems(raw))
    if problems or spec is None:
        unique = list(dict.fromkeys(problems))
        raise LatticeSpecError(source, sorted(unique, key=lambda p: _sort_key(p.path)))
    return spec


def _sort_key(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[\[\].]+", path) if p]


def _lists_to_tuples(value: Any) -> Any:
    # Strict mode refuses lists for tuple fields; YAML gives lists.
    if isinstance(value, Mapping):
        return {k: _lists_to_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_lists_to_tuples(v) for v in value)
    return value


def stack_file_path(stack: str, stacks_dir: Path) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def load_stack_file(path: Path, label: str | None = None) -> LatticeSpec:
    """Read a ``Pulumi.<stack>.yaml`` and validate its lattice; errors name ``label``."""
    source = label or str(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise LatticeSpecError(source, [Problem("lattice", f"cannot read stack file: {err.strerror}")]) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LatticeSpecError(source, [Problem("lattice", f"not valid YAML{where}")]) from None
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping) or CONFIG_KEY not in config:
        raise LatticeSpecError(source, [Problem("lattice", f"missing config key {CONFIG_KEY!r}")])
    return parse_lattice(config[CONFIG_KEY], source)
