"""Who each firewall admits, on both platforms: a lattice's own nodes and sites always, the
world only when the stack says so, and a stack whose addresses cannot be known refused by
key path before any resource."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from lattice.addressing import PORTS
from tests.support.mocks import LatticeMocks
from tests.support.program import ProgramRun, own_event_loop, run_program, stack_config


@pytest.fixture(scope="module", autouse=True)
def loop() -> Iterator[None]:
    with own_event_loop():
        yield


def _config(stack: str, edit: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config(stack))
    edit(config["wasmcloud-lattice:lattice"])
    return config


def _refused(stack: str, edit: Any) -> list[str]:
    mocks = LatticeMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack, _config(stack, edit), mocks)
    assert mocks.resources == [], "nothing is registered for a stack that would not deploy"
    return str(info.value).splitlines()


def _group_rule(run: ProgramRun, group: str, port: int) -> list[str]:
    rules = next(
        r.inputs["ingress"] for r in run.mocks.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == group
    )
    return sorted(c for r in rules if r["fromPort"] == port for c in r["cidrBlocks"])


def _eip(run: ProgramRun, name: str) -> str:
    return f"{run.mocks.outputs[('aws:ec2/eip:Eip', f'{name}-eip')]['publicIp']}/32"


def _service(run: ProgramRun, name: str) -> dict[str, Any]:
    return next(r.inputs for r in run.mocks.of_type("kubernetes:core/v1:Service") if r.name == name)


def test_a_narrowed_hub_admits_its_own_spokes_and_the_listed_ranges() -> None:
    """Before: staging's hub admitted only its two site ranges, and the NLB, which keeps
    client addresses, handed it its own AWS spokes from addresses it refused."""
    run = run_program("staging", stack_config("staging"))
    stores = [_eip(run, f"acme-staging-{s}") for s in ("store-1", "store-2")]
    assert _group_rule(run, "acme-staging-use1-nodes", PORTS.leaf) == sorted(
        ["203.0.113.0/24", "198.51.100.0/24", *stores]
    )


def test_a_kubernetes_site_with_no_known_address_is_refused_by_key_path() -> None:
    def k8s_site(lattice: dict[str, Any]) -> None:
        lattice["spokes"][0] = {
            "name": "store-1",
            "upstream": "use1",
            "platform": "kubernetes",
            "kubernetes": {"ambientKubeconfig": True},
        }

    (line,) = _refused("staging", k8s_site)
    assert line.startswith("stacks/Pulumi.staging.yaml: lattice.spokes[0].kubernetes.egressCidrs: required: 'use1'")


def test_an_aws_mid_tier_with_only_kubernetes_children_admits_their_egress() -> None:
    """Before: the mid-tier's leaf rule had no source at all."""

    def k8s_children(lattice: dict[str, Any]) -> None:
        lattice["spokes"][2] = {
            "name": "kiosk-1",
            "upstream": "store-1",
            "platform": "kubernetes",
            "kubernetes": {"ambientKubeconfig": True, "egressCidrs": ["192.0.2.40/29"]},
        }

    run = run_program("staging", _config("staging", k8s_children))
    assert _group_rule(run, "acme-staging-store-1-node", PORTS.leaf) == ["192.0.2.40/29"]


def test_a_kubernetes_mid_tier_load_balancer_admits_only_its_children() -> None:
    """Before: the Kubernetes mid-tier's leaf LoadBalancer had no source ranges (open to
    the internet) and Kubernetes had no leafAllowedCidrs."""
    run = run_program("prod", stack_config("prod"))
    leaf = _service(run, "acme-dc-berlin-leaf")
    assert leaf["spec"]["type"] == "LoadBalancer"
    assert leaf["spec"]["loadBalancerSourceRanges"] == ["192.0.2.64/28"], "line-4's egress, nothing else"
    assert "annotations" not in leaf["metadata"] or not leaf["metadata"]["annotations"]


def test_opening_a_leaf_port_to_every_address_is_explicit_and_marked() -> None:
    def open_site(lattice: dict[str, Any]) -> None:
        lattice["spokes"][2]["kubernetes"]["leafAllowedCidrs"] = ["0.0.0.0/0"]

    run = run_program("prod", _config("prod", open_site))
    leaf = _service(run, "acme-dc-berlin-leaf")
    assert leaf["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]
    assert leaf["metadata"]["annotations"] == {"wasmcloud-lattice/leaf-open-to-any-address": "leafAllowedCidrs"}


def test_a_lone_kubernetes_hub_must_say_whom_its_load_balancer_admits() -> None:
    def lone(lattice: dict[str, Any]) -> None:
        lattice["spokes"] = []
        lattice.pop("hubStreams")  # they name the spokes

    (line,) = _refused("edge-k8s", lone)
    assert line.startswith("stacks/Pulumi.edge-k8s.yaml: lattice.hubs[0].kubernetes.leafAllowedCidrs: required")


def _mixed(egress: list[str] | None) -> Any:
    """edge-k8s's Kubernetes hub in a super-cluster with an AWS region."""

    def edit(lattice: dict[str, Any]) -> None:
        hub = lattice["hubs"][0]
        if egress is not None:
            hub["kubernetes"]["egressCidrs"] = egress
        lattice["hubs"].append({"name": "use1", "platform": "aws", "region": "us-east-1"})

    return edit


def test_an_aws_and_kubernetes_super_cluster_admits_gateways_by_address_only() -> None:
    """Before: the AWS gateway rule made /32 CIDRs of the Kubernetes peer's addresses,
    which are load-balancer host names (and not where its pods dial from anyway)."""
    run = run_program("edge-k8s", _config("edge-k8s", _mixed(["192.0.2.128/27"])))
    assert _group_rule(run, "acme-edge-use1-nodes", PORTS.gateway) == ["192.0.2.128/27"]
    aws_nodes = sorted(_eip(run, f"acme-edge-use1-{i}") for i in range(3))
    for i in range(3):
        gateway = _service(run, f"acme-edge-cloud-{i}-gateway")
        assert gateway["spec"]["loadBalancerSourceRanges"] == aws_nodes


def test_a_kubernetes_region_with_no_known_egress_cannot_join_an_aws_one() -> None:
    (line,) = _refused("edge-k8s", _mixed(None))
    assert line.startswith(
        "stacks/Pulumi.edge-k8s.yaml: lattice.hubs[0].kubernetes.egressCidrs: required: hub(s) use1 admit gateways"
    )
