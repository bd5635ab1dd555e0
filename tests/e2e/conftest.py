"""The e2e suite runs the real Pulumi engine and providers built by ``scripts/toolchain.sh`` against a
local Kubernetes control plane. ``make e2e`` builds the toolchain first; a missing toolchain fails
here (never skips), so a green ``make e2e`` always means the whole chain ran."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.kube import KubeControlPlane
from tests.support.helpers import ROOT

TOOLCHAIN_SCRIPT = ROOT / "scripts" / "toolchain.sh"


@dataclass(frozen=True)
class Toolchain:
    """Where the built binaries are and the environment that makes the engine use only them."""

    dir: Path
    env: dict[str, str]

    @property
    def pulumi(self) -> Path:
        return self.dir / "bin" / "pulumi"


def _toolchain_env() -> dict[str, str]:
    """The ``export`` lines of ``scripts/toolchain.sh --env`` applied to this process's environment."""
    out = subprocess.run([str(TOOLCHAIN_SCRIPT), "--env"], check=True, capture_output=True, text=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        (value,) = shlex.split(value.replace("$PATH", env.get("PATH", "")))
        env[name] = value
    return env


@pytest.fixture(scope="session")
def toolchain() -> Iterator[Toolchain]:
    env = _toolchain_env()
    tc = Toolchain(dir=Path(env["WASMCLOUD_LATTICE_TOOLCHAIN_DIR"]), env=env)
    missing = [
        name
        for name in ("pulumi", "pulumi-language-yaml", "etcd", "kube-apiserver", "kube-controller-manager")
        if not os.access(tc.dir / "bin" / name, os.X_OK)
    ]
    if missing:
        pytest.fail(f"toolchain incomplete in {tc.dir} (missing {', '.join(missing)}): run `make toolchain`")
    # The control plane and the Automation API read this process's environment.
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            if name == "PATH" or name.startswith(("PULUMI_", "WASMCLOUD_LATTICE_")):
                mp.setenv(name, value)
        yield tc


@pytest.fixture(scope="module")
def kube(toolchain: Toolchain) -> Iterator[KubeControlPlane]:
    with KubeControlPlane() as plane:
        yield plane
