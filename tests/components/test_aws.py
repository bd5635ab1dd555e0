"""The AWS platform under mocks: what the EC2, ELB and IAM APIs would see on a first `pulumi up`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from lattice.addressing import PORTS
from lattice.plan import plan_lattice
from tests.support.helpers import load_stack, retire_spoke
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


def _instances(run: ProgramRun) -> dict[str, str]:
    """Instance name -> URN."""
    return {urn.rsplit("::", 1)[1]: urn for urn in run.registered if "$aws:ec2/instance:Instance::" in urn}


def test_a_hub_cluster_is_replaced_one_node_at_a_time(loop: None) -> None:
    """When every node's boot script changes (a new nats-server release), one ``up``
    replaces a cluster node by node: node ``i``'s registration names node ``i-1``'s instance
    as a dependency, so the SDK sends it only once the engine has answered node ``i-1``'s,
    and the engine answers after that node's create, replacement or update is done. So node
    ``i``'s old instance is deleted (delete-before-replace) only after node ``i-1``'s new one
    exists. The edge is a plain ``dependsOn``, never a property dependency, so the engine
    does not pull node ``i`` into node ``i-1``'s delete-before-replace (it follows property
    dependencies only: ``calculateDependentReplacements``)."""
    run, plan = _run("prod"), plan_lattice(load_stack("prod"))
    instances = _instances(run)
    every = set(instances.values())
    for hub in plan.hubs:
        chain = [instances[f"{plan.lattice}-{hub.name}-{i}"] for i in range(len(hub.servers))]
        for i, urn in enumerate(chain):
            request = run.requests[urn]
            assert request.delete_before_replace
            waits_for = run.dependencies[urn] & every
            assert waits_for == ({chain[i - 1]} if i else set()), f"{hub.name}-{i} waits for {waits_for}"
            assert not any(chain[i - 1] in urns for urns in request.property_dependencies.values()) if i else True
            if i:
                assert run.answered.index(chain[i - 1]) < run.answered.index(urn)
    spokes = [instances[f"{plan.lattice}-{s.name}"] for s in plan.spokes if s.platform == "aws"]
    assert all(not (run.dependencies[u] & every) for u in spokes), "each site is its own machine"


def _user_data(run: ProgramRun) -> dict[str, str]:
    return {name: run.registered[urn]["inputs"]["userData"] for name, urn in _instances(run).items()}


def test_config_changes_never_touch_an_instance(loop: None) -> None:
    """Adding a region (every hub's gateway list), retiring a spoke (every hub's trust) or
    adding a device under a store (the store's leaf users) changes configs and files, which
    travel in each node's secret: no existing instance's user-data changes."""
    base = _user_data(_run("dev"))

    def add_region(lattice: dict[str, Any]) -> None:
        lattice["hubs"].append({"name": "apse1", "platform": "aws", "region": "ap-southeast-1", "nodes": 3})

    def retire(lattice: dict[str, Any]) -> None:
        retire_spoke(lattice, "store-14")

    def add_device(lattice: dict[str, Any]) -> None:
        lattice["spokes"].append({"name": "device-8", "upstream": "store-12", "platform": "aws", "region": "us-west-2"})

    for edit in (add_region, retire, add_device):
        changed = _user_data(_run("dev", edit))
        same = {n: u for n, u in changed.items() if n in base}
        assert same == {n: base[n] for n in same}, f"{edit.__name__} changed a boot script"
