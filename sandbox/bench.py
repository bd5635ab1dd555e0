"""``python -m sandbox bench``: the seed's performance promises, measured side by side.

One run brings up a topology whose spokes dial their upstream through emulated WAN links
(:mod:`sandbox.wan`, 20 ms one way by default) and measures, against a standalone
nats-server as the local limit: same-spoke request/reply, local-first queue groups,
failover to the hub, local traffic during a partition, re-attachment after a killed hub
node and after a healed link, spoke -> spoke via the hubs, and leaf throughput (with nats-py
and with natscli's Go ``nats bench``, :mod:`sandbox.gobench`). Figures are reported as
ratios where absolute times drift with the machine. ``--fleet`` adds :mod:`sandbox.fleet`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from lattice.addressing import LOOPBACK, client_url
from lattice.spec import LatticeSpec
from lattice.stack import load_stack_file, parse_lattice
from sandbox import binaries
from sandbox.checks import (
    HeartbeatWatch,
    connect_hub,
    connect_spoke,
    quiet_errors,
    request_with_retry,
    root_hub,
    synced,
)
from sandbox.gobench import go_throughput, wan_proxy_ceiling
from sandbox.monitor import leaf_attachment
from sandbox.ports import free_ports
from sandbox.processes import Supervisor
from sandbox.stats import percentile
from sandbox.topology import LocalLattice, SandboxError
from sandbox.workloads import CLOUD_HOST, SUBJECT_PREFIX, EdgeWorkloads, edge_subject, wait_for_hosts

T = TypeVar("T")
ROUNDS = 4
"""Baseline and topology measurements alternate in this many rounds, so drift hits both."""
REPEATS = 3
"""Failover and re-attachment are each measured this many times (median and max reported)."""

BENCH_TOPOLOGY: dict[str, Any] = {
    "name": "bench",
    "hubs": [
        {"name": "hub-a", "platform": "kubernetes", "nodes": 3},
        {"name": "hub-b", "platform": "kubernetes", "nodes": 3},
    ],
    "spokes": [
        {"name": "site-a", "upstream": "hub-a", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "site-b", "upstream": "hub-b", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "device-a", "upstream": "site-a", "platform": "kubernetes", "wasmcloudHost": False},
    ],
}

TARGETS = {
    "wasm_local_first_share": (">=", 1.0),
    "wasm_failover_failed_requests": ("<=", 0),
    "wasm_partition_success": (">=", 1.0),
    "wasm_restart_in_partition": (">=", 1),
    "local_rr_ratio": ("<=", 1.3),
    "local_first_share": (">=", 1.0),
    "failover_failed_requests": ("<=", 0),
    "partition_local_success": (">=", 1.0),
    "reattach_kill_ms": ("<=", 500),
    "silent_failover_ms": ("<=", 10000),
    "leaf_throughput_ratio": (">=", 0.7),
    "leaf_throughput_ratio_go": (">=", 0.8),
}


@dataclass(frozen=True)
class BenchSettings:
    wan_delay_ms: float = 20.0
    rr_iterations: int = 2000
    cross_iterations: int = 100
    queue_requests: int = 500
    partition_requests: int = 500
    throughput_messages: int = 100_000
    go_messages: int = 1_000_000
    """Per ``nats bench`` run; the WAN proxy's ceiling is taken over five times as many."""
    payload_bytes: int = 128
    wasm_rr_iterations: int = 1000

    def scaled(self, factor: float) -> BenchSettings:
        return BenchSettings(
            wan_delay_ms=self.wan_delay_ms,
            rr_iterations=max(20, int(self.rr_iterations * factor)),
            cross_iterations=max(5, int(self.cross_iterations * factor)),
            queue_requests=max(20, int(self.queue_requests * factor)),
            partition_requests=max(20, int(self.partition_requests * factor)),
            throughput_messages=max(1000, int(self.throughput_messages * factor)),
            go_messages=max(10_000, int(self.go_messages * factor)),
            payload_bytes=self.payload_bytes,
            wasm_rr_iterations=max(20, int(self.wasm_rr_iterations * factor)),
        )


