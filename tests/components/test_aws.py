"""The AWS platform under mocks: what the EC2, ELB and IAM APIs would see on a first `pulumi up`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from lattice.addressing import PORTS
from tests.support.mocks import EXISTING_VPC_CIDRS
from tests.support.program import ProgramRun, own_event_loop, run_program, stack_config


@pytest.fixture(scope="module")
def loop() -> Iterator[None]:
    with own_event_loop():
        yield


def _run(stack: str, edit: Any = None) -> ProgramRun:
    config = copy.deepcopy(stack_config(stack))
    if edit is not None:
        edit(config["wasmcloud-lattice:lattice"])
    return run_program(stack, config)


def test_hub_nodes_go_to_availability_zones_only(loop: None) -> None:
    """Before: the region's first three zone names, sorted, which a Local Zone
    (``us-east-1-bos-1a``, no network load balancers) sorts among."""
    run = _run("dev")
    zone_calls = [c for c in run.mocks.calls if c.token == "aws:index/getAvailabilityZones:getAvailabilityZones"]
    assert zone_calls and all(
        {"name": "zone-type", "values": ["availability-zone"]} in c.args["filters"] for c in zone_calls
    )
    zones = {r.inputs["availabilityZone"] for r in run.mocks.of_type("aws:ec2/subnet:Subnet")}
    assert zones and all(z[-1] in "abcd" and "-bos-" not in z and "-wl1-" not in z for z in zones), zones


def test_whatever_reaches_the_internet_waits_for_the_internet_gateway(loop: None) -> None:
    """A known first-apply race: an NLB, an Elastic IP association or an instance that
    downloads at boot, created before the VPC's gateway is attached. Before: no ordering."""
    run = _run("dev")
    gateways = {u.rsplit("::", 1)[1].removesuffix("-igw"): u for u in run.registered if u.endswith("-igw")}
    waiting = (
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:ec2/eipAssociation:EipAssociation",
        "aws:ec2/instance:Instance",
    )
    checked = 0
    for urn in run.registered:
        if urn.split("::")[2].split("$")[-1] not in waiting:
            continue
        name = urn.rsplit("::", 1)[1]
        network = max((g for g in gateways if name == g or name.startswith(f"{g}-")), key=len)
        assert gateways[network] in run.dependencies[urn], f"{name} does not wait for {network}-igw"
        checked += 1
    assert checked == 2 + 10 + 10, "2 balancers, 10 Elastic IP associations, 10 instances"


def test_an_existing_vpc_admits_clients_from_every_cidr_block_it_has(loop: None) -> None:
    """Before: the client and monitor rules admitted only the VPC's primary CIDR, so
    services in a secondary block could not reach their hub."""

    def existing(lattice: dict[str, Any]) -> None:
        lattice["hubs"][0]["aws"] = {"vpcId": "vpc-0existing", "subnetIds": ["subnet-a", "subnet-b", "subnet-c"]}

    run = _run("dev", existing)
    group = next(r for r in run.mocks.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == "acme-dev-use1-nodes")
    for port in (PORTS.client, PORTS.monitor):
        (rule,) = [r for r in group.inputs["ingress"] if r["fromPort"] == port]
        assert rule["cidrBlocks"] == sorted(EXISTING_VPC_CIDRS), (
            "associated blocks only, the disassociated one left out"
        )
    assert not [r for r in run.mocks.of_type("aws:ec2/vpc:Vpc") if r.name.startswith("acme-dev-use1")]
