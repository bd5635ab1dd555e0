"""A site cannot harm the cloud: the hubs' JetStream from every kind of spoke, the other sites'
mirror consumers, what a site may store and subscribe at the hubs, and a flood from one site.

One topology with every kind of spoke (a store on a hub, a WebSocket kiosk, a mid-tier
depot and a device under it), a 3-node hub, and the stack's hub streams kept by the agent:
SALES-IN sources each site's SALES, CONFIG is mirrored by every site, ORDERS takes each
site's own orders. Each attack is made from a spoke's anonymous local port (where anyone on
an edge machine stands) or with a spoke's own ``.creds`` (root on it), and shown refused by
the hub itself; every legitimate flow runs through the same lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import nats
import nats.errors
import pytest
from nats.js.errors import APIError, NoStreamResponseError

from lattice.credentials import WIDE_ISSUED_AT, format_creds, nkey_from_entropy, signing_key, user_jwt
from lattice.jetstream import site_quota
from lattice.jetstream_sync import mirror_consumer
from lattice.permissions import profile_subjects
from sandbox import flood, hubapi
from sandbox.checks import connect_hub, connect_spoke, synced
from sandbox.monitor import get_json, leaf_attachment
from sandbox.streams import MSG_ID, wait_for_messages
from sandbox.topology import LocalLattice
from tests.live.attackers import RawLeaf, log_size, wait_for_line
from tests.support.helpers import spec_from

pytestmark = pytest.mark.live

MIB = 2**20
SPOKES = ["store", "kiosk", "depot", "dev-1"]
KINDS = {"store": "hub-spoke", "kiosk": "WebSocket", "depot": "mid-tier", "dev-1": "device"}
SPEC: dict[str, Any] = {
    "name": "acme",
    "leafPermissions": {"subjects": ["svc.>"]},
    "limits": {"siteSubscriptions": 100},
    "hubs": [{"name": "cloud", "platform": "kubernetes", "nodes": 3}],
    "spokes": [
        {"name": "store", "upstream": "cloud", "platform": "kubernetes", "wasmcloudHost": False},
        {
            "name": "kiosk",
            "upstream": "cloud",
            "platform": "kubernetes",
            "leafTransport": "websocket",
            "wasmcloudHost": False,
        },
        {"name": "depot", "upstream": "cloud", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "dev-1", "upstream": "depot", "platform": "kubernetes", "wasmcloudHost": False},
    ],
    "hubStreams": [
        {
            "name": "SALES-IN",
            "maxBytes": 32 * MIB,
            "sources": {"stream": "SALES", "subjects": ["sales.{spoke}.>"], "spokes": SPOKES, "maxBytes": 8 * MIB},
        },
        {"name": "CONFIG", "maxBytes": 4 * MIB, "subjects": ["config.>"], "mirrors": {"spokes": SPOKES}},
        {"name": "ORDERS", "maxBytes": 1 * MIB, "subjects": ["orders.{spoke}.>"], "publishers": SPOKES},
    ],
}
HUB = "cloud-0"


@pytest.fixture(scope="module")
def kinds() -> Iterator[LocalLattice]:
    with LocalLattice(spec_from(SPEC)) as lattice:
        lattice.start_servers()
        conv = lattice.wait_converged(timeout=60)
        assert conv.ok, conv.missing
        lattice.start_agents()
        lattice.wait_hub_streams(60)
        yield lattice


def _attached(lattice: LocalLattice) -> dict[str, str | None]:
    top = [s.name for s in lattice.plan.spokes if s.upstream_is_hub]
    return {s: leaf_attachment(lattice.plan, lattice.monitors(), s) for s in top}


# --- the hubs' JetStream API --------------------------------------------------------------------


def test_no_harmful_jetstream_call_from_any_kind_of_spoke_is_answered(kinds: LocalLattice) -> None:
    """From each spoke's local port: account info, stream create, update, purge and delete,
    message delete and read, consumer create (a deliver subject of its choosing), a cloud
    consumer's delete and messages, and every call on another site's mirror consumer: none
    answered, the cloud's stream and every consumer as they were, every link still up."""
    report = asyncio.run(hubapi.measure(kinds))
    assert set(report.answered) == set(SPOKES)
    assert report.total_answered == 0, "\n".join(report.lines())
    outside = {"store": 3, "kiosk": 3, "depot": 2, "dev-1": 2}  # mirror consumers of other sites
    for spoke, (_, sent) in report.by_spoke().items():
        assert sent == len(hubapi.HARMFUL) + 3 * outside[spoke], spoke
    assert report.target_before == report.target_after == hubapi.TARGET_MESSAGES
    assert report.consumers_before == report.consumers_after
    assert {f"CONFIG/{mirror_consumer(s)}" for s in SPOKES} <= set(report.consumers_after)
    assert all(_attached(kinds).values()), "a refused call closes no link"


