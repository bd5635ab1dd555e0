"""Roll a running sandbox to a new stack: the local platform's day 2.

The same classifier as the cloud nodes (:mod:`lattice.reload`) decides, per server, what
moving it from the running rendering to the new one takes. The order makes before it
breaks: new servers start, restart-class servers restart one at a time (a hub node in lame
duck first, the next only once it is back with its routes and JetStream healthy), the rest
reload (files rewritten, then SIGHUP), retired servers stop last, and the whole lattice
must converge before the roll counts as done.

A hub node stops as it does on every platform (``LAME_DUCK_HANDOFF_SECONDS``): lame duck for
the JetStream handoff, then quit, so its connections drop at one instant; a restarted server
counts as back once healthy with its routes and every gateway of every hub up again, and the
next restart waits ``ROLL_SETTLE_SECONDS`` more (a client's retry must not meet two
disruptions).

A restart goes before the reloads: a spoke given a new key (a restart: nats-server reads
``.creds`` only when its link connects) must reconnect with it before the hubs' reload
revokes the old one.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lattice.natsconf import RenderedServer
from lattice.natsconf.blocks import LAME_DUCK_HANDOFF_SECONDS, ROLL_SETTLE_SECONDS
from lattice.plan import LatticePlan
from lattice.reload import CONFIG_FILE, Action, classify
from lattice.spec import LatticeSpec
from sandbox import monitor
from sandbox.topology import LocalLattice, SandboxError

Progress = Callable[[str], None]

RELOADED, REFUSED = "Reloaded server configuration", "Failed to reload server configuration"
RESTART_TIMEOUT = 90.0
"""A hub node's handoff and exit, then its start and health (generous: a busy machine)."""


def server_files(rendered: RenderedServer) -> dict[str, str]:
    """What the classifier compares: the config under its own name and every file beside it."""
    return {CONFIG_FILE: rendered.config, **rendered.secret_files}


@dataclass(frozen=True)
class Step:
    server: str
    action: str
    """``start``, ``restart``, ``reload`` or ``stop``."""
    reasons: tuple[str, ...] = ()


def plan_roll(
    old_plan: LatticePlan,
    old: Mapping[str, RenderedServer],
    new_plan: LatticePlan,
    new: Mapping[str, RenderedServer],
    releases: Mapping[str, tuple[str, str]] | None = None,
) -> list[Step]:
    """The steps from one generation to the next, in the order they run (see the module).
    ``releases``: server -> (running, wanted) nats-server release; a new binary is a restart."""
    releases = releases or {}
    old_names = [s.name for s in old_plan.servers]
    new_names = [s.name for s in new_plan.servers]
    starts = [Step(n, "start") for n in new_names if n not in old_names]
    restarts, reloads = [], []
    for name in (n for n in new_names if n in old_names):
        change = classify(server_files(old[name]), server_files(new[name]))
        running, wanted = releases.get(name, ("", ""))
        if running != wanted:
            upgrade = f"nats-server {running} -> {wanted}: a new binary needs a restart"
            restarts.append(Step(name, "restart", (upgrade, *change.reasons)))
        elif change.action is Action.RESTART:
            restarts.append(Step(name, "restart", change.reasons))
        elif change.action is Action.RELOAD:
            reloads.append(Step(name, "reload", change.reasons))
    stops = [Step(n, "stop") for n in old_names if n not in new_names]
    return [*starts, *restarts, *reloads, *stops]


@dataclass
class RollReport:
    generation: int
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    converged: bool = False
    missing: tuple[str, ...] = ()

    def of(self, action: str) -> list[str]:
        return [s.server for s in self.steps if s.action == action]


