"""Store and forward between JetStream domains: the stream configs of the README's recipe
(a hub stream sourcing each site's stream, a site mirroring a hub stream) and an
exactly-once reading of a stream, for the live tests and the change-under-load runs.

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
from collections.abc import Iterable

import nats.errors
from nats.js.api import ExternalStream, StreamConfig, StreamSource
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError, ServiceUnavailableError

MSG_ID = "Nats-Msg-Id"


def domain_api(domain: str) -> str:
    """The subject prefix under which a JetStream domain's API answers from another domain."""
    return f"$JS.{domain}.API"


def sourcing(name: str, stream: str, domains: Iterable[str], replicas: int = 3) -> StreamConfig:
    """A hub stream that sources ``stream`` from each site domain (a site's stream keeps
    its name; the API prefix tells the sources apart)."""
    sources = [StreamSource(name=stream, external=ExternalStream(api=domain_api(d))) for d in domains]
    return StreamConfig(name=name, sources=sources, num_replicas=replicas)


def mirroring(name: str, stream: str, domain: str) -> StreamConfig:
    """A site stream that mirrors ``stream`` of another domain (a hub's)."""
    return StreamConfig(name=name, mirror=StreamSource(name=stream, external=ExternalStream(api=domain_api(domain))))


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
