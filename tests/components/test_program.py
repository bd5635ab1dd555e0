"""The Pulumi program under the SDK's mocks (preview=False, so every apply runs).

Every stack builds; counts match the spec; the security invariants hold over every
registered resource; runs are deterministic; adding or retiring a spoke touches only
what it must; a bad stack fails before any resource with the sandbox's message.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from cryptography import x509
from pulumi.output import Unknown

from components.keys import key_entropy
from lattice.addressing import PORTS
from lattice.allowlists import host_cidr
from lattice.credentials import LatticeAuth, assemble, binds_source, decode_jwt_claims, plan_key_names
from lattice.outputs import oci_mirror, spoke_connection
from lattice.plan import LatticePlan, plan_lattice
from lattice.rules import secret_names
from tests.support.helpers import STACK_NAMES, load_stack, retire_spoke
from tests.support.mocks import LatticeMocks, is_secret, walk_plain_strings
from tests.support.program import ProgramRun, fake_secret, own_event_loop, run_program, stack_config

SEED = re.compile(r"S[OAU][A-Z2-7]{50,}")
PRIVATE_PORTS = {4222: "client", 6222: "route", 8222: "monitor"}
COMPONENT_TYPES = {"Lattice", "LatticeKeys", "LatticeCA", "HubCluster", "EdgeSpoke"}


@pytest.fixture(autouse=True)
def event_loop_for_pulumi() -> Iterator[None]:
    with own_event_loop():
        yield


_RUNS: dict[str, ProgramRun] = {}


def stack_run(stack: str) -> ProgramRun:
    """One mock run per stack for the read-only tests (a run of prod takes about a second)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack, stack_config(stack))
    return _RUNS[stack]


def plan_of(stack: str) -> LatticePlan:
    return plan_lattice(load_stack(stack))


def by_name(run: ProgramRun, typ: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in run.mocks.of_type(typ)}


RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def mock_auth(plan: LatticePlan, run: ProgramRun) -> LatticeAuth:
    """The credentials the program minted: each key's entropy from the random string the
    mocks stored for it; a bound spoke's sources are its Elastic IP (the mocks' answer) or
    its egressCidrs."""
    stored = {name: out for (typ, name), out in run.mocks.outputs.items() if typ == RANDOM_PASSWORD}
    entropy = {key: key_entropy(stored[f"{plan.lattice}-keys-{key}"]["result"]) for key in plan_key_names(plan)}
    sources: dict[str, tuple[str, ...]] = {}
    for spoke in (s for s in plan.spokes if binds_source(plan, s.name)):
        if spoke.platform == "aws":
            eip = run.mocks.outputs[("aws:ec2/eip:Eip", f"{plan.lattice}-{spoke.name}-eip")]
            sources[spoke.name] = (host_cidr(eip["publicIp"]),)
        else:
            sources[spoke.name] = spoke.egress_cidrs
    return assemble(plan, entropy, sources)


# --- what gets built ---------------------------------------------------------------------


