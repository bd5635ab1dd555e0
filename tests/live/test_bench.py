"""The benchmarks run and produce every figure (not timed: figures are not asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.bench import ROWS
from tests.support.helpers import ROOT

pytestmark = pytest.mark.live

TINY = "tests/stacks/Pulumi.bench-tiny.yaml"


def test_bench_produces_every_metric_on_a_tiny_topology(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "sandbox", "bench", "--stack-file", TINY, "--scale", "0.02"]
    argv += ["--wan-delay-ms", "5", "--converge-stack", "staging", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(out.read_text())
    metrics = document["metrics"]
    assert set(metrics) == {key for key, _, _ in ROWS}
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in metrics.values()), metrics
    assert 0 <= metrics["local_first_share"] <= 1 and 0 <= metrics["partition_local_success"] <= 1
    assert metrics["wasm_restart_in_partition"] in (0, 1) and metrics["wasm_restart_without_mirror"] in (0, 1)
    assert 0 <= metrics["wasm_local_first_share"] <= 1 and metrics["wasm_local_rr_p50_us"] > 0
    assert "targets:" in done.stdout and "leaf_throughput_ratio" in done.stdout
    assert "Traceback" not in done.stderr


def test_bench_program_reports_each_size_against_the_floors(tmp_path: Path) -> None:
    out = tmp_path / "program.json"
    argv = [sys.executable, "-m", "sandbox", "bench-program", "--sizes", "2,4", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert [row["spokes"] for row in document["sizes"]] == [2, 4]
    for row in document["sizes"]:
        assert row["resources"] > 100 and row["seconds"] > 0 and row["floor_ratio"] > 0
    assert document["per_spoke_growth"] > 0


def test_bench_fleet_reports_each_size_and_the_storm(tmp_path: Path) -> None:
    """``--fleet``: per size, the keys issue 17 names; every displaced spoke comes back."""
    out = tmp_path / "fleet.json"
    argv = [sys.executable, "-m", "sandbox", "bench", "--fleet", "3,6", "--fleet-only", "--wan-delay-ms", "5"]
    argv += ["--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    fleet = json.loads(out.read_text())["fleet"]
    assert set(fleet) == {"3", "6", "tls_burst"}
    for size in (3, 6):
        row = fleet[str(size)]
        assert row["spokes"] == size and row["converge_ms"] > 0 and math.isfinite(row["hub_rss_kib_per_leaf"])
        storm = row["storm_reattach_ms"]
        assert 1 <= row["displaced"] <= size and row["left_out"] == 0
        assert 0 < storm["p50"] <= storm["p99"] <= storm["max"]
        assert row["idle_bytes_per_s_per_spoke"] > 0  # the leaf pings cross the WAN links
    assert fleet["tls_burst"]["failed"] == 0 and fleet["tls_burst"]["handshakes_per_s"] > 0
    assert "targets:" in done.stdout and "Traceback" not in done.stderr


def test_bench_runs_only_the_named_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "converge.json"
    argv = [sys.executable, "-m", "sandbox", "bench", "--only", "converge", "--converge-stack", "staging"]
    argv += ["--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert set(document["metrics"]) == {"converge_ms"} and document["scenarios"] == ["converge"]
    bad = [*argv[:4], "--only", "partition,nonsense"]
    wrong = subprocess.run(bad, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert wrong.returncode == 2 and "unknown scenario(s) nonsense" in wrong.stderr, wrong.stderr
