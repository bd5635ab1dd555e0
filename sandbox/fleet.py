"""``python -m sandbox bench --fleet 25,50,100,200``: a fleet of spokes on one hub.

A retail or factory lattice has hundreds of sites, all of which re-dial the same hub nodes
when one of them restarts. For each fleet size N this brings up a 3-node hub and N spokes
(real nats-servers with the renderer's configs, each spoke behind its own emulated WAN
links, memory-capped with ``GOMEMLIMIT``, no wasmCloud hosts) and measures:

- ``converge_ms``: the hub running, start every spoke -> every spoke attached and healthy;
- ``hub_rss_kib_per_leaf``: the hub nodes' resident memory with the fleet attached, less
  what they held before it, per leaf connection;
- ``idle_bytes_per_s_per_spoke``, ``idle_segments_per_s_per_spoke``: what the WAN links
  carry with no traffic (leaf pings and pongs, inside TLS: no TCP/IP headers), per spoke;
- the storm: the hub node most spokes are attached to is killed (SIGKILL); for each spoke
  that was on it, the time until a surviving node has it again (``storm_reattach_ms``
  p50/p99/max), how many never came back within the deadline (``left_out``), and the
  surviving nodes' CPU per re-attachment (TLS handshake, JWT check, interest exchange, and
  whatever else the node's loss costs them: route redials, JetStream's new leaders), less
  the CPU the same polling costs them afterwards;
- once per run, ``tls_burst``: K TLS handshakes opened at once against one hub node's leaf
  port: the node's CPU per handshake and how many it completed per second.

Attachment is read from the servers' own view (each hub node's ``/leafz``), polled every
``POLL`` seconds, which bounds the resolution of every re-attachment time.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lattice.stack import parse_lattice
from sandbox import binaries
from sandbox.monitor import get_json, healthy, route_peers
from sandbox.processes import cpu_seconds
from sandbox.stats import percentile
from sandbox.topology import LocalLattice, SandboxError

HUB = "hub"
HUB_NODES = 3
SPOKE_MEMORY_LIMIT = "48MiB"
"""GOMEMLIMIT of each spoke: an idle spoke holds about 15 MiB; the cap keeps 200 of them
(and a reconnect storm's garbage) well inside a 2-core, 24 GiB machine."""
HUB_MEMORY_LIMIT = "1GiB"
POLL = 0.02
STORM_DEADLINE = 60.0
"""A displaced spoke not back within this many seconds counts as left out."""
IDLE_WINDOW = 9.5
"""Seconds the idle links are watched: just over three spoke ping intervals (3 s)."""
TLS_BURST = 200
FILE_DESCRIPTORS_PER_SPOKE = 12
"""Descriptors this process needs per spoke: 3 WAN listeners, an active link (2 sockets),
redials during the storm, monitor polls; checked against RLIMIT_NOFILE before starting."""


def fleet_spec_document(spokes: int) -> dict[str, Any]:
    return {
        "name": "fleet",
        "hubs": [{"name": HUB, "platform": "kubernetes", "nodes": HUB_NODES}],
        "spokes": [
            {"name": f"site-{i:04d}", "upstream": HUB, "platform": "kubernetes", "wasmcloudHost": False}
            for i in range(spokes)
        ],
    }


class FleetLattice(LocalLattice):
    """The sandbox topology, each server started with a Go memory limit."""

    def start_server(self, name: str) -> None:
        limit = HUB_MEMORY_LIMIT if self.plan.server(name).role == "hub" else SPOKE_MEMORY_LIMIT
        argv = [binaries.nats_server(), "-c", self.files[name].config_file]
        self.supervisor.start(name, argv, env={"GOMEMLIMIT": limit})


def raise_fd_limit(spokes: int) -> None:
    """Lift this process's soft descriptor limit to its hard one; say so if that is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 256 + FILE_DESCRIPTORS_PER_SPOKE * spokes
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < need:
        raise SandboxError(f"a fleet of {spokes} needs about {need} file descriptors; the limit is {soft} (ulimit -n)")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SandboxError(f"no VmRSS for pid {pid}")


@dataclass
class Fleet:
    lattice: LocalLattice
    pool: ThreadPoolExecutor

    @property
    def hub_nodes(self) -> tuple[str, ...]:
        return self.lattice.plan.group_servers(HUB)

    @property
    def spokes(self) -> list[str]:
        return [s.name for s in self.lattice.plan.spokes]

    def attached(self, nodes: tuple[str, ...]) -> dict[str, str]:
        """Spoke -> the hub node whose ``/leafz`` lists it (one request per node)."""

        def leafs(node: str) -> list[str]:
            with contextlib.suppress(OSError, ValueError):
                data = get_json(self.lattice.monitor_url(node) + "/leafz", timeout=5)
                return [leaf.get("name", "") for leaf in data.get("leafs", [])]
            return []

        where: dict[str, str] = {}
        for node, names in zip(nodes, self.pool.map(leafs, nodes), strict=True):
            for name in names:
                where.setdefault(name, node)
        return where

    def hub_ready(self) -> bool:
        for node in self.hub_nodes:
            peers = set(self.lattice.plan.server(node).peers)
            if not peers <= route_peers(self.lattice.monitor_url(node)):
                return False
        return all(self.pool.map(lambda n: healthy(self.lattice.monitor_url(n)), self.hub_nodes))

    def wait(self, what: str, ready: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.lattice.supervisor.exited():
                dead = self.lattice.supervisor.exited()
                name = next(iter(dead))
                raise SandboxError(f"{name} exited {dead[name]}: {self.lattice.supervisor.log_tail(name, 3)}")
            if time.monotonic() > deadline:
                raise SandboxError(f"fleet of {len(self.spokes)}: {what} not within {timeout:.0f} s")
            time.sleep(interval)

    def converge(self, timeout: float) -> float:
        """Start every spoke (the hub is up); ms until all are attached and healthy."""
        started = time.monotonic()
        for spoke in self.spokes:
            self.lattice.start_server(spoke)
        everyone = set(self.spokes)
        self.wait("every spoke attached", lambda: set(self.attached(self.hub_nodes)) >= everyone, timeout)

        def all_healthy() -> bool:
            return all(self.pool.map(lambda s: healthy(self.lattice.monitor_url(s)), self.spokes))

        self.wait("every spoke healthy", all_healthy, timeout)
        return (time.monotonic() - started) * 1000

    def hub_rss(self) -> int:
        return sum(rss_kib(self.lattice.supervisor.pid(n)) for n in self.hub_nodes)

    def idle_traffic(self) -> dict[str, float]:
        """Bytes (inside TLS) and chunks (about one TCP segment each) all WAN links carry
        per second per spoke with no application traffic: the leaf pings and pongs."""
        wan = self.lattice.wan
        assert wan is not None
        nbytes, reads, started = wan.bytes_carried(), wan.reads_carried(), time.monotonic()
        time.sleep(IDLE_WINDOW)
        per = (time.monotonic() - started) * len(self.spokes)
        return {
            "idle_bytes_per_s_per_spoke": (wan.bytes_carried() - nbytes) / per,
            "idle_segments_per_s_per_spoke": (wan.reads_carried() - reads) / per,
        }

    def poll_cpu(self, nodes: tuple[str, ...], seconds: float) -> float:
        """CPU seconds ``nodes`` spend while polled as the storm polls them, nothing else."""
        before = {n: cpu_seconds(self.lattice.supervisor.pid(n)) for n in nodes}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.attached(nodes)
            time.sleep(POLL)
        return sum(cpu_seconds(self.lattice.supervisor.pid(n)) - before[n] for n in nodes)

    def storm(self) -> dict[str, Any]:
        """Kill the busiest hub node; per displaced spoke, ms until a survivor has it."""
        where = self.attached(self.hub_nodes)
        counts = {node: sum(1 for n in where.values() if n == node) for node in self.hub_nodes}
        victim = max(self.hub_nodes, key=lambda n: counts[n])
        displaced = {s for s, n in where.items() if n == victim}
        survivors = tuple(n for n in self.hub_nodes if n != victim)
        cpu_before = {n: cpu_seconds(self.lattice.supervisor.pid(n)) for n in survivors}
        self.lattice.supervisor.kill(victim)
        killed = time.monotonic()
        back: dict[str, float] = {}
        while len(back) < len(displaced) and time.monotonic() - killed < STORM_DEADLINE:
            now_attached = self.attached(survivors)
            seen = time.monotonic()
            for spoke in displaced - set(back):
                if spoke in now_attached:
                    back[spoke] = (seen - killed) * 1000
            time.sleep(POLL)
        storm_seconds = time.monotonic() - killed
        cpu = sum(cpu_seconds(self.lattice.supervisor.pid(n)) - cpu_before[n] for n in survivors)
        cpu -= self.poll_cpu(survivors, storm_seconds)  # the same polling, after the storm
        times = list(back.values()) or [float("nan")]
        return {
            "killed": victim,
            "displaced": len(displaced),
            "storm_reattach_ms": {
                "p50": statistics.median(times),
                "p99": percentile(times, 0.99),
                "max": max(times),
            },
            "left_out": len(displaced) - len(back),
            "hub_cpu_ms_per_reattach": max(0.0, cpu) * 1000 / max(1, len(back)),
        }


async def _tls_burst(host: str, port: int, context: ssl.SSLContext, count: int) -> tuple[float, int]:
    """Open ``count`` connections to a leaf port at once and complete each TLS handshake
    (the server sends its INFO in the clear first); seconds for all, and how many failed."""
    loop = asyncio.get_running_loop()

    async def one() -> bool:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(host, port)
            await asyncio.wait_for(reader.readline(), 10)  # INFO
            transport = writer.transport
            protocol = transport.get_protocol()
            await asyncio.wait_for(loop.start_tls(transport, protocol, context, server_hostname=host), 30)
            return True
        except (OSError, ssl.SSLError, TimeoutError):
            return False
        finally:
            if writer is not None:
                writer.transport.abort()

    started = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started, results.count(False)


def tls_burst(lattice: LocalLattice, node: str, count: int = TLS_BURST) -> dict[str, float]:
    """A hub node's CPU per TLS handshake on its leaf port, and handshakes completed per
    second with ``count`` arriving at once (the client's side shares the same 2 cores)."""
    context = ssl.create_default_context(cadata=lattice.ca.cert_pem)
    context.check_hostname = False  # the certificate names the node's DNS names, not 127.0.0.1
    pid = lattice.supervisor.pid(node)
    before = cpu_seconds(pid)
    seconds, failed = asyncio.run(_tls_burst("127.0.0.1", lattice.ports[node].leaf, context, count))
    cpu = cpu_seconds(pid) - before
    done = count - failed
    return {
        "handshakes": count,
        "failed": failed,
        "seconds": seconds,
        "handshakes_per_s": done / seconds,
        "hub_cpu_ms_per_handshake": cpu * 1000 / max(1, done),
    }


def measure_fleet(spokes: int, wan_delay: float, progress: Callable[[str], None]) -> dict[str, Any]:
    """One fleet size, brought up, measured and torn down (every process stopped by PID)."""
    raise_fd_limit(spokes)
    spec = parse_lattice(fleet_spec_document(spokes), f"fleet of {spokes}")
    timeout = 60 + spokes * 0.6
    with FleetLattice(spec, wan_delay=wan_delay) as lattice, ThreadPoolExecutor(8) as pool:
        fleet = Fleet(lattice, pool)
        lattice.write_files()
        for node in fleet.hub_nodes:
            lattice.start_server(node)
        fleet.wait("hub routes and JetStream", fleet.hub_ready, 60)
        time.sleep(1)  # let the hub settle before its memory is read
        rss_before = fleet.hub_rss()
        converge_ms = fleet.converge(timeout)
        progress(f"fleet of {spokes}: converged in {converge_ms:.0f} ms")
        time.sleep(1)
        rss_after = fleet.hub_rss()
        figures: dict[str, Any] = {
            "spokes": spokes,
            "converge_ms": converge_ms,
            "hub_rss_kib_per_leaf": (rss_after - rss_before) / spokes,
            "hub_rss_kib": rss_after,
            **fleet.idle_traffic(),
        }
        figures.update(fleet.storm())
        storm = figures["storm_reattach_ms"]
        progress(
            f"fleet of {spokes}: killed {figures['killed']} with {figures['displaced']} spokes; re-attached "
            f"p50 {storm['p50']:.0f} / p99 {storm['p99']:.0f} / max {storm['max']:.0f} ms, "
            f"left out {figures['left_out']}"
        )
        return figures


def measure_tls_burst(progress: Callable[[str], None]) -> dict[str, float]:
    """The TLS burst against a hub node with no fleet attached (only the hub runs)."""
    spec = parse_lattice(fleet_spec_document(0), "hub for the TLS burst")
    with FleetLattice(spec) as lattice, ThreadPoolExecutor(4) as pool:
        fleet = Fleet(lattice, pool)
        lattice.write_files()
        for node in fleet.hub_nodes:
            lattice.start_server(node)
        fleet.wait("hub routes and JetStream", fleet.hub_ready, 60)
        burst = tls_burst(lattice, fleet.hub_nodes[0])
    progress(
        f"TLS burst: {burst['handshakes']:.0f} handshakes at once on one hub node's leaf port in "
        f"{burst['seconds'] * 1000:.0f} ms ({burst['handshakes_per_s']:.0f}/s), "
        f"{burst['hub_cpu_ms_per_handshake']:.2f} ms of hub CPU each"
    )
    return burst


def run_fleet(sizes: list[int], wan_delay: float, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every size in turn (one at a time: each is torn down before the next), then the burst."""
    document: dict[str, Any] = {}
    for size in sizes:
        started = time.monotonic()
        document[str(size)] = measure_fleet(size, wan_delay, progress)
        progress(f"fleet of {size}: {time.monotonic() - started:.1f} s")
    document["tls_burst"] = measure_tls_burst(progress)
    return document


def sizes_of(figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [figures[key] for key in sorted((k for k in figures if k.isdigit()), key=int)]


def missed_targets(figures: dict[str, Any]) -> list[str]:
    """No spoke may be left out of a storm."""
    return [
        f"fleet {row['spokes']}: left_out = {row['left_out']} of {row['displaced']} (target 0)"
        for row in sizes_of(figures)
        if row["left_out"]
    ]


def table(figures: dict[str, Any]) -> str:
    lines = [
        f"{'spokes':>6} {'converge ms':>11} {'hub KiB/leaf':>12} {'idle B/s/spoke':>14} {'displaced':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'left out':>8} {'hub CPU ms/reattach':>19}"
    ]
    for row in sizes_of(figures):
        storm = row["storm_reattach_ms"]
        lines.append(
            f"{row['spokes']:>6} {row['converge_ms']:>11.0f} {row['hub_rss_kib_per_leaf']:>12.0f} "
            f"{row['idle_bytes_per_s_per_spoke']:>14.1f} {row['displaced']:>9} {storm['p50']:>7.0f} "
            f"{storm['p99']:>7.0f} {storm['max']:>7.0f} {row['left_out']:>8} {row['hub_cpu_ms_per_reattach']:>19.2f}"
        )
    burst = figures.get("tls_burst")
    if burst:
        lines.append(
            f"TLS burst on one hub node's leaf port: {burst['handshakes']:.0f} at once, "
            f"{burst['handshakes_per_s']:.0f}/s completed, {burst['hub_cpu_ms_per_handshake']:.2f} ms hub CPU each, "
            f"{burst['failed']:.0f} failed"
        )
    return "\n".join(lines)
