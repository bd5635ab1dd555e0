"""Smoke checks the sandbox runs once the topology converged: the seed's promises, live."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from lattice.plan import LatticePlan
from sandbox.topology import LocalLattice

HEARTBEAT_SUBJECT = "runtime.operator.heartbeat.*"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def root_hub(plan: LatticePlan, spoke: str) -> str:
    group = plan.spoke(spoke).upstream
    while not plan.is_hub(group):
        group = plan.spoke(group).upstream
    return group


PING_SUBJECTS = {
    "wasmcloud-v2": "runtime.operator.heartbeat.sandbox-ping-{hub}",
    "wasmcloud-v1": "wasmbus.evt.{lattice}.sandbox_ping_{hub}",
}
"""Where a spoke's ping goes up: the subject its hosts' heartbeats take, the one a site may
publish to in every lattice (the answer comes down an inbox, as replies to a site do)."""


def ping_subject(plan: LatticePlan, lattice: str, hub: str) -> str:
    return PING_SUBJECTS[plan.leaf_profile].format(lattice=lattice, hub=hub)


def quiet_tls_close_warning() -> None:
    """asyncio logs "returning true from eof_received() has no effect when using ssl" each
    time a TLS peer closes a nats-py connection: harmless, and noise in the sandbox's output."""
    logging.getLogger("asyncio").addFilter(lambda record: "eof_received()" not in record.getMessage())


async def quiet_errors(err: Exception) -> None:
    """nats-py prints a traceback for every failed (re)connect unless given a callback; a
    failover to the next server is expected here, and failures surface as exceptions."""


async def connect_hub(lattice: LocalLattice, hub: str, name: str, account: str | None = None) -> Client:
    """A cloud-side service client at a hub region, with a lattice's service credentials
    (``account``: which lattice on the hubs; default the stack's own)."""
    creds = lattice.lattice_service_creds[account] if account else lattice.service_creds
    return await nats.connect(
        servers=lattice.hub_client_urls(hub),
        user_credentials=str(creds),
        tls=lattice.client_tls(),
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=5,
        error_cb=quiet_errors,
    )


async def connect_spoke(lattice: LocalLattice, spoke: str, name: str) -> Client:
    """An anonymous local client on a spoke: exactly how a wasmCloud host connects."""
    return await nats.connect(
        servers=[lattice.client_url(spoke)],
        name=name,
        connect_timeout=2,
        max_reconnect_attempts=5,
        error_cb=quiet_errors,
    )


async def synced(nc: Client, timeout: float = 5.0) -> None:
    """Return once the server has processed everything ``nc`` sent so far (its SUBs above all).

    ``flush()`` does not promise that with nats-py 2.16: it writes its PING straight to the
    socket while a SUB may still wait in the client's pending buffer for the flusher task, so
    the PONG can come back before the server has the subscription (found by the bench's
    partition figure: a request right after a responder's subscribe and flush was answered
    "no responders"; 48 of 1000 on a quiet machine, 76 under load, on one standalone
    server). A message the client sends itself queues behind everything before it, so its
    arrival back proves the server has seen it all."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=1)
    await nc.publish(inbox, b"")
    await sub.next_msg(timeout=timeout)


async def request_with_retry(nc: Client, subject: str, data: bytes, deadline: float) -> Msg:
    """Retry until interest has propagated across leaf and gateway links, or time is up."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return await nc.request(subject, data, timeout=0.5)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as err:
            last = err
            await asyncio.sleep(0.1)
    raise TimeoutError(f"no reply on {subject}: {last!r}")


async def check_spokes_reach_hubs(lattice: LocalLattice, timeout: float = 10.0) -> list[Check]:
    """A request from each spoke's anonymous local client is answered by its hub region, in
    its own lattice's account (one responder per hub and lattice)."""
    plan = lattice.plan
    responders = []
    for hub, account in ((h, a) for h in plan.hubs for a in plan.all_lattices):
        nc = await connect_hub(lattice, hub.name, f"sandbox-responder-{hub.name}-{account}", account)
        responders.append(nc)

        async def answer(msg: Msg, nc: Client = nc) -> None:
            info = nc._server_info  # the only place nats-py exposes it
            await msg.respond(str(info.get("server_name", "")).encode())

        await nc.subscribe(ping_subject(plan, account, hub.name), cb=answer)
        await nc.flush()
    checks = []
    try:
        for spoke in plan.spokes:
            target = root_hub(plan, spoke.name)
            name = f"spoke-reaches-hub:{spoke.name}"
            nc = await connect_spoke(lattice, spoke.name, f"sandbox-check-{spoke.name}")
            try:
                start = time.monotonic()
                subject = ping_subject(plan, plan.lattice_of(spoke.name), target)
                reply = await request_with_retry(nc, subject, b"ping", start + timeout)
                ms = (time.monotonic() - start) * 1000
                checks.append(Check(name, True, f"answered by hub node {reply.data.decode()} in {ms:.0f} ms"))
            except TimeoutError as err:
                checks.append(Check(name, False, str(err)))
            finally:
                await nc.close()
    finally:
        for nc in responders:
            await nc.close()
    return checks


class HeartbeatWatch:
    """Watches wasmCloud host heartbeats from the cloud side (a hub), as a scheduler would:
    one client per lattice, each in its own account, as each lattice's scheduler is."""

    def __init__(self, lattice: LocalLattice):
        self.lattice = lattice
        self.hub = lattice.plan.hubs[0].name
        self.seen: dict[str, str] = {}
        self._clients: dict[str, Client] = {}

    async def start(self) -> None:
        async def on_beat(msg: Msg) -> None:
            try:
                beat = json.loads(msg.data)
            except ValueError:
                return
            self.seen.setdefault(str(beat.get("hostname")), str(beat.get("id")))

        for account in self.lattice.plan.all_lattices:
            nc = await connect_hub(self.lattice, self.hub, f"sandbox-heartbeat-watch-{account}", account)
            self._clients[account] = nc
            await nc.subscribe(HEARTBEAT_SUBJECT, cb=on_beat)
            await nc.flush()

    async def check(self, host_names: list[str], timeout: float = 30.0) -> list[Check]:
        """Each host's heartbeat seen at the hub, and the host answers a request from there."""
        assert self._clients, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not set(host_names) <= set(self.seen):
            await asyncio.sleep(0.2)
        checks = []
        for host in host_names:
            name = f"host-heartbeat:{host}"
            host_id = self.seen.get(host)
            if host_id is None:
                checks.append(
                    Check(name, False, f"no heartbeat from host {host!r} at hub {self.hub} in {timeout:.0f} s")
                )
                continue
            try:
                nc = self._clients[self.lattice.plan.lattice_of(host)]
                reply = await nc.request(f"runtime.host.{host_id}.heartbeat", b"", timeout=5)
                answered = json.loads(reply.data).get("hostname")
                ok = answered == host
                detail = f"host {host_id} seen at hub {self.hub}; answered a hub request as {answered!r}"
            except (nats.errors.Error, ValueError) as err:
                ok, detail = False, f"host {host_id} heartbeat seen, but request failed: {err!r}"
            checks.append(Check(name, ok, detail))
        return checks

    async def close(self) -> None:
        for nc in self._clients.values():
            await nc.close()
