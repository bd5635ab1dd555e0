"""Pulumi mocks for programs built from these components (the tests and bench use them).

The mocks answer like the providers would where the components read an output (private
and Elastic IPs, balancer DNS names, ARNs, entropy), always the same for the same resource
name, so two runs compare; in a preview they answer nothing, as a first preview would.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.runtime import rpc

from tests.support import tls_material

GET_AMI = "aws:ec2/getAmi:getAmi"
GET_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
GET_VPC = "aws:ec2/getVpc:getVpc"
READ_STACK_RESOURCE_OUTPUTS = "pulumi:pulumi:readStackResourceOutputs"
GET_SUBNET = "aws:ec2/getSubnet:getSubnet"
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


def _hash(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)


_TLS_ANSWERS: dict[str, dict[str, Any]] = {}
"""pulumi-tls answers by type, name and inputs, computed once: signing is deterministic
(RFC 6979), so answers also compare across processes (the resource snapshots rely on it)."""


def _tls_answer(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """What pulumi-tls computes, done for real with ``cryptography``: configs that point at
    these files pass ``nats-server -t``, which loads them."""
    inputs = _unwrap(args.inputs)
    key = json.dumps([args.typ, args.name, inputs], sort_keys=True, default=str)
    if key not in _TLS_ANSWERS:
        _TLS_ANSWERS[key] = _compute_tls(args.typ, args.name, inputs)
    return _TLS_ANSWERS[key]


def _unwrap(value: Any) -> Any:
    """Inputs with secret wrappers replaced by their values."""
    if is_secret(value):
        return _unwrap(value["value"])
    if isinstance(value, Mapping):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unwrap(v) for v in value]
    return value


MOCK_TLS_NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
"""Every mock certificate is valid from here (the stand-in provider of the e2e tier uses the clock)."""


def _compute_tls(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Keys derived from the resource name, serials from its hash, fixed dates, RFC 6979 signatures."""
    if typ == "tls:index/privateKey:PrivateKey":
        if inputs.get("algorithm") != "ECDSA":
            raise ValueError(f"the mocks make ECDSA keys only, not {inputs.get('algorithm')}")
        curve = tls_material.CURVES[inputs.get("ecdsaCurve", "P224")]()
        secret_value = int.from_bytes(hashlib.sha256(name.encode()).digest()) % (2 ** (curve.key_size - 1))
        return tls_material.private_key_outputs(ec.derive_private_key(secret_value + 1, curve))
    issue = {
        "tls:index/selfSignedCert:SelfSignedCert": tls_material.self_signed_certificate,
        "tls:index/locallySignedCert:LocallySignedCert": tls_material.locally_signed_certificate,
    }
    if typ in issue:
        _, outputs = issue[typ](inputs, now=MOCK_TLS_NOW, serial=_hash(name), deterministic=True)
        return outputs
    if typ == "tls:index/certRequest:CertRequest":
        _, outputs = tls_material.certificate_request(inputs, deterministic=True)
        return outputs
    raise ValueError(f"no mock answer for {typ}")


def _zones(args: Mapping[str, Any]) -> dict[str, Any]:
    """Like EC2's DescribeAvailabilityZones: a region lists its Local Zones among its
    Availability Zones (``us-east-1-bos-1a`` sorts before ``us-east-1a``) unless filtered
    by ``zone-type``."""
    region = args.get("region", "us-east-1")
    zones = {f"{region}{z}": "availability-zone" for z in "abcd"}
    zones[f"{region}-bos-1a"] = "local-zone"
    zones[f"{region}-wl1-bos-wlz-1"] = "wavelength-zone"
    wanted = next((f["values"] for f in args.get("filters") or [] if f["name"] == "zone-type"), None)
    names = sorted(n for n, kind in zones.items() if wanted is None or kind in wanted)
    return {"id": region, "names": names, "zoneIds": []}


EXISTING_VPC_CIDRS = ("10.60.0.0/16", "10.61.0.0/16")
"""An existing VPC's primary and secondary CIDR blocks (a disassociated one is left out)."""


def _vpc(args: Mapping[str, Any]) -> dict[str, Any]:
    associations = [
        {"associationId": f"vpc-cidr-assoc-{i}", "cidrBlock": c, "state": "associated"}
        for i, c in enumerate(EXISTING_VPC_CIDRS)
    ]
    associations.append({"associationId": "vpc-cidr-assoc-9", "cidrBlock": "10.99.0.0/16", "state": "disassociated"})
    return {"id": args.get("id"), "cidrBlock": EXISTING_VPC_CIDRS[0], "cidrBlockAssociations": associations}


class LatticeMocks(pulumi.runtime.Mocks):
    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        self.state = dict(state or {})
        """What the engine's ``readStackResourceOutputs`` answers: the stack's resources
        (URN -> ``type`` and ``outputs``) from its last deployment."""
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
        if args.typ.startswith("tls:index/"):
            outputs.update(_tls_answer(args))
        elif args.typ == "random:index/randomPassword:RandomPassword":
            alphabet = string.ascii_letters + string.digits
            digest = hashlib.sha512(args.name.encode()).digest()
            outputs["result"] = "".join(alphabet[b % len(alphabet)] for b in digest)[: int(args.inputs["length"])]
            return "none", outputs  # pulumi-random's id for a password: never the value
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
            return _zones(args.args), []
        if args.token == READ_STACK_RESOURCE_OUTPUTS:
            return {"name": args.args["stackName"], "outputs": self.state}, []
        if args.token == GET_VPC:
            return _vpc(args.args), []
        if args.token == GET_SUBNET:
            h = _hash(str(args.args.get("id")))
            zone = f"{args.args.get('region', 'us-east-1')}{'abc'[h % 3]}"
            cidr = f"10.60.{h % 256}.0/24"
            return {
                "id": args.args.get("id"),
                "availabilityZone": zone,
                "cidrBlock": cidr,
                "vpcId": "vpc-0existing",
            }, []
        return {}, []

    def as_state(self) -> dict[str, Any]:
        """What this run left in a stack's state, as ``readStackResourceOutputs`` reports it."""
        return {f"{r.typ}::{r.name}": {"type": r.typ, "outputs": self.outputs[(r.typ, r.name)]} for r in self.resources}

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
