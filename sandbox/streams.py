"""Store and forward between JetStream domains, as the stack's ``hubStreams`` declare it:
the sandbox's check that it works (each site's stream reaches the hub's, the hub's reaches
each site's mirror) and an exactly-once reading of a stream, for the live tests and the
change-under-load runs. The streams and consumers themselves are the hub-stream agent's
(:mod:`sandbox.hubstreams`).

A site's stream takes its local publishes whether or not its upstream is reachable; the
hub's sourcing stream pulls them through each site's ``$JS.<domain>.API`` once the link
is back, resuming from the last source sequence it stored, so nothing arrives twice.
Publishers set ``Nats-Msg-Id`` so a retried publish is stored once at the site too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import nats.errors
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError, ServiceUnavailableError

from lattice.subjects import as_stream_subject, for_site
from sandbox.checks import Check, connect_hub, connect_spoke
from sandbox.topology import LocalLattice

MSG_ID = "Nats-Msg-Id"


async def msg_ids(js: JetStreamContext, stream: str, retry_for: float = 30.0) -> Counter[str]:
    """How many times each ``Nats-Msg-Id`` is stored in ``stream`` (messages without one
    count under the empty string). Read whole again, for up to ``retry_for`` seconds, while
    the stream's JetStream API does not answer: a replicated stream elects a leader after a
    node restarts. Only reading is retried; what was acked is the caller's record."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return await _read_msg_ids(js, stream)
        except (TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _read_msg_ids(js: JetStreamContext, stream: str) -> Counter[str]:
    info = await js.stream_info(stream)
    seen: Counter[str] = Counter()
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq:
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:  # deleted or never stored (a gap)
            seq += 1
            continue
        seen[(msg.headers or {}).get(MSG_ID, "")] += 1
        seq += 1
    return seen


async def wait_for_messages(js: JetStreamContext, stream: str, count: int, timeout: float) -> int:
    """Poll ``stream`` until it holds at least ``count`` messages; the count it reached."""
    deadline = time.monotonic() + timeout
    held = 0
    while True:
        with contextlib.suppress(TimeoutError, nats.errors.Error):  # no leader yet: ask again
            held = (await js.stream_info(stream)).state.messages
        if held >= count or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.2)


def _literal(subject: str) -> str:
    """One subject a pattern takes (``*`` and ``>`` filled in)."""
    return ".".join("check" if t in ("*", ">") else t for t in subject.split("."))


async def check_hub_streams(lattice: LocalLattice, timeout: float = 30.0) -> list[Check]:
    """The agent keeps every declared stream and consumer; then, for each hub stream, one
    message from each site it sources reaches it, and one the cloud writes reaches each
    site's mirror: the store-and-forward recipe, both ways, on the narrowed leaf lists."""
    plan = lattice.plan
    if not plan.hub_streams:
        return []
    try:
        states = await asyncio.to_thread(lattice.wait_hub_streams, timeout)
    except TimeoutError as err:
        return [Check("hub-streams", False, str(err))]
    checks = [Check("hub-streams", True, f"{len(states)} streams and consumers as the stack declares them")]
    hub = await connect_hub(lattice, plan.hubs[0].name, "sandbox-hub-streams")
    try:
        js = hub.jetstream()
        for stream in plan.hub_streams:
            if stream.sources is not None:
                expected = (await js.stream_info(stream.name)).state.messages + len(stream.sources.spokes)
                for spoke in stream.sources.spokes:
                    nc = await connect_spoke(lattice, spoke, f"sandbox-source-{spoke}")
                    subject = _literal(for_site(stream.sources.subjects[0], spoke))
                    await nc.jetstream().publish(subject, b"sandbox check", timeout=5)
                    await nc.close()
                held = await wait_for_messages(js, stream.name, expected, timeout)
                ok = held >= expected
                detail = f"{len(stream.sources.spokes)} sites' {stream.sources.stream} -> hub {stream.name}"
                checks.append(Check(f"store-and-forward-up:{stream.name}", ok, detail if ok else f"{detail}: {held}"))
            if stream.mirrors is not None:
                if stream.subjects:  # else what the sources brought (above) is what the mirrors must get
                    await js.publish(_literal(as_stream_subject(stream.subjects[0])), b"sandbox check", timeout=5)
                count = (await js.stream_info(stream.name)).state.messages
                behind = []
                for spoke in stream.mirrors.spokes:
                    nc = await connect_spoke(lattice, spoke, f"sandbox-mirror-{spoke}")
                    if await wait_for_messages(nc.jetstream(), stream.mirrors.stream, count, timeout) < count:
                        behind.append(spoke)
                    await nc.close()
                detail = f"hub {stream.name} -> {len(stream.mirrors.spokes)} sites' {stream.mirrors.stream}"
                what = detail if not behind else f"{detail}: behind at {', '.join(behind)}"
                checks.append(Check(f"store-and-forward-down:{stream.name}", not behind, what))
    finally:
        await hub.close()
    return checks
