"""Store and forward from the edge, on real servers with the leaf allow-lists the stack's
``hubStreams`` give and nothing else: the agent creates a hub stream that sources the stream
of every site's JetStream domain and a hub stream a site mirrors through the consumer the
hub keeps for it; what a site stored while cut off reaches the hub exactly once after the
link heals, or after the hub node it was attached to dies."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from lattice.stack import parse_lattice
from sandbox.checks import connect_hub, connect_spoke
from sandbox.monitor import leaf_attachment
from sandbox.streams import MSG_ID, msg_ids, wait_for_messages
from sandbox.topology import LocalLattice

pytestmark = pytest.mark.live

SITE_STREAM, HUB_STREAM, HUB_CONFIG, SITE_MIRROR = "SALES", "EDGE-SALES", "CONFIG", "CONFIG-COPY"
MIB = 2**20
SPEC = {
    "name": "edge",
    "hubs": [{"name": "cloud", "platform": "kubernetes", "nodes": 3}],
    "spokes": [
        {"name": "store-1", "upstream": "cloud", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "store-2", "upstream": "cloud", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "till-1", "upstream": "store-1", "platform": "kubernetes", "wasmcloudHost": False},
    ],
    "hubStreams": [
        {
            "name": HUB_STREAM,
            "maxBytes": 256 * MIB,
            "sources": {
                "stream": SITE_STREAM,
                "subjects": ["sales.{spoke}.>"],
                "spokes": ["store-1", "store-2", "till-1"],
                "maxBytes": 64 * MIB,
            },
        },
        {
            "name": HUB_CONFIG,
            "maxBytes": 64 * MIB,
            "subjects": ["config.>"],
            "mirrors": {"stream": SITE_MIRROR, "spokes": ["store-2"]},
        },
    ],
}
"""No ``leafPermissions``: the hub streams alone give the links what replication needs."""


@pytest.fixture(scope="module")
def edge() -> Iterator[LocalLattice]:
    with LocalLattice(parse_lattice(SPEC, "store-and-forward test"), wan_delay=0.005) as lattice:
        lattice.start_servers()
        conv = lattice.wait_converged(timeout=60)
        assert conv.ok, conv.missing
        # from this thread: a child dies with the thread that started it (PR_SET_PDEATHSIG)
        lattice.start_agents()
        lattice.wait_hub_streams(60)
        asyncio.run(_create_streams(lattice))
        yield lattice


async def _create_streams(lattice: LocalLattice) -> None:
    """With the stack's hub streams in place, as the agent keeps them (each site's own SALES stream
    (created from the hub in the site's domain), the hub's EDGE-SALES sourcing all of
    them, CONFIG at the hub and store-2's mirror of it): one sale per site and one
    config entry, through before the partitions: a source whose first consumer request
    fails backs off (10 s per failure, up to 2 min: nats-server stream.go).

    A site's stream takes only its own subjects (``sales.{spoke}.>``): the link between a
    store and its till carries every subject (password leaf, no allow-lists), so two
    streams on ``sales.>`` would each store the other's sales (found here)."""
    domains = [s.jetstream_domain for s in lattice.plan.spokes]
    for spoke in lattice.plan.spokes:
        nc = await connect_spoke(lattice, spoke.name, f"create-{spoke.name}")
        await Publisher(nc, spoke.name, tag=f"warm-{spoke.name}").publish(1)
        await nc.close()
    hub = await connect_hub(lattice, "cloud", "create-hub")
    js = hub.jetstream()
    await js.publish("config.warm", b"v")
    store2 = await connect_spoke(lattice, "store-2", "create-mirror")
    assert await wait_for_messages(js, HUB_STREAM, len(domains), 30) == len(domains)
    assert await wait_for_messages(store2.jetstream(), SITE_MIRROR, 1, 30) == 1
    await store2.close()
    await hub.close()


class Publisher:
    """Publishes to a site's stream with a ``Nats-Msg-Id`` each, retrying a publish that got
    no ack with the same id, as a producer that must not lose or double a sale does."""

    def __init__(self, nc: Client, site: str, tag: str = ""):
        self.js: JetStreamContext = nc.jetstream()
        self.site = site
        self.tag = tag or site
        self.acked: list[str] = []
        self.duplicates = 0
        self.sent = 0

    async def publish(self, count: int, *, twice: bool = False) -> None:
        for _ in range(count):
            msg_id = f"{self.tag}-{self.sent}"
            self.sent += 1
            for attempt in range(2 if twice else 1):
                ack = None
                while ack is None:
                    try:
                        subject = f"sales.{self.site}.{msg_id}"
                        ack = await self.js.publish(subject, msg_id.encode(), headers={MSG_ID: msg_id})
                    except TimeoutError:
                        continue
                if attempt == 0:
                    self.acked.append(msg_id)
                elif ack.duplicate:
                    self.duplicates += 1

    async def run_until(self, done: asyncio.Event, interval: float = 0.02) -> None:
        while not done.is_set():
            await self.publish(1)
            await asyncio.sleep(interval)


async def _hub_counts(lattice: LocalLattice, acked: list[str], timeout: float = 60) -> Counter[str]:
    """The hub stream's ids once every acked id is there (or ``timeout``), read again a
    moment later so a late second copy would show."""
    hub = await connect_hub(lattice, "cloud", "read-hub")
    try:
        js = hub.jetstream()
        deadline = time.monotonic() + timeout
        held = await msg_ids(js, HUB_STREAM)
        while any(held[m] == 0 for m in acked) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            held = await msg_ids(js, HUB_STREAM)
        await asyncio.sleep(2)
        return await msg_ids(js, HUB_STREAM)
    finally:
        await hub.close()


def _assert_exactly_once(held: Counter[str], acked: list[str]) -> None:
    missing = [m for m in acked if held[m] == 0]
    doubled = {m: n for m, n in held.items() if n > 1}
    assert not missing, f"{len(missing)} acked messages never reached the hub: {missing[:5]}"
    assert not doubled, f"stored more than once at the hub: {doubled}"


async def _wait_detached(lattice: LocalLattice, spoke: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while leaf_attachment(lattice.plan, lattice.monitors(), spoke) is not None:
        assert time.monotonic() < deadline, f"{spoke} still attached {timeout:.0f} s after its links were cut"
        await asyncio.sleep(0.1)


async def _wait_attached(lattice: LocalLattice, spoke: str, timeout: float, avoid: str | None = None) -> str:
    deadline = time.monotonic() + timeout
    while True:
        node = leaf_attachment(lattice.plan, lattice.monitors(), spoke)
        if node is not None and node != avoid:
            return node
        assert time.monotonic() < deadline, f"{spoke} did not attach within {timeout:.0f} s"
        await asyncio.sleep(0.1)


@dataclass
class Partition:
    held: Counter[str]
    acked: list[str]
    sent: int
    duplicates: int
    mirrored: int | None = None
    config: int | None = None


async def _partition(lattice: LocalLattice, silent: bool) -> Partition:
    """store-1 (and till-1 behind it) and store-2 cut off from every hub node; each site
    stores its sales, the hub its config; heal; each side has the other's exactly once.

    A mirror or source whose retries failed during a long partition resumes only at its
    next retry (10 s more per failed attempt, up to 2 min: nats-server stream.go
    calculateRetryBackoff; 37 s after a 20 s silent cut here), so the mirror is checked
    after the loud cut only; the hub's sources resumed within 1.2 s after both."""
    assert lattice.wan is not None
    links = [*lattice.wan_links("store-1"), *lattice.wan_links("store-2")]
    store1, till1, store2 = [await connect_spoke(lattice, s, f"pos-{s}") for s in ("store-1", "till-1", "store-2")]
    hub = await connect_hub(lattice, "cloud", "config-writer")
    publishers = [Publisher(store1, "store-1", f"store-1-{silent}"), Publisher(till1, "till-1", f"till-1-{silent}")]
    try:
        for link in links:
            lattice.wan.cut(link, silent=silent)
        for spoke in ("store-1", "store-2"):
            await _wait_detached(lattice, spoke, 40)
        for publisher in publishers:
            await publisher.publish(40, twice=True)  # every publish retried: the site stores it once
        config = None
        if not silent:
            config = (await hub.jetstream().stream_info(HUB_CONFIG)).state.messages + 20
            for n in range(20):
                await hub.jetstream().publish(f"config.item.{n}", b"v", headers={MSG_ID: f"config-{n}"})
        for link in links:
            lattice.wan.heal(link)
        acked = [m for p in publishers for m in p.acked]
        result = Partition(
            held=await _hub_counts(lattice, acked),
            acked=acked,
            sent=sum(p.sent for p in publishers),
            duplicates=sum(p.duplicates for p in publishers),
            config=config,
        )
        if config is not None:
            result.mirrored = await wait_for_messages(store2.jetstream(), SITE_MIRROR, config, 60)
        return result
    finally:
        for link in links:
            lattice.wan.heal(link)
        for nc in (store1, till1, store2, hub):
            await nc.close()


@pytest.mark.parametrize("silent", [False, True], ids=["loud-cut", "silent-cut"])
def test_sales_stored_during_a_partition_reach_the_hub_exactly_once(edge: LocalLattice, silent: bool) -> None:
    out = asyncio.run(_partition(edge, silent))
    assert out.duplicates == out.sent, "each retried publish is a duplicate at the site"
    _assert_exactly_once(out.held, out.acked)
    assert out.mirrored == out.config, "store-2's mirror caught up with the hub's config stream"


async def _hub_node_killed(lattice: LocalLattice) -> tuple[Counter[str], list[str], str, str]:
    """store-2 publishes throughout; the hub node it is attached to is killed, the spoke
    moves to another node, the node comes back; the hub stream (R3) has each sale once."""
    store2 = await connect_spoke(lattice, "store-2", "pos-store-2-kill")
    publisher = Publisher(store2, "store-2", tag="store-2-kill")
    done = asyncio.Event()
    running = asyncio.create_task(publisher.run_until(done))
    try:
        await publisher.publish(20)
        node = await _wait_attached(lattice, "store-2", 10)
        lattice.supervisor.kill(node)
        try:
            moved = await _wait_attached(lattice, "store-2", 30, avoid=node)
            await asyncio.sleep(1)
        finally:
            lattice.start_server(node)
        assert (await asyncio.to_thread(lattice.wait_converged, 60)).ok
        await publisher.publish(20)
        done.set()
        await running
        return await _hub_counts(lattice, publisher.acked), publisher.acked, node, moved
    finally:
        done.set()
        await running
        await store2.close()


def test_sales_reach_the_hub_exactly_once_across_a_kill_of_the_attached_hub_node(edge: LocalLattice) -> None:
    held, acked, killed, moved = asyncio.run(_hub_node_killed(edge))
    assert killed != moved
    assert len(acked) > 20
    _assert_exactly_once(held, acked)


BULK = 400
"""8 KB messages each way: 3.2 MB, past the 2 MB a flow-controlled consumer may leave
unanswered (JsFlowControlMaxPending/16) before it stalls, so the flow-control grants of
both recipes are what carries the rest."""


async def _bulk_both_ways(lattice: LocalLattice) -> tuple[int, int, int, int]:
    store1 = await connect_spoke(lattice, "store-1", "bulk-store-1")
    store2 = await connect_spoke(lattice, "store-2", "bulk-store-2")
    hub = await connect_hub(lattice, "cloud", "bulk-hub")
    try:
        hub_js, mirror_js = hub.jetstream(), store2.jetstream()
        sourced = (await hub_js.stream_info(HUB_STREAM)).state.messages + BULK
        mirrored = (await mirror_js.stream_info(SITE_MIRROR)).state.messages + BULK
        payload = b"x" * 8192
        for n in range(BULK):
            await store1.jetstream().publish(f"sales.store-1.bulk-{n}", payload, headers={MSG_ID: f"bulk-{n}"})
            await hub_js.publish(f"config.bulk.{n}", payload, headers={MSG_ID: f"bulk-config-{n}"})
        got_sourced = await wait_for_messages(hub_js, HUB_STREAM, sourced, 60)
        got_mirrored = await wait_for_messages(mirror_js, SITE_MIRROR, mirrored, 60)
        return got_sourced, sourced, got_mirrored, mirrored
    finally:
        for nc in (store1, store2, hub):
            await nc.close()


def test_more_than_a_flow_control_window_crosses_both_ways(edge: LocalLattice) -> None:
    got_sourced, sourced, got_mirrored, mirrored = asyncio.run(_bulk_both_ways(edge))
    assert got_sourced == sourced, "the hub stream sourced every 8 KB sale (flow control answered down the link)"
    assert got_mirrored == mirrored, "store-2's mirror has every 8 KB entry (its flow-control acks went up)"