def _by_platform(plan: LatticePlan) -> dict[str, Any]:
    hubs = {p: [h for h in plan.hubs if h.platform == p] for p in ("aws", "kubernetes", "external")}
    spokes = {p: [s for s in plan.spokes if s.platform == p] for p in ("aws", "kubernetes")}
    return {"hubs": hubs, "spokes": spokes}


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_stack_builds_the_resources_its_spec_asks_for(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    counts = Counter(r.typ for r in run.mocks.resources)
    split = _by_platform(plan)
    aws_nodes = sum(len(h.servers) for h in split["hubs"]["aws"])
    aws_spokes = len(split["spokes"]["aws"])
    k8s_groups = len(split["hubs"]["kubernetes"]) + len(split["spokes"]["kubernetes"])
    built_hubs = len(split["hubs"]["aws"]) + len(split["hubs"]["kubernetes"])
    # the hub-stream agent, where the stack declares hub streams: a secret per AWS region, a
    # ConfigMap, Secret and Deployment per Kubernetes region
    agents = {p: len(split["hubs"][p]) if plan.hub_streams else 0 for p in ("aws", "kubernetes")}
    assert counts["wasmcloud-lattice:index:Lattice"] == 1
    assert counts["wasmcloud-lattice:index:HubCluster"] == built_hubs, "nothing is built for an external hub"
    assert counts["wasmcloud-lattice:index:EdgeSpoke"] == len(plan.spokes)
    assert counts["aws:ec2/instance:Instance"] == aws_nodes + aws_spokes
    assert counts["aws:ebs/volume:Volume"] == aws_nodes, "one JetStream volume per AWS hub node"
    assert counts["aws:secretsmanager/secret:Secret"] == aws_nodes + aws_spokes + agents["aws"], "one secret per VM"
    assert counts["aws:iam/role:Role"] == aws_nodes + aws_spokes, "one role per VM"
    assert counts["aws:lb/loadBalancer:LoadBalancer"] == len(split["hubs"]["aws"])
    assert counts["aws:ec2/eip:Eip"] == aws_nodes + aws_spokes
    assert counts["pulumi:providers:kubernetes"] == k8s_groups, "one explicit provider per cluster entry"
    assert counts["kubernetes:apps/v1:StatefulSet"] == k8s_groups
    assert counts["kubernetes:core/v1:Secret"] == k8s_groups + agents["kubernetes"]
    assert counts["kubernetes:apps/v1:Deployment"] == agents["kubernetes"]
    assert counts["kubernetes:policy/v1:PodDisruptionBudget"] == len(split["hubs"]["kubernetes"])
    external_spokes = [s for s in plan.spokes if s.upstream in {h.name for h in split["hubs"]["external"]}]
    keys = 4 + len(plan.spokes) - len(external_spokes) + len(plan.retired_spokes)
    assert counts["random:index/randomPassword:RandomPassword"] == keys
    mid_tiers = len([s for s in plan.spokes if s.is_mid_tier])
    mirrors = len([s for s in plan.spokes if plan.mirrors(s.name)])
    listeners = aws_nodes + len(split["hubs"]["kubernetes"]) + mid_tiers + mirrors
    assert counts["tls:index/locallySignedCert:LocallySignedCert"] == listeners, "a certificate per listener"
    k8s_mirrors = len([s for s in split["spokes"]["kubernetes"] if plan.mirrors(s.name)])
    config_maps = len(split["hubs"]["kubernetes"]) + len(split["spokes"]["kubernetes"]) + k8s_mirrors
    config_maps += agents["kubernetes"]
    assert counts["kubernetes:core/v1:ConfigMap"] == config_maps, "a config per group, and one per registry mirror"
    assert counts["tls:index/selfSignedCert:SelfSignedCert"] == 1, "one CA per lattice"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_exports_describe_hubs_and_spokes_with_the_sandbox_field_names(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    assert run.exports["lattice"] == plan.lattice
    assert set(run.exports["hubs"]) == {h.name for h in plan.hubs}
    for hub in plan.hubs:
        exported = run.exports["hubs"][hub.name]
        assert exported["jsDomain"] == plan.hub_domain
        if hub.platform == "external":
            assert exported["leafUrls"] == list(hub.external_urls)
            continue
        assert len(exported["leafUrls"]) == 1 and exported["leafUrls"][0].endswith(":7422")
        if hub.platform == "aws":
            assert exported["leafUrls"][0].endswith(".amazonaws.com:7422")
            assert len(exported["gatewayUrls"]) == len(exported["clientUrls"]) == len(hub.servers)
    assert set(run.exports["spokes"]) == {s.name for s in plan.spokes}
    for spoke in plan.spokes:
        exported = dict(run.exports["spokes"][spoke.name])
        creds = exported.pop("creds")
        expected = spoke_connection(plan, spoke.name, mirror=oci_mirror(plan, spoke.name))
        assert exported == expected, "the sandbox's JSON uses the same function"
        assert exported["natsUrl"] == "nats://127.0.0.1:4222"
        assert ("BEGIN NATS USER JWT" in creds) == spoke.upstream_is_hub


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_only_credentials_are_secret_in_the_exports(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    expected = {"serviceCreds"} | {f"spokes.{s.name}.creds" for s in plan.spokes}
    expected |= {f"latticeServiceCreds.{name}" for name in plan.lattices}
    assert run.secret_exports == expected
    # as the engine receives them: the secret marker sits on the credential, not above it
    serialized = run.exports_serialized
    assert is_secret(serialized["serviceCreds"])
    for spoke in plan.spokes:
        fields = serialized["spokes"][spoke.name]
        assert is_secret(fields["creds"]) and not is_secret(fields["natsUrl"])


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_components_use_their_type_tokens_and_own_every_resource(stack: str) -> None:
    run = stack_run(stack)
    names = Counter((r.typ, r.name) for r in run.mocks.resources)
    assert [n for n, c in names.items() if c > 1] == [], "duplicate resource names"
    lattice = plan_of(stack).lattice
    tokens = {r.typ for r in run.mocks.resources if r.typ.startswith("wasmcloud-lattice:")}
    built = (
        COMPONENT_TYPES
        if any(h.platform != "external" for h in plan_of(stack).hubs)
        else COMPONENT_TYPES - {"HubCluster"}
    )
    assert tokens == {f"wasmcloud-lattice:index:{t}" for t in built}
    stray = [r.name for r in run.mocks.resources if not r.name.startswith(lattice)]
    assert stray == [], "every child's name starts with its component's name"


# --- security invariants -----------------------------------------------------------------


def _rules(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, inputs in by_name(run, "aws:ec2/securityGroup:SecurityGroup").items():
        for rule in inputs.get("ingress", []):
            yield name, rule


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_no_client_route_or_monitor_port_is_open_to_the_world(stack: str) -> None:
    run = stack_run(stack)
    checked = 0
    for name, rule in _rules(run):
        ports = set(range(int(rule["fromPort"]), int(rule["toPort"]) + 1))
        cidrs = set(rule.get("cidrBlocks", [])) | set(rule.get("ipv6CidrBlocks", []))
        for port in ports & set(PRIVATE_PORTS):
            checked += 1
            assert not cidrs & {"0.0.0.0/0", "::/0"}, f"{name}: {PRIVATE_PORTS[port]} port {port} open to the world"
        if 6222 in ports:
            assert rule.get("self") is True and not cidrs, f"{name}: routes only among the cluster's nodes"
    assert checked >= 3 * len([h for h in plan_of(stack).hubs if h.platform == "aws"])


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_gateway_port_admits_only_the_other_regions_nodes(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    groups = by_name(run, "aws:ec2/securityGroup:SecurityGroup")
    for hub in plan.hubs:
        if hub.platform != "aws":
            continue
        rules = [r for r in groups[f"{plan.lattice}-{hub.name}-nodes"]["ingress"] if int(r["fromPort"]) == 7222]
        others = [h.name for h in plan.hubs if h.name != hub.name]
        if not others:
            assert rules == []
            continue
        expected = {
            url.removeprefix("nats://").removesuffix(":7222") + "/32"
            for other in others
            for url in run.exports["hubs"][other]["gatewayUrls"]
        }
        assert [set(r["cidrBlocks"]) for r in rules] == [expected]


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_spokes_only_dial_out_and_a_mid_tier_admits_only_its_children(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    groups = by_name(run, "aws:ec2/securityGroup:SecurityGroup")
    public_ips = {
        s.name: run.mocks.outputs[("aws:ec2/eip:Eip", f"{plan.lattice}-{s.name}-eip")]["publicIp"]
        for s in plan.spokes
        if s.platform == "aws"
    }
    for spoke in plan.spokes:
        if spoke.platform != "aws":
            continue
        ingress = groups[f"{plan.lattice}-{spoke.name}-node"].get("ingress", [])
        if not spoke.is_mid_tier:
            assert ingress == [], f"{spoke.name} must have no inbound rule"
            continue
        assert [(int(r["fromPort"]), int(r["toPort"])) for r in ingress] == [(7422, 7422)]
        aws_children = [c for c in spoke.children if c in public_ips]
        assert set(ingress[0]["cidrBlocks"]) == {f"{public_ips[c]}/32" for c in aws_children}


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_instance_requires_imdsv2_and_every_volume_is_encrypted(stack: str) -> None:
    run = stack_run(stack)
    instances = run.mocks.of_type("aws:ec2/instance:Instance")
    assert instances
    for instance in instances:
        inputs = instance.inputs
        assert inputs["metadataOptions"]["httpTokens"] == "required", instance.name
        assert inputs["rootBlockDevice"]["encrypted"] is True, instance.name
        assert "networkInterfaces" not in inputs and inputs["primaryNetworkInterface"]["networkInterfaceId"]
    for volume in run.mocks.of_type("aws:ebs/volume:Volume"):
        assert volume.inputs["encrypted"] is True, volume.name


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_no_seed_password_or_creds_outside_a_secret(stack: str) -> None:
    run, plan = stack_run(stack), plan_of(stack)
    auth = mock_auth(plan, run)
    secrets = (*auth.secret_values(), *(fake_secret(n) for n in secret_names(load_stack(stack))))
    markers = ("SUFAKESEED", "FAKETOKEN")
    # the program minted exactly these: a spoke's exported creds are one of them
    assert {run.exports["spokes"][s]["creds"] for s in auth.leaf_creds} <= set(secrets)
    scanned = 0
    for resource in run.mocks.resources:
        for path, text in walk_plain_strings(resource.inputs):
            scanned += 1
            assert not SEED.search(text), f"{resource.name}.{path} holds an nkey seed"
            assert not any(m in text for m in markers), f"{resource.name}.{path} holds a given secret"
            for secret in secrets:
                assert secret not in text, f"{resource.name}.{path} holds a secret"
    assert scanned > 100
    versions = run.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert versions and all(is_secret(v.inputs["secretString"]) for v in versions)
    for path, text in walk_plain_strings(run.exports_serialized):
        assert not SEED.search(text) and not any(s in text for s in secrets), f"export {path} leaks"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_no_tls_private_key_outside_a_secret(stack: str) -> None:
    run = stack_run(stack)
    keys = [o["privateKeyPem"] for (typ, _), o in run.mocks.outputs.items() if typ == "tls:index/privateKey:PrivateKey"]
    assert keys, "the lattice CA and the listeners have keys"
    for resource in run.mocks.resources:
        for path, text in walk_plain_strings(resource.inputs):
            assert "PRIVATE KEY" not in text, f"{resource.name}.{path} holds a private key in the clear"
    for path, text in walk_plain_strings(run.exports_serialized):
        assert "PRIVATE KEY" not in text, f"export {path} leaks a private key"
    assert "BEGIN CERTIFICATE" in run.exports["caCert"], "the CA certificate is public and exported"


def _sans(pem: str) -> set[str]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in names.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in names.get_values_for_type(x509.IPAddress)
    }


DIALED = re.compile(r'"(?:nats|nats-route|nats-leaf)://(?:[^@"]*@)?([^:/"]+):\d+"')


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_host_a_config_dials_is_on_a_certificate_of_the_lattice(stack: str) -> None:
    """Routes, gateways and leaf remotes verify the server they dial: each host in every
    rendered config must be a SAN of the certificate that server presents."""
    run, plan = stack_run(stack), plan_of(stack)
    certs = {
        name.removesuffix("-tls"): _sans(o["certPem"])
        for (typ, name), o in run.mocks.outputs.items()
        if typ == "tls:index/locallySignedCert:LocallySignedCert"
    }
    covered = set().union(*certs.values())
    external = {u.split("://")[1].split(":")[0] for h in plan.hubs for u in h.external_urls}
    texts = [t for r in run.mocks.resources for _, t in walk_plain_strings(r.inputs) if "leafnodes" in t]
    for version in run.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion"):
        texts += json.loads(version.inputs["secretString"]["value"])["files"].values()
    for secret in run.mocks.of_type("kubernetes:core/v1:Secret"):
        texts += secret.inputs["stringData"]["value"].values()
    dialed = {h for t in texts for h in DIALED.findall(t)} - external
    assert dialed, "the configs dial something"
    assert dialed <= covered, dialed - covered
    for hub in plan.hubs:  # routes stay inside a hub: its own nodes' certificates name them
        prefix = f"{plan.lattice}-{hub.name}-"
        own = set().union(*(sans for name, sans in certs.items() if name.startswith(prefix) or name == prefix[:-1]))
        for resource in run.mocks.resources:
            if resource.name.startswith(prefix) or resource.name == f"{prefix}config":
                for _, text in walk_plain_strings(resource.inputs):
                    routes = re.findall(r'"nats-route://([^:"]+):\d+"', text)
                    assert set(routes) <= own, (resource.name, set(routes) - own)


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_each_node_role_reads_only_its_own_secret(stack: str) -> None:
    """And a hub node of a stack with hub streams its region's agent secret, nothing more."""
    run, plan = stack_run(stack), plan_of(stack)
    secrets = by_name(run, "aws:secretsmanager/secret:Secret")
    nodes = {name.removesuffix("-files") for name in secrets if name.endswith("-files")}
    policies = by_name(run, "aws:iam/rolePolicy:RolePolicy")
    assert {n.removesuffix("-read-files") for n in policies} == nodes
    agents = {name.removesuffix("-jetstream-sync") for name in secrets if name.endswith("-jetstream-sync")}
    assert len(agents) == (len([h for h in plan.hubs if h.platform == "aws"]) if plan.hub_streams else 0)
    for name, inputs in policies.items():
        node = name.removesuffix("-read-files")
        arn = f"arn:aws:mock:{_region(run, node)}::aws:secretsmanager/secret:Secret/"
        region = node.rsplit("-", 1)[0]  # a hub node's component: <lattice>-<hub>
        readable: str | list[str] = f"{arn}{node}-files"
        if region in agents:
            readable = sorted([f"{arn}{node}-files", f"{arn}{region}-jetstream-sync"])
        statement = yaml.safe_load(inputs["policy"])["Statement"]
        assert statement == [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": readable}]


def _region(run: ProgramRun, node: str) -> str:
    return str(by_name(run, "aws:secretsmanager/secret:Secret")[f"{node}-files"]["region"])


# --- determinism and change isolation ------------------------------------------------------


def _inputs(run: ProgramRun) -> dict[tuple[str, str], Any]:
    return {(r.typ, r.name): r.inputs for r in run.mocks.resources}


def _changed(before: ProgramRun, after: ProgramRun) -> tuple[set[str], set[str], set[str]]:
    """(changed, removed, added) resource names between two runs."""
    a, b = _inputs(before), _inputs(after)
    changed = {k[1] for k in a.keys() & b.keys() if a[k] != b[k]}
    return changed, {k[1] for k in a.keys() - b.keys()}, {k[1] for k in b.keys() - a.keys()}


def _with(stack: str, edit: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config(stack))
    edit(config["wasmcloud-lattice:lattice"])
    return config


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_two_runs_register_identical_inputs(stack: str) -> None:
    first = stack_run(stack)
    second = run_program(stack, stack_config(stack))
    assert _inputs(first) == _inputs(second)
    assert first.exports == second.exports


def test_adding_a_spoke_on_a_hub_changes_only_the_hubs_leaf_allow_list() -> None:
    """The hub's leaf port admits its spokes by address: the new spoke's Elastic IP joins
    the hub's security group (an in-place rule update); nothing else that exists changes."""
    before = stack_run("dev")
    new = {"name": "store-99", "upstream": "use1", "platform": "aws", "region": "us-east-1"}
    after = run_program("dev", _with("dev", lambda lat: lat["spokes"].append(new)))
    changed, removed, added = _changed(before, after)
    assert changed == {"acme-dev-use1-nodes"} and removed == set()
    assert added and all(n.startswith("acme-dev-store-99") or n == "acme-dev-keys-leaf-store-99" for n in added)
    eip = after.mocks.outputs[("aws:ec2/eip:Eip", "acme-dev-store-99-eip")]["publicIp"]
    assert f"{eip}/32" in _leaf_sources(after, "acme-dev-use1-nodes")
    assert _leaf_sources(before, "acme-dev-use1-nodes") < _leaf_sources(after, "acme-dev-use1-nodes")


def _leaf_sources(run: ProgramRun, group: str) -> set[str]:
    rules = next(
        r.inputs["ingress"] for r in run.mocks.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == group
    )
    return {c for rule in rules if rule["fromPort"] == PORTS.leaf for c in rule["cidrBlocks"]}


def test_adding_a_device_under_a_store_changes_only_that_stores_secret_and_firewall() -> None:
    before = stack_run("dev")
    new = {"name": "device-8", "upstream": "store-12", "platform": "aws", "region": "us-west-2"}
    after = run_program("dev", _with("dev", lambda lat: lat["spokes"].append(new)))
    changed, removed, added = _changed(before, after)
    assert changed == {"acme-dev-store-12-files", "acme-dev-store-12-node"}
    assert removed == set()
    assert all(n.startswith("acme-dev-device-8") or n == "acme-dev-keys-leaf-device-8" for n in added)


def test_changing_one_spoke_changes_no_hub_resource() -> None:
    before = stack_run("dev")

    def bigger(lat: dict[str, Any]) -> None:
        lat["spokes"][1]["aws"] = {"instanceType": "t3.large"}

    after = run_program("dev", _with("dev", bigger))
    changed, removed, added = _changed(before, after)
    assert changed == {"acme-dev-store-14"}, "only that spoke's instance"
    assert removed == added == set()


def test_rotating_a_spokes_key_changes_only_its_credentials_and_the_hubs_trust() -> None:
    before = stack_run("dev")

    def rotate(lat: dict[str, Any]) -> None:
        next(s for s in lat["spokes"] if s["name"] == "store-14")["keyRotation"] = 1

    after = run_program("dev", _with("dev", rotate))
    changed, removed, added = _changed(before, after)
    hub_secrets = {f"acme-dev-{s}-files" for h in plan_of("dev").hubs for s in h.servers}
    assert changed == hub_secrets | {"acme-dev-store-14-files"}, "its creds, and the revocation at every hub"
    assert removed == set()
    assert added == {"acme-dev-keys-leaf-store-14.1"}, "a new entropy resource; the old one stays to revoke it"
    old = before.exports["spokes"]["store-14"]["creds"]
    new = after.exports["spokes"]["store-14"]["creds"]
    assert old != new
    assert after.exports["spokes"]["store-12"]["creds"] == before.exports["spokes"]["store-12"]["creds"]
    old_key = decode_jwt_claims(old.split("\n")[1])["sub"]
    trust = next(
        json.loads(r.inputs["secretString"]["value"])["files"]["trust.conf"]
        for r in after.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if r.name == "acme-dev-use1-0-files"
    )
    account_jwts = re.findall(r'"(eyJ[^"]+)"', trust)
    revoked = {k for j in account_jwts for k in decode_jwt_claims(j)["nats"].get("revocations", {})}
    assert old_key in revoked, "the old key is revoked in the account the hubs preload"


def test_retiring_a_spoke_revokes_it_at_the_hubs_and_changes_nothing_else() -> None:
    before = stack_run("dev")

    def retire(lat: dict[str, Any]) -> None:
        retire_spoke(lat, "store-14")

    after = run_program("dev", _with("dev", retire))
    changed, removed, added = _changed(before, after)
    hub_secrets = {f"acme-dev-{s}-files" for h in plan_of("dev").hubs for s in h.servers}
    agents = {f"acme-dev-{h.name}-jetstream-sync" for h in plan_of("dev").hubs}
    assert changed == hub_secrets | agents | {"acme-dev-use1-nodes"}, (
        "the new revocation reaches every hub node's trust.conf; its old hub stops admitting its address; "
        "the hub-stream agents drop it from the hub streams (and its consumer at the hubs)"
    )
    assert added == set()
    assert removed and all(n.startswith("acme-dev-store-14") for n in removed)
    assert "acme-dev-keys-leaf-store-14" in {r.name for r in after.mocks.resources}, "its key is kept to revoke it"


# --- bad input -------------------------------------------------------------------------------


def test_bad_stack_fails_with_the_sandbox_message_before_any_resource() -> None:
    bad = Path(__file__).parent.parent / "lattice" / "invalid_stacks" / "unknown-upstream.yaml"
    config = yaml.safe_load(bad.read_text())["config"]
    mocks = LatticeMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", config, mocks)
    assert str(info.value) == "stacks/Pulumi.dev.yaml: lattice.spokes[0].upstream: no hub or spoke named 'use9'"
    assert "Traceback" not in str(info.value)
    assert mocks.resources == []


def test_a_kubernetes_entry_without_a_kubeconfig_is_refused_by_key_path() -> None:
    def to_k8s(lat: dict[str, Any]) -> None:
        lat["spokes"][2] = {
            **lat["spokes"][2],
            "platform": "kubernetes",
            "kubernetes": {"egressCidrs": ["192.0.2.7/32"]},
        }
        del lat["spokes"][2]["region"]
        egress = {"kubeconfig": "kc-14", "egressCidrs": ["192.0.2.14/32"]}
        lat["spokes"][1] = {**lat["spokes"][1], "platform": "kubernetes", "kubernetes": egress}
        del lat["spokes"][1]["region"]

    mocks = LatticeMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", _with("dev", to_k8s), mocks)
    assert mocks.resources == []
    assert str(info.value).splitlines() == [
        "stacks/Pulumi.dev.yaml: lattice.spokes[1].kubernetes.kubeconfig: config value 'kc-14' is not set "
        "(pulumi config set --secret kc-14 < kubeconfig.yaml)",
        "stacks/Pulumi.dev.yaml: lattice.spokes[2].kubernetes.kubeconfig: required for platform 'kubernetes': "
        "the name of a secret config value holding the cluster's kubeconfig (or set ambientKubeconfig: true)",
    ]


def test_websocket_to_an_aws_hub_is_refused_until_it_has_a_listener() -> None:
    def websocket(lat: dict[str, Any]) -> None:
        lat["spokes"][0]["leafTransport"] = "websocket"

    with pytest.raises(pulumi.RunError, match=r"lattice.hubs\[0\].platform: spoke\(s\) store-12 dial over WebSocket"):
        run_program("dev", _with("dev", websocket))


def test_missing_lattice_config_is_a_clear_error() -> None:
    with pytest.raises(pulumi.RunError, match=r"stacks/Pulumi.dev.yaml: lattice: missing config key"):
        run_program("dev", {"aws:region": "us-east-1"})


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_hub_nodes_spread_across_zones_and_the_leaf_port_follows_the_spec(stack: str) -> None:
    run, spec = stack_run(stack), load_stack(stack)
    subnets = by_name(run, "aws:ec2/subnet:Subnet")
    interfaces = by_name(run, "aws:ec2/networkInterface:NetworkInterface")
    groups = by_name(run, "aws:ec2/securityGroup:SecurityGroup")
    for hub in spec.hubs:
        if hub.platform != "aws":
            continue
        zones = [
            subnets[interfaces[f"{spec.name}-{hub.name}-{i}-eni"]["subnetId"].removesuffix("-id")]["availabilityZone"]
            for i in range(hub.nodes)
        ]
        assert len(set(zones)) == min(hub.nodes, 3), f"{hub.name}: nodes in zones {zones}"
        (leaf,) = [r for r in groups[f"{spec.name}-{hub.name}-nodes"]["ingress"] if int(r["fromPort"]) == 7422]
        addresses: set[str] = set()
        for child in (s for s in spec.spokes if s.upstream == hub.name):
            if child.platform == "aws":
                eip = run.mocks.outputs[("aws:ec2/eip:Eip", f"{spec.name}-{child.name}-eip")]["publicIp"]
                addresses.add(f"{eip}/32")
            else:
                addresses.update(child.kubernetes.egress_cidrs)
        assert set(leaf["cidrBlocks"]) == {*hub.aws.leaf_allowed_cidrs, *addresses}, (
            "the leaf port admits the lattice's own spokes (the NLB keeps their addresses) and leafAllowedCidrs"
        )


def test_a_first_preview_registers_the_same_resources_with_addresses_still_unknown() -> None:
    """`pulumi preview` before anything exists: addresses are unknown, nothing may break."""
    preview = run_program("dev", stack_config("dev"), preview=True)
    assert sorted((r.typ, r.name) for r in preview.mocks.resources) == sorted(_inputs(stack_run("dev")))
    user_data = [r.inputs.get("userData") for r in preview.mocks.of_type("aws:ec2/instance:Instance")]
    assert user_data and all(isinstance(u, Unknown) for u in user_data), "addresses were unknown"
    assert preview.exports["spokes"]["store-12"]["natsUrl"] == "nats://127.0.0.1:4222"


SECRET_INPUTS = {
    ("aws:secretsmanager/secretVersion:SecretVersion", "secretString"),
    ("kubernetes:core/v1:Secret", "stringData"),
    ("pulumi:providers:kubernetes", "kubeconfig"),
    ("tls:index/selfSignedCert:SelfSignedCert", "privateKeyPem"),
    ("tls:index/certRequest:CertRequest", "privateKeyPem"),
    ("tls:index/locallySignedCert:LocallySignedCert", "caPrivateKeyPem"),
}


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_only_secret_carriers_are_secret_so_previews_show_every_other_change(stack: str) -> None:
    """A secret anywhere inside an input turns the whole input secret, and its diff into
    `[secret]`: user-data, pod specs and firewall rules must stay reviewable."""
    secret_inputs = {
        (r.typ, key) for r in stack_run(stack).mocks.resources for key, value in r.inputs.items() if is_secret(value)
    }
    assert secret_inputs <= SECRET_INPUTS, secret_inputs - SECRET_INPUTS
    assert ("aws:secretsmanager/secretVersion:SecretVersion", "secretString") in secret_inputs
