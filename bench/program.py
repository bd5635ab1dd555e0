"""``python -m bench.program``: time the Pulumi program under mocks for one lattice size.

Run once per size in a fresh process (``python -m sandbox bench-program`` does), so the
SDK's global state and warm caches of one size do not flatter the next. ``--floor N``
times a bare program registering N plain resources instead: the SDK's own cost per
resource, which the lattice is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import pulumi

from tests.support.mocks import LatticeMocks

ROOT = Path(__file__).resolve().parent.parent
HUBS = [
    {"name": "use1", "platform": "aws", "region": "us-east-1", "nodes": 3},
    {"name": "euw1", "platform": "aws", "region": "eu-west-1", "nodes": 3},
]


def scale_lattice(spokes: int) -> dict[str, Any]:
    """``spokes`` edge sites over two regions; every fifth is a device under the site before it."""
    entries: list[dict[str, Any]] = []
    for i in range(spokes):
        if i % 5 == 4:
            entries.append(
                {"name": f"device-{i}", "upstream": entries[-1]["name"], "platform": "aws", "region": "us-west-2"}
            )
        else:
            hub = HUBS[i % 2]
            entries.append({"name": f"site-{i}", "upstream": hub["name"], "platform": "aws", "region": hub["region"]})
    return {"name": "scale", "hubs": HUBS, "spokes": entries}


FILLER = "floor"
"""A constant input where a resource class needs a string."""


class PlainMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.count = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.count += 1
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def _run(mocks: pulumi.runtime.Mocks, body: Any) -> float:
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="wasmcloud-lattice", stack="scale", preview=False)
    started = time.perf_counter()
    pulumi.runtime.test(body)()  # type: ignore[no-untyped-call]
    return time.perf_counter() - started


def time_program(spokes: int) -> dict[str, Any]:
    import components.lattice  # noqa: F401  (imports outside the clock, as the floors do)

    mocks = LatticeMocks()
    pulumi.runtime.set_all_config({"wasmcloud-lattice:lattice": json.dumps(scale_lattice(spokes))})
    seconds = _run(mocks, lambda: runpy.run_path(str(ROOT / "__main__.py")))
    return {"spokes": spokes, "seconds": seconds, "resources": len(mocks.resources)}


def time_floor(resources: int) -> dict[str, Any]:
    import components.lattice  # noqa: F401  (the same imports as the program, outside the clock)

    mocks = PlainMocks()

    def body() -> None:
        for i in range(resources):
            pulumi.CustomResource("bench:index:Plain", f"plain-{i}", {"index": i, "name": f"plain-{i}"})

    seconds = _run(mocks, body)
    return {"resources": mocks.count, "seconds": seconds}


def time_typed_floor(spokes: int) -> dict[str, Any]:
    """The resource classes one EdgeSpoke registers, per spoke, with constant inputs and no
    component, output or apply: what the SDK costs for these types before any logic."""
    import pulumi_aws as aws
    import pulumi_random as random

    mocks = PlainMocks()

    def body() -> None:
        for i in range(spokes):
            n = f"floor-{i}"
            aws.ec2.Vpc(f"{n}-vpc", cidr_block="10.43.0.0/24", region="us-east-1")
            aws.ec2.InternetGateway(f"{n}-igw", vpc_id="vpc-1", region="us-east-1")
            aws.ec2.RouteTable(f"{n}-rt", vpc_id="vpc-1", region="us-east-1")
            aws.ec2.Subnet(f"{n}-subnet", vpc_id="vpc-1", cidr_block="10.43.0.0/28", region="us-east-1")
            aws.ec2.RouteTableAssociation(f"{n}-rta", subnet_id="s-1", route_table_id="rt-1", region="us-east-1")
            aws.ec2.SecurityGroup(f"{n}-sg", vpc_id="vpc-1", description="floor", region="us-east-1")
            aws.ec2.NetworkInterface(f"{n}-eni", subnet_id="s-1", region="us-east-1")
            aws.ec2.Eip(f"{n}-eip", domain="vpc", region="us-east-1")
            aws.ec2.EipAssociation(f"{n}-eipa", allocation_id="a-1", network_interface_id="eni-1", region="us-east-1")
            aws.secretsmanager.Secret(f"{n}-secret", region="us-east-1")
            aws.secretsmanager.SecretVersion(f"{n}-sv", secret_id=FILLER, secret_string=FILLER, region="us-east-1")
            aws.iam.Role(f"{n}-role", assume_role_policy="{}")
            aws.iam.RolePolicy(f"{n}-rp", role="r", policy="{}")
            aws.iam.RolePolicyAttachment(f"{n}-rpa", role="r", policy_arn="arn:aws:iam::aws:policy/x")
            aws.iam.InstanceProfile(f"{n}-ip", role="r")
            aws.ec2.Instance(
                f"{n}-i", ami="ami-1", instance_type="t3.small", user_data="#!/bin/sh\n", region="us-east-1"
            )
            random.RandomPassword(f"{n}-key", length=64, special=False)

    seconds = _run(mocks, body)
    return {"spokes": spokes, "resources": mocks.count, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.program", description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--spokes", type=int, help="time the program for a lattice of this many spokes")
    which.add_argument("--floor", type=int, help="time a bare program of this many plain resources")
    which.add_argument("--typed-floor", type=int, help="time a spoke's resource classes, bare, for this many spokes")
    args = parser.parse_args(argv)
    if args.spokes is not None:
        result = time_program(args.spokes)
    elif args.floor is not None:
        result = time_floor(args.floor)
    else:
        result = time_typed_floor(args.typed_floor)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