async def _echo(nc: Client, subject: str, tag: bytes = b"") -> None:
    """Answer ``subject`` with the request's payload (or ``tag``); returns once the server
    has the subscription (:func:`sandbox.checks.synced`: ``flush()`` does not prove it)."""

    async def answer(msg: Msg) -> None:
        await msg.respond(tag or msg.data)

    await nc.subscribe(subject, cb=answer)
    await synced(nc)


async def round_trips(requester: Client, subject: str, iterations: int, payload: bytes) -> list[float]:
    """Sequential request/reply latencies in microseconds (after a short warm-up)."""
    for _ in range(min(50, iterations)):
        await requester.request(subject, payload, timeout=5)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        await requester.request(subject, payload, timeout=5)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


async def throughput(publisher: Client, subscriber: Client, subject: str, count: int, payload: bytes) -> float:
    """Messages per second from the first publish to the last message received."""
    received = 0
    done = asyncio.Event()

    async def count_one(msg: Msg) -> None:
        nonlocal received
        received += 1
        if received >= count:
            done.set()

    sub = await subscriber.subscribe(subject, cb=count_one, pending_msgs_limit=count * 2, pending_bytes_limit=-1)
    await subscriber.flush()
    # interest must reach the publisher's server before the clock starts
    probe_subject = subject + ".probe"
    probe = await subscriber.subscribe(probe_subject)
    await subscriber.flush()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        await publisher.publish(probe_subject, b"?")
        await publisher.flush()
        try:
            await probe.next_msg(timeout=0.2)
            break
        except nats.errors.TimeoutError:
            continue
    start = time.perf_counter()
    for _ in range(count):
        await publisher.publish(subject, payload)
    await publisher.flush()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=60)
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    await probe.unsubscribe()
    return received / elapsed


async def alternating_rounds(
    first: Callable[[], Awaitable[T]], second: Callable[[], Awaitable[T]]
) -> tuple[list[T], list[T]]:
    """``ROUNDS`` rounds of both measurements, which one goes first alternating, so neither
    machine drift nor order favours one side."""
    firsts: list[T] = []
    seconds: list[T] = []
    for n in range(ROUNDS):
        order = (firsts, seconds) if n % 2 == 0 else (seconds, firsts)
        for results in order:
            results.append(await (first() if results is firsts else second()))
    return firsts, seconds


