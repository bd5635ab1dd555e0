"""What one site's anonymous local port can do to the hubs' JetStream, measured on a running
lattice (``python -m sandbox isolation`` prints it, the attack suite asserts it).

A cloud service first creates a stream of its own at the hubs (``CLOUD-TARGET``, replicated,
a few messages, one pull consumer). From every spoke's local port, where an attacker on an
edge machine stands, each harmful call of the hubs' JetStream API is sent once, and so is
every call on another site's mirror consumer (a site outside the caller's own subtree: a
store and its devices share one link). A call is *answered* when any reply comes back,
an error included (then it reached the API): the figure is the answered count. After the
run the cloud stream and every consumer are read back from the cloud side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from lattice.jetstream_sync import domain_api, mirror_consumer
from lattice.plan import LatticePlan
from sandbox.checks import connect_hub, connect_spoke
from sandbox.topology import LocalLattice

TARGET = "CLOUD-TARGET"
"""The cloud's own stream the calls aim at (created through the service credentials)."""
TARGET_MESSAGES = 5
TARGET_CONSUMER = "cloud-reader"


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


HARMFUL: tuple[tuple[str, str, bytes], ...] = (
    ("account info (the shared account's usage)", "INFO", b""),
    ("list the streams", "STREAM.NAMES", b""),
    ("read a stream's config", f"STREAM.INFO.{TARGET}", b""),
    ("read a stream's messages", f"STREAM.MSG.GET.{TARGET}", _body({"seq": 1})),
    (
        "take a cloud consumer's messages",
        f"CONSUMER.MSG.NEXT.{TARGET}.{TARGET_CONSUMER}",
        _body({"batch": 1, "expires": 500_000_000}),
    ),
    ("create a stream", "STREAM.CREATE.ROGUE", _body({"name": "ROGUE", "subjects": ["rogue.>"], "max_bytes": 1})),
    (
        "create a consumer pushing to a subject of its choosing",
        f"CONSUMER.CREATE.{TARGET}",
        _body({"stream_name": TARGET, "config": {"deliver_subject": "rogue.deliver", "ack_policy": "none"}}),
    ),
    ("reconfigure a stream", f"STREAM.UPDATE.{TARGET}", _body({"name": TARGET, "max_msgs": 1})),
    ("delete a message", f"STREAM.MSG.DELETE.{TARGET}", _body({"seq": 1})),
    ("purge a stream", f"STREAM.PURGE.{TARGET}", b""),
    ("delete a cloud consumer", f"CONSUMER.DELETE.{TARGET}.{TARGET_CONSUMER}", b""),
    ("delete a stream", f"STREAM.DELETE.{TARGET}", b""),
)
"""(what, subject after ``$JS.<hub domain>.API.``, payload): each one a site must never
get answered. Reads first, then what changes or destroys: the cloud's stream is made again
before each spoke's turn, so every spoke's calls meet it whole."""


def other_sites_calls(stream: str, domain: str) -> tuple[tuple[str, str, bytes], ...]:
    """Calls on another site's mirror consumer of ``stream`` (the site of ``domain``)."""
    name = mirror_consumer(domain)
    config = {"durable_name": name, "deliver_subject": "rogue.deliver", "ack_policy": "none"}
    return (
        ("reset another site's mirror consumer", f"CONSUMER.RESET.{stream}.{name}", _body({"seq": 1})),
        ("delete another site's mirror consumer", f"CONSUMER.DELETE.{stream}.{name}", b""),
        (
            "redirect another site's mirror consumer",
            f"CONSUMER.CREATE.{stream}.{name}",
            _body({"stream_name": stream, "config": config, "action": "update"}),
        ),
    )


@dataclass
class HubApiReport:
    answered: dict[str, dict[str, bool]] = field(default_factory=dict)
    """Spoke -> call -> whether it was answered."""
    destroyed_by: list[str] = field(default_factory=list)
    """Spokes after whose calls the cloud's stream or its consumer was gone or changed."""
    target_before: int = 0
    target_after: int | None = None
    """Messages in the cloud's stream before and after (None: the stream is gone)."""
    consumers_before: dict[str, str] = field(default_factory=dict)
    consumers_after: dict[str, str] = field(default_factory=dict)
    """Stream/consumer -> its config as JSON, read from the cloud side."""

    @property
    def sent(self) -> int:
        return sum(len(calls) for calls in self.answered.values())

    @property
    def total_answered(self) -> int:
        return sum(sum(calls.values()) for calls in self.answered.values())

    def by_spoke(self) -> dict[str, tuple[int, int]]:
        return {s: (sum(calls.values()), len(calls)) for s, calls in self.answered.items()}

    def lines(self) -> list[str]:
        out = [f"harmful JetStream API calls answered at the hubs: {self.total_answered} of {self.sent}"]
        for spoke, (answered, sent) in self.by_spoke().items():
            hits = [c for c, ok in self.answered[spoke].items() if ok]
            out.append(f"  from {spoke}: {answered}/{sent}" + (f" ({'; '.join(hits)})" if hits else ""))
        after = "gone" if self.target_after is None else f"{self.target_after} messages"
        out.append(f"the cloud's {TARGET}: {self.target_before} messages before, {after} after")
        out.append(f"spokes whose calls changed or destroyed it: {', '.join(self.destroyed_by) or 'none'}")
        out.append(f"consumers changed or gone: {', '.join(self.changed_consumers()) or 'none'}")
        return out

    def changed_consumers(self) -> list[str]:
        return sorted(k for k, v in self.consumers_before.items() if self.consumers_after.get(k) != v)

    def as_dict(self) -> dict[str, object]:
        return {
            "answered": self.answered,
            "total_answered": self.total_answered,
            "sent": self.sent,
            "target_before": self.target_before,
            "target_after": self.target_after,
            "destroyed_by": self.destroyed_by,
            "consumers_changed": self.changed_consumers(),
        }


