"""The seed's promises on real nats-server processes: the dev stack on loopback.

Tests wait on the servers' own view (/routez, /gatewayz, /leafz) rather than sleeping.
The test that kills a hub node runs last in this module and restarts the node after.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import nats
import pytest
from nats.aio.msg import Msg

from sandbox.checks import HeartbeatWatch, connect_hub, connect_spoke, request_with_retry
from sandbox.monitor import gateway_peers, leaf_attachment, leaf_peers, route_peers
from sandbox.topology import LocalLattice

pytestmark = pytest.mark.live


def test_hub_routes_form(dev_lattice: LocalLattice) -> None:
    for server in dev_lattice.plan.servers:
        if server.role == "hub":
            assert route_peers(dev_lattice.monitor_url(server.name)) >= set(server.peers)


def test_gateways_connect_the_regions(dev_lattice: LocalLattice) -> None:
    for server in dev_lattice.plan.servers:
        if server.role == "hub":
            assert gateway_peers(dev_lattice.monitor_url(server.name)) == {"use1", "euw1"} - {server.group}


def test_every_spoke_and_sub_spoke_leaf_connects(dev_lattice: LocalLattice) -> None:
    plan, monitors = dev_lattice.plan, dev_lattice.monitors()
    for spoke in plan.spokes:
        attached = leaf_attachment(plan, monitors, spoke.name)
        assert attached in plan.group_servers(spoke.upstream), spoke.name
    assert leaf_attachment(plan, monitors, "device-7") == "store-12"
    # the hub sees each leaf in the lattice account, never the spoke's local account name
    hub_leafs = [leaf for s in plan.hub("use1").servers for leaf in leaf_peers(monitors[s])]
    assert {leaf["account"] for leaf in hub_leafs} == {dev_lattice.auth.trust.lattice_account}


async def _queue_members(lattice: LocalLattice, subject: str, n: int) -> tuple[Counter[str], int]:
    """A queue group with a member on spoke store-14 and one at hub use1; n requests from the spoke."""
    hub = await connect_hub(lattice, "use1", "test-hub-member")
    spoke_member = await connect_spoke(lattice, "store-14", "test-spoke-member")
    client = await connect_spoke(lattice, "store-14", "test-client")
    try:

        async def answer_hub(msg: Msg) -> None:
            await msg.respond(b"hub")

        async def answer_spoke(msg: Msg) -> None:
            await msg.respond(b"spoke")

        await hub.subscribe(subject, queue="workers", cb=answer_hub)
        await hub.flush()
        local_sub = await spoke_member.subscribe(subject, queue="workers", cb=answer_spoke)
        await spoke_member.flush()
        await request_with_retry(client, subject, b"warm-up", time.monotonic() + 10)
        served: Counter[str] = Counter()
        for _ in range(n):
            served[(await client.request(subject, b"x", timeout=2)).data.decode()] += 1

        # the spoke's only local member leaves: requests must fail over to the hub member
        await local_sub.unsubscribe()
        await spoke_member.flush()
        failures = 0
        for _ in range(n):
            try:
                reply = await client.request(subject, b"x", timeout=1)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                failures += 1
                reply = await client.request(subject, b"x", timeout=2)  # one retry
            served["after-leave:" + reply.data.decode()] += 1
        return served, failures
    finally:
        for nc in (hub, spoke_member, client):
            await nc.close()


def test_queue_group_is_served_locally_first_and_fails_over_to_hub(dev_lattice: LocalLattice) -> None:
    served, failures = asyncio.run(_queue_members(dev_lattice, "svc.inventory", 50))
    assert served["spoke"] == 50, f"every request served by the spoke's own member: {served}"
    assert served["hub"] == 0
    assert served["after-leave:hub"] == 50, served
    assert failures <= 1


async def _cross(lattice: LocalLattice, sender: str, receiver: str) -> bytes:
    sub_nc = await connect_spoke(lattice, receiver, "test-receiver")
    pub_nc = await connect_spoke(lattice, sender, "test-sender")
    try:

        async def answer(msg: Msg) -> None:
            await msg.respond(f"{receiver} got {msg.data.decode()}".encode())

        await sub_nc.subscribe(f"orders.{receiver}", cb=answer)
        await sub_nc.flush()
        reply = await request_with_retry(pub_nc, f"orders.{receiver}", sender.encode(), time.monotonic() + 10)
        return bytes(reply.data)
    finally:
        await sub_nc.close()
        await pub_nc.close()


@pytest.mark.parametrize(("sender", "receiver"), [("store-12", "store-14"), ("factory-3", "device-7")])
def test_message_crosses_spoke_hub_spoke(dev_lattice: LocalLattice, sender: str, receiver: str) -> None:
    assert asyncio.run(_cross(dev_lattice, sender, receiver)) == f"{receiver} got {sender}".encode()


async def _sub_spoke_to_hub(lattice: LocalLattice) -> str:
    hub = await connect_hub(lattice, "euw1", "test-hub-service")
    device = await connect_spoke(lattice, "device-7", "test-device")
    try:

        async def answer(msg: Msg) -> None:
            await msg.respond(b"euw1 service")

        await hub.subscribe("cloud.config.get", cb=answer)
        await hub.flush()
        reply = await request_with_retry(device, "cloud.config.get", b"", time.monotonic() + 10)
        return str(reply.data.decode())
    finally:
        await hub.close()
        await device.close()


def test_sub_spoke_reaches_a_hub_service_across_the_gateway(dev_lattice: LocalLattice) -> None:
    """device-7 -> store-12 -> use1 -> gateway -> euw1: two leaf hops and a gateway."""
    assert asyncio.run(_sub_spoke_to_hub(dev_lattice)) == "euw1 service"


async def _jetstream(lattice: LocalLattice) -> dict[str, object]:
    hub = await connect_hub(lattice, "use1", "test-js")
    store12 = await connect_spoke(lattice, "store-12", "test-js-local")
    out: dict[str, object] = {}
    try:
        for spoke in lattice.plan.spokes:
            reply = await request_with_retry(hub, f"$JS.{spoke.jetstream_domain}.API.INFO", b"", time.monotonic() + 10)
            out[f"domain:{spoke.name}"] = json.loads(reply.data).get("domain")
        create = {"name": "ORDERS", "subjects": ["orders.store-12.>"], "storage": "file"}
        reply = await hub.request("$JS.store-12.API.STREAM.CREATE.ORDERS", json.dumps(create).encode(), timeout=5)
        out["create"] = json.loads(reply.data).get("config", {}).get("name")
        local = await store12.request("$JS.API.STREAM.INFO.ORDERS", b"", timeout=5)
        out["local"] = json.loads(local.data).get("config", {}).get("name")
        for domain in ("store-14", "hub"):
            other = await hub.request(f"$JS.{domain}.API.STREAM.INFO.ORDERS", b"", timeout=5)
            out[f"in:{domain}"] = json.loads(other.data).get("error", {}).get("code")
    finally:
        await hub.close()
        await store12.close()
    return out


def test_each_spoke_jetstream_domain_is_isolated_and_reachable_from_the_hub(dev_lattice: LocalLattice) -> None:
    out = asyncio.run(_jetstream(dev_lattice))
    for spoke in dev_lattice.plan.spokes:
        assert out[f"domain:{spoke.name}"] == spoke.jetstream_domain
    assert out["create"] == "ORDERS", "stream created on store-12 from the hub via $JS.store-12.API"
    assert out["local"] == "ORDERS", "and it lives in store-12's own domain"
    assert out["in:store-14"] == 404 and out["in:hub"] == 404, "no other domain has it"


async def _host_seen(lattice: LocalLattice) -> list[tuple[str, bool, str]]:
    watch = HeartbeatWatch(lattice)
    watch.hub = "euw1"  # device-7 hangs under use1: its beats must cross two leaf hops and a gateway
    await watch.start()
    try:
        lattice.start_hosts()
        checks = await watch.check(["device-7", "store-12"], timeout=30)
        return [(c.name, c.ok, c.detail) for c in checks]
    finally:
        await watch.close()


def test_real_wasmcloud_host_on_a_spoke_is_seen_and_driven_from_the_hub(dev_lattice: LocalLattice) -> None:
    results = asyncio.run(_host_seen(dev_lattice))
    assert [r[:2] for r in results] == [("host-heartbeat:device-7", True), ("host-heartbeat:store-12", True)], results
    host_log = dev_lattice.supervisor.log_path("host-device-7").read_text()
    assert dev_lattice.client_url("device-7") in " ".join(dev_lattice.connection("device-7")["washHostArgs"])
    assert "connected to NATS" in host_log


def test_zzz_killing_the_attached_hub_node_moves_the_spoke(dev_lattice: LocalLattice) -> None:
    """Runs last (name): it kills a hub node, then restarts it for a clean teardown."""
    plan, monitors = dev_lattice.plan, dev_lattice.monitors()
    before = leaf_attachment(plan, monitors, "store-12")
    assert before is not None
    dev_lattice.supervisor.kill(before)
    killed_at = time.monotonic()
    after = None
    while time.monotonic() - killed_at < 15:
        after = leaf_attachment(plan, monitors, "store-12")
        if after is not None:
            break
        time.sleep(0.05)
    moved_s = time.monotonic() - killed_at
    dev_lattice.start_server(before)
    assert after is not None and after != before, f"store-12 did not re-attach in 15 s (was on {before})"
    assert after in plan.hub("use1").servers
    print(f"store-12 moved {before} -> {after} in {moved_s:.2f} s")