def _wait(condition: Callable[[], bool], timeout: float, what: str, give_up: Callable[[], str | None]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        dead = give_up()
        if dead:
            raise SandboxError(f"{what}: {dead}")
        if time.monotonic() > deadline:
            raise SandboxError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _back(lattice: LocalLattice, name: str) -> bool:
    """A restarted server is back: healthy (JetStream included) with a route to every peer,
    and every hub node has its outbound gateway to every other region again (one that
    pointed at the restarted node redials only after 1 s: gateway.go)."""
    server = lattice.plan.server(name)
    mon = lattice.monitor_url(name)
    if server.peers and set(server.peers) - monitor.route_peers(mon):
        return False
    if not all(monitor.healthy(lattice.monitor_url(p)) for p in (name, *server.peers)):
        return False
    hubs = [s for s in lattice.plan.servers if s.role == "hub" and s.gateways]
    return all(set(s.gateways) <= monitor.gateway_peers(lattice.monitor_url(s.name)) for s in hubs)


class Roller:
    """Applies :func:`plan_roll`'s steps to a running :class:`LocalLattice`."""

    def __init__(self, lattice: LocalLattice, progress: Progress = lambda _: None):
        self.lattice = lattice
        self.progress = progress
        self._settled_at = 0.0
        """When the last restart's server was back plus ``ROLL_SETTLE_SECONDS``."""

    def _dead(self, name: str) -> Callable[[], str | None]:
        def check() -> str | None:
            rc = self.lattice.supervisor.exited().get(name)
            return None if rc is None else f"{name} exited {rc}: {self.lattice.supervisor.log_tail(name, 2)}"

        return check

    def roll(self, spec: LatticeSpec, converge_timeout: float = 60.0) -> RollReport:
        lattice = self.lattice
        started = time.monotonic()
        old_plan, old_rendered = lattice.adopt(spec)
        releases = {n: (r, lattice.release(n)) for n, r in lattice.running_release.items() if n in lattice.rendered}
        steps = plan_roll(old_plan, old_rendered, lattice.plan, lattice.rendered, releases)
        report = RollReport(lattice.generation, steps)
        self.progress(
            f"generation {lattice.generation}: {len(report.of('start'))} to start, "
            f"{len(report.of('restart'))} to restart, {len(report.of('reload'))} to reload, "
            f"{len(report.of('stop'))} to stop"
        )
        lattice.write_service_files()
        for step in steps:
            self.progress(f"{step.action} {step.server}{_why(step.reasons)}")
            getattr(self, f"_{step.action}")(step.server)
        conv = lattice.wait_converged(timeout=converge_timeout)
        lattice.start_agents(self.progress)  # the new settings; a new region's agent
        report.seconds = time.monotonic() - started
        report.converged, report.missing = conv.ok, conv.missing
        state = "converged" if conv.ok else f"NOT converged (missing: {', '.join(conv.missing)})"
        self.progress(f"generation {lattice.generation} {state} in {report.seconds:.1f} s")
        return report

    def _start(self, name: str) -> None:
        self.lattice.write_server(name)
        self.lattice.start_server(name)
        _wait(lambda: monitor.healthy(self.lattice.monitor_url(name)), 30, f"start {name}", self._dead(name))

    def _reload(self, name: str) -> None:
        """Rewrite the files, SIGHUP, and wait for the server's own verdict in its log."""
        log = self.lattice.supervisor.log_path(name)
        done, refused = _count(log, RELOADED), _count(log, REFUSED)
        self.lattice.write_server(name)
        self.lattice.supervisor.signal(name, signal.SIGHUP)
        _wait(
            lambda: _count(log, RELOADED) > done or _count(log, REFUSED) > refused,
            10,
            f"reload {name}",
            self._dead(name),
        )
        if _count(log, REFUSED) > refused:
            raise SandboxError(f"reload {name} refused: {self.lattice.supervisor.log_tail(name, 2)}")

    def _restart(self, name: str) -> None:
        lattice, server = self.lattice, self.lattice.plan.server(name)
        time.sleep(max(0.0, self._settled_at - time.monotonic()))
        proc = lattice.supervisor.procs[name]
        if server.role == "hub" and server.peers:
            # lame duck: no new connections, JetStream leaders move to the peers; then quit
            # (SIGINT) so clients, leaf links and gateways drop at once (blocks.py says why)
            lattice.supervisor.signal(name, signal.SIGUSR2)
            handoff = time.monotonic() + LAME_DUCK_HANDOFF_SECONDS
            while proc.poll() is None and time.monotonic() < handoff:
                time.sleep(0.1)
            if proc.poll() is None:
                lattice.supervisor.signal(name, signal.SIGINT)
            _wait(lambda: proc.poll() is not None, RESTART_TIMEOUT, f"lame duck {name}", lambda: None)
        else:
            lattice.supervisor.stop(name)
        lattice.write_server(name)
        lattice.start_server(name)
        _wait(lambda: _back(lattice, name), RESTART_TIMEOUT, f"restart {name}", self._dead(name))
        self._settled_at = time.monotonic() + ROLL_SETTLE_SECONDS

    def _stop(self, name: str) -> None:
        self.lattice.supervisor.retire(f"host-{name}")
        self.lattice.supervisor.retire(name)


def _why(reasons: tuple[str, ...]) -> str:
    if not reasons:
        return ""
    more = f"; {len(reasons) - 1} more" if len(reasons) > 1 else ""
    return f": {reasons[0]}{more}"


def _count(path: Path, text: str) -> int:
    try:
        return path.read_text(errors="replace").count(text)
    except OSError:
        return 0
