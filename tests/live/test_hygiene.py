"""Secrets hygiene in the sandbox: private files, no secret in any log, nothing left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sandbox.topology import LocalLattice
from tests.support.helpers import spec_from

pytestmark = pytest.mark.live

SECRET_FILES = ("leaf.creds", "upstream-auth.conf", "leaf-users.conf", "server-key.pem", ".creds")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_secret_file_is_0600_in_a_private_directory(dev_lattice: LocalLattice) -> None:
    assert _mode(dev_lattice.workdir) == 0o700
    secret_files = [p for p in dev_lattice.workdir.rglob("*") if p.is_file() and p.name.endswith(SECRET_FILES)]
    names = {p.name for p in secret_files}
    assert {"leaf.creds", "upstream-auth.conf", "leaf-users.conf", "server-key.pem", "service.creds"} <= names
    assert [str(p) for p in secret_files if _mode(p) != 0o600] == []
    for config_dir in (dev_lattice.workdir / "servers").iterdir():
        assert _mode(config_dir) == 0o700, config_dir


def test_no_secret_reaches_a_config_or_a_log(dev_lattice: LocalLattice) -> None:
    secrets = [*dev_lattice.auth.secret_values()]
    secrets += [t.key_pem for t in dev_lattice.tls.values() if t.key_pem]
    seeds = [line for s in secrets for line in s.splitlines() if line.startswith("SU")]
    assert seeds, "the leaf users' seeds are among the secrets looked for"
    texts = {p: p.read_text(errors="replace") for p in dev_lattice.workdir.rglob("*.log")}
    texts |= {p: p.read_text() for p in dev_lattice.workdir.rglob("nats-server.conf")}
    assert len(texts) > len(dev_lattice.plan.servers), "every server's config and log"
    for path, text in texts.items():
        assert "PRIVATE KEY" not in text, path
        assert not any(seed in text for seed in seeds), path
        assert not any(login.password in text for login in dev_lattice.auth.child_logins.values()), path


def test_the_private_directory_is_removed_on_exit() -> None:
    spec = spec_from({"name": "acme", "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}]})
    with LocalLattice(spec) as lattice:
        lattice.write_files()
        workdir = lattice.workdir
        assert (workdir / "service.creds").exists()
    assert not workdir.exists()
