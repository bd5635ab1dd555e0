"""Site isolation, measured on a running lattice: what one site's anonymous local port can
do to the wasmCloud hosts of the others.

A site is a spoke that dials a hub together with every spoke under it (a store and its
devices). Each probe is made from a spoke's anonymous local client, exactly where an
attacker on an edge machine stands, and counted: cross-site host commands answered,
forged heartbeats that reach the hub, other sites' host commands and replies overheard.
``python -m sandbox isolation`` prints the counts; the attack suite asserts them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from sandbox.checks import connect_hub, connect_spoke
from sandbox.topology import LocalLattice

PROBE_WORKLOAD = "isolation-probe"
UNREACHABLE_REGISTRY = "127.0.0.1:9"
"""The discard port: nothing listens, so a host that obeys a start fails its pull at once
and answers with an error, which proves it acted without running anything."""

HOST_COMMANDS: dict[str, bytes] = {
    "heartbeat": b"",
    "workload.status": json.dumps({"workloadId": PROBE_WORKLOAD}).encode(),
    "workload.stop": json.dumps({"workloadId": PROBE_WORKLOAD}).encode(),
    "workload.start": json.dumps(
        {
            "workloadId": PROBE_WORKLOAD,
            "workload": {
                "namespace": "isolation",
                "name": "probe",
                "witWorld": {"components": [{"name": "probe", "image": f"{UNREACHABLE_REGISTRY}/probe:0"}]},
            },
        }
    ).encode(),
}
"""The v2 host's control commands (``runtime.host.<id>.<command>``), each with a payload
the host answers without changing anything."""


def host_subject(host_id: str, command: str) -> str:
    return f"runtime.host.{host_id}.{command}"


@dataclass(frozen=True)
class Answered:
    """How many of ``sent`` requests were answered."""

    answered: int = 0
    sent: int = 0

    def __add__(self, other: Answered) -> Answered:
        return Answered(self.answered + other.answered, self.sent + other.sent)

    def __str__(self) -> str:
        return f"{self.answered}/{self.sent}"


@dataclass
class IsolationReport:
    """Counts from one measurement; ``cross_site`` is the issue's number."""

    cross_site: Answered = field(default_factory=Answered)
    """Host commands from a spoke's local port to another site's hosts, answered."""
    cross_site_by_command: dict[str, Answered] = field(default_factory=dict)
    cross_site_by_spoke: dict[str, Answered] = field(default_factory=dict)
    own_site: Answered = field(default_factory=Answered)
    """The same to the hosts of the spoke's own site (its own, its store's, its devices')."""
    own_site_by_spoke: dict[str, Answered] = field(default_factory=dict)
    from_hub: Answered = field(default_factory=Answered)
    """Heartbeat requests from the cloud side to every host: the path that must work."""
    forged_heartbeats: Answered = field(default_factory=Answered)
    """Heartbeats of invented hosts published at a spoke, seen at a hub."""
    overheard_commands: Answered = field(default_factory=Answered)
    """Hub commands to another site's host, also delivered to a spoke subscribed to them."""
    overheard_replies: Answered = field(default_factory=Answered)
    """Replies to the cloud side's requests, delivered to a spoke subscribed to ``_INBOX.>``."""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in vars(self).items():
            out[key] = {k: str(v) for k, v in value.items()} if isinstance(value, dict) else str(value)
        return out

    def lines(self) -> list[str]:
        by = ", ".join(f"{c} {a}" for c, a in self.cross_site_by_command.items())
        return [
            f"cross-site host commands answered from a spoke's local port: {self.cross_site} ({by})",
            f"own-site host commands answered (inside a site):              {self.own_site}",
            f"heartbeat requests answered from the hub (must all be):       {self.from_hub}",
            f"forged heartbeats (invented hosts) that reached the hub:      {self.forged_heartbeats}",
            f"other sites' host commands overheard at a spoke:              {self.overheard_commands}",
            f"replies to the cloud side overheard at a spoke (_INBOX.>):    {self.overheard_replies}",
        ]


async def _answered(nc: Client, subject: str, payload: bytes, timeout: float) -> bool:
    try:
        await nc.request(subject, payload, timeout=timeout)
        return True
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False


async def _commands(nc: Client, host_ids: list[str], attempts: int, timeout: float) -> dict[str, Answered]:
    """Every command to every host ``attempts`` times, all at once; answered counts per command."""
    jobs = [
        (command, _answered(nc, host_subject(host, command), payload, timeout))
        for host in host_ids
        for command, payload in HOST_COMMANDS.items()
        for _ in range(attempts)
    ]
    results = await asyncio.gather(*(job for _, job in jobs))
    out: dict[str, Answered] = {c: Answered() for c in HOST_COMMANDS}
    for (command, _), ok in zip(jobs, results, strict=True):
        out[command] += Answered(int(ok), 1)
    return out


async def measure_commands(
    lattice: LocalLattice, host_ids: Mapping[str, str], report: IsolationReport, attempts: int, timeout: float
) -> None:
    """From every spoke's local port, every host command to every host: cross-site and own-site."""
    plan = lattice.plan
    for attacker in plan.spokes:
        site = plan.site_link(attacker.name)
        others = [h for s, h in host_ids.items() if plan.site_link(s) != site]
        own = [h for s, h in host_ids.items() if plan.site_link(s) == site]
        nc = await connect_spoke(lattice, attacker.name, f"isolation-{attacker.name}")
        try:
            cross = await _commands(nc, others, attempts, timeout)
            for command, counted in cross.items():
                report.cross_site_by_command[command] = report.cross_site_by_command.get(command, Answered()) + counted
            report.cross_site_by_spoke[attacker.name] = sum(cross.values(), Answered())
            report.own_site_by_spoke[attacker.name] = sum(
                (await _commands(nc, own, attempts, timeout)).values(), Answered()
            )
            report.cross_site += report.cross_site_by_spoke[attacker.name]
            report.own_site += report.own_site_by_spoke[attacker.name]
        finally:
            await nc.close()


