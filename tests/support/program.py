"""Run the Pulumi program under the SDK's mocks and keep everything it registered.

The mocks answer like the providers would where the program reads an output (private and
Elastic IPs, balancer DNS names, ARNs, entropy), always the same for the same resource
name, so two runs are comparable. Exports are resolved afterwards, with their secretness.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from tests.support.helpers import ROOT
from tests.support.mocks import LatticeMocks


@dataclass
class ProgramRun:
    mocks: LatticeMocks
    namespace: dict[str, Any]
    exports: dict[str, Any] = field(default_factory=dict)
    """Export name -> value, resolved."""
    secret_exports: set[str] = field(default_factory=set)
    """Dotted paths of exported values that are secrets (e.g. ``spokes.store-12.creds``)."""
    exports_serialized: Any = None
    """The exports as the engine receives them (secret markers where they are)."""
    registered: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URN -> what the engine was asked to register (``custom``, ``provider``, ``inputs``
    with secret markers), in registration order."""
    dependencies: dict[str, set[str]] = field(default_factory=dict)
    """URN -> the URNs the engine was told it depends on (``depends_on`` and inputs): the
    order a real ``pulumi up`` creates, replaces and deletes in."""
    requests: dict[str, Registration] = field(default_factory=dict)
    """URN -> the rest of what its registration told the engine about ordering."""
    answered: list[str] = field(default_factory=list)
    """URNs in the order the engine answered their registrations."""


@dataclass(frozen=True)
class Registration:
    property_dependencies: dict[str, set[str]]
    """Input property -> the URNs its value came from. Only these make the engine replace a
    resource because another is replaced (``calculateDependentReplacements``)."""
    delete_before_replace: bool


async def _resolve(value: Any, path: str, secrets: set[str]) -> Any:
    if isinstance(value, pulumi.Output):
        if await value.is_secret():
            secrets.add(path)
        return await _resolve(await value.future(), path, secrets)
    if isinstance(value, Mapping):
        return {k: await _resolve(v, f"{path}.{k}", secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [await _resolve(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def run_program(
    stack: str, config: Mapping[str, Any], mocks: LatticeMocks | None = None, *, preview: bool = False
) -> ProgramRun:
    mocks = mocks or LatticeMocks()
    pulumi.runtime.set_mocks(mocks, project="wasmcloud-lattice", stack=stack, preview=preview)
    dependencies, requests, answered = _record_dependencies()
    secret_keys = [k for k in config if k.removeprefix("wasmcloud-lattice:") in FAKE_SECRET_NAMES]
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, secret_keys
    )
    namespace: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        # the harness waits for every outstanding RPC before returning
        namespace.update(runpy.run_path(str(ROOT / "__main__.py")))

    program()
    run = ProgramRun(
        mocks=mocks,
        namespace=namespace,
        registered=_registrations(mocks),
        dependencies=dependencies,
        requests=requests,
        answered=answered,
    )
    lattice = namespace["lattice"]
    raw = lattice.stack_outputs()
    loop = asyncio.get_event_loop()
    run.exports = loop.run_until_complete(_resolve(raw, "", run.secret_exports))
    run.secret_exports = {p.lstrip(".") for p in run.secret_exports}
    run.exports_serialized = loop.run_until_complete(rpc.serialize_property(raw, [], None))
    return run


def _record_dependencies() -> tuple[dict[str, set[str]], dict[str, Registration], list[str]]:
    """What each registration says it depends on, and the order they were answered in: the
    mock monitor answers registrations but keeps no record of either, so wrap it."""
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, MockMonitor)
    recorded: dict[str, set[str]] = {}
    requests: dict[str, Registration] = {}
    answered: list[str] = []
    register = monitor.RegisterResource

    def register_and_record(request: Any) -> Any:
        response = register(request)  # type: ignore[no-untyped-call]
        recorded[response.urn] = set(request.dependencies)
        requests[response.urn] = Registration(
            property_dependencies={k: set(v.urns) for k, v in request.propertyDependencies.items()},
            delete_before_replace=bool(request.deleteBeforeReplace),
        )
        answered.append(response.urn)
        return response

    monitor.RegisterResource = register_and_record  # type: ignore[method-assign]
    return recorded, requests, answered


def _registrations(mocks: LatticeMocks) -> dict[str, dict[str, Any]]:
    """The mock monitor's URNs joined with the mocks' record of each registration (by type
    and name: registrations run on threads, so the two records need not share an order)."""
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, MockMonitor)
    recorded = {(r.typ, r.name): r for r in mocks.resources}
    assert len(recorded) == len(mocks.resources), "a type and name registered twice"
    out: dict[str, dict[str, Any]] = {}
    for urn in monitor.resources:
        _, _, qualified_type, name = urn.split("::", 3)
        args = recorded[(qualified_type.split("$")[-1], name)]
        out[urn] = {"custom": bool(args.custom), "provider": args.provider or "", "inputs": args.inputs}
    assert len(out) == len(recorded), "every registration reached both the monitor and the mocks"
    return out


def stack_file(stack: str) -> Path:
    """A stack of the project (``stacks/``) or of the test corpus (``tests/stacks/``)."""
    project = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    return project if project.exists() else ROOT / "tests" / "stacks" / f"Pulumi.{stack}.yaml"


FAKE_SECRET_NAMES: set[str] = set()


def fake_secret(name: str) -> str:
    """What a user would `pulumi config set --secret`: a kubeconfig or a .creds, with a
    marker the hygiene tests look for everywhere a secret must not be."""
    if "creds" in name:
        return (
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.fake.sig\n------END NATS USER JWT------\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"SUFAKESEED{name.upper().replace('-', '')}\n------END USER NKEY SEED------\n"
        )
    return f"apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {{token: FAKETOKEN-{name}}}\n"


@contextmanager
def own_event_loop() -> Iterator[None]:
    """Pulumi's mocks use the current event loop; asyncio.run elsewhere leaves none set."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def runs_of(stacks: list[str]) -> Iterator[dict[str, ProgramRun]]:
    """A module fixture's body: one mock run per stack, on its own event loop."""
    with own_event_loop():
        yield {stack: run_program(stack, stack_config(stack)) for stack in stacks}


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's config, plus the secret values it names, as `pulumi config set
    --secret` would have stored them (the stack files here carry none)."""
    doc = yaml.safe_load(stack_file(stack).read_text())
    config: dict[str, Any] = dict(doc["config"])
    lattice = config["wasmcloud-lattice:lattice"]
    names = set()
    for entry in [*lattice.get("hubs", []), *lattice.get("spokes", [])]:
        for name in ((entry.get("kubernetes") or {}).get("kubeconfig"), entry.get("credsSecret")):
            if name:
                names.add(name)
    for name in sorted(names):
        config[f"wasmcloud-lattice:{name}"] = fake_secret(name)
        FAKE_SECRET_NAMES.add(name)
    return config
