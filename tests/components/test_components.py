"""Components on their own, as another Pulumi program would use them (under mocks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components.base import LatticeComponent
from components.certificates import CaMaterial
from components.hub import HubCluster, HubClusterArgs
from components.spoke import EdgeSpoke, EdgeSpokeArgs
from lattice.natsconf import CONFIG_FILE
from lattice.node.cloudinit import heredoc_files, sync_programs
from lattice.plan import plan_lattice
from tests.support.helpers import spec_from
from tests.support.mocks import LatticeMocks, walk_plain_strings

CREDS = "-----BEGIN NATS USER JWT-----\neyJ.fake.jwt\n------END NATS USER JWT------\n\nSUAFAKESEED\n"
EXISTING_HUB = {
    "name": "ngs",
    "platform": "external",
    "urls": ["tls://connect.ngs.global"],
    "jetstreamDomain": "ngs",
    "credsSecret": "ngs-creds",
}
SITE = {"name": "site-1", "upstream": "ngs", "platform": "aws", "region": "us-east-1"}


@pytest.fixture
def mocks() -> Iterator[LatticeMocks]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = LatticeMocks()
    pulumi.runtime.set_mocks(mocks, project="edge-only", stack="test", preview=False)
    yield mocks
    loop.close()
    asyncio.set_event_loop(None)


def _resolve(output: pulumi.Output[Any]) -> Any:
    return asyncio.get_event_loop().run_until_complete(output.future())


def test_one_edge_spoke_against_an_existing_hub_without_a_lattice(mocks: LatticeMocks) -> None:
    spec = spec_from({"name": "acme", "hubs": [EXISTING_HUB], "spokes": [SITE]})
    plan = plan_lattice(spec)
    # what a StackReference gives: outputs, the credentials a secret
    urls = pulumi.Output.from_input(["tls://connect.ngs.global"])
    creds = pulumi.Output.secret(CREDS)
    box: dict[str, EdgeSpoke] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        spoke = spec.spokes[0]
        box["spoke"] = EdgeSpoke("site-1", EdgeSpokeArgs(plan=plan, spoke=spoke, upstream_urls=urls, leaf_creds=creds))

    program()
    spoke = box["spoke"]
    config = _resolve(spoke.config)
    assert 'urls: ["tls://connect.ngs.global"]' in config
    assert _resolve(spoke.connection)["jsDomain"] == "site-1"
    assert _resolve(spoke.creds) == CREDS
    version = mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")[0]
    document = json.loads(version.inputs["secretString"]["value"])
    assert document == {"files": {"leaf.creds": CREDS, CONFIG_FILE: config}, "programs": sync_programs()}
    instance = mocks.of_type("aws:ec2/instance:Instance")[0]
    assert "/etc/nats/nats-server.conf" not in heredoc_files(instance.inputs["userData"]), "the config is no machine"
    leaks = [p for r in mocks.resources for p, text in walk_plain_strings(r.inputs) if "SUAFAKESEED" in text]
    assert leaks == []


def test_edge_spoke_names_the_missing_credential(mocks: LatticeMocks) -> None:
    spec = spec_from({"name": "acme", "hubs": [EXISTING_HUB], "spokes": [SITE]})
    args = EdgeSpokeArgs(plan=plan_lattice(spec), spoke=spec.spokes[0], upstream_urls=["tls://x"])
    with pytest.raises(ValueError, match=r"EdgeSpoke site-1: leaf_creds is required \(upstream ngs is a hub\)"):
        EdgeSpoke("site-1", args)


def test_edge_spoke_on_a_hub_of_ours_needs_the_lattice_ca(mocks: LatticeMocks) -> None:
    hub = {"name": "use1", "platform": "kubernetes", "nodes": 1}
    spec = spec_from({"name": "acme", "hubs": [hub], "spokes": [{**SITE, "upstream": "use1"}]})
    args = EdgeSpokeArgs(plan=plan_lattice(spec), spoke=spec.spokes[0], upstream_urls=["nats-leaf://x:7422"])
    args["leaf_creds"] = CREDS
    with pytest.raises(ValueError, match=r"EdgeSpoke site-1: ca_cert_pem is required \(it verifies use1 against it\)"):
        EdgeSpoke("site-1", args)
    assert mocks.resources == [], "refused before any resource"


def test_hub_cluster_needs_every_peer_regions_gateway_addresses(mocks: LatticeMocks) -> None:
    hubs = [
        {"name": "use1", "platform": "aws", "region": "us-east-1"},
        {"name": "euw1", "platform": "aws", "region": "eu-west-1"},
    ]
    spec = spec_from({"name": "acme", "hubs": hubs})
    ca = CaMaterial(cert_pem="ca", key_pem="key")
    args = HubClusterArgs(plan=plan_lattice(spec), hub=spec.hubs[0], trust_conf="operator: x\n", ca=ca)

    with pytest.raises(ValueError, match=r"hub use1: no gateway addresses given for hub\(s\) euw1"):
        HubCluster("use1", args)
    assert mocks.resources == [], "refused before any resource"


def test_a_caller_cannot_reparent_a_components_children(mocks: LatticeMocks) -> None:
    created: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        other = pulumi.ComponentResource("test:index:Other", "other")
        component = LatticeComponent("wasmcloud-lattice:index:Probe", "probe")
        created["opts"] = component.child(parent=other, protect=True)
        created["component"] = component

    program()
    assert created["opts"].parent is created["component"]
    assert created["opts"].protect is True, "other options pass through"
