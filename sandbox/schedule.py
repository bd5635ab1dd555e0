"""``python -m sandbox schedule --json PATH --spoke NAME``: drive one edge host from the hub
as a cloud scheduler does, against a running sandbox (the ``--json`` that ``sandbox up``
wrote): the host's heartbeat, the workload's status, stop, a request at the spoke, start
again, and a request once more. Every subject and answer is printed."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import nats
import nats.errors

from sandbox.checks import quiet_errors
from sandbox.hostctl import ComponentSpec, HostControl, MessagingHandler, WorkloadSpec, control_subject


def _spec(doc: dict[str, Any], spoke: str, host_id: str, workload_id: str) -> WorkloadSpec:
    image = f"{doc['spokes'][spoke]['ociMirror']}/{doc['registry']['image'].split('/', 1)[1]}"
    return WorkloadSpec(
        namespace="lattice",
        name="edge-echo",
        components=(ComponentSpec("edge-echo", image, {"SERVED_BY": f"{spoke}/{host_id}/{workload_id}"}),),
        messaging=MessagingHandler(subscriptions=(f"svc.edge-echo.{spoke}",)),
    )


async def schedule(json_path: Path, spoke: str, hub: str | None = None) -> int:
    doc = json.loads(json_path.read_text())
    hub = hub or next(iter(doc["hubs"]))
    hub_doc, site = doc["hubs"][hub], doc["spokes"][spoke]
    (placement,) = site["workloads"]
    host_id, workload_id, subject = placement["hostId"], placement["workloadId"], placement["subject"]
    tls = ssl.create_default_context(cafile=hub_doc["caFile"])
    cloud = await nats.connect(
        servers=hub_doc["clientUrl"].split(","), user_credentials=hub_doc["credsFile"], tls=tls, error_cb=quiet_errors
    )
    local = await nats.connect(site["natsUrl"], error_cb=quiet_errors)
    control = HostControl(cloud)

    def say(line: str) -> None:
        print(line, flush=True)

    async def ask() -> None:
        try:
            reply = await local.request(subject, b"hello", timeout=2)
            say(f"  at {spoke}: request {subject} -> {reply.data.decode()!r}")
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as err:
            say(f"  at {spoke}: request {subject} -> {type(err).__name__}")

    try:
        say(f"scheduler at hub {hub} ({hub_doc['clientUrl'].split(',')[0]}, service credentials), host {host_id}")
        beat = await control.heartbeat(host_id)
        say(f"> {control_subject(host_id, 'heartbeat')}")
        say(f"  hostname={beat.get('hostname')} version={beat.get('version')} workloads={beat.get('workloadCount', 0)}")
        for command in ("workload.status", "workload.stop", "workload.status"):
            started = time.perf_counter()
            status = await (control.status if command.endswith("status") else control.stop)(host_id, workload_id)
            ms = (time.perf_counter() - started) * 1000
            say(f"> {control_subject(host_id, command)} {{workloadId: {workload_id}}}  ({ms:.0f} ms)")
            say(f"  {status.state} {status.message}".rstrip())
        await ask()
        spec = _spec(doc, spoke, host_id, workload_id)
        started = time.perf_counter()
        status = await control.start(host_id, workload_id, spec)
        ms = (time.perf_counter() - started) * 1000
        say(f"> {control_subject(host_id, 'workload.start')} image={spec.components[0].image}  ({ms:.0f} ms)")
        say(f"  {status.state} {status.message}".rstrip())
        await ask()
        return 0 if status.running else 1
    finally:
        await local.close()
        await cloud.close()
