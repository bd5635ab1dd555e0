"""The e2e suite runs the real Pulumi engine and providers built by ``scripts/toolchain.sh`` against a
local Kubernetes control plane. ``make e2e`` builds the toolchain first; a missing toolchain fails
here (never skips), so a green ``make e2e`` always means the whole chain ran.

Tests never write into the toolchain's cache: the session runs with a ``PULUMI_HOME`` of its own
that links the toolchain's provider plugins (``toolchain``), and the stand-in ``random`` and ``tls``
providers (TEST DOUBLES, ``tests/e2e/standins``) go into a second one (``standins_home``) that only
the tests asking for them use.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pulumi import automation as auto

from sandbox.kube import KubeControlPlane
from tests.e2e.standins import install_standins
from tests.support.helpers import ROOT

TOOLCHAIN_SCRIPT = ROOT / "scripts" / "toolchain.sh"
PASSPHRASE = "e2e-only-passphrase"


@dataclass(frozen=True)
class Toolchain:
    """Where the built binaries are and the environment that makes the engine use only them."""

    dir: Path
    env: dict[str, str]
    """``scripts/toolchain.sh --env`` applied, with this session's own ``PULUMI_HOME``."""
    installed_home: Path
    """The toolchain's ``PULUMI_HOME``, where ``make toolchain`` installed the plugins: tests only read it."""

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


def linked_pulumi_home(toolchain_home: Path, home: Path) -> Path:
    """A ``PULUMI_HOME`` whose plugin cache links every resource plugin the toolchain installed.

    Each plugin gets a real directory holding a symlink to its executable: the engine skips a
    symlinked plugin directory (``workspace.GetPluginsFromDir`` keeps only entries that are
    directories, and a symlink's entry is not), and a copy of the kubernetes provider is 167 MB."""
    for plugin in sorted((toolchain_home / "plugins").glob("resource-*")):
        if not plugin.is_dir() or plugin.with_name(plugin.name + ".partial").exists():
            continue
        linked = home / "plugins" / plugin.name
        linked.mkdir(parents=True)
        for item in plugin.iterdir():
            (linked / item.name).symlink_to(item)
    return home


@pytest.fixture(scope="session")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Toolchain]:
    env = _toolchain_env()
    tc = Toolchain(dir=Path(env["WASMCLOUD_LATTICE_TOOLCHAIN_DIR"]), env=env, installed_home=Path(env["PULUMI_HOME"]))
    missing = [
        name
        for name in ("pulumi", "pulumi-language-yaml", "etcd", "kube-apiserver", "kube-controller-manager")
        if not os.access(tc.dir / "bin" / name, os.X_OK)
    ]
    if missing:
        pytest.fail(f"toolchain incomplete in {tc.dir} (missing {', '.join(missing)}): run `make toolchain`")
    # logs, workspaces and last-used marks go to this session's home, not to the toolchain's cache
    env["PULUMI_HOME"] = str(linked_pulumi_home(tc.installed_home, tmp_path_factory.mktemp("pulumi-home")))
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


@pytest.fixture(scope="session")
def standins_home(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``PULUMI_HOME`` with the toolchain's plugins and the stand-in ``random`` and ``tls`` providers
    (TEST DOUBLES: tests/e2e/standins), run by this venv's Python."""
    home = linked_pulumi_home(toolchain.installed_home, tmp_path_factory.mktemp("pulumi-home-standins"))
    install_standins(home, Path(sys.executable))
    return home


def inline_workspace(
    toolchain: Toolchain,
    tmp_path: Path,
    project: str,
    *,
    pulumi_home: Path | None = None,
    env: dict[str, str] | None = None,
) -> auto.LocalWorkspaceOptions:
    """A Python project whose language runtime is this process (the Automation API's inline program):
    the CLI talks to it over gRPC, so no pulumi-language-python binary is needed. A file backend in
    ``tmp_path/state``; ``pulumi_home`` replaces the session's (the stand-ins' home, say)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return auto.LocalWorkspaceOptions(
        work_dir=str(tmp_path),
        pulumi_home=str(pulumi_home) if pulumi_home else None,
        pulumi_command=auto.PulumiCommand(root=str(toolchain.dir)),
        project_settings=auto.ProjectSettings(
            name=project, runtime="python", backend=auto.ProjectBackend(url=f"file://{state}")
        ),
        env_vars={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, **(env or {})},
    )
