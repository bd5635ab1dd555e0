"""A flood from one site, measured: what the other sites still get from the hubs while one
site's local port publishes as fast as a Go client can on a subject the hubs listen to.

nats-server bounds a site's subscriptions and message size (its leaf user's ``subs`` and
``payload``) but no rate: a site may send what its allow-lists let up as fast as its link
carries it. So the flood is measured, not refused: the flooding site's publisher (natscli's
``nats bench pub`` on its anonymous port, heartbeats: what a cloud scheduler listens to),
and meanwhile each other site's requests to a service at the hubs, and its heartbeats as
the scheduler hears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from lattice.addressing import LOOPBACK, client_url
from sandbox.checks import connect_hub, connect_spoke, synced
from sandbox.monitor import get_json
from sandbox.natscli import nats_cli
from sandbox.processes import Supervisor
from sandbox.stats import percentile
from sandbox.topology import LocalLattice

FLOOD_SUBJECT = "runtime.operator.heartbeat.flood"
BEAT_PREFIX = "runtime.operator.heartbeat"
SERVICE = "svc.flood-echo"
REQUEST_TIMEOUT = 2.0


@dataclass
class SiteFigures:
    requests: int = 0
    answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    beats_sent: int = 0
    beats_heard: int = 0

    def as_dict(self) -> dict[str, object]:
        lat = self.latencies_ms
        return {
            "requests": self.requests,
            "answered": self.answered,
            "success": round(self.answered / self.requests, 4) if self.requests else None,
            "p50_ms": round(statistics.median(lat), 1) if lat else None,
            "p99_ms": round(percentile(lat, 0.99), 1) if lat else None,
            "beats_sent": self.beats_sent,
            "beats_heard": self.beats_heard,
        }


@dataclass
class FloodReport:
    flooder: str
    flood_messages: int = 0
    flood_seconds: float = 0.0
    flood_heard_at_hub: int = 0
    before: dict[str, SiteFigures] = field(default_factory=dict)
    during: dict[str, SiteFigures] = field(default_factory=dict)
    flooder_linked_after: bool = False

    def success(self, phase: str) -> float:
        figures = list((self.before if phase == "before" else self.during).values())
        sent = sum(f.requests for f in figures)
        return sum(f.answered for f in figures) / sent if sent else 0.0

    def lines(self) -> list[str]:
        rate = self.flood_messages / self.flood_seconds if self.flood_seconds else 0
        out = [
            f"flood from {self.flooder}: {self.flood_messages} heartbeats in {self.flood_seconds:.1f} s "
            f"({rate:,.0f}/s), {self.flood_heard_at_hub} reached the hub's listener",
            f"other sites' requests answered: {self.success('before'):.2%} before, {self.success('during'):.2%} during",
        ]
        for spoke, figures in self.during.items():
            d = figures.as_dict()
            latency = f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms"
            beats = f"heartbeats heard {d['beats_heard']}/{d['beats_sent']}"
            out.append(f"  {spoke}: {d['answered']}/{d['requests']} answered during ({latency}), {beats}")
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "flooder": self.flooder,
            "flood_messages": self.flood_messages,
            "flood_seconds": round(self.flood_seconds, 3),
            "flood_heard_at_hub": self.flood_heard_at_hub,
            "success_before": round(self.success("before"), 4),
            "success_during": round(self.success("during"), 4),
            "before": {s: f.as_dict() for s, f in self.before.items()},
            "during": {s: f.as_dict() for s, f in self.during.items()},
        }


async def _site_load(nc: Client, spoke: str, figures: SiteFigures, done: asyncio.Event) -> None:
    """Requests to the hubs' service and a heartbeat, every 50 ms, until ``done``."""
    while not done.is_set():
        figures.requests += 1
        started = time.monotonic()
        with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
            await nc.request(SERVICE, b"ping", timeout=REQUEST_TIMEOUT)
            figures.answered += 1
            figures.latencies_ms.append((time.monotonic() - started) * 1000)
        await nc.publish(f"{BEAT_PREFIX}.{spoke}", b"{}")
        figures.beats_sent += 1
        await asyncio.sleep(0.05)


async def measure_flood(
    lattice: LocalLattice, flooder: str, seconds: float = 10.0, size: int = 256, baseline: float = 3.0
) -> FloodReport:
    """A baseline of ``baseline`` seconds, then ``seconds`` of flood from ``flooder``'s local
    port, with every other spoke's load running through both."""
    plan, report = lattice.plan, FloodReport(flooder)
    others = [s.name for s in plan.spokes if s.name != flooder and not plan.dials_external_hub(s.name)]
    hub_name = plan.hubs[0].name
    service = await connect_hub(lattice, hub_name, "flood-service")
    scheduler = await connect_hub(lattice, hub_name, "flood-scheduler")
    heard: dict[str, int] = {}

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    async def beat(msg: Msg) -> None:
        sender = msg.subject.rsplit(".", 1)[1]
        heard[sender] = heard.get(sender, 0) + 1

    await service.subscribe(SERVICE, "echo", cb=echo)
    await scheduler.subscribe(f"{BEAT_PREFIX}.*", cb=beat, pending_msgs_limit=1_000_000)
    await synced(service)
    await synced(scheduler)
    clients = {s: await connect_spoke(lattice, s, f"flood-load-{s}") for s in others}
    try:
        for phase in ("before", "during"):
            figures = {s: SiteFigures() for s in others}
            (report.before if phase == "before" else report.during).update(figures)
            heard.clear()
            done = asyncio.Event()
            load = [asyncio.create_task(_site_load(clients[s], s, figures[s], done)) for s in others]
            if phase == "before":
                await asyncio.sleep(baseline)
            else:
                report.flood_seconds, report.flood_messages = await _flood(lattice, flooder, seconds, size)
            done.set()
            await asyncio.gather(*load)
            await asyncio.sleep(0.5)
            for s in others:
                figures[s].beats_heard = heard.get(s, 0)
            if phase == "during":
                report.flood_heard_at_hub = heard.get("flood", 0)
        report.flooder_linked_after = True
        return report
    finally:
        for nc in (*clients.values(), service, scheduler):
            with contextlib.suppress(Exception):
                await nc.close()


FLOOD_MESSAGES = 1_000_000_000
"""More than ``nats bench pub`` sends in any flood here: it is stopped after its seconds."""


async def _flood(lattice: LocalLattice, flooder: str, seconds: float, size: int) -> tuple[float, int]:
    """``nats bench pub`` on the flooder's anonymous local port for ``seconds``; how long it
    ran and how many messages its spoke took from it (the spoke's own ``/varz`` count)."""
    url = client_url(LOOPBACK, lattice.ports[flooder].client)
    argv = [nats_cli(), "--server", url, "--no-context", "bench", "pub", FLOOD_SUBJECT]
    argv += ["--msgs", str(FLOOD_MESSAGES), "--size", str(size), "--no-progress"]
    logs = lattice.workdir / "flood"
    logs.mkdir(exist_ok=True)
    monitor = f"{lattice.monitor_url(flooder)}/varz"
    before = int(get_json(monitor)["in_msgs"])
    started = time.monotonic()
    with Supervisor(logs) as supervisor:
        supervisor.start("flood", argv)
        while time.monotonic() - started < seconds:
            await asyncio.sleep(0.05)
            if "flood" in supervisor.exited():
                raise RuntimeError(f"the flood stopped by itself: {supervisor.log_tail('flood')}")
        supervisor.stop("flood")
    ran = time.monotonic() - started
    return ran, int(get_json(monitor)["in_msgs"]) - before
