"""The components as a Pulumi package: schema snapshot, and construction the way the
component provider does it (plain inputs by schema name), under the mocks."""

import json
import os
import tomllib
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from components.package import COMPONENTS, PACKAGE, VERSION, package_schema
from tests.support.helpers import ROOT
from tests.support.mocks import LatticeMocks, is_secret
from tests.support.program import own_event_loop, run_program, stack_config

SCHEMA = ROOT / "provider" / "schema.json"


def test_the_schema_matches_the_committed_snapshot() -> None:
    """A reviewer sees every change to the cross-language API here. Regenerate with
    UPDATE_SCHEMA=1 (or `make schema`) after a deliberate change."""
    text = json.dumps(package_schema(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SCHEMA"):
        SCHEMA.write_text(text)
    assert text == SCHEMA.read_text()


def test_the_schema_names_the_components_with_their_type_tokens() -> None:
    schema = package_schema()
    assert schema["name"] == PACKAGE and schema["version"] == VERSION
    assert set(schema["resources"]) == {f"{PACKAGE}:index:Lattice", f"{PACKAGE}:index:EdgeSpoke"}
    lattice = schema["resources"][f"{PACKAGE}:index:Lattice"]
    assert lattice["isComponent"] is True
    assert lattice["requiredInputs"] == ["lattice"]
    assert lattice["inputProperties"]["lattice"]["plain"] is True, "the spec is plain data: it decides the resources"
    assert {"hubs", "spokes", "serviceCreds", "latticeServiceCreds", "caCert"} <= set(lattice["properties"])
    spoke = schema["resources"][f"{PACKAGE}:index:EdgeSpoke"]
    assert {"upstreamUrls", "leafCreds", "caCert", "spoke", "lattice"} <= set(spoke["requiredInputs"])


def test_the_package_version_is_the_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == VERSION


def test_the_plugin_directory_runs_the_provider_not_the_program() -> None:
    """The engine runs a plugin directory's own ``__main__.py`` (it ignores a ``main`` key):
    the package lives in ``provider/``, apart from the root's Pulumi program (before, the
    root held the manifest and the engine ran the program as the provider; found by the
    e2e tier)."""
    assert not (ROOT / "PulumiPlugin.yaml").exists()
    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python" and "main" not in manifest
    assert (ROOT / "provider" / manifest["runtime"]["options"]["virtualenv"]).resolve() == ROOT / ".venv"
    main = ROOT / "provider" / "__main__.py"
    source = main.read_text()
    compile(source, str(main), "exec")
    assert "component_provider_host(COMPONENTS, PACKAGE, version=VERSION)" in source


def _construct(
    resource: str, name: str, inputs: dict[str, Any] | Callable[[], dict[str, Any]], mocks: LatticeMocks
) -> Any:
    """What the provider does on a Construct request: map schema names, build, read state.
    ``inputs`` may be a function, to make outputs inside the program's event loop."""
    provider = ComponentProvider(COMPONENTS, PACKAGE, version=VERSION)
    box: dict[str, Any] = {}
    with own_event_loop():
        pulumi.runtime.set_mocks(mocks, project="consumer", stack="dev", preview=False)

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def program() -> None:
            given = inputs() if callable(inputs) else inputs
            box["result"] = provider.construct(name, f"{PACKAGE}:index:{resource}", given)

        program()
    return box["result"]


def test_a_lattice_from_plain_data_builds_what_the_python_program_builds() -> None:
    config = stack_config("dev")
    mocks = LatticeMocks()
    result = _construct("Lattice", "acme-dev", {"lattice": config["wasmcloud-lattice:lattice"]}, mocks)
    assert set(result.state) == {"hubs", "spokes", "serviceCreds", "latticeServiceCreds", "caCert"}
    program = run_program("dev", config)
    built = sorted((r.typ, r.name) for r in mocks.resources)
    assert built == sorted((r.typ, r.name) for r in program.mocks.resources)
    assert {r.typ for r in mocks.resources} >= {f"{PACKAGE}:index:HubCluster", f"{PACKAGE}:index:EdgeSpoke"}


def test_a_bad_spec_from_another_language_names_the_key_and_builds_nothing() -> None:
    config = stack_config("dev")
    lattice = dict(config["wasmcloud-lattice:lattice"])
    lattice["hubs"] = [{**lattice["hubs"][0], "nodes": 4}]
    mocks = LatticeMocks()
    with pytest.raises(ComponentInitError) as info:
        _construct("Lattice", "acme-dev", {"lattice": lattice}, mocks)
    assert "Lattice acme-dev: lattice: lattice.hubs[0].nodes: must be 1, 3 or 5" in str(info.value)
    assert [r for r in mocks.resources if not r.typ.startswith("pulumi:")] == []


CREDS = "-----BEGIN NATS USER JWT-----\neyJ.site.jwt\n------END NATS USER JWT------\n\nSUASITESEEDFORTESTS\n"


def test_an_edge_spoke_from_plain_data_against_another_stacks_outputs() -> None:
    inputs = {
        "lattice": "acme",
        "spoke": {"name": "store-12", "upstream": "use1", "platform": "aws", "region": "us-west-2"},
        "upstreamUrls": ["nats-leaf://use1-leaf.elb.us-east-1.amazonaws.com:7422"],
        "leafCreds": CREDS,
        "caCert": "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
    }
    mocks = LatticeMocks()
    result = _construct("EdgeSpoke", "store-12", inputs, mocks)
    assert {"connection", "creds", "config", "publicIp"} <= set(result.state)
    version = next(r for r in mocks.resources if r.typ == "aws:secretsmanager/secretVersion:SecretVersion")
    assert is_secret(version.inputs["secretString"])
    assert set(json.loads(version.inputs["secretString"]["value"])["files"]) == {
        "leaf.creds",
        "ca.pem",
        "nats-server.conf",
    }
    instance = next(r for r in mocks.resources if r.typ == "aws:ec2/instance:Instance")
    assert "SUASITESEEDFORTESTS" not in instance.inputs["userData"]


def test_secrets_given_as_one_secret_map_reach_each_provider_as_secrets() -> None:
    """The engine hands a map with any secret value over as one secret: the face picks each
    name the spec refers to from it (edge-k8s: a kubeconfig per cluster)."""
    config = stack_config("edge-k8s")
    lattice = config["wasmcloud-lattice:lattice"]
    names = {
        key.removeprefix("wasmcloud-lattice:"): value
        for key, value in config.items()
        if key != "wasmcloud-lattice:lattice"
    }
    secrets = {n: v for n, v in names.items() if n.startswith("kubeconfig") or "kc" in n}
    assert secrets, "the stack names kubeconfigs"
    mocks = LatticeMocks()
    _construct("Lattice", "acme-edge", lambda: {"lattice": lattice, "secrets": pulumi.Output.secret(secrets)}, mocks)
    providers = [r for r in mocks.resources if r.typ == "pulumi:providers:kubernetes"]
    assert providers and all(is_secret(p.inputs["kubeconfig"]) for p in providers)
    assert {p.inputs["kubeconfig"]["value"] for p in providers} <= set(secrets.values())
    program = run_program("edge-k8s", config)
    assert sorted((r.typ, r.name) for r in mocks.resources) == sorted((r.typ, r.name) for r in program.mocks.resources)


# --- inputs exactly as the engine delivers them from another language -----------------------


def _wire(value: Any) -> struct_pb2.Struct:
    """A Construct request's inputs as the engine sends them: a protobuf Struct, where every
    number is a double and a secret is a signature-tagged object (what a YAML or TypeScript
    program's `pulumi up` hands the provider)."""
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def _construct_from_wire(resource: str, name: str, wire: struct_pb2.Struct, mocks: LatticeMocks) -> Any:
    """The provider's own path: ``ProviderServicer._construct_inputs`` deserializes the
    Struct (the code a Construct RPC runs), then the component provider builds."""
    provider = ComponentProvider(COMPONENTS, PACKAGE, version=VERSION)
    box: dict[str, Any] = {}
    with own_event_loop():
        pulumi.runtime.set_mocks(mocks, project="consumer", stack="dev", preview=False)

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def program() -> None:
            given = _sync_await(ProviderServicer._construct_inputs(wire, {}))
            box["result"] = provider.construct(name, f"{PACKAGE}:index:{resource}", given)

        program()
    return box["result"]


def _secret(value: Any) -> dict[str, Any]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def test_a_lattice_from_another_language_arrives_with_doubles_and_builds_the_same_resources() -> None:
    """Before: ``nodes: 3`` arrived as ``3.0`` and the spec refused it
    (``lattice.hubs[0].nodes: Input should be a valid integer``)."""
    config = stack_config("dev")
    lattice = config["wasmcloud-lattice:lattice"]
    wire = _wire({"lattice": lattice})
    hub = wire.fields["lattice"].struct_value.fields["hubs"].list_value.values[0].struct_value
    assert hub.fields["nodes"].WhichOneof("kind") == "number_value", "the engine's numbers are doubles"
    mocks = LatticeMocks()
    result = _construct_from_wire("Lattice", "acme-dev", wire, mocks)
    assert set(result.state) == {"hubs", "spokes", "serviceCreds", "latticeServiceCreds", "caCert"}
    program = run_program("dev", config)
    assert sorted((r.typ, r.name) for r in mocks.resources) == sorted((r.typ, r.name) for r in program.mocks.resources)


def test_secrets_from_another_language_stay_secret_down_to_each_provider() -> None:
    config = stack_config("edge-k8s")
    names = {k.removeprefix("wasmcloud-lattice:"): v for k, v in config.items() if k != "wasmcloud-lattice:lattice"}
    wire = _wire({"lattice": config["wasmcloud-lattice:lattice"], "secrets": _secret(names)})
    mocks = LatticeMocks()
    _construct_from_wire("Lattice", "acme-edge", wire, mocks)
    providers = mocks.of_type("pulumi:providers:kubernetes")
    assert providers and all(is_secret(p.inputs["kubeconfig"]) for p in providers)


def test_an_edge_spoke_from_another_language_keeps_its_creds_secret() -> None:
    wire = _wire(
        {
            "lattice": "acme",
            "spoke": {
                "name": "store-12",
                "upstream": "use1",
                "platform": "aws",
                "region": "us-west-2",
                "aws": {"volumeGib": 16},
            },
            "upstreamUrls": ["nats-leaf://use1-leaf.elb.us-east-1.amazonaws.com:7422"],
            "leafCreds": _secret(CREDS),
            "caCert": "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
        }
    )
    mocks = LatticeMocks()
    _construct_from_wire("EdgeSpoke", "store-12", wire, mocks)
    version = next(r for r in mocks.resources if r.typ == "aws:secretsmanager/secretVersion:SecretVersion")
    assert is_secret(version.inputs["secretString"])
    instance = next(r for r in mocks.resources if r.typ == "aws:ec2/instance:Instance")
    assert instance.inputs["rootBlockDevice"]["volumeSize"] == 16
