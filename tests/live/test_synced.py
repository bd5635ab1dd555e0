"""``synced``: once it returns, the server has the client's subscriptions (``flush()``
alone does not promise that with nats-py 2.16, which lost the bench a request)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import nats
import pytest
from nats.aio.msg import Msg

from lattice.addressing import LOOPBACK, client_url
from sandbox import binaries
from sandbox.checks import synced
from sandbox.ports import free_ports

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = free_ports(1)[0]
    proc = subprocess.Popen([binaries.nats_server(), "-a", LOOPBACK, "-p", str(port)], stdout=subprocess.DEVNULL)
    try:
        yield client_url(LOOPBACK, port)
    finally:
        proc.terminate()
        proc.wait()


async def _first_requests(url: str, rounds: int) -> int:
    """A fresh responder subscribes and syncs; another client's first request at once.
    Returns how many were answered "no responders" (with ``flush()`` alone: about 5%)."""
    refused = 0
    for _ in range(rounds):
        responder = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=20)
        requester = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=20)

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        await responder.subscribe("svc.echo", cb=echo)
        await synced(responder)
        try:
            await requester.request("svc.echo", b"?", timeout=2)
        except nats.errors.NoRespondersError:
            refused += 1
        await requester.close()
        await responder.close()
    return refused


def test_a_subscription_is_at_the_server_once_synced(server_url: str) -> None:
    assert asyncio.run(_first_requests(server_url, 300)) == 0
