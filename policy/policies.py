"""CrossGuard policies over what the program registers. Importable without side effects:
the ``PolicyPack`` (which starts a gRPC server) is built only in ``policy/__main__.py``.

Each check is a plain function of (resource type, input properties) returning the
violations, so tests call it on every resource of every stack and on hand-made bad ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from lattice.addressing import LOOPBACK, PORTS
from lattice.allowlists import OPEN_LEAF_MARK
from lattice.natsconf import CONFIG_FILE, TRUST_INCLUDE, UPSTREAM_AUTH_INCLUDE
from lattice.natsconf.blocks import TLS_MIN_VERSION
from lattice.node.cloudinit import EOF_MARK

Props = Mapping[str, Any]
PRIVATE_PORTS = {PORTS.client: "client", PORTS.cluster: "route", PORTS.monitor: "monitor"}
WORLD = {"0.0.0.0/0", "::/0"}
SEED = re.compile(r"\bS[OAU][A-Z2-7]{50,}\b")
CREDS_MARKERS = ("BEGIN USER NKEY SEED", "BEGIN NATS USER JWT")


def no_private_port_open_to_the_world(typ: str, props: Props) -> Iterator[str]:
    if typ != "aws:ec2/securityGroup:SecurityGroup":
        return
    for rule in props.get("ingress") or []:
        ports = set(range(int(rule.get("fromPort", 0)), int(rule.get("toPort", 0)) + 1))
        cidrs = set(rule.get("cidrBlocks") or []) | set(rule.get("ipv6CidrBlocks") or [])
        for port in sorted(ports & set(PRIVATE_PORTS)):
            if cidrs & WORLD:
                world = ", ".join(sorted(cidrs & WORLD))
                yield f"the NATS {PRIVATE_PORTS[port]} port {port} is open to the world ({world})"


def imdsv2_required(typ: str, props: Props) -> Iterator[str]:
    if typ == "aws:ec2/instance:Instance" and (props.get("metadataOptions") or {}).get("httpTokens") != "required":
        yield "IMDSv2 is not required (metadataOptions.httpTokens must be 'required')"


def volumes_encrypted(typ: str, props: Props) -> Iterator[str]:
    if typ == "aws:ec2/instance:Instance" and not (props.get("rootBlockDevice") or {}).get("encrypted"):
        yield "the root volume is not encrypted (rootBlockDevice.encrypted)"
    if typ == "aws:ebs/volume:Volume" and not props.get("encrypted"):
        yield "the volume is not encrypted"


def _plain(value: Any) -> Any:
    """A secret as the SDK's mocks hand it over (``{<sig>: ..., "value": ...}``); the engine
    hands a policy pack the value itself."""
    return value.get("value") if isinstance(value, Mapping) and "value" in value else value


def _nats_configs(typ: str, props: Props) -> Iterator[str]:
    """Every rendered nats-server config a resource carries: an EC2 node's in its secret
    (``{"files": {"nats-server.conf": ...}}``), a Kubernetes server's in a ConfigMap."""
    if typ == "aws:secretsmanager/secretVersion:SecretVersion":
        text = _plain(props.get("secretString"))
        try:
            document = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            document = None
        files = document.get("files") if isinstance(document, dict) else None
        config = files.get(CONFIG_FILE) if isinstance(files, dict) else None
        if isinstance(config, str) and "server_name" in config:
            yield config
    if typ == "aws:ec2/instance:Instance" and isinstance(props.get("userData"), str):
        match = re.search(rf"<<'{EOF_MARK}'\n(.*?)^{EOF_MARK}$", props["userData"], re.S | re.M)
        if match and "server_name" in match.group(1):
            yield match.group(1)
    if typ == "kubernetes:core/v1:ConfigMap":
        for text in (props.get("data") or {}).values():
            if isinstance(text, str) and "server_name" in text:
                yield text


