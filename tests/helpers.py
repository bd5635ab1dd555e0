"""Shared helpers: fixed entropy, stack loading, and `nats-server -t` on rendered configs."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.credentials import LatticeAuth, entropy_names, lattice_auth_for_plan, plan_key_names
from components.natsconf import (
    Addressing,
    RenderedServer,
    ServerAddress,
    ServerFiles,
    direct_addressing,
    render_lattice,
)
from components.plan import LatticePlan, plan_lattice
from components.spec import LatticeSpec, load_stack_file, parse_lattice
from sandbox import binaries

ROOT = Path(__file__).resolve().parent.parent
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
STACK_NAMES = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


def fixed_entropy(names: list[str], salt: str = "") -> dict[str, bytes]:
    """Stable stand-in for stored entropy: the same name always gives the same key."""
    return {n: hashlib.sha256(f"{salt}{n}".encode()).digest() for n in entropy_names(names)}


def plan_entropy(plan: LatticePlan, salt: str = "") -> dict[str, bytes]:
    """Fixed entropy for every key a plan needs, retired spokes included."""
    return {n: hashlib.sha256(f"{salt}{n}".encode()).digest() for n in plan_key_names(plan)}


def load_stack(name: str) -> LatticeSpec:
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{name}.yaml", f"stacks/Pulumi.{name}.yaml")


def spec_from(raw: Mapping[str, Any]) -> LatticeSpec:
    return parse_lattice(raw, "test")


def symbolic_addressing(plan: LatticePlan) -> Addressing:
    """Cloud-like addressing: standard ports, one DNS name per server."""
    servers = {s.name: ServerAddress(dial_host=f"{s.name}.nats.internal") for s in plan.servers}
    return direct_addressing(plan, servers)


def render_plan(
    plan: LatticePlan, salt: str = "", addressing: Addressing | None = None
) -> tuple[LatticeAuth, dict[str, RenderedServer]]:
    auth = lattice_auth_for_plan(plan, plan_entropy(plan, salt))
    files = {s.name: ServerFiles() for s in plan.servers}
    return auth, render_lattice(plan, addressing or symbolic_addressing(plan), auth, files)


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
