"""The house's shape, as its imports show it: data flows one way, the core stays pure.

- no import cycle among the project's modules (imports inside functions included);
- ``lattice/`` (the pure core) and ``sandbox/`` (the local platform) import no Pulumi;
- a platform imports the contract, the shared base and ``lattice/``, never a component;
- the core imports nothing of the components, platforms or sandbox.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

PACKAGES = ("lattice", "components", "sandbox", "policy", "provider", "bench")
COMPONENT_MODULES = {f"components.{m}" for m in ("lattice", "hub", "spoke", "keys", "certificates", "package")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at any depth of its code."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


MODULES = project_modules()
GRAPH = {
    name: sorted({imp for imp in imports_of(path) if imp in MODULES and imp != name}) for name, path in MODULES.items()
}


def external_imports(name: str) -> set[str]:
    return {imp.split(".")[0] for imp in imports_of(MODULES[name])}


def test_the_walk_sees_the_whole_project() -> None:
    assert {"lattice.addressing", "lattice.natsconf.blocks", "components.platforms.aws.hub", "sandbox.topology"} <= set(
        MODULES
    )
    assert "lattice.addressing" in GRAPH["lattice.natsconf.blocks"]


def test_no_import_cycles() -> None:
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in GRAPH[node]:
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for module in GRAPH:
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("package", ["lattice", "sandbox"])
def test_the_core_and_the_sandbox_import_no_pulumi(package: str) -> None:
    offenders = {
        name: sorted(
            external_imports(name) & {"pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "pulumi_tls"}
        )
        for name in MODULES
        if name.split(".")[0] == package
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_core_imports_nothing_above_it() -> None:
    above = ("components", "sandbox", "policy", "provider", "bench")
    offenders = {
        name: [imp for imp in GRAPH[name] if imp.split(".")[0] in above]
        for name in MODULES
        if name.startswith("lattice")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_platforms_import_no_component() -> None:
    offenders = {
        name: [imp for imp in GRAPH[name] if imp in COMPONENT_MODULES]
        for name in MODULES
        if name.startswith("components.platforms")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_a_platform_imports_no_other_platform() -> None:
    platforms = ("components.platforms.aws", "components.platforms.kubernetes")
    for own in platforms:
        others = [p for p in platforms if p != own]
        offenders = [
            (name, imp)
            for name in MODULES
            if name.startswith(own)
            for imp in GRAPH[name]
            if any(imp.startswith(o) for o in others)
        ]
        assert offenders == []
