"""`python -m sandbox up` end to end, as a user runs it: checks, JSON, and no leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import ROOT

pytestmark = pytest.mark.live


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def child_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def start_sandbox(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def staging_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("cli") / "staging.json"
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "up", "--stack", "staging", "--check", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, json.loads(out.read_text())


def test_check_passes_and_prints_host_outputs(staging_run: tuple[int, str, dict[str, Any]]) -> None:
    code, output, _ = staging_run
    assert code == 0, output
    assert "converged in" in output
    assert "--scheduler-nats-url nats://127.0.0.1:" in output
    assert "WASMCLOUD_LATTICE=acme-staging" in output


def test_json_has_the_documented_shape(staging_run: tuple[int, str, dict[str, Any]]) -> None:
    _, _, doc = staging_run
    assert doc["lattice"] == "acme-staging"
    assert set(doc["servers"]) == {"use1-0", "use1-1", "use1-2", "store-1", "store-2", "kiosk-1"}
    for server in doc["servers"].values():
        assert server["role"] in {"hub", "spoke"}
        assert server["clientUrl"].startswith("nats://127.0.0.1:")
        assert server["monitorUrl"].startswith("http://127.0.0.1:")
        assert isinstance(server["pid"], int)
    assert doc["hubs"]["use1"]["jsDomain"] == "hub"
    assert doc["hubs"]["use1"]["credsFile"].endswith("service.creds")
    kiosk = doc["spokes"]["kiosk-1"]
    assert kiosk["upstream"] == "store-1" and kiosk["jsDomain"] == "kiosk-1" and kiosk["lattice"] == "acme-staging"
    assert kiosk["natsUrl"] == doc["servers"]["kiosk-1"]["clientUrl"]
    assert kiosk["washHostArgs"][:2] == ["--scheduler-nats-url", kiosk["natsUrl"]]
    names = {c["name"] for c in doc["checks"]}
    assert {"spoke-reaches-hub:kiosk-1", "host-heartbeat:kiosk-1", "host-heartbeat:store-2"} <= names
    assert {"workload-running:kiosk-1", "workload-serves-locally:kiosk-1", "workload-running:cloud"} <= names
    assert all(c["ok"] for c in doc["checks"])


def test_json_has_the_registry_and_each_spokes_workloads(staging_run: tuple[int, str, dict[str, Any]]) -> None:
    _, _, doc = staging_run
    assert doc["registry"]["url"].startswith("https://127.0.0.1:")
    assert doc["registry"]["caFile"] == doc["hubs"]["use1"]["caFile"]
    digest = doc["registry"]["image"].split("@", 1)[1]
    for name, spoke in doc["spokes"].items():
        (workload,) = spoke["workloads"]
        assert set(workload) >= {"hostId", "workloadId", "subject", "state"}
        assert workload["state"] == "WORKLOAD_STATE_RUNNING", (name, workload)
        assert workload["subject"] == f"svc.edge-echo.{name}"
        assert workload["image"] == f"{spoke['ociMirror']}/lattice/edge-echo@{digest}", "pulled through its mirror"
        assert spoke["washHostArgs"][-2:] == ["--oci-ca-path", doc["registry"]["caFile"]]
    # staging's leaf links carry no application subject: failover to the cloud is not measured
    local_first = [c for c in doc["checks"] if c["name"].startswith("workload-local-first:")]
    assert local_first and all("failover not measured" in c["detail"] for c in local_first)


def test_no_process_or_credential_outlives_a_check_run(staging_run: tuple[int, str, dict[str, Any]]) -> None:
    _, _, doc = staging_run
    assert wait_gone([s["pid"] for s in doc["servers"].values()], timeout=2) == []
    assert not Path(doc["hubs"]["use1"]["credsFile"]).exists(), "the private work dir is removed on exit"


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 120) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"never printed {needle!r}:\n{''.join(seen)}")


@pytest.mark.parametrize(("sig", "expected_code"), [(signal.SIGTERM, 0), (signal.SIGKILL, -9)])
def test_stopping_the_sandbox_stops_every_child(sig: signal.Signals, expected_code: int) -> None:
    """SIGTERM unwinds cleanly; even SIGKILL of the sandbox leaves nothing (PDEATHSIG)."""
    proc = start_sandbox(["--stack", "staging"])
    try:
        _wait_for_line(proc, "running; Ctrl-C")
        children = child_pids(proc.pid)
        assert len(children) >= 6 + 3 + 1 + 3 + 2, "servers, hosts, the registry, mirrors, the cloud leaf and host"
        proc.send_signal(sig)
        assert proc.wait(30) == expected_code
        assert wait_gone(children) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_can_put_an_emulated_wan_under_every_spoke() -> None:
    proc = start_sandbox(["--stack", "staging", "--wan-delay-ms", "5"])
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "converged in" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + rest
    assert "every spoke dials through an emulated WAN link (5 ms one way)" in text
    assert "converged in" in text and proc.returncode == 0, text[-1500:]
