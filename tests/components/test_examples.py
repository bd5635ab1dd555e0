"""examples/site-spoke under the mocks: one EdgeSpoke from a StackReference's outputs."""

from __future__ import annotations

import json
import runpy
from typing import Any

import pulumi
import yaml

from lattice.natsconf import CONFIG_FILE
from lattice.node.cloudinit import sync_programs
from tests.support.helpers import ROOT
from tests.support.mocks import LatticeMocks, is_secret, walk_plain_strings
from tests.support.program import own_event_loop

EXAMPLE = ROOT / "examples" / "site-spoke"
CA = "-----BEGIN CERTIFICATE-----\nthe lattice CA\n-----END CERTIFICATE-----\n"
CREDS = "-----BEGIN NATS USER JWT-----\neyJ.site.jwt\n------END NATS USER JWT------\n\nSUASITESEEDFORTESTS\n"


class LatticeStackMocks(LatticeMocks):
    """The lattice stack's outputs, as a StackReference reads them."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = {
                "hubs": {"use1": {"leafUrls": ["nats-leaf://use1-leaf.elb.us-east-1.amazonaws.com:7422"]}},
                "spokes": {"store-12": {"natsUrl": "nats://127.0.0.1:4222", "creds": CREDS}},
                "caCert": CA,
            }
            self.resources.append(args)
            return args.name, {"name": args.name, "outputs": outputs, "secretOutputNames": ["spokes"]}
        return super().new_resource(args)


def test_the_site_program_builds_one_spoke_from_the_lattice_stacks_outputs() -> None:
    config = yaml.safe_load((EXAMPLE / "Pulumi.example.yaml").read_text())["config"]
    mocks = LatticeStackMocks()
    with own_event_loop():
        pulumi.runtime.set_mocks(mocks, project="site-spoke", stack="store-12", preview=False)
        pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def program() -> None:
            runpy.run_path(str(EXAMPLE / "__main__.py"))

        program()
    types = [r.typ for r in mocks.resources]
    assert types.count("wasmcloud-lattice:index:EdgeSpoke") == 1
    assert "wasmcloud-lattice:index:Lattice" not in types
    version = next(r for r in mocks.resources if r.typ == "aws:secretsmanager/secretVersion:SecretVersion")
    document = json.loads(version.inputs["secretString"]["value"])
    config_text = document["files"].pop(CONFIG_FILE)
    assert 'urls: ["nats-leaf://use1-leaf.elb.us-east-1.amazonaws.com:7422"]' in config_text
    assert 'ca_file: "/etc/nats/ca.pem"' in config_text, "the site verifies the hub against the lattice CA"
    assert is_secret(version.inputs["secretString"])
    assert document == {"files": {"ca.pem": CA, "leaf.creds": CREDS}, "programs": sync_programs()}
    leaks = [p for r in mocks.resources for p, t in walk_plain_strings(r.inputs) if "SUASITESEEDFORTESTS" in t]
    assert leaks == []