def hub_leaf_listeners_authenticate(typ: str, props: Props) -> Iterator[str]:
    """A leaf listener without authorization falls back to client auth: on a hub that must be
    operator mode (JWTs), or an anonymous leaf gets in."""
    for config in _nats_configs(typ, props):
        listens_for_leafs = re.search(r"^leafnodes: \{\n  listen:", config, re.M) is not None
        if not listens_for_leafs:
            continue
        operator_mode = f'include "{TRUST_INCLUDE}"' in config
        authorized = re.search(r"^leafnodes: \{\n  listen: [^\n]*\n(  [^\n]*\n)*?  authorization:", config, re.M)
        if not operator_mode and not authorized:
            yield "a NATS leaf listener has neither operator (JWT) auth nor an authorization block"


def _top_block(config: str, key: str) -> str | None:
    """The text of a top-level ``key: { ... }`` block as the renderer writes it."""
    match = re.search(rf"^{key}: \{{\n(.*?)^\}}$", config, re.S | re.M)
    return match.group(1) if match else None


def _has_tls(block: str, indent: int, *, verify: bool = False) -> bool:
    pad = " " * indent
    tls = re.search(rf"^{pad}tls: \{{\n(.*?)^{pad}\}}$", block, re.S | re.M)
    if tls is None or f'min_version: "{TLS_MIN_VERSION}"' not in tls.group(1):
        return False
    return not verify or "verify: true" in tls.group(1)


def links_use_tls(typ: str, props: Props) -> Iterator[str]:
    """Every NATS link that leaves a machine is TLS: client ports beyond loopback, routes
    and gateways (mutual, ``verify``), leaf listeners, and leaf remotes to our servers."""
    for config in _nats_configs(typ, props):
        listen = re.search(r'^listen: "([^"]+)"$', config, re.M)
        if listen and not listen.group(1).startswith(f"{LOOPBACK}:") and not _has_tls(config, 0):
            yield "a NATS client listener beyond loopback has no TLS"
        for key, what in (("cluster", "routes"), ("gateway", "gateways")):
            block = _top_block(config, key)
            if block is not None and not _has_tls(block, 2, verify=True):
                yield f"NATS {what} are not mutual TLS (tls with verify: true)"
        leafnodes = _top_block(config, "leafnodes")
        if leafnodes is None:
            continue
        if re.search(r"^  listen:", leafnodes, re.M) and not _has_tls(leafnodes, 2):
            yield "a NATS leaf listener has no TLS"
        for remote in re.findall(r"^    \{\n(.*?)^    \}$", leafnodes, re.S | re.M):
            ours = "nats-leaf://" in remote or UPSTREAM_AUTH_INCLUDE in remote
            if ours and not re.search(r"^      tls: \{\n(.*?)ca_file", remote, re.S | re.M):
                yield "a NATS leaf remote dials without verifying the server (tls with ca_file)"


def spoke_clients_on_loopback(typ: str, props: Props) -> Iterator[str]:
    for config in _nats_configs(typ, props):
        if "no_auth_user" in config and not re.search(rf'^listen: "{re.escape(LOOPBACK)}:\d+"$', config, re.M):
            yield "a spoke's anonymous client listener is not bound to 127.0.0.1"


def no_plaintext_credentials(typ: str, props: Props) -> Iterator[str]:
    texts: list[str] = []
    if typ == "aws:ec2/instance:Instance" and isinstance(props.get("userData"), str):
        texts.append(props["userData"])
    if typ == "kubernetes:core/v1:ConfigMap":
        texts += [t for t in (props.get("data") or {}).values() if isinstance(t, str)]
    for text in texts:
        if SEED.search(text) or any(m in text for m in CREDS_MARKERS) or re.search(r"password:\s*\"(?!\$2)", text):
            yield "a credential (nkey seed, .creds or clear password) is in plain text"


