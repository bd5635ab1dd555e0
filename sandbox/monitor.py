"""Convergence read from the servers' own view: /routez, /gatewayz, /leafz."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lattice.plan import LatticePlan


def get_json(url: str, timeout: float = 2.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        data: dict[str, Any] = json.load(resp)
        return data


def _try(url: str) -> dict[str, Any] | None:
    try:
        return get_json(url)
    except (OSError, urllib.error.URLError, ValueError):
        return None


def route_peers(monitor: str) -> set[str]:
    data = _try(f"{monitor}/routez")
    return {r.get("remote_name", "") for r in (data or {}).get("routes", [])}


def gateway_peers(monitor: str) -> set[str]:
    # Each server dials one node of every other region (outbound); which remote nodes dial
    # it back (inbound) is up to them, so only outbound is guaranteed per server.
    data = _try(f"{monitor}/gatewayz") or {}
    return set(data.get("outbound_gateways", {}))


def leaf_peers(monitor: str) -> list[dict[str, Any]]:
    data = _try(f"{monitor}/leafz") or {}
    leafs: list[dict[str, Any]] = data.get("leafs", [])
    return leafs


def leaf_attachment(plan: LatticePlan, monitors: Mapping[str, str], spoke: str) -> str | None:
    """The upstream server a spoke's leaf link is attached to, as the upstream sees it."""
    upstream = plan.spoke(spoke).upstream
    for server in plan.group_servers(upstream):
        if any(leaf.get("name") == spoke for leaf in leaf_peers(monitors[server])):
            return server
    return None


@dataclass(frozen=True)
class Convergence:
    ok: bool
    seconds: float
    missing: tuple[str, ...]


def missing_links(plan: LatticePlan, monitors: Mapping[str, str]) -> list[str]:
    """Every expected route, gateway and leaf link that is not up yet, in words."""
    missing = []
    for server in plan.servers:
        mon = monitors[server.name]
        if server.peers:
            absent = set(server.peers) - route_peers(mon)
            missing += [f"route {server.name} -> {p}" for p in sorted(absent)]
        if server.gateways:
            absent = set(server.gateways) - gateway_peers(mon)
            missing += [f"gateway {server.name} -> {g}" for g in sorted(absent)]
    for spoke in plan.spokes:
        if leaf_attachment(plan, monitors, spoke.name) is None:
            missing.append(f"leaf {spoke.name} -> {spoke.upstream}")
    if not missing:
        # Links first: clustered JetStream elects its meta leader only once routes are up.
        missing += [f"healthz {s.name} (JetStream not ready)" for s in plan.servers if not healthy(monitors[s.name])]
    return missing


def wait_converged(
    plan: LatticePlan,
    monitors: Mapping[str, str],
    timeout: float,
    interval: float = 0.1,
    give_up: Callable[[], bool] = lambda: False,
) -> Convergence:
    """Poll until every link is up, ``timeout`` passes, or ``give_up()`` (a server died)."""
    start = time.monotonic()
    missing = missing_links(plan, monitors)
    while missing and time.monotonic() - start < timeout and not give_up():
        time.sleep(interval)
        missing = missing_links(plan, monitors)
    return Convergence(ok=not missing, seconds=time.monotonic() - start, missing=tuple(missing))


def healthy(monitor: str) -> bool:
    """``/healthz`` answers ok: the server and its JetStream (meta leader, streams) are ready."""
    data = _try(f"{monitor}/healthz")
    return bool(data and data.get("status") == "ok")