class Bench:
    """Scenarios over one running topology; each returns metrics into ``self.metrics``."""

    def __init__(self, lattice: LocalLattice, settings: BenchSettings, progress: Callable[[str], None]):
        self.lattice = lattice
        self.settings = settings
        self.progress = progress
        self.metrics: dict[str, float] = {}
        plan = lattice.plan
        tier1 = [s for s in plan.spokes if s.upstream_is_hub]
        if len(tier1) < 2:
            raise SandboxError("bench needs at least two spokes that dial a hub")
        self.site = tier1[0].name
        self.other = next((s.name for s in tier1[1:] if s.upstream != tier1[0].upstream), tier1[1].name)
        self.hub = root_hub(plan, self.site)
        self.payload = b"x" * settings.payload_bytes

    def monitors(self) -> dict[str, str]:
        return self.lattice.monitors()

    async def wait_attached(self, spoke: str, timeout: float, avoid: str | None = None) -> float:
        """Seconds until ``spoke`` is attached upstream (to a node other than ``avoid``)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            node = leaf_attachment(self.lattice.plan, self.monitors(), spoke)
            if node is not None and node != avoid:
                return time.monotonic() - start
            await asyncio.sleep(0.01)
        raise SandboxError(f"{spoke} did not re-attach within {timeout:.0f} s")

    async def local_latency(self, baseline: Baseline) -> None:
        s = self.settings
        per_round = max(1, s.rr_iterations // ROUNDS)
        responder = await connect_spoke(self.lattice, self.site, "bench-local-responder")
        requester = await connect_spoke(self.lattice, self.site, "bench-local-requester")
        try:
            await _echo(responder, "bench.local")
            base_rounds, local_rounds = await alternating_rounds(
                lambda: baseline.round_trips(per_round, self.payload),
                lambda: round_trips(requester, "bench.local", per_round, self.payload),
            )
        finally:
            await requester.close()
            await responder.close()
        base = [sample for samples in base_rounds for sample in samples]
        local = [sample for samples in local_rounds for sample in samples]
        self.metrics["baseline_rr_p50_us"] = statistics.median(base)
        self.metrics["baseline_rr_p99_us"] = percentile(base, 0.99)
        self.metrics["local_rr_p50_us"] = statistics.median(local)
        self.metrics["local_rr_p99_us"] = percentile(local, 0.99)
        self.metrics["local_rr_ratio"] = self.metrics["local_rr_p50_us"] / self.metrics["baseline_rr_p50_us"]

    async def wasm(self) -> None:
        """The edge-echo component on real wasmCloud hosts: at the measured spoke and in the
        cloud, scheduled from the hub, pulled through the spoke's mirror."""
        s = self.settings
        workloads = EdgeWorkloads(self.lattice)
        await asyncio.to_thread(workloads.start_artifacts)
        workloads.start_cloud_host()
        watch = HeartbeatWatch(self.lattice)
        await watch.start()
        try:
            self.lattice.start_hosts()
            host_ids = await wait_for_hosts(watch.seen, [*workloads.spokes, CLOUD_HOST])
            failed = [c for c in await workloads.deploy(host_ids) if not c.ok]
            if failed or self.site not in workloads.placements:
                raise SandboxError(f"edge-echo did not start: {failed}")
            requester = await connect_spoke(self.lattice, self.site, "bench-wasm-requester")
            try:
                samples = await round_trips(requester, edge_subject(self.site), s.wasm_rr_iterations, self.payload)
            finally:
                await requester.close()
            self.metrics["wasm_local_rr_p50_us"] = statistics.median(samples)
            self.metrics["wasm_local_rr_p99_us"] = percentile(samples, 0.99)
            served = await workloads.requests(self.site, s.queue_requests)
            self.metrics["wasm_local_first_share"] = served.local_share
            times, lost = [], 0
            for _ in range(REPEATS):
                _before, during, failover_ms, _after = await workloads.local_first_and_failover(self.site, 10)
                if during.cloud == 0:
                    raise SandboxError(f"no request reached the cloud host after the edge workload stopped: {during}")
                times.append(failover_ms)
                lost += during.failed
            self.metrics["wasm_failover_ms"] = statistics.median(times)
            self.metrics["wasm_failover_max_ms"] = max(times)
            self.metrics["wasm_failover_failed_requests"] = lost
            loud = await workloads.partition(self.site, silent=False, count=s.partition_requests)
            silent = await workloads.partition(self.site, silent=True, count=s.partition_requests)
            self.metrics["wasm_partition_success"] = min(loud.success, silent.success)
            self.progress(
                f"partition: loud {loud.served_locally}/{loud.sent}, silent {silent.served_locally}/{silent.sent}; "
                f"hub reached the host during the cuts: {loud.hub_reached_during or silent.hub_reached_during}"
            )
            direct = await workloads.restart_in_partition(self.site, via_mirror=False, silent=False)
            await workloads.restore(self.site)
            mirrored = await workloads.restart_in_partition(self.site, via_mirror=True, silent=True)
            await workloads.restore(self.site)
            self.progress(f"restart in partition, from the cloud registry: {direct.state} {direct.message}")
            self.progress(f"restart in partition, through the site's mirror: {mirrored.state} {mirrored.message}")
            self.metrics["wasm_restart_without_mirror"] = int(direct.came_back)
            self.metrics["wasm_restart_in_partition"] = int(mirrored.came_back)
            self.metrics["wasm_restart_serve_ms"] = mirrored.serve_ms if mirrored.serve_ms is not None else -1.0
        finally:
            await watch.close()
            await workloads.close()

    async def cross_spoke_latency(self) -> None:
        responder = await connect_spoke(self.lattice, self.other, "bench-cross-responder")
        requester = await connect_spoke(self.lattice, self.site, "bench-cross-requester")
        try:
            await _echo(responder, "bench.cross")
            await request_with_retry(requester, "bench.cross", b"warm", time.monotonic() + 20)
            samples = await round_trips(requester, "bench.cross", self.settings.cross_iterations, self.payload)
        finally:
            await requester.close()
            await responder.close()
        self.metrics["cross_spoke_rr_p50_us"] = statistics.median(samples)
        self.metrics["cross_spoke_rr_p99_us"] = percentile(samples, 0.99)

    async def queue_groups(self) -> None:
        """Local-first share with members on the spoke and at the hub, then failover."""
        s = self.settings
        hub_member = await connect_hub(self.lattice, self.hub, "bench-hub-member")
        local_member = await connect_spoke(self.lattice, self.site, "bench-local-member")
        requester = await connect_spoke(self.lattice, self.site, "bench-queue-requester")
        try:

            async def hub_answer(msg: Msg) -> None:
                await msg.respond(b"hub")

            async def local_answer(msg: Msg) -> None:
                await msg.respond(b"local")

            await hub_member.subscribe("bench.svc", queue="workers", cb=hub_answer)
            await hub_member.flush()
            first = await request_with_retry(requester, "bench.svc", b"?", time.monotonic() + 20)
            assert first.data == b"hub"
            local_sub = await local_member.subscribe("bench.svc", queue="workers", cb=local_answer)
            await synced(local_member)
            served = [(await requester.request("bench.svc", b"?", timeout=5)).data for _ in range(s.queue_requests)]
            self.metrics["local_first_share"] = served.count(b"local") / len(served)

            failed, times = 0, []
            for _round in range(REPEATS):
                if _round:  # the local member comes back; requests go local again
                    local_sub = await local_member.subscribe("bench.svc", queue="workers", cb=local_answer)
                    await synced(local_member)
                    await requester.request("bench.svc", b"?", timeout=5)
                took, lost = await self._failover_once(requester, local_sub, local_member)
                times.append(took)
                failed += lost
            self.metrics["failover_ms"] = statistics.median(times)
            self.metrics["failover_max_ms"] = max(times)
            self.metrics["failover_failed_requests"] = failed
        finally:
            for nc in (requester, local_member, hub_member):
                await nc.close()

    async def _failover_once(self, requester: Client, local_sub: Any, local_member: Client) -> tuple[float, int]:
        """The local member leaves; ms until the hub's member answers, and requests lost."""
        await local_sub.unsubscribe()
        await synced(local_member)
        left = time.perf_counter()
        failover_ms, failed = float("nan"), 0
        for _ in range(10):
            reply = None
            for _attempt in range(2):  # one retry
                try:
                    reply = await requester.request("bench.svc", b"?", timeout=0.5)
                    break
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    continue
            if reply is None:
                failed += 1
            elif reply.data == b"hub" and math.isnan(failover_ms):
                failover_ms = (time.perf_counter() - left) * 1000
        return failover_ms, failed

    async def partition(self) -> None:
        """Cut the spoke's links loudly; local requests keep working; heal and re-attach."""
        assert self.lattice.wan is not None
        responder = await connect_spoke(self.lattice, self.site, "bench-partition-responder")
        requester = await connect_spoke(self.lattice, self.site, "bench-partition-requester")
        links = self.lattice.wan_links(self.site)
        try:
            await _echo(responder, "bench.partition")
            for link in links:
                self.lattice.wan.cut(link)
            ok = 0
            for _ in range(self.settings.partition_requests):
                try:
                    await requester.request("bench.partition", self.payload, timeout=1)
                    ok += 1
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    pass
            self.metrics["partition_local_success"] = ok / self.settings.partition_requests
            heals = [await self._heal_once(links)]
            for _ in range(REPEATS - 1):
                for link in links:
                    self.lattice.wan.cut(link)
                heals.append(await self._heal_once(links))
            self.metrics["reattach_heal_ms"] = statistics.median(heals)
            self.metrics["reattach_heal_max_ms"] = max(heals)
        finally:
            await requester.close()
            await responder.close()

    async def _heal_once(self, links: list[str]) -> float:
        """With the links cut: wait until the spoke noticed, heal, ms until it is back."""
        assert self.lattice.wan is not None
        deadline = time.monotonic() + 30
        while leaf_attachment(self.lattice.plan, self.monitors(), self.site) is not None:
            if time.monotonic() > deadline:
                raise SandboxError(f"{self.site} still looks attached 30 s after its links were cut")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        for link in links:
            self.lattice.wan.heal(link)
        return await self.wait_attached(self.site, 30) * 1000

    async def hub_node_loss(self) -> None:
        times = []
        for _ in range(REPEATS):
            node = leaf_attachment(self.lattice.plan, self.monitors(), self.site)
            if node is None:
                raise SandboxError(f"{self.site} is not attached before the hub-node test")
            self.lattice.supervisor.kill(node)
            try:
                times.append(await self.wait_attached(self.site, 30, avoid=node) * 1000)
            finally:
                self.lattice.start_server(node)
            restored = await asyncio.to_thread(self.lattice.wait_converged, 60)
            if not restored.ok:
                raise SandboxError(f"{node} did not rejoin: {', '.join(restored.missing)}")
        self.metrics["reattach_kill_ms"] = statistics.median(times)
        self.metrics["reattach_kill_max_ms"] = max(times)

    async def silent_link(self) -> None:
        """The link to the spoke's hub node goes silent (no RST: a frozen peer, a black-holed
        route); time until the spoke's own pings give up on it and it is on another node."""
        assert self.lattice.wan is not None
        node = leaf_attachment(self.lattice.plan, self.monitors(), self.site)
        if node is None:
            raise SandboxError(f"{self.site} is not attached before the silent-link test")
        link = f"{self.site}->{node}"
        self.lattice.wan.cut(link, silent=True)
        try:
            self.metrics["silent_failover_ms"] = await self.wait_attached(self.site, 120, avoid=node) * 1000
        finally:
            self.lattice.wan.heal(link)

    async def leaf_throughput(self, baseline: Baseline) -> None:
        s = self.settings
        per_round = max(1, s.throughput_messages // ROUNDS)
        publisher = await connect_spoke(self.lattice, self.site, "bench-publisher")
        subscriber = await connect_hub(self.lattice, self.hub, "bench-subscriber")
        try:
            base, leaf = await alternating_rounds(
                lambda: baseline.throughput(per_round, self.payload),
                lambda: throughput(publisher, subscriber, "bench.stream", per_round, self.payload),
            )
        finally:
            await publisher.close()
            await subscriber.close()
        self.metrics["baseline_msgs_per_s"] = statistics.median(base)
        self.metrics["leaf_msgs_per_s"] = statistics.median(leaf)
        self.metrics["leaf_throughput_ratio"] = self.metrics["leaf_msgs_per_s"] / self.metrics["baseline_msgs_per_s"]

    async def leaf_throughput_go(self, workdir: Path) -> None:
        s = self.settings
        figures = await go_throughput(self.lattice, self.site, workdir, s.go_messages, s.payload_bytes, ROUNDS)
        self.metrics.update(figures)


class Baseline:
    """One plain nats-server, kept running beside the topology: the local limit, measured
    in the same minutes as what it is compared with."""

    def __init__(self, workdir: Path):
        self.port = free_ports(1)[0]
        self.supervisor = Supervisor(workdir)
        self.url = client_url(LOOPBACK, self.port)

    async def __aenter__(self) -> Baseline:
        self.supervisor.start("baseline", [binaries.nats_server(), "-a", LOOPBACK, "-p", str(self.port)])
        deadline = time.monotonic() + 10
        while True:
            try:
                self.responder = await nats.connect(
                    self.url, connect_timeout=1, max_reconnect_attempts=0, error_cb=quiet_errors
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    self.supervisor.stop_all()
                    raise
                await asyncio.sleep(0.05)
        self.requester = await nats.connect(self.url, error_cb=quiet_errors)
        await _echo(self.responder, "bench.base")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for nc in (self.requester, self.responder):
            with contextlib.suppress(Exception):
                await nc.close()
        self.supervisor.stop_all()

    async def round_trips(self, iterations: int, payload: bytes) -> list[float]:
        return await round_trips(self.requester, "bench.base", iterations, payload)

    async def throughput(self, count: int, payload: bytes) -> float:
        return await throughput(self.requester, self.responder, "bench.stream", count, payload)


def converge_time(spec: LatticeSpec, timeout: float = 60) -> float:
    """Milliseconds from starting every server to every link up and every server healthy."""
    with LocalLattice(spec) as lattice:
        started = time.monotonic()
        lattice.start_servers()
        result = lattice.wait_converged(timeout=timeout)
        if not result.ok:
            raise SandboxError(f"{spec.name} did not converge: {', '.join(result.missing)}")
        return (time.monotonic() - started) * 1000


SCENARIOS: dict[str, str] = {
    "latency": "same-spoke request/reply (rounds with the baseline)",
    "queue": "local-first queue group and failover",
    "wasm": "wasmCloud: edge-echo at the spoke and in the cloud",
    "cross": "spoke -> spoke through the hubs",
    "partition": "partition: local traffic, heal",
    "kill": "hub node killed",
    "silent": "upstream link silently dead",
    "throughput": "leaf throughput (rounds with the baseline)",
    "throughput-go": "leaf throughput, Go client (nats bench; rounds with a bare server)",
    "wan": "WAN emulator alone (no servers)",
    "converge": "converge",
}
"""``--only`` names, in the order they run (each on the state the previous left)."""


async def run_bench(
    spec: LatticeSpec,
    converge_spec: LatticeSpec,
    settings: BenchSettings,
    progress: Callable[[str], None],
    only: frozenset[str] | None = None,
) -> dict[str, float]:
    """Every scenario, or those named in ``only`` (see :data:`SCENARIOS`)."""
    chosen = frozenset(SCENARIOS) if only is None else only
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise SandboxError(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    metrics: dict[str, float] = {}
    step = _stepper(progress)
    if chosen - {"converge", "wan"}:
        with tempfile.TemporaryDirectory(prefix="wasmcloud-lattice-bench-") as workdir:
            async with Baseline(Path(workdir)) as baseline:
                with LocalLattice(spec, wan_delay=settings.wan_delay_ms / 1000) as lattice:
                    metrics.update(await _measure(lattice, baseline, settings, progress, step, Path(workdir), chosen))
    if "wan" in chosen:
        ceiling = asyncio.to_thread(
            wan_proxy_ceiling, settings.wan_delay_ms / 1000, settings.go_messages * 5, settings.payload_bytes
        )
        metrics["wan_proxy_msgs_per_s"] = await step(SCENARIOS["wan"], ceiling)
    if "converge" in chosen:
        converge = asyncio.to_thread(converge_time, converge_spec)
        metrics["converge_ms"] = await step(f"converge ({converge_spec.name})", converge)
    return metrics


async def _measure(
    lattice: LocalLattice,
    baseline: Baseline,
    settings: BenchSettings,
    progress: Callable[[str], None],
    step: Callable[[str, Awaitable[Any]], Awaitable[Any]],
    workdir: Path,
    chosen: frozenset[str],
) -> dict[str, float]:
    lattice.start_servers()
    conv = lattice.wait_converged(timeout=60)
    if not conv.ok:
        raise SandboxError(f"bench topology did not converge: {', '.join(conv.missing)}")
    bench = Bench(lattice, settings, progress)
    progress(f"topology up; measuring at spoke {bench.site} (hub {bench.hub}), other spoke {bench.other}")
    work: dict[str, Callable[[], Awaitable[None]]] = {
        "latency": lambda: bench.local_latency(baseline),
        "queue": bench.queue_groups,
        "wasm": bench.wasm,
        "cross": bench.cross_spoke_latency,
        "partition": bench.partition,
        "kill": bench.hub_node_loss,
        "silent": bench.silent_link,
        "throughput": lambda: bench.leaf_throughput(baseline),
        "throughput-go": lambda: bench.leaf_throughput_go(workdir),
    }
    for name, run in work.items():
        if name in chosen:
            await step(SCENARIOS[name], run())
    return bench.metrics


def _stepper(progress: Callable[[str], None]) -> Callable[[str, Awaitable[Any]], Awaitable[Any]]:
    async def step(label: str, work: Awaitable[Any]) -> Any:
        started = time.monotonic()
        result = await work
        progress(f"{label}: {time.monotonic() - started:.1f} s")
        return result

    return step


ROWS = [
    ("baseline_rr_p50_us", "us", "request/reply p50, one standalone server (the local limit)"),
    ("baseline_rr_p99_us", "us", "  p99"),
    ("local_rr_p50_us", "us", "request/reply p50, both ends on one spoke"),
    ("local_rr_p99_us", "us", "  p99"),
    ("local_rr_ratio", "x", "same-spoke p50 / baseline p50 (target <= 1.3)"),
    ("local_first_share", "", "queue requests served by the spoke's own member (target 1.0)"),
    ("wasm_local_rr_p50_us", "us", "request/reply p50 to the edge-echo component on the spoke's own host"),
    ("wasm_local_rr_p99_us", "us", "  p99"),
    ("wasm_local_first_share", "", "edge-echo requests served by the spoke's host, cloud host running (target 1.0)"),
    ("wasm_failover_ms", "ms", "edge workload stopped from the hub -> first reply by the cloud host (median)"),
    ("wasm_failover_max_ms", "ms", "  slowest of the repeats"),
    ("wasm_failover_failed_requests", "", "edge-echo requests failed after one retry during failover (target 0)"),
    ("wasm_partition_success", "", "edge-echo requests served locally, every link cut loudly / silently (target 1.0)"),
    ("wasm_restart_without_mirror", "", "host restarted in a partition, pulling from the cloud registry: came back"),
    (
        "wasm_restart_in_partition",
        "",
        "host restarted in a partition, pulling via its mirror: came back (target 1)",
    ),
    ("wasm_restart_serve_ms", "ms", "  restarted host started -> first request served (-1: never)"),
    ("cross_spoke_rr_p50_us", "us", "request/reply p50, spoke -> spoke through the hubs"),
    ("cross_spoke_rr_p99_us", "us", "  p99"),
    ("failover_ms", "ms", "local member leaves -> first reply from the hub's member (median)"),
    ("failover_max_ms", "ms", "  slowest of the repeats"),
    ("failover_failed_requests", "", "requests failed after one retry during failover (target 0)"),
    ("partition_local_success", "", "local requests answered while the upstream link is cut (target 1.0)"),
    ("reattach_kill_ms", "ms", "hub node killed -> spoke attached to another node, median (target <= 500)"),
    ("reattach_kill_max_ms", "ms", "  slowest of the repeats"),
    ("silent_failover_ms", "ms", "upstream silently dead (no RST) -> spoke on another node (target <= 10000)"),
    ("reattach_heal_ms", "ms", "cut link healed -> spoke attached again"),
    ("reattach_heal_max_ms", "ms", "  slowest of the repeats"),
    ("converge_ms", "ms", "dev stack: start -> every link up, every server healthy"),
    ("baseline_msgs_per_s", "msg/s", "publish -> subscribe on one server"),
    ("leaf_msgs_per_s", "msg/s", "publish on a spoke -> subscriber at the hub"),
    ("leaf_throughput_ratio", "x", "leaf / baseline throughput (target >= 0.7)"),
    ("baseline_msgs_per_s_go", "msg/s", "Go client (nats bench): publish -> subscribe on one bare server"),
    ("spoke_local_msgs_per_s_go", "msg/s", "Go client: publish -> subscribe on one spoke"),
    ("spoke_local_ratio_go", "x", "  spoke / bare server: the lattice's server config alone"),
    ("leaf_msgs_per_s_go", "msg/s", "Go client: publish on a spoke -> subscriber at its hub node (TLS, WAN)"),
    ("leaf_throughput_ratio_go", "x", "leaf / bare server throughput, Go client (target >= 0.8)"),
    ("baseline_cpu_us_per_msg_go", "us", "CPU per message, every process on the path: bare server"),
    ("spoke_local_cpu_us_per_msg_go", "us", "  one spoke"),
    ("leaf_cpu_us_per_msg_go", "us", "  spoke -> leaf link -> hub node (with the WAN emulator)"),
    ("wan_proxy_msgs_per_s", "msg/s", "the WAN emulator alone (no servers), leaf-framed messages"),
]


def missed_targets(metrics: dict[str, float]) -> list[str]:
    """Targets the measured figures miss (a figure not measured misses nothing)."""
    missed = []
    for key, (op, target) in TARGETS.items():
        if key not in metrics:
            continue
        value = metrics[key]
        ok = value <= target if op == "<=" else value >= target
        if not ok:
            missed.append(f"{key} = {value:.3g} (target {op} {target})")
    return missed


def table(metrics: dict[str, float]) -> str:
    lines = [f"{'metric':<30} {'value':>12}  {'unit':<6} meaning"]
    for key, unit, meaning in ROWS:
        if key not in metrics:
            continue
        value = metrics[key]
        shown = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"
        lines.append(f"{key:<30} {shown:>12}  {unit:<6} {meaning}")
    return "\n".join(lines)


BENCH_SUBJECTS = ("bench.>", f"{SUBJECT_PREFIX}.>")


def with_bench_subjects(spec: LatticeSpec) -> LatticeSpec:
    """The bench's own subjects cross leaf links, so its lattice's leaf users allow them
    (added here, not to the stack: the stack's allow-lists stay what it deploys); the
    measured spoke (the first that dials a hub) gets a wasmCloud host, the others none."""
    permissions = spec.leaf_permissions
    missing = tuple(s for s in BENCH_SUBJECTS if s not in permissions.subjects)
    extended = permissions.model_copy(update={"subjects": (*permissions.subjects, *missing)})
    hubs = {h.name for h in spec.hubs}
    measured = next(s.name for s in spec.spokes if s.upstream in hubs)
    spokes = [s.model_copy(update={"wasmcloud_host": s.name == measured}) for s in spec.spokes]
    return spec.model_copy(update={"leaf_permissions": extended, "spokes": spokes})


def bench_spec(stack_path: Path | None, label: str | None) -> LatticeSpec:
    if stack_path is None:
        return with_bench_subjects(parse_lattice(BENCH_TOPOLOGY, "bench topology"))
    return with_bench_subjects(load_stack_file(stack_path, label))