@pytest.mark.parametrize(
    "subject",
    [
        "$JS.hub.API.STREAM.DELETE.CONFIG",
        "$JS.hub.API.CONSUMER.CREATE.CONFIG",
        "$JS.hub.API.CONSUMER.RESET.CONFIG.site-kiosk",
    ],
)
def test_a_compromised_spoke_sending_a_jetstream_call_up_is_refused(kinds: LocalLattice, subject: str) -> None:
    """With the store's own credentials (root on its box), the call sent straight into the
    hub: a publish violation, the link closed; the hub stream and the kiosk's consumer stay.
    (The hub names the call as its domain maps it: ``$JS.hub.API.x`` is ``$JS.API.x``.)"""
    log = kinds.supervisor.log_path(HUB)
    start = log_size(log)
    leaf = RawLeaf(kinds.ports[HUB].leaf, kinds.auth.leaf_creds["store"], kinds.ca.cert_pem)
    try:
        leaf.read_for(0.5)
        leaf.send(f"LMSG {subject} _INBOX.rogue.1 2\r\n{{}}\r\nPING\r\n")
        told = leaf.read_for(3)
    finally:
        leaf.close()
    called = re.escape(subject.removeprefix("$JS.hub.API.")).join([r"\$JS\.(hub\.)?API\.", ""])
    assert re.search(rf"-ERR 'Permissions Violation for Publish to \"{called}\"'", told), told
    assert wait_for_line(log, rf'Publish Violation on "{called}"', 5, start)

    async def still_there() -> tuple[int, str]:
        hub = await connect_hub(kinds, "cloud", "check-config")
        try:
            info = json.loads((await hub.request("$JS.API.STREAM.INFO.CONFIG", b"", timeout=5)).data)
            consumer = json.loads(
                (await hub.request(f"$JS.API.CONSUMER.INFO.CONFIG.{mirror_consumer('kiosk')}", b"", timeout=5)).data
            )
            return int(info["state"]["messages"]) if "state" in info else -1, str(consumer.get("name"))
        finally:
            await hub.close()

    messages, consumer = asyncio.run(still_there())
    assert messages >= 0 and consumer == mirror_consumer("kiosk")


def test_site_a_cannot_alter_site_bs_mirror_consumer(kinds: LocalLattice) -> None:
    """The store resets the kiosk's consumer to the start and deletes it, from its local
    port: neither is answered; the kiosk's consumer keeps its place and its mirror has every
    new config entry once."""

    async def run() -> tuple[dict[str, Any], dict[str, Any], int, int]:
        hub = await connect_hub(kinds, "cloud", "config-writer")
        store = await connect_spoke(kinds, "store", "attacker")
        kiosk = await connect_spoke(kinds, "kiosk", "kiosk-reader")
        try:
            js = hub.jetstream()
            for n in range(5):
                await js.publish(f"config.before.{n}", b"v", headers={MSG_ID: f"b{n}"})
            count = (await js.stream_info("CONFIG")).state.messages
            await wait_for_messages(kiosk.jetstream(), "CONFIG", count, 30)
            info = f"$JS.API.CONSUMER.INFO.CONFIG.{mirror_consumer('kiosk')}"
            before = json.loads((await hub.request(info, b"", timeout=5)).data)
            name = mirror_consumer("kiosk")
            for tail, payload in ((f"RESET.CONFIG.{name}", b'{"seq":1}'), (f"DELETE.CONFIG.{name}", b"")):
                with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
                    await store.request(f"$JS.hub.API.CONSUMER.{tail}", payload, timeout=1)
            for n in range(5):
                await js.publish(f"config.after.{n}", b"v", headers={MSG_ID: f"a{n}"})
            count = (await js.stream_info("CONFIG")).state.messages
            await wait_for_messages(kiosk.jetstream(), "CONFIG", count, 30)
            await asyncio.sleep(1)
            mirrored = (await kiosk.jetstream().stream_info("CONFIG")).state.messages
            after = json.loads((await hub.request(info, b"", timeout=5)).data)
            return before, after, count, mirrored
        finally:
            for nc in (hub, store, kiosk):
                await nc.close()

    before, after, count, mirrored = asyncio.run(run())
    assert after["name"] == before["name"] and after["config"] == before["config"]
    assert after["delivered"]["stream_seq"] >= before["delivered"]["stream_seq"], "never reset behind its place"
    assert mirrored == count, "the kiosk's mirror holds each entry once"