def leaf_ports_admit_listed_sources(typ: str, props: Props) -> Iterator[str]:
    """A leaf port (a security group's rule, a LoadBalancer Service) admits the lattice's
    own sites and listed ranges; every address only where the stack opted in on purpose
    (``leafAllowedCidrs: [0.0.0.0/0]``, which marks the resource)."""
    if typ == "aws:ec2/securityGroup:SecurityGroup":
        marked = OPEN_LEAF_MARK in (props.get("tags") or {})
        for rule in props.get("ingress") or []:
            cidrs = set(rule.get("cidrBlocks") or []) | set(rule.get("ipv6CidrBlocks") or [])
            if (
                int(rule.get("fromPort", 0)) <= PORTS.leaf <= int(rule.get("toPort", 0))
                and cidrs & WORLD
                and not marked
            ):
                yield f"the NATS leaf port {PORTS.leaf} is open to every address without leafAllowedCidrs opting in"
    if typ == "kubernetes:core/v1:Service" and (props.get("spec") or {}).get("type") == "LoadBalancer":
        spec, metadata = props["spec"], props.get("metadata") or {}
        ports = {int(p.get("port", 0)) for p in spec.get("ports") or []}
        sources = set(spec.get("loadBalancerSourceRanges") or [])
        marked = OPEN_LEAF_MARK in (metadata.get("annotations") or {})
        if ports & {PORTS.leaf, PORTS.websocket, PORTS.gateway} and (not sources or sources & WORLD) and not marked:
            yield "a NATS LoadBalancer admits every address (no loadBalancerSourceRanges) without an opt-in"


PINNED_TAG = re.compile(r":[\w.-]*\d+\.\d+\.\d+[\w.-]*$")
"""An exact release tag (``2.15.1``, ``2.15.1-alpine``), not ``latest`` or ``2.15``."""


def images_pinned(typ: str, props: Props) -> Iterator[str]:
    """Every container image is an exact release tag or a digest, so a node restarting
    next month runs what the preview showed."""
    if typ not in ("kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment"):
        return
    pod = ((props.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        image = str(container.get("image", ""))
        if "@sha256:" not in image and not PINNED_TAG.search(image.rsplit("/", 1)[-1]):
            yield f"container {container.get('name')}: image {image!r} floats (pin an exact version tag or a digest)"


CHECKS: dict[str, tuple[str, Callable[[str, Props], Iterator[str]]]] = {
    "no-nats-private-port-open-to-the-world": (
        "NATS client, route and monitoring ports are never open to 0.0.0.0/0",
        no_private_port_open_to_the_world,
    ),
    "imdsv2-required": ("Every instance requires IMDSv2", imdsv2_required),
    "volumes-encrypted": ("Every volume is encrypted", volumes_encrypted),
    "hub-leaf-listeners-authenticate": (
        "NATS leaf listeners authenticate (operator JWTs on hubs, an authorization block elsewhere)",
        hub_leaf_listeners_authenticate,
    ),
    "nats-links-use-tls": (
        "NATS client (beyond loopback), route, gateway and leaf links are TLS; routes and gateways mutual",
        links_use_tls,
    ),
    "spoke-clients-on-loopback": (
        "A spoke's anonymous client listener is bound to 127.0.0.1",
        spoke_clients_on_loopback,
    ),
    "no-plaintext-credentials": (
        "No nkey seed, .creds or clear password in user-data or ConfigMaps",
        no_plaintext_credentials,
    ),
    "nats-leaf-ports-admit-listed-sources": (
        "NATS leaf and gateway load balancers admit listed sources; every address only by explicit opt-in",
        leaf_ports_admit_listed_sources,
    ),
    "images-pinned": ("Container images are exact release tags or digests", images_pinned),
}


def violations(typ: str, props: Props) -> dict[str, list[str]]:
    """Every check's violations for one resource (empty lists dropped)."""
    found = {name: list(check(typ, props)) for name, (_, check) in CHECKS.items()}
    return {name: msgs for name, msgs in found.items() if msgs}


def _policy(name: str, description: str, check: Callable[[str, Props], Iterator[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def policies() -> list[ResourceValidationPolicy]:
    return [_policy(name, description, check) for name, (description, check) in CHECKS.items()]
