"""Retiring a spoke revokes its leaf user at the hubs by a config reload, nothing else.

This is the path a cloud hub takes: its ``trust.conf`` changes (the node's secret), the
node's sync job rewrites it and reloads nats-server; the instance and config stay put.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from lattice.credentials import assemble
from lattice.natsconf import render_trust
from lattice.plan import plan_lattice
from sandbox.monitor import leaf_peers
from sandbox.topology import LocalLattice
from tests.support.helpers import plan_entropy, spec_from

pytestmark = pytest.mark.live

HUBS = [{"name": "use1", "platform": "kubernetes", "nodes": 1}]
SPOKES = [
    {"name": "keep", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False},
    {"name": "gone", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False},
]


def _leaf_names(lattice: LocalLattice) -> set[str]:
    return {leaf["name"] for leaf in leaf_peers(lattice.monitor_url("use1-0"))}


def _wait_for(lattice: LocalLattice, names: set[str], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while _leaf_names(lattice) != names and time.monotonic() < deadline:
        time.sleep(0.2)
    return _leaf_names(lattice) == names


def test_retired_spoke_is_cut_off_by_a_trust_reload_and_stays_out() -> None:
    spec = spec_from({"name": "acme", "hubs": HUBS, "spokes": SPOKES})
    retired_plan = plan_lattice(
        spec_from({"name": "acme", "hubs": HUBS, "spokes": SPOKES[:1], "retiredSpokes": ["gone"]})
    )
    entropy = plan_entropy(plan_lattice(spec))
    with LocalLattice(spec, entropy=entropy) as lattice:
        lattice.start_servers()
        assert lattice.wait_converged(timeout=30).ok
        assert _leaf_names(lattice) == {"keep", "gone"}

        new_trust = render_trust(assemble(retired_plan, entropy).trust)
        Path(lattice.files["use1-0"].trust_file).write_text(new_trust)
        lattice.supervisor.signal("use1-0", signal.SIGHUP)

        deadline = time.monotonic() + 10
        while "gone" in _leaf_names(lattice) and time.monotonic() < deadline:
            time.sleep(0.2)
        # 'gone' redials every second for 3 s: it must never get back in (sampled, since a
        # monitor request on a busy machine can come back empty)
        samples = []
        for _ in range(15):
            samples.append(_leaf_names(lattice))
            time.sleep(0.2)
        assert not [s for s in samples if "gone" in s], samples
        assert _wait_for(lattice, {"keep"}), "'keep' is not revoked and stays attached"
        hub_log = lattice.supervisor.log_path("use1-0").read_text()
        assert "Reloaded server configuration" in hub_log
        assert "Leafnode connection closed: Credentials Revoked - Remote: gone" in hub_log
        gone_log = lattice.supervisor.log_path("gone").read_text()
        assert "Authorization Violation" in gone_log, gone_log[-800:]