# --- every legitimate flow, under the narrowed lists ---------------------------------------------


def test_each_site_publishes_its_own_orders_into_the_hub_and_no_other_sites(kinds: LocalLattice) -> None:
    """ORDERS takes ``orders.{spoke}.>``: each kind of spoke's own publish is acked by the hub
    stream; one in another site's name never is (no responder: it never leaves the site)."""

    async def run() -> dict[str, tuple[str, bool]]:
        out = {}
        for spoke in SPOKES:
            nc = await connect_spoke(kinds, spoke, f"orders-{spoke}")
            try:
                js = nc.jetstream()
                ack = await js.publish(f"orders.{spoke}.1", b"order", timeout=5)
                other = "store" if spoke != "store" else "kiosk"
                forged = True
                try:
                    await js.publish(f"orders.{other}.forged", b"forged", timeout=1)
                except (NoStreamResponseError, nats.errors.TimeoutError):
                    forged = False
                out[spoke] = (ack.stream, forged)
            finally:
                await nc.close()
        return out

    results = asyncio.run(run())
    assert results == {s: ("ORDERS", False) for s in SPOKES}


def test_sales_from_every_kind_of_spoke_reach_the_hub_and_config_reaches_each(kinds: LocalLattice) -> None:
    async def run() -> tuple[int, int, dict[str, int], int]:
        hub = await connect_hub(kinds, "cloud", "sales-reader")
        try:
            js = hub.jetstream()
            sourced = (await js.stream_info("SALES-IN")).state.messages + len(SPOKES)
            for spoke in SPOKES:
                nc = await connect_spoke(kinds, spoke, f"pos-{spoke}")
                await nc.jetstream().publish(f"sales.{spoke}.legit", b"sale", headers={MSG_ID: f"legit-{spoke}"})
                await nc.close()
            got = await wait_for_messages(js, "SALES-IN", sourced, 30)
            await js.publish("config.legit", b"v", headers={MSG_ID: "legit-config"})
            count = (await js.stream_info("CONFIG")).state.messages
            mirrors = {}
            for spoke in SPOKES:
                nc = await connect_spoke(kinds, spoke, f"cfg-{spoke}")
                mirrors[spoke] = await wait_for_messages(nc.jetstream(), "CONFIG", count, 30)
                await nc.close()
            return got, sourced, mirrors, count
        finally:
            await hub.close()

    got, sourced, mirrors, count = asyncio.run(run())
    assert got == sourced
    assert mirrors == dict.fromkeys(SPOKES, count)


# --- bounded use per site -----------------------------------------------------------------------


def test_a_site_stores_at_the_hub_no_more_than_its_streams_hold(kinds: LocalLattice) -> None:
    """ORDERS holds 1 MiB (discard new): the store's orders are refused once it is full, by
    the hub stream itself, and what it holds stays within its limit. The store's whole quota
    at the hubs is its hub streams' maxBytes times their replicas."""

    async def run() -> tuple[int, int, str]:
        nc = await connect_spoke(kinds, "store", "order-flood")
        hub = await connect_hub(kinds, "cloud", "orders-reader")
        try:
            js, refused, stored = nc.jetstream(), "", 0
            for n in range(200):
                try:
                    await js.publish(f"orders.store.bulk-{n}", b"o" * 8192, timeout=5)
                    stored += 1
                except APIError as err:
                    refused = str(err.description)
                    break
            held = (await hub.jetstream().stream_info("ORDERS")).state.bytes
            return stored, held, refused
        finally:
            await nc.close()
            await hub.close()

    stored, held, refused = asyncio.run(run())
    assert "maximum bytes exceeded" in refused, refused
    assert 0 < stored < 200 and held <= 1 * MIB
    assert site_quota(kinds.plan, "store") == 3 * (32 + 1) * MIB, "SALES-IN and ORDERS, three replicas each"


