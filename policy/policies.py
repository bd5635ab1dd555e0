"""CrossGuard policies over what the program registers. Importable without side effects:
the ``PolicyPack`` (which starts a gRPC server) is built only in ``policy/__main__.py``.

Each check is a plain function of (resource type, input properties) returning the
violations, so tests call it on every resource of every stack and on hand-made bad ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

Props = Mapping[str, Any]
PRIVATE_PORTS = {4222: "client", 6222: "route", 8222: "monitor"}
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


def _nats_configs(typ: str, props: Props) -> Iterator[str]:
    if typ == "aws:ec2/instance:Instance" and isinstance(props.get("userData"), str):
        match = re.search(r"<<'WASMCLOUD_LATTICE_EOF'\n(.*?)^WASMCLOUD_LATTICE_EOF$", props["userData"], re.S | re.M)
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
        operator_mode = 'include "trust.conf"' in config
        authorized = re.search(r"^leafnodes: \{\n  listen: [^\n]*\n(  [^\n]*\n)*?  authorization:", config, re.M)
        if not operator_mode and not authorized:
            yield "a NATS leaf listener has neither operator (JWT) auth nor an authorization block"


def spoke_clients_on_loopback(typ: str, props: Props) -> Iterator[str]:
    for config in _nats_configs(typ, props):
        if "no_auth_user" in config and not re.search(r'^listen: "127\.0\.0\.1:\d+"$', config, re.M):
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
    "spoke-clients-on-loopback": (
        "A spoke's anonymous client listener is bound to 127.0.0.1",
        spoke_clients_on_loopback,
    ),
    "no-plaintext-credentials": (
        "No nkey seed, .creds or clear password in user-data or ConfigMaps",
        no_plaintext_credentials,
    ),
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