async def _answered(nc: Client, subject: str, payload: bytes, timeout: float) -> bool:
    try:
        await nc.request(subject, payload, timeout=timeout)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return True


async def _consumers(hub: Client, plan: LatticePlan) -> dict[str, str]:
    """Every consumer of the cloud's stream and of the hub streams, by ``stream/consumer``."""
    out: dict[str, str] = {}
    for stream in [TARGET, *(s.name for s in plan.hub_streams)]:
        try:
            reply = await hub.request(f"$JS.API.CONSUMER.LIST.{stream}", b"", timeout=5)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            continue
        for info in json.loads(reply.data).get("consumers") or []:
            config = {k: v for k, v in info["config"].items() if k not in ("opt_start_seq",)}
            out[f"{stream}/{info['name']}"] = json.dumps(config, sort_keys=True)
    return out


async def _target_messages(hub: Client) -> int | None:
    """The cloud stream's messages (None: it is gone; read again while a replicated stream
    elects its leader)."""
    for _ in range(20):
        with contextlib.suppress(nats.errors.TimeoutError):
            reply = json.loads((await hub.request(f"$JS.API.STREAM.INFO.{TARGET}", b"", timeout=2)).data)
            if reply.get("error", {}).get("err_code") == 10059:
                return None
            if "state" in reply:
                return int(reply["state"]["messages"])
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{TARGET}: no stream info")


def _outside(plan: LatticePlan, spoke: str) -> Callable[[str], bool]:
    """Whether another spoke is outside ``spoke``'s site's link (every spoke under the one
    that dials the hub shares the link, and the password leaves inside it)."""
    mine = set(plan.subtree(plan.site_link(spoke)))
    return lambda other: other not in mine


async def _make_target(hub: Client, replicas: int) -> None:
    """The cloud's stream, whole: created (again) with its messages and its consumer."""
    js = hub.jetstream()
    if await _target_messages(hub) == TARGET_MESSAGES:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.consumer_info(TARGET, TARGET_CONSUMER)
            return
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(TARGET)
    await js.add_stream(name=TARGET, subjects=["cloud-target.>"], num_replicas=replicas)
    for n in range(TARGET_MESSAGES):
        await js.publish(f"cloud-target.{n}", b"the cloud's own")
    await js.add_consumer(TARGET, durable_name=TARGET_CONSUMER)


async def measure(lattice: LocalLattice, timeout: float = 1.0) -> HubApiReport:
    """Every harmful call from every spoke's local port, the cloud's stream whole before
    each spoke's turn (and whether that spoke's calls changed it)."""
    plan, report = lattice.plan, HubApiReport()
    hub = await connect_hub(lattice, plan.hubs[0].name, "hub-api-target")
    replicas = min(3, len(plan.hubs[0].servers))
    try:
        await _make_target(hub, replicas)
        report.target_before = await _target_messages(hub) or 0
        report.consumers_before = await _consumers(hub, plan)
        api = domain_api(plan.hub_domain)
        for spoke in plan.spokes:
            if plan.dials_external_hub(spoke.name):
                continue
            await _make_target(hub, replicas)
            before = await _consumers(hub, plan)
            nc = await connect_spoke(lattice, spoke.name, f"hub-api-{spoke.name}")
            calls = list(HARMFUL)
            outside = _outside(plan, spoke.name)
            for stream in plan.hub_streams:
                for other in stream.mirrors.spokes if stream.mirrors else ():
                    if outside(other):
                        calls += other_sites_calls(stream.name, plan.spoke(other).jetstream_domain)
            answered = {}
            for what, tail, payload in calls:
                label = what if "another site" not in what else f"{what} ({tail.rsplit('.', 1)[1]})"
                answered[label] = await _answered(nc, f"{api}.{tail}", payload, timeout)
            report.answered[spoke.name] = answered
            await nc.close()
            await asyncio.sleep(0.3)
            if await _target_messages(hub) != TARGET_MESSAGES or await _consumers(hub, plan) != before:
                report.destroyed_by.append(spoke.name)
        await asyncio.sleep(0.5)
        report.target_after = await _target_messages(hub)
        report.consumers_after = await _consumers(hub, plan)
        return report
    finally:
        await hub.close()