def test_interest_beyond_the_sites_subscription_limit_is_refused_and_the_link_stays(kinds: LocalLattice) -> None:
    """``limits.siteSubscriptions`` is 100 here: the kiosk registers 150 subjects the hub may
    send down; the hub keeps at most 100 of the link's (``maximum subscriptions exceeded`` in
    its log) and the link stays, serving what it kept."""
    node = leaf_attachment(kinds.plan, kinds.monitors(), "kiosk")
    assert node is not None
    log = kinds.supervisor.log_path(node)
    start = log_size(log)

    async def run() -> tuple[int, int, bool]:
        kiosk = await connect_spoke(kinds, "kiosk", "many-subs")
        hub = await connect_hub(kinds, "cloud", "svc-caller")
        try:
            for n in range(150):
                await kiosk.subscribe(f"svc.many.{n}", cb=_answer)
            await synced(kiosk)
            await asyncio.sleep(1.5)
            leaf = next(x for x in get_json(f"{kinds.monitor_url(node)}/leafz")["leafs"] if x["name"] == "kiosk")
            answered = 0
            for n in range(150):
                try:
                    await hub.request(f"svc.many.{n}", b"", timeout=0.5)
                    answered += 1
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    pass
            return int(leaf["subscriptions"]), answered, leaf_attachment(kinds.plan, kinds.monitors(), "kiosk") == node
        finally:
            await kiosk.close()
            await hub.close()

    held, answered, linked = asyncio.run(run())
    assert held <= 100 and 0 < answered < 150, (held, answered)
    assert wait_for_line(log, r"maximum subscriptions exceeded", 5, start)
    assert linked, "the link stayed up"


async def _answer(msg: Any) -> None:
    await msg.respond(b"ok")


def test_a_message_beyond_the_payload_limit_never_reaches_the_link(kinds: LocalLattice) -> None:
    """A local client's 1 MiB + 1 message on a subject that crosses: its own spoke refuses
    it (``Maximum Payload Violation``, that client closed); the link to the hub stays."""
    node = leaf_attachment(kinds.plan, kinds.monitors(), "store")
    with socket.create_connection(("127.0.0.1", kinds.ports["store"].client), timeout=5) as sock:
        sock.recv(4096)
        payload = b"x" * (MIB + 1)
        sock.sendall(b'CONNECT {"verbose":false}\r\n' + f"PUB svc.big {len(payload)}\r\n".encode() + payload + b"\r\n")
        sock.settimeout(3)
        told = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):  # it sends -ERR, then closes
            while chunk := sock.recv(4096):
                told += chunk
    assert b"Maximum Payload Violation" in told
    time.sleep(1)
    assert leaf_attachment(kinds.plan, kinds.monitors(), "store") == node


def test_a_flood_from_one_site_leaves_the_others_served(kinds: LocalLattice) -> None:
    """nats-server bounds no rate: the store floods heartbeats (up its allow-list, to the
    hub's listener) as fast as a Go client publishes; the other sites' requests to a hub
    service are still answered, and the flood reached the hub (so it was one)."""
    report = asyncio.run(flood.measure_flood(kinds, "store", seconds=5))
    assert report.flood_heard_at_hub > 0, "the flood crossed the link"
    assert report.success("before") == 1.0
    assert report.success("during") >= 0.9, "\n".join(report.lines())
    assert leaf_attachment(kinds.plan, kinds.monitors(), "store") is not None, "the flooding site stays linked"


# --- old, wider credentials --------------------------------------------------------------------


