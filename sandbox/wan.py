"""An emulated WAN link on loopback: a TCP proxy that delays every byte by a one-way delay.

Each link runs in one shared background event loop. A link can be cut loudly (connections
reset, new ones refused, like a router that answers) or silently (bytes stop flowing,
sockets stay open, like a frozen peer or a black-holed route), and healed.

It is built on asyncio protocols, not streams: a chunk costs one callback on arrival and
its share of one timer on delivery (every chunk due together goes out in one write), so the
proxy carries several times what a leaf link does (``sandbox bench`` reports its ceiling as
``wan_proxy_msgs_per_s``) and takes little of the CPU the servers it sits between need.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
HIGH_WATER = 32 << 20
"""Bytes held for one direction (in flight plus unsent) before the sending side is paused
(with a 20 ms delay that allows 1.6 GB/s, above the proxy's own ceiling):
the proxy pushes back like a full link instead of buffering without bound."""


class EventLoopThread:
    """One asyncio loop on a daemon thread, for proxies that outlive a single call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wan-links", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        self.loop.close()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection. What it reads is delivered to its peer side
    ``delay`` later, in order; a full peer pauses reading here."""

    def __init__(self, link: WanLink, count: str):
        self.link = link
        self.count = count  # which of the link's byte counters this direction adds to
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.held = 0
        self.timer: asyncio.TimerHandle | None = None
        self.eof = False  # this side's reader finished: close the peer once pending is out
        self.paused = False  # the peer's transport asked us to stop (its buffer is full)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.link.state == "silent":
            return  # black hole: bytes vanish, nobody is told
        setattr(self.link, self.count, getattr(self.link, self.count) + len(data))
        self.link.reads += 1
        self.pending.append((time.monotonic() + self.link.delay, data))
        self.held += len(data)
        if self.held > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        if self.timer is None:
            self._schedule()

    def _schedule(self) -> None:
        if self.pending and not self.paused:
            # the loop's clock is time.monotonic(): a chunk is due at its own arrival + delay
            self.timer = asyncio.get_running_loop().call_at(self.pending[0][0], self._deliver)
        else:
            self.timer = None
            if not self.pending and self.eof:
                self._close_peer()

    def _deliver(self) -> None:
        """Everything due goes to the peer in one write."""
        self.timer = None
        now = time.monotonic()
        batch = []
        while self.pending and self.pending[0][0] <= now:
            batch.append(self.pending.popleft()[1])
        sent = sum(len(b) for b in batch)
        self.held -= sent
        peer = self.peer.transport if self.peer is not None else None
        if batch and self.link.state != "silent" and peer is not None and not peer.is_closing():
            peer.write(b"".join(batch))  # a black hole drops what was in flight too
        if self.held <= HIGH_WATER // 2 and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self._schedule()

    def eof_received(self) -> bool:
        self.eof = True
        if self.timer is None:
            self._schedule()
        return True  # keep our socket open until the peer is closed after the flush

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._sides.discard(self)
        if exc is not None:  # reset or aborted: the other side goes the same way, at once
            self._abort_peer()
        elif not self.eof:
            self.eof_received()

    def pause_writing(self) -> None:
        """Our transport is full: the peer stops delivering to us (see ``_schedule``)."""
        if self.peer is not None:
            self.peer.paused = True
            if self.peer.timer is not None:
                self.peer.timer.cancel()
                self.peer.timer = None

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.paused = False
            if self.peer.timer is None:
                self.peer._schedule()

    def _close_peer(self) -> None:
        for side in (self.peer, self):
            if side is not None and side.transport is not None:
                side.transport.close()

    def _abort_peer(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.abort()

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()


class WanLink:
    """Listens on ``listen_port`` and forwards to ``target``, ``delay`` seconds each way.
    ``bytes_up`` / ``bytes_down``: bytes carried towards the target / back (as they arrived);
    ``reads``: chunks read, both ways (an idle link's small writes arrive one per segment)."""

    def __init__(self, name: str, host: str, listen_port: int, target_port: int, delay: float):
        self.name = name
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self.delay = delay
        self.state = "up"  # up | cut | silent
        self.bytes_up = 0
        self.bytes_down = 0
        self.reads = 0
        self._server: asyncio.Server | None = None
        self._sides: set[_Side] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    @property
    def url_host_port(self) -> str:
        return f"{self.host}:{self.listen_port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self.host, self.listen_port, reuse_address=True)

    def _accept(self) -> _Side:
        """The dialer's side; the target is dialed while its first bytes wait (reading paused)."""
        side = _Side(self, "bytes_up")
        task = asyncio.get_running_loop().create_task(self._dial(side))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return side

    async def _dial(self, near: _Side) -> None:
        await asyncio.sleep(0)  # connection_made has run
        if near.transport is None:
            return
        self._sides.add(near)
        if self.state == "cut":
            near.transport.abort()
            return
        near.transport.pause_reading()
        far = _Side(self, "bytes_down")
        try:
            await asyncio.get_running_loop().create_connection(lambda: far, self.host, self.target_port)
        except OSError:
            near.transport.abort()
            return
        if near.transport.is_closing():
            far.abort()
            return
        near.peer, far.peer = far, near
        self._sides.add(far)
        near.transport.resume_reading()

    def cut(self, *, silent: bool = False) -> None:
        """Loud: reset every connection and refuse new ones. Silent: stop every byte."""
        self.state = "silent" if silent else "cut"
        if not silent:
            for side in list(self._sides):
                side.abort()

    def heal(self) -> None:
        self.state = "up"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connecting):
            task.cancel()
        await asyncio.gather(*self._connecting, return_exceptions=True)
        for side in list(self._sides):
            side.abort()


class Wan:
    """Every emulated link of a topology, on one background loop."""

    def __init__(self) -> None:
        self._loop = EventLoopThread()
        self.links: dict[str, WanLink] = {}

    def add(self, name: str, host: str, listen_port: int, target_port: int, delay: float) -> WanLink:
        link = WanLink(name, host, listen_port, target_port, delay)
        self._loop.run(link.start())
        self.links[name] = link
        return link

    def cut(self, name: str, *, silent: bool = False) -> None:
        link = self.links[name]
        self._loop.loop.call_soon_threadsafe(lambda: link.cut(silent=silent))

    def heal(self, name: str) -> None:
        link = self.links[name]
        self._loop.loop.call_soon_threadsafe(link.heal)

    def bytes_carried(self) -> int:
        """Bytes every link carried so far, both ways (a snapshot from another thread)."""
        return sum(link.bytes_up + link.bytes_down for link in list(self.links.values()))

    def reads_carried(self) -> int:
        """Chunks every link read so far, both ways."""
        return sum(link.reads for link in list(self.links.values()))

    def close(self) -> None:
        for link in self.links.values():
            with contextlib.suppress(Exception):
                self._loop.run(link.close())
        self._loop.stop()
