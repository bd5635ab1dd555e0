"""One edge site deployed by its own team, against a lattice another stack runs.

The lattice stack owns the spec and the keys: the site is listed there, so its leaf user is
minted and its `.creds` exported as a secret. This program reads that stack's outputs
through a `StackReference` and builds one `EdgeSpoke`, without a `Lattice`.
"""

from typing import Any

import pulumi

from components.package import site_spec
from components.spoke import EdgeSpoke, EdgeSpokeArgs
from lattice.plan import plan_lattice
from lattice.problems import LatticeSpecError
from lattice.spec import LatticeSpec


def load_site(lattice: str, entry: dict[str, Any], hub_domain: str) -> LatticeSpec:
    """Just this site under its hub (:func:`components.package.site_spec`)."""
    try:
        return site_spec(lattice, entry, hub_domain, f"examples/site-spoke/Pulumi.{pulumi.get_stack()}.yaml")
    except LatticeSpecError as err:
        raise pulumi.RunError(str(err)) from None


config = pulumi.Config()
entry: dict[str, Any] = config.require_object("spoke")
spec = load_site(config.require("lattice"), entry, config.get("hubJetstreamDomain") or "hub")
lattice_stack = pulumi.StackReference(config.require("hubStack"))
hubs = lattice_stack.require_output("hubs")
spokes = lattice_stack.require_output("spokes")

site = EdgeSpoke(
    entry["name"],
    EdgeSpokeArgs(
        plan=plan_lattice(spec),
        spoke=spec.spokes[0],
        upstream_urls=hubs.apply(lambda h: h[entry["upstream"]]["leafUrls"]),
        leaf_creds=pulumi.Output.secret(spokes.apply(lambda s: s[entry["name"]]["creds"])),
        ca_cert_pem=lattice_stack.require_output("caCert"),
    ),
)
pulumi.export("connection", site.connection)
pulumi.export("publicIp", site.public_ip)
