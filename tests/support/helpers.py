"""Shared helpers: fixed entropy, stack loading, and `nats-server -t` on rendered configs."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from lattice.addressing import Addressing, CertificateHosts, ServerAddress, direct_addressing
from lattice.credentials import LatticeAuth, assemble, entropy_names, plan_key_names
from lattice.natsconf import RenderedServer, ServerFiles, render_lattice
from lattice.plan import LatticePlan, plan_lattice
from lattice.spec import LatticeSpec
from lattice.stack import load_stack_file, parse_lattice
from sandbox import binaries
from sandbox.tls import LOOPBACK_HOSTS, Certificate, PrivateCA, lattice_tls

ROOT = Path(__file__).resolve().parent.parent.parent
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
STACK_NAMES = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


def fixed_entropy(names: list[str], salt: str = "") -> dict[str, bytes]:
    """Stable stand-in for stored entropy: the same name always gives the same key."""
    return {n: hashlib.sha256(f"{salt}{n}".encode()).digest() for n in entropy_names(names)}


def plan_entropy(plan: LatticePlan, salt: str = "") -> dict[str, bytes]:
    """Fixed entropy for every key a plan needs, retired spokes included."""
    return {n: hashlib.sha256(f"{salt}{n}".encode()).digest() for n in plan_key_names(plan)}


EXTREME_STACKS = ["extreme", "extreme-external"]
"""Stacks of the test corpus (tests/stacks/) at the spec's limits: the longest names, names
that start with a digit, both platforms, narrowed CIDRs everywhere."""


def load_stack(name: str) -> LatticeSpec:
    """A stack of the project (``stacks/``) or of the test corpus (``tests/stacks/``)."""
    for directory in ("stacks", "tests/stacks"):
        path = ROOT / directory / f"Pulumi.{name}.yaml"
        if path.exists():
            return load_stack_file(path, f"{directory}/Pulumi.{name}.yaml")
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{name}.yaml", f"stacks/Pulumi.{name}.yaml")


def retire_spoke(raw: dict[str, Any], name: str) -> None:
    """Retire ``name`` in a raw lattice object as a user would: out of ``spokes`` and every
    hub stream's lists, into ``retiredSpokes``."""
    raw["spokes"] = [s for s in raw["spokes"] if s["name"] != name]
    raw["retiredSpokes"] = [*raw.get("retiredSpokes", []), name]
    for stream in raw.get("hubStreams", []):
        for part in (stream, stream.get("sources") or {}, stream.get("mirrors") or {}):
            for key in ("spokes", "publishers"):
                if key in part:
                    part[key] = [n for n in part[key] if n != name]


def spec_from(raw: Mapping[str, Any]) -> LatticeSpec:
    return parse_lattice(raw, "test")


def symbolic_addressing(plan: LatticePlan) -> Addressing:
    """Cloud-like addressing: standard ports, one DNS name per server."""
    servers = {s.name: ServerAddress(dial_host=f"{s.name}.nats.internal") for s in plan.servers}
    return direct_addressing(plan, servers)


def render_plan(
    plan: LatticePlan, salt: str = "", addressing: Addressing | None = None
) -> tuple[LatticeAuth, dict[str, RenderedServer]]:
    auth = assemble(plan, plan_entropy(plan, salt))
    external = {h.name for h in plan.hubs if h.is_external}
    given = {s.name: GIVEN_CREDS for s in plan.spokes if s.upstream in external}  # from secret config
    auth = replace(auth, leaf_creds={**auth.leaf_creds, **given})
    files = {s.name: ServerFiles() for s in plan.servers}
    addressing = addressing or symbolic_addressing(plan)
    rendered = render_lattice(plan, addressing, auth, files, lattice_tls(plan, addressing, _CA))
    return auth, with_websocket_tls(plan, rendered, files)


GIVEN_CREDS = "-----BEGIN NATS USER JWT-----\ngiven.by.the.hub\n------END NATS USER JWT------\n"


class _RepeatableCA(PrivateCA):
    """Issues one certificate per name and hosts, so rendering twice gives the same files
    (the program stores its certificates in state; this stands in for that)."""

    @functools.cache  # noqa: B019 - one CA for the whole test session
    def issue(self, common_name: str, hosts: CertificateHosts = LOOPBACK_HOSTS) -> Certificate:
        return super().issue(common_name, hosts)


_CA = _RepeatableCA("tests")
_CERT = _CA.issue("hub")


def with_websocket_tls(
    plan: LatticePlan, rendered: dict[str, RenderedServer], files: dict[str, ServerFiles]
) -> dict[str, RenderedServer]:
    """Add the public certificate a platform puts beside a WebSocket listener (cert-manager);
    one from the lattice CA is the server's own."""
    out = dict(rendered)
    for server in plan.servers:
        extra: dict[str, str] = {}
        if server.websocket and plan.hub(server.group).websocket_public_certificate:
            extra = {files[server.name].ws_cert_file: _CERT.cert_pem, files[server.name].ws_key_file: _CERT.key_pem}
        if extra:
            out[server.name] = replace(
                rendered[server.name], secret_files={**rendered[server.name].secret_files, **extra}
            )
    return out


def render_stack(name: str) -> tuple[LatticePlan, LatticeAuth, dict[str, RenderedServer]]:
    plan = plan_lattice(load_stack(name))
    auth, rendered = render_plan(plan)
    return plan, auth, rendered


def nats_server_test(rendered: RenderedServer, directory: Path) -> subprocess.CompletedProcess[str]:
    """Write a config and its secret files under ``directory`` and run ``nats-server -t``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = rendered.config
    for path, text in rendered.secret_files.items():
        local = directory / Path(path).name
        local.write_text(text)
        config = config.replace(path, str(local))
    conf = directory / "nats-server.conf"
    conf.write_text(config)
    return subprocess.run(
        [binaries.nats_server(), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30, check=False
    )