async def measure_from_hub(
    lattice: LocalLattice, host_ids: Mapping[str, str], report: IsolationReport, timeout: float
) -> None:
    plan = lattice.plan
    hub = await connect_hub(lattice, plan.hubs[0].name, "isolation-scheduler")
    try:
        for host in host_ids.values():
            ok = await _answered(hub, host_subject(host, "heartbeat"), b"", timeout)
            report.from_hub += Answered(int(ok), 1)
    finally:
        await hub.close()


async def measure_forged_heartbeats(lattice: LocalLattice, report: IsolationReport, settle: float = 1.0) -> None:
    """Each spoke's local client publishes a heartbeat for a host that does not exist."""
    plan = lattice.plan
    seen: set[str] = set()

    async def record(msg: Msg) -> None:
        seen.add(msg.subject.rsplit(".", 1)[-1])

    hub = await connect_hub(lattice, plan.hubs[0].name, "isolation-heartbeat-watch")
    try:
        await hub.subscribe("runtime.operator.heartbeat.*", cb=record)
        await hub.flush()
        await asyncio.sleep(settle)  # interest crosses the leaf links
        for spoke in plan.spokes:
            nc = await connect_spoke(lattice, spoke.name, f"isolation-forger-{spoke.name}")
            forged = f"forged-{spoke.name}"
            beat = {"id": forged, "hostname": forged, "labels": {"hostgroup": "default"}}
            await nc.publish(f"runtime.operator.heartbeat.{forged}", json.dumps(beat).encode())
            await nc.flush()
            await nc.close()
        await asyncio.sleep(settle)
        names = {f"forged-{s.name}" for s in plan.spokes}
        report.forged_heartbeats = Answered(len(seen & names), len(names))
    finally:
        await hub.close()


async def measure_overhearing(
    lattice: LocalLattice, host_ids: Mapping[str, str], report: IsolationReport, settle: float = 1.0
) -> None:
    """Every spoke subscribes to every host's commands and to ``_INBOX.>``; the cloud side
    then asks every host for its heartbeat. Counted: deliveries at spokes of another site."""
    plan = lattice.plan
    heard: dict[str, list[str]] = {s.name: [] for s in plan.spokes}
    listeners = []
    for spoke in plan.spokes:
        nc = await connect_spoke(lattice, spoke.name, f"isolation-listener-{spoke.name}")

        async def record(msg: Msg, box: list[str] = heard[spoke.name]) -> None:
            box.append(msg.subject)

        await nc.subscribe("runtime.host.*.>", cb=record)
        await nc.subscribe("_INBOX.>", cb=record)
        await nc.flush()
        listeners.append(nc)
    await asyncio.sleep(settle)  # interest crosses the leaf links
    hub = await connect_hub(lattice, plan.hubs[0].name, "isolation-requester")
    hub_inbox = hub.new_inbox()
    try:
        for host_spoke, host in host_ids.items():
            reply_to = f"{hub_inbox}.{host_spoke}"
            await hub.publish(host_subject(host, "heartbeat"), b"", reply=reply_to)
        await hub.flush()
        await asyncio.sleep(settle)
        for spoke in plan.spokes:
            site = plan.site_link(spoke.name)
            foreign = {s: h for s, h in host_ids.items() if plan.site_link(s) != site}
            got = heard[spoke.name]
            commands = sum(1 for h in foreign.values() if host_subject(h, "heartbeat") in got)
            replies = sum(1 for s in foreign if f"{hub_inbox}.{s}" in got)
            report.overheard_commands += Answered(commands, len(foreign))
            report.overheard_replies += Answered(replies, len(foreign))
    finally:
        await hub.close()
        for nc in listeners:
            await nc.close()


async def wait_for_hosts(lattice: LocalLattice, hosts: list[str], timeout: float = 60.0) -> dict[str, str]:
    """Spoke -> host id, from the heartbeats the hosts publish (seen at a hub)."""
    ids: dict[str, str] = {}

    async def record(msg: Msg) -> None:
        try:
            beat = json.loads(msg.data)
        except ValueError:
            return
        ids.setdefault(str(beat.get("hostname")), str(beat.get("id")))

    hub = await connect_hub(lattice, lattice.plan.hubs[0].name, "isolation-host-ids")
    try:
        await hub.subscribe("runtime.operator.heartbeat.*", cb=record)
        deadline = time.monotonic() + timeout
        while not set(hosts) <= set(ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await hub.close()
    missing = sorted(set(hosts) - set(ids))
    if missing:
        raise TimeoutError(f"no heartbeat from the hosts beside {', '.join(missing)} in {timeout:.0f} s")
    return {h: ids[h] for h in hosts}


async def measure(
    lattice: LocalLattice, host_ids: Mapping[str, str], attempts: int = 1, timeout: float = 2.0
) -> IsolationReport:
    """Every probe against a converged lattice whose hosts (spoke -> host id) are up."""
    report = IsolationReport()
    await measure_from_hub(lattice, host_ids, report, timeout)
    await measure_commands(lattice, host_ids, report, attempts, timeout)
    await measure_forged_heartbeats(lattice, report)
    await measure_overhearing(lattice, host_ids, report)
    return report
