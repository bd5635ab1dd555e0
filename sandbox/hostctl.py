"""A small, typed client of a wasmCloud v2 host's control subjects: what a cloud scheduler
sends to an edge host, over the lattice, from the hub side.

The host subscribes ``runtime.host.<hostId>.>`` on its scheduler NATS URL and answers
``workload.start``, ``workload.stop``, ``workload.status`` and ``heartbeat`` with the
protojson of the ``wasmcloud.runtime.v2`` messages (camelCase fields, enums as strings).
The start answer comes after the pull and the compile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import nats.errors
from nats.aio.client import Client

WorkloadState = Literal[
    "WORKLOAD_STATE_UNSPECIFIED",
    "WORKLOAD_STATE_STARTING",
    "WORKLOAD_STATE_RUNNING",
    "WORKLOAD_STATE_COMPLETED",
    "WORKLOAD_STATE_STOPPING",
    "WORKLOAD_STATE_ERROR",
    "WORKLOAD_STATE_NOT_FOUND",
]
STATES: frozenset[str] = frozenset(WorkloadState.__args__)  # type: ignore[attr-defined]
ImagePullPolicy = Literal[
    "IMAGE_PULL_POLICY_UNSPECIFIED",
    "IMAGE_PULL_POLICY_ALWAYS",
    "IMAGE_PULL_POLICY_IF_NOT_PRESENT",
    "IMAGE_PULL_POLICY_NEVER",
]


class HostControlError(RuntimeError):
    """No answer from the host, or an answer that is not a workload status."""


@dataclass(frozen=True)
class MessagingHandler:
    """The ``wasmcloud:messaging@0.2.0`` host interface: the host (queue-)subscribes
    ``subscriptions`` on its data NATS URL and calls the component's handler."""

    subscriptions: tuple[str, ...]
    consumer_group: str | None = None
    """Default: the host's own (namespace, workload and component names)."""

    def as_json(self) -> dict[str, Any]:
        config = {"subscriptions": ",".join(self.subscriptions)}
        if self.consumer_group is not None:
            config["consumer_group"] = self.consumer_group
        return {
            "namespace": "wasmcloud",
            "package": "messaging",
            "version": "0.2.0",
            "interfaces": ["handler", "consumer"],
            "config": config,
        }


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    image: str
    """An OCI reference; by digest (``...@sha256:``) where a mirror must answer offline."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """``localResources.environment``: what the component reads through ``wasi:cli/environment``."""
    pull_policy: ImagePullPolicy = "IMAGE_PULL_POLICY_IF_NOT_PRESENT"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": self.pull_policy,
            "localResources": {"environment": dict(sorted(self.environment.items()))},
        }


@dataclass(frozen=True)
class WorkloadSpec:
    """``wasmcloud.runtime.v2.Workload`` with one WIT world of components."""

    namespace: str
    name: str
    components: tuple[ComponentSpec, ...]
    messaging: MessagingHandler | None = None

    def as_json(self) -> dict[str, Any]:
        world: dict[str, Any] = {"components": [c.as_json() for c in self.components]}
        if self.messaging is not None:
            world["hostInterfaces"] = [self.messaging.as_json()]
        return {"namespace": self.namespace, "name": self.name, "witWorld": world}


@dataclass(frozen=True)
class WorkloadStatus:
    workload_id: str
    state: WorkloadState
    message: str = ""

    @property
    def running(self) -> bool:
        return self.state == "WORKLOAD_STATE_RUNNING"

    @classmethod
    def parse(cls, data: bytes) -> WorkloadStatus:
        try:
            status = json.loads(data)["workloadStatus"]
            state = str(status.get("workloadState", "WORKLOAD_STATE_UNSPECIFIED"))
            workload_id = str(status["workloadId"])
        except (ValueError, KeyError, TypeError) as err:
            raise HostControlError(f"not a workload status: {data[:300]!r}") from err
        if state not in STATES:
            raise HostControlError(f"unknown workload state {state!r}")
        return cls(workload_id, state, str(status.get("message", "")))  # type: ignore[arg-type]


def control_subject(host_id: str, command: str) -> str:
    return f"runtime.host.{host_id}.{command}"


class HostControl:
    """Commands to hosts over one NATS connection (a hub client with a lattice's service
    credentials, as a cloud scheduler has; or a spoke's local client, for a site's own hosts)."""

    def __init__(self, nc: Client, start_timeout: float = 90.0, timeout: float = 5.0):
        self.nc = nc
        self.start_timeout = start_timeout
        self.timeout = timeout

    async def _request(self, host_id: str, command: str, payload: dict[str, Any] | None, timeout: float) -> bytes:
        subject = control_subject(host_id, command)
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            reply = await self.nc.request(subject, data, timeout=timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as err:
            raise HostControlError(f"{subject}: no answer in {timeout:g} s ({err!r})") from err
        return bytes(reply.data)

    async def start(self, host_id: str, workload_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        payload = {"workloadId": workload_id, "workload": spec.as_json()}
        return WorkloadStatus.parse(await self._request(host_id, "workload.start", payload, self.start_timeout))

    async def stop(self, host_id: str, workload_id: str) -> WorkloadStatus:
        payload = {"workloadId": workload_id}
        return WorkloadStatus.parse(await self._request(host_id, "workload.stop", payload, self.timeout))

    async def status(self, host_id: str, workload_id: str) -> WorkloadStatus:
        payload = {"workloadId": workload_id}
        return WorkloadStatus.parse(await self._request(host_id, "workload.status", payload, self.timeout))

    async def heartbeat(self, host_id: str) -> dict[str, Any]:
        data = await self._request(host_id, "heartbeat", None, self.timeout)
        try:
            beat: dict[str, Any] = json.loads(data)
        except ValueError as err:
            raise HostControlError(f"not a heartbeat: {data[:300]!r}") from err
        return beat
