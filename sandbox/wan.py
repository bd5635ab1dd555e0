"""An emulated WAN link on loopback: a TCP proxy that delays every byte by a one-way delay.

Each link runs in one shared background event loop. A link can be cut loudly (connections
reset, new ones refused, like a router that answers) or silently (bytes stop flowing,
sockets stay open, like a frozen peer or a black-holed route), and healed.
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
CHUNK = 65536


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


class WanLink:
    """Listens on ``listen_port`` and forwards to ``target``, ``delay`` seconds each way."""

    def __init__(self, name: str, host: str, listen_port: int, target_port: int, delay: float):
        self.name = name
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self.delay = delay
        self.state = "up"  # up | cut | silent
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url_host_port(self) -> str:
        return f"{self.host}:{self.listen_port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.listen_port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        done = asyncio.Event()
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst, done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await done.wait()
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done: asyncio.Event) -> None:
        """Read as data comes; deliver each chunk ``delay`` after it arrived, in order.
        Chunks that are due together go out in one write (a stream is not slowed by the
        proxy's own per-chunk cost, only delayed)."""
        pending: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        empty = asyncio.Event()
        empty.set()

        async def deliver() -> None:
            while True:
                while not pending:
                    arrived.clear()
                    await arrived.wait()
                wait = pending[0][0] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                now = time.monotonic()
                batch = []
                while pending and pending[0][0] <= now:
                    batch.append(pending.popleft()[1])
                if batch and self.state != "silent":  # a black hole drops what was in flight too
                    writer.write(b"".join(batch))
                    await writer.drain()
                if not pending:
                    empty.set()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self.state == "silent":
                    continue  # black hole: bytes vanish, nobody is told
                pending.append((time.monotonic() + self.delay, data))
                empty.clear()
                arrived.set()
            await empty.wait()  # the peer closed: deliver what is in flight, then close
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
            done.set()

    def cut(self, *, silent: bool = False) -> None:
        """Loud: reset every connection and refuse new ones. Silent: stop every byte."""
        self.state = "silent" if silent else "cut"
        if not silent:
            for w in list(self._writers):
                w.transport.abort()

    def heal(self) -> None:
        self.state = "up"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for w in list(self._writers):
            w.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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

    def close(self) -> None:
        for link in self.links.values():
            with contextlib.suppress(Exception):
                self._loop.run(link.close())
        self._loop.stop()
