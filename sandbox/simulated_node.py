"""What a kubelet and a cloud's load-balancer controller would report, for a control plane
with neither (``sandbox.kube``): the same job as kwok, in a thread.

One Node, kept Ready by renewing its lease. Pods the scheduler would place are bound to it
and reported Running and Ready (every container started and ready), and a pod being deleted
is removed once its grace begins (as the kubelet does once its containers stopped); a
LoadBalancer Service gets an ingress address from a small pool. Nothing runs: the point is that a Pulumi program
deployed here is awaited exactly as on a real cluster (the Kubernetes provider waits for
StatefulSets to be ready and for load balancers to get an address), with no skip-await
anywhere. Pods only exist if the API server admitted them, Pod Security included, so a pod
that breaks a namespace's "restricted" policy never becomes ready here either.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from typing import Any, Protocol

NODE = "sandbox-node"
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
LOAD_BALANCER_POOL = ipaddress.ip_network("192.0.2.0/24")
"""TEST-NET-1: addresses a load balancer would hand out; nothing routes to them."""


class Api(Protocol):
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]: ...


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SimulatedNode:
    """``with SimulatedNode(api):`` keeps one node and the cluster's load balancers reporting."""

    def __init__(self, api: Api, interval: float = 0.5):
        self.api = api
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-node", daemon=True)
        self._addresses: dict[str, str] = {}
        self.errors: list[str] = []
        """Calls the API refused (kept for a test to show, never raised in the thread)."""

    def __enter__(self) -> SimulatedNode:
        self._register()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        status, answer = self.api.request(method, path, body)
        if status >= 300:
            if status != 409:  # someone changed it meanwhile: the next round sees the new version
                self.errors.append(f"{method} {path}: {status} {answer.get('message', answer)}")
            return None
        return answer

    def _register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE, "topology.kubernetes.io/zone": "z1"}},
        }
        self._call("POST", "/api/v1/nodes", node)
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": _now()}
        self._call("PATCH", f"/api/v1/nodes/{NODE}/status", {"status": {"conditions": [ready]}})
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NODE, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": NODE, "leaseDurationSeconds": 40, "renewTime": _now_micro()},
        }
        self._call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(self.interval):
            try:
                self._pods()
                self._load_balancers()
                rounds += 1
                if rounds % 20 == 0:  # every ~10 s: the node lifecycle controller expects a heartbeat
                    self._call("PATCH", LEASE, {"spec": {"renewTime": _now_micro()}})
            except OSError as err:  # the API server went away (shutdown): stop quietly
                self.errors.append(str(err))
                return

    def _pods(self) -> None:
        listed = self._call("GET", "/api/v1/pods")
        for pod in (listed or {}).get("items", []):
            meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            if meta.get("deletionTimestamp"):
                if spec.get("nodeName") == NODE:  # its containers "stopped": the kubelet's final delete
                    self._call("DELETE", f"{path}?gracePeriodSeconds=0")
                continue
            if not spec.get("nodeName"):
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": meta["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
                }
                self._call("POST", f"{path}/binding", binding)
                continue
            if status.get("phase") != "Running":
                self._call("PATCH", f"{path}/status", {"status": _running(spec)})

    def _load_balancers(self) -> None:
        listed = self._call("GET", "/api/v1/services")
        for service in (listed or {}).get("items", []):
            meta = service["metadata"]
            if service["spec"].get("type") != "LoadBalancer":
                continue
            if ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                continue
            key = f"{meta['namespace']}/{meta['name']}"
            address = self._addresses.setdefault(key, str(LOAD_BALANCER_POOL[len(self._addresses) + 10]))
            path = f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status"
            self._call("PATCH", path, {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}})


def _running(spec: dict[str, Any]) -> dict[str, Any]:
    """A pod status as a kubelet reports a pod whose containers all started and are ready."""
    now = _now()
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]

    def container(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": c["name"],
            "image": c["image"],
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }

    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": now,
        "containerStatuses": [container(c) for c in spec.get("containers", [])],
        "initContainerStatuses": [
            {**container(c), "ready": True, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            for c in spec.get("initContainers", [])
        ],
    }
