"""``nats bench`` (natscli, a Go client) publishing and subscribing through the sandbox.

The Python client tops out near 240k msg/s, below what a leaf link carries, so a throughput
figure taken through nats-py says more about the client than about the link. natscli is
built from its pinned Go module by ``scripts/natscli.sh`` (``make natscli``); this module
finds that binary and runs one subscriber and one publisher as supervised processes.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.binaries import MissingBinary
from sandbox.monitor import get_json
from sandbox.processes import Supervisor

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "natscli.sh"
ENV_OVERRIDE = "WASMCLOUD_LATTICE_NATS_CLI"


def nats_cli() -> str:
    """The pinned ``nats`` binary: ``$WASMCLOUD_LATTICE_NATS_CLI``, else where
    ``scripts/natscli.sh`` builds it (the script is the one place its version is named)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        if not os.access(override, os.X_OK):
            raise MissingBinary(f"{ENV_OVERRIDE}={override} is not an executable")
        return override
    path = subprocess.run([str(BUILD_SCRIPT), "--bin"], check=True, capture_output=True, text=True).stdout.strip()
    if not os.access(path, os.X_OK):
        raise MissingBinary(f"natscli not built: run `make natscli` (scripts/natscli.sh builds {path})")
    return path


@dataclass(frozen=True)
class Endpoint:
    """Where one side of the bench connects, and how (a hub wants credentials and its CA)."""

    urls: tuple[str, ...]
    creds: str | None = None
    tlsca: str | None = None

    def args(self) -> list[str]:
        argv = ["--server", ",".join(self.urls), "--no-context"]
        if self.creds:
            argv += ["--creds", self.creds]
        if self.tlsca:
            argv += ["--tlsca", self.tlsca]
        return argv


def interest_at_leaf(monitor: str, subject: str) -> Callable[[], bool]:
    """The publisher's server has the subscriber's interest on its leaf link (it came down
    the link from the hub): the server's own view, ``/leafz?subs=1``."""

    def ready() -> bool:
        leafs = get_json(f"{monitor}/leafz?subs=1").get("leafs", [])
        return any(subject in (leaf.get("subscriptions_list") or []) for leaf in leafs)

    return ready


def interest_at_client(monitor: str, subject: str) -> Callable[[], bool]:
    """The publisher's server has a client subscribed to ``subject`` (``/connz?subs=1``)."""

    def ready() -> bool:
        conns = get_json(f"{monitor}/connz?subs=1").get("connections", [])
        return any(subject in (c.get("subscriptions_list") or []) for c in conns)

    return ready


class NatsBenchError(RuntimeError):
    """A ``nats bench`` run failed or did not finish; the message carries its last lines."""


def _sub_rate(csv_path: Path) -> float:
    """Messages per second the subscriber received, from ``--csv`` (first to last message)."""
    with csv_path.open() as f:
        rows = [row for row in csv.reader(f) if row and not row[0].startswith("#")]
    if not rows:
        raise NatsBenchError(f"{csv_path.name}: no result row")
    return sum(float(row[4]) for row in rows)


async def pub_sub(
    workdir: Path,
    name: str,
    publisher: Endpoint,
    subscriber: Endpoint,
    subject: str,
    messages: int,
    size: int,
    interest: Callable[[], bool],
    timeout: float = 120.0,
) -> float:
    """One ``nats bench sub`` and one ``nats bench pub`` of ``messages`` messages of
    ``size`` bytes; the subscriber's received msg/s. The publisher starts only once
    ``interest()`` says its server knows the subscription, so no message goes nowhere."""
    binary = nats_cli()
    logs = workdir / name
    logs.mkdir(parents=True, exist_ok=True)
    sub_csv = logs / "sub.csv"
    common = ["--msgs", str(messages), "--size", str(size), "--no-progress"]
    with Supervisor(logs) as supervisor:
        supervisor.start("sub", [binary, *subscriber.args(), "bench", "sub", subject, *common, "--csv", str(sub_csv)])
        deadline = time.monotonic() + 20
        while not interest():
            if supervisor.exited() or time.monotonic() > deadline:
                raise NatsBenchError(f"{name}: the subscriber's interest never arrived: {supervisor.log_tail('sub')}")
            await asyncio.sleep(0.02)
        supervisor.start("pub", [binary, *publisher.args(), "bench", "pub", subject, *common])
        deadline = time.monotonic() + timeout
        while set(supervisor.exited()) != {"sub", "pub"}:
            failed = {n: rc for n, rc in supervisor.exited().items() if rc != 0}
            if failed or time.monotonic() > deadline:
                which = ", ".join(failed) or "sub (not every message arrived)"
                raise NatsBenchError(f"{name}: {which} failed: {supervisor.log_tail(next(iter(failed), 'sub'))}")
            await asyncio.sleep(0.05)
    return _sub_rate(sub_csv)
