"""The hub-stream agent in the sandbox: the very program the platforms ship
(``lattice/jetstream_sync.py``), one process per hub region (as one Deployment per
Kubernetes region; every AWS hub node runs it after ``nats-sync``), from the settings
:mod:`lattice.jetstream` renders for that region's client URLs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Protocol

from lattice.credentials import LatticeAuth
from lattice.jetstream import AGENT_CONFIG_FILE, AGENT_JWT_FILE, agent_config
from lattice.jetstream_sync import SYNCED
from lattice.plan import LatticePlan
from sandbox.processes import Supervisor
from sandbox.tls import PrivateCA


class LocalLattice(Protocol):
    """What the agents need of a running lattice (``sandbox.topology.LocalLattice``)."""

    plan: LatticePlan
    auth: LatticeAuth
    ca: PrivateCA
    workdir: Path
    supervisor: Supervisor

    def hub_client_urls(self, hub: str) -> list[str]: ...


PROGRAM = Path(__file__).resolve().parents[1] / "lattice" / "jetstream_sync.py"
INTERVAL_SECONDS = 2.0
"""How often each agent runs here (the platforms: 30 s on Kubernetes, nats-sync's 60 s on
AWS): a site that comes back gets its streams within a few seconds."""
STATUS_FILE = "status.json"


def agent_name(hub: str) -> str:
    return f"jetstream-sync-{hub}"


def agent_dir(lattice: LocalLattice, hub: str) -> Path:
    return lattice.workdir / "jetstream-sync" / hub


def agent_hubs(lattice: LocalLattice) -> list[str]:
    """The regions that run an agent: every hub of ours, once the stack declares hub streams."""
    return [h.name for h in lattice.plan.hubs] if lattice.plan.hub_streams else []


def write_agent_files(lattice: LocalLattice) -> None:
    """Each region's settings, its bearer JWT (0600) and the CA, for this generation."""
    for hub in agent_hubs(lattice):
        directory = agent_dir(lattice, hub)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / "ca.pem").write_text(lattice.ca.cert_pem)
        fd = os.open(directory / AGENT_JWT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(lattice.auth.agent_jwt + "\n")
        settings = agent_config(lattice.plan, lattice.hub_client_urls(hub), "ca.pem")
        tmp = directory / f"{AGENT_CONFIG_FILE}.tmp"
        tmp.write_text(settings)
        tmp.replace(directory / AGENT_CONFIG_FILE)


def start_agents(lattice: LocalLattice) -> list[str]:
    """Start every region's agent that is not running (and stop those of regions the stack
    no longer has); the names started. Running agents read the new settings on their next
    run. Like every supervised child, an agent dies with the thread that started it
    (``PR_SET_PDEATHSIG``): start it from one that outlives it, not a short-lived worker."""
    write_agent_files(lattice)
    wanted = {agent_name(h) for h in agent_hubs(lattice)}
    for name in [n for n in lattice.supervisor.procs if n.startswith(agent_name("")) and n not in wanted]:
        lattice.supervisor.retire(name)
    started = []
    for hub in agent_hubs(lattice):
        name = agent_name(hub)
        if name in lattice.supervisor.procs and lattice.supervisor.procs[name].poll() is None:
            continue
        directory = agent_dir(lattice, hub)
        (directory / STATUS_FILE).unlink(missing_ok=True)
        argv = [sys.executable, str(PROGRAM), "--config", str(directory / AGENT_CONFIG_FILE)]
        argv += ["--interval", str(INTERVAL_SECONDS), "--status", str(directory / STATUS_FILE)]
        lattice.supervisor.start(name, argv)
        started.append(name)
    return started


def statuses(lattice: LocalLattice) -> dict[str, dict[str, object]]:
    """Each agent's last run (hub -> its status document), where it has written one."""
    out = {}
    for hub in agent_hubs(lattice):
        try:
            out[hub] = json.loads((agent_dir(lattice, hub) / STATUS_FILE).read_text())
        except (OSError, ValueError):
            continue
    return out


def wait_synced(lattice: LocalLattice, timeout: float = 60.0, since: float = 0.0) -> dict[str, object]:
    """Until some agent's run that began after ``since`` (``time.time()``) found every asset
    as declared; that run's states. Raises TimeoutError with the last states otherwise."""
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        for status in statuses(lattice).values():
            assets = status.get("assets")
            if isinstance(assets, dict):
                last = assets
            ran = status.get("started")
            if status.get("in_sync") and isinstance(ran, (int, float)) and ran > since:
                return dict(assets) if isinstance(assets, dict) else {}
        time.sleep(0.2)
    problems = {k: v for k, v in last.items() if v not in SYNCED}
    raise TimeoutError(f"hub streams not in sync after {timeout:.0f} s: {problems or last}")