def _earlier_release_creds(lattice: LocalLattice, spoke: str) -> str:
    """What the earlier release gave ``spoke``: its own key, the same account, wide lists
    (the hubs' whole JetStream API up), issued at ``WIDE_ISSUED_AT``, signed by the account."""
    account = nkey_from_entropy("account", lattice.entropy["account-lattice"])
    user = nkey_from_entropy("user", lattice.entropy[f"leaf-{spoke}"])
    profile = profile_subjects(lattice.plan, lattice.plan.lattice)
    jwt = user_jwt(
        account,
        user,
        f"leaf-{spoke}",
        connection_types=["LEAFNODE"],
        allow_pub=[*profile.up, "$JS.hub.API.>"],
        allow_sub=list(profile.down),
        issued_at=WIDE_ISSUED_AT,
    )
    return format_creds(jwt, user.seed)


@pytest.mark.parametrize("which", ["an earlier release's wide", "a later revision's", "the current"])
def test_only_the_current_revisions_leaf_credentials_get_in(kinds: LocalLattice, which: str) -> None:
    """A copy of the store's earlier, wider ``.creds`` (same key) is refused at the hub
    (``Authorization Violation``); so is one signed for a revision the trust does not name
    yet beyond the next; the current ``.creds`` get in."""
    if which == "the current":
        creds = kinds.auth.leaf_creds["store"]
    elif which == "a later revision's":
        signer = signing_key(kinds.entropy["account-lattice"], 2)
        account = nkey_from_entropy("account", kinds.entropy["account-lattice"])
        user = nkey_from_entropy("user", kinds.entropy["leaf-store"])
        jwt = user_jwt(account, user, "leaf-store", connection_types=["LEAFNODE"], signer=signer)
        creds = format_creds(jwt, user.seed)
    else:
        creds = _earlier_release_creds(kinds, "store")
    leaf = RawLeaf(kinds.ports[HUB].leaf, creds, kinds.ca.cert_pem, name=f"copy-{which.split()[1]}")
    try:
        told = leaf.read_for(2)
    finally:
        leaf.close()
    if which == "the current":
        assert "PONG" in told and "Authorization Violation" not in told
    else:
        assert "Authorization Violation" in told, told


def test_the_kinds_are_what_the_module_says(kinds: LocalLattice) -> None:
    """Each spoke is the kind it stands for (the suite claims every kind)."""
    plan = kinds.plan
    assert plan.spoke("kiosk").leaf_transport == "websocket" and plan.spoke("depot").is_mid_tier
    assert not plan.spoke("dev-1").upstream_is_hub and plan.spoke("store").upstream_is_hub
    assert set(KINDS) == set(SPOKES)


def test_what_a_site_still_overhears_of_the_hub_streams(kinds: LocalLattice) -> None:
    """The threat model's residual, measured: from the store's local port, subscribed to every
    mirror delivery (``$JS.M.>``) and every consumer answer (``$JSC.R.>``) while the kiosk's
    mirror takes new entries and rebinds to its consumer (its server restarts): none of the
    kiosk's deliveries arrives, only the store's own mirror's (each site's deliver subject is
    its own); the reset's answer for the kiosk does (every site's mirror answers share
    ``$JSC.R.>``)."""

    async def listen() -> tuple[int, int, list[bytes], int]:
        store = await connect_spoke(kinds, "store", "overhearer")
        hub = await connect_hub(kinds, "cloud", "config-writer-2")
        deliveries: list[str] = []
        answers: list[bytes] = []

        async def delivery(msg: Any) -> None:
            deliveries.append(msg.subject)

        async def answer(msg: Any) -> None:
            answers.append(msg.data)

        try:
            await store.subscribe("$JS.M.>", cb=delivery)
            await store.subscribe("$JSC.R.>", cb=answer)
            await synced(store)
            await asyncio.sleep(1)
            for n in range(5):
                await hub.jetstream().publish(f"config.overheard.{n}", b"v")
            kinds.supervisor.stop("kiosk")
            kinds.start_server("kiosk")
            await asyncio.to_thread(kinds.wait_converged, 30)
            count = (await hub.jetstream().stream_info("CONFIG")).state.messages
            kiosk = await connect_spoke(kinds, "kiosk", "kiosk-after-restart")
            mirrored = await wait_for_messages(kiosk.jetstream(), "CONFIG", count, 30)
            await kiosk.close()
            await asyncio.sleep(1)
            copies = [d for d in deliveries if d.startswith("config.overheard.")]
            return len(copies), mirrored - count, answers, len(deliveries)
        finally:
            await store.close()
            await hub.close()

    copies, behind, answers, _ = asyncio.run(listen())
    # a delivery keeps its stream subject: the store hears its own mirror's copy of each entry
    # (5), and would hear 20 if the four sites' deliveries all reached it
    assert copies == 5, f"only the store's own mirror's deliveries reached it: {copies}"
    assert behind == 0, "the kiosk's mirror caught up after its restart"
    assert any(mirror_consumer("kiosk").encode() in a for a in answers), "the kiosk's reset answer was overheard"


