"""Pulumi mocks for programs built from these components (the tests and bench use them).

The mocks answer like the providers would where the components read an output (private
and Elastic IPs, balancer DNS names, ARNs, entropy), always the same for the same resource
name, so two runs compare; in a preview they answer nothing, as a first preview would.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
from pulumi.runtime import rpc

GET_AMI = "aws:ec2/getAmi:getAmi"
GET_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


def _hash(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)


class LatticeMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.outputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        resource_id, outputs = self._answer(args)
        self.outputs[(args.typ, args.name)] = outputs
        return resource_id, outputs

    def _answer(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if pulumi.runtime.is_dry_run():
            return "", outputs  # a first preview: what providers compute is not known yet
        h = _hash(args.name)
        if args.typ == "random:index/randomBytes:RandomBytes":
            outputs["base64"] = base64.b64encode(hashlib.sha256(args.name.encode()).digest()).decode()
        elif args.typ == "aws:ec2/networkInterface:NetworkInterface":
            outputs["privateIp"] = f"10.{h % 256}.{(h >> 8) % 256}.{(h >> 16) % 250 + 4}"
        elif args.typ == "aws:ec2/eip:Eip":
            outputs["publicIp"] = f"198.18.{h % 256}.{(h >> 8) % 250 + 4}"
            outputs["allocationId"] = f"eipalloc-{h:012x}"
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["dnsName"] = f"{args.name}-{h % 10**8:08d}.elb.{args.inputs.get('region')}.amazonaws.com"
        elif args.typ == "kubernetes:core/v1:Service" and (args.inputs.get("spec") or {}).get("type") == "LoadBalancer":
            outputs["status"] = {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{h % 250 + 4}"}]}}
        elif args.typ == "aws:ebs/volume:Volume":
            return f"vol-{h:017x}", {**outputs, "arn": f"arn:aws:ec2:::volume/{args.name}"}
        outputs.setdefault("arn", f"arn:aws:mock:{args.inputs.get('region', '')}::{args.typ}/{args.name}")
        if args.typ == "aws:iam/role:Role":
            outputs.setdefault("name", args.name)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        if args.token == GET_AMI:
            return {"id": "ami-0mock2023", "imageId": "ami-0mock2023", "name": "al2023-ami-2023.9-x86_64"}, []
        if args.token == GET_ZONES:
            region = args.args.get("region", "us-east-1")
            return {"id": region, "names": [f"{region}{z}" for z in "abcd"], "zoneIds": []}, []
        return {}, []

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def walk_plain_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string outside a secret wrapper, with its key path."""
    if is_secret(value):
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk_plain_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from walk_plain_strings(v, f"{path}[{i}]")
