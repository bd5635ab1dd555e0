"""Real wasmCloud workloads at the edge, scheduled from the hub: the edge-echo component
(built here from WAT + WIT), a TLS OCI registry and a pull-through mirror per site (CNCF
distribution), real ``wash host`` processes at two sites and in the cloud, emulated WAN
links that can be cut. One topology for the module (tests/stacks/Pulumi.workloads.yaml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from lattice.stack import load_stack_file
from sandbox.checks import HeartbeatWatch
from sandbox.hostctl import HostControl
from sandbox.topology import LocalLattice
from sandbox.workloads import CLOUD_HOST, EdgeWorkloads, wait_for_hosts
from tests.support.helpers import ROOT

pytestmark = pytest.mark.live
T = TypeVar("T")
SITES = ("site-a", "site-b")


def run(workloads: EdgeWorkloads, work: Callable[[], Awaitable[T]]) -> T:
    """One event loop per test: the scheduler's hub clients live and die with it."""

    async def main() -> T:
        try:
            return await work()
        finally:
            await workloads.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def edge() -> Iterator[EdgeWorkloads]:
    spec = load_stack_file(ROOT / "tests/stacks/Pulumi.workloads.yaml")
    with LocalLattice(spec, wan_delay=0.005) as lattice:
        lattice.start_servers()
        assert lattice.wait_converged(timeout=60).ok
        workloads = EdgeWorkloads(lattice)
        workloads.start_artifacts()
        workloads.start_cloud_host()

        async def deploy() -> None:
            watch = HeartbeatWatch(lattice)
            await watch.start()
            try:
                lattice.start_hosts()
                host_ids = await wait_for_hosts(watch.seen, [*SITES, CLOUD_HOST])
                checks = await workloads.deploy(host_ids)
                assert all(c.ok for c in checks), checks
            finally:
                await watch.close()

        run(workloads, deploy)
        yield workloads


def test_the_scheduler_started_the_component_on_every_host_from_the_hub(edge: EdgeWorkloads) -> None:
    async def statuses() -> dict[str, str]:
        out: dict[str, str] = {}
        for site in SITES:
            placement = edge.placements[site]
            status = await HostControl(await edge.hub_client(edge.plan.lattice)).status(
                placement.host_id, placement.workload_id
            )
            out[site] = status.state
        return out

    assert run(edge, statuses) == dict.fromkeys(SITES, "WORKLOAD_STATE_RUNNING")
    assert edge.cloud is not None and edge.cloud.state == "WORKLOAD_STATE_RUNNING"
    assert edge.digest.startswith("sha256:")
    for site in SITES:  # pulled by digest through the site's own mirror
        mirror = edge.lattice.mirror(site)
        assert mirror is not None
        assert edge.placements[site].image == f"{mirror.host}/lattice/edge-echo@{edge.digest}"
        assert f"--oci-ca-path {edge.lattice.ca_file}" in " ".join(edge.lattice.connection(site)["washHostArgs"])


@pytest.mark.parametrize("site", SITES)
def test_each_edge_workload_answers_its_own_spokes_clients(edge: EdgeWorkloads, site: str) -> None:
    served = run(edge, lambda: edge.requests(site, 10, retry=True))
    assert served.local == 10, served
    host_id = edge.placements[site].host_id
    assert served.first_reply == f"{site}/{host_id}/edge-echo-{site} request-0"


def test_local_first_then_failover_to_the_cloud_host_then_local_again(edge: EdgeWorkloads) -> None:
    before, during, failover_ms, after = run(edge, lambda: edge.local_first_and_failover("site-a", 20))
    assert before.local == 20, f"served by the spoke's own host every time while it runs: {before}"
    assert during.cloud == during.sent and during.failed == 0, f"the cloud host, at most one retry: {during}"
    assert after.local == 20, f"local again once restarted: {after}"
    assert failover_ms < 5000


@pytest.mark.parametrize("silent", [False, True], ids=["loud", "silent"])
def test_a_partitioned_site_serves_every_local_request_and_is_seen_again_after_the_heal(
    edge: EdgeWorkloads, silent: bool
) -> None:
    result = run(edge, lambda: edge.partition("site-b", silent=silent, count=30))
    assert result.served_locally == result.sent == 30, result
    assert not result.hub_reached_during, "the cut must really separate the site from the hub"
    assert result.heal_ms is not None, "the hub never got the host's heartbeat and status back"
    assert result.state_after == "WORKLOAD_STATE_RUNNING"


def test_zz_a_host_restarted_in_a_partition_needs_the_site_mirror(edge: EdgeWorkloads) -> None:
    """Straight from the cloud registry it cannot start, warm cache or not: the host asks the
    registry for the manifest first. Through the site's mirror (by digest) it comes back,
    even with the link silently dead."""

    async def both() -> tuple[object, object]:
        direct = await edge.restart_in_partition("site-a", via_mirror=False, silent=False)
        await edge.restore("site-a")
        mirrored = await edge.restart_in_partition("site-a", via_mirror=True, silent=True)
        await edge.restore("site-a")
        return direct, mirrored

    direct, mirrored = run(edge, both)
    assert not direct.came_back, direct  # type: ignore[attr-defined]
    assert direct.state == "WORKLOAD_STATE_ERROR", direct  # type: ignore[attr-defined]
    assert "failed to pull" in direct.message and "/manifests/" in direct.message, direct  # type: ignore[attr-defined]
    assert mirrored.came_back and mirrored.state == "WORKLOAD_STATE_RUNNING", mirrored  # type: ignore[attr-defined]
    served = run(edge, lambda: edge.requests("site-a", 5, retry=True))
    assert served.local == 5, "the restarted host serves its site after the heal too"