def test_what_a_compromised_site_can_still_do_with_a_hand_made_leaf(kinds: LocalLattice) -> None:
    """The threat model's residual, measured: nats-server 2.15.1 lets a leaf's ``$JS.ACK.>``
    through without its permissions (``leafMsgAllowed``), so with the store's own ``.creds``
    and a hand-made leaf connection a ``+NXT`` on a cloud pull consumer takes its messages
    (its anonymous local port cannot: the hub announces no such interest). A forged ``+ACK``
    on another site's mirror consumer moves nothing: it acks by flow control only. If this
    fails, nats-server closed the door: update the threat model."""

    async def setup() -> None:
        hub = await connect_hub(kinds, "cloud", "work-queue")
        try:
            js = hub.jetstream()
            await js.add_stream(name="CLOUD-WORK", subjects=["cloud-work.>"], num_replicas=3)
            for n in range(3):
                await js.publish(f"cloud-work.{n}", b"cloud work")
            await js.add_consumer("CLOUD-WORK", durable_name="workers", ack_policy="explicit")
        finally:
            await hub.close()

    async def consumers() -> tuple[int, int]:
        hub = await connect_hub(kinds, "cloud", "work-queue-check")
        try:
            work = await hub.jetstream().consumer_info("CLOUD-WORK", "workers")
            kiosk = json.loads(
                (await hub.request(f"$JS.API.CONSUMER.INFO.CONFIG.{mirror_consumer('kiosk')}", b"", timeout=5)).data
            )
            return work.num_ack_pending, int(kiosk["ack_floor"]["stream_seq"])
        finally:
            await hub.close()

    async def from_the_local_port() -> bool:
        store = await connect_spoke(kinds, "store", "local-pull")
        try:
            await store.request("$JS.ACK.CLOUD-WORK.workers.1.0.0.0.0", b'+NXT {"batch":1}', timeout=1)
            return True
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return False
        finally:
            await store.close()

    asyncio.run(setup())
    assert not asyncio.run(from_the_local_port()), "the anonymous local port takes nothing"
    _, kiosk_floor = asyncio.run(consumers())
    leaf = RawLeaf(kinds.ports[HUB].leaf, kinds.auth.leaf_creds["store"], kinds.ca.cert_pem, name="hand-made")
    try:
        leaf.read_for(0.5)
        pull, ack = '+NXT {"batch":3}', "+ACK"
        leaf.send(f"LS+ _INBOX.taken.>\r\nLMSG $JS.ACK.CLOUD-WORK.workers.1.0.0.0.0 _INBOX.taken.1 {len(pull)}\r\n")
        leaf.send(f"{pull}\r\nLMSG $JS.ACK.CONFIG.{mirror_consumer('kiosk')}.1.999.999.0.0 {len(ack)}\r\n{ack}\r\n")
        leaf.send("PING\r\n")
        told = leaf.read_for(3)
    finally:
        leaf.close()
    taken, kiosk_after = asyncio.run(consumers())
    assert told.count("LMSG _INBOX.taken.1 $JS.ACK.CLOUD-WORK.workers.") == 3, told[-500:]
    assert taken == 3, "the cloud consumer's three messages went to the hand-made leaf"
    assert kiosk_after == kiosk_floor, "the kiosk's mirror consumer ignored the forged ack"
