"""OCI registries on loopback: the cloud's registry, and a pull-through mirror per spoke.

Both are CNCF distribution (Debian's ``docker-registry``, a real OCI registry), serving TLS
with a certificate from the sandbox lattice's CA, as every other listener does. A mirror
runs distribution's proxy mode: it pulls from the cloud registry on a miss and keeps what
it pulled, so a host beside it can start a workload while the site's WAN is down.

Found here (distribution 2.8.2): a mirror **panics at start-up** when its upstream does not
answer (``panic: Get "https://.../v2/": dial tcp ...: connection refused``, from
``handlers.NewApp``), so it must start while the WAN is up; once running it serves what it
holds. A tag lookup goes upstream first and has no timeout, so on a silently dead link it
hangs; a digest lookup is answered from its own storage. Hosts are therefore told to pull
by digest (``<mirror>/<repository>@sha256:...``).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from lattice.addressing import LOOPBACK
from lattice.registry import registry_config
from sandbox import binaries
from sandbox.processes import Supervisor

REGISTRY_BINARY = "docker-registry"
"""Debian's package of CNCF distribution (``apt-get install docker-registry``; ``make venv``
installs it when missing)."""


class RegistryError(RuntimeError):
    """A registry did not come up, or a push failed; the message carries its own words."""


def registry_binary() -> str:
    found = shutil.which(REGISTRY_BINARY) or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if found is None:
        raise binaries.MissingBinary(
            f"{REGISTRY_BINARY} not found: install Debian's package "
            "(apt-get install -y docker-registry; make venv does)"
        )
    return found


class LocalRegistry:
    """One distribution process under the sandbox's supervisor."""

    def __init__(
        self,
        supervisor: Supervisor,
        name: str,
        root: Path,
        port: int,
        ca_file: Path,
        cert_pem: str,
        key_pem: str,
        upstream: str | None = None,
    ):
        self.supervisor = supervisor
        self.name = name
        self.port = port
        self.ca_file = ca_file
        self.upstream = upstream
        self.root = root
        self.config_file = root / "config.yml"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / "storage").mkdir(exist_ok=True)
        cert, key = root / "cert.pem", root / "key.pem"
        cert.write_text(cert_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_pem)
        self.config_file.write_text(
            registry_config(port, str(root / "storage"), str(cert), str(key), upstream=upstream)
        )

    @property
    def host(self) -> str:
        """``host:port``, as an OCI reference names a registry."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def start(self) -> None:
        # the mirror verifies its upstream against the lattice CA (Go reads SSL_CERT_FILE)
        env = {"SSL_CERT_FILE": str(self.ca_file)}
        self.supervisor.start(self.name, [registry_binary(), "serve", str(self.config_file)], env=env)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until ``GET /v2/`` answers over TLS, verified against the lattice CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.name in self.supervisor.exited():
                raise RegistryError(f"{self.name} exited: {self.supervisor.log_tail(self.name, 12)}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", context=context, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError) as err:
                last = err
            time.sleep(0.1)
        raise RegistryError(f"{self.name} did not answer on {self.url}/v2/ in {timeout:.0f} s: {last!r}")


def push(component: Path, reference: str, ca_file: Path, home: Path) -> str:
    """``wash oci push`` (a real OCI client) with the lattice CA; returns the manifest digest."""
    argv = [binaries.wash(), "oci", "push", "-o", "json", "--ca-path", str(ca_file), reference, str(component)]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode != 0:
        raise RegistryError(f"wash oci push {reference} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    try:
        answer = json.loads(done.stdout)
        digest = str(answer["data"]["digest"])
    except (ValueError, KeyError, TypeError) as err:
        raise RegistryError(f"wash oci push {reference}: no digest in its answer {done.stdout!r}") from err
    if not digest.startswith("sha256:"):
        raise RegistryError(f"wash oci push {reference}: unexpected digest {digest!r}")
    return digest
