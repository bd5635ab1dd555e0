"""Leaf links over WebSocket with TLS: a spoke whose site only lets HTTPS out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from nats.aio.msg import Msg

from lattice.plan import plan_lattice
from sandbox.checks import connect_hub, connect_spoke, request_with_retry
from sandbox.monitor import leaf_attachment, leaf_peers
from sandbox.topology import LocalLattice
from tests.support.helpers import spec_from

pytestmark = pytest.mark.live

SPEC = {
    "name": "acme",
    "leafPermissions": {"subjects": ["ws.>"]},
    "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 3}],
    "spokes": [
        {"name": "kiosk", "upstream": "use1", "platform": "kubernetes", "leafTransport": "websocket"},
        {"name": "store", "upstream": "use1", "platform": "kubernetes"},
    ],
}


@pytest.fixture(scope="module")
def lattice() -> Iterator[LocalLattice]:
    with LocalLattice(spec_from(SPEC)) as running:
        running.start_servers()
        result = running.wait_converged(timeout=60)
        assert result.ok, result.missing
        yield running


def test_the_websocket_spoke_dials_wss_with_verification(lattice: LocalLattice) -> None:
    config = lattice.rendered["kiosk"].config
    assert "wss://127.0.0.1:" in config and 'ca_file: "' in config
    assert "nats-leaf://" not in config
    hub_config = lattice.rendered["use1-0"].config
    assert "websocket: {" in hub_config and 'min_version: "1.2"' in hub_config


def test_the_link_is_a_websocket_leaf_on_the_hub(lattice: LocalLattice) -> None:
    node = leaf_attachment(lattice.plan, lattice.monitors(), "kiosk")
    assert node is not None
    kiosk = next(leaf for leaf in leaf_peers(lattice.monitor_url(node)) if leaf["name"] == "kiosk")
    assert kiosk["account"] == lattice.auth.trust.lattice_account
    hub_log = lattice.supervisor.log_path(node).read_text()
    assert "Listening for websocket clients on wss://" in hub_log
    ws_leafs = [line for line in hub_log.splitlines() if "lid_ws:" in line and 'remote "kiosk"' in line]
    assert ws_leafs, "the kiosk's leaf connection arrived on the WebSocket listener"
    store_node = leaf_attachment(lattice.plan, lattice.monitors(), "store")
    assert store_node is not None
    store_log = lattice.supervisor.log_path(store_node).read_text()
    assert not [line for line in store_log.splitlines() if "lid_ws:" in line and 'remote "store"' in line]


def test_requests_cross_the_websocket_link_both_ways(lattice: LocalLattice) -> None:
    async def run() -> None:
        hub = await connect_hub(lattice, "use1", "ws-hub-service")
        kiosk = await connect_spoke(lattice, "kiosk", "ws-kiosk")
        try:

            async def answer(msg: Msg) -> None:
                await msg.respond(b"from-hub")

            async def kiosk_answer(msg: Msg) -> None:
                await msg.respond(b"from-kiosk")

            await hub.subscribe("ws.hub", cb=answer)
            await kiosk.subscribe("ws.kiosk", cb=kiosk_answer)
            await hub.flush()
            await kiosk.flush()
            deadline = time.monotonic() + 15
            assert (await request_with_retry(kiosk, "ws.hub", b"?", deadline)).data == b"from-hub"
            assert (await request_with_retry(hub, "ws.kiosk", b"?", deadline)).data == b"from-kiosk"
        finally:
            await kiosk.close()
            await hub.close()

    asyncio.run(run())


def test_a_plaintext_websocket_dial_is_refused_by_the_tls_listener(lattice: LocalLattice) -> None:
    plan = plan_lattice(spec_from(SPEC))
    assert plan.server("use1-0").websocket
    port = lattice.ports["use1-0"].websocket
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"GET /leafnode HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        sock.settimeout(2)
        try:
            reply = sock.recv(200)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    assert not reply.startswith(b"HTTP/1.1 101"), "a plaintext upgrade must not be accepted"
