"""The components as a Pulumi package, for TypeScript, Go, YAML and other Python programs.

``provider/`` hosts these classes with ``component_provider_host``; the package schema is
inferred from the annotations below, so other languages pass the spec as plain data (the
same object a stack file holds under ``wasmcloud-lattice:lattice``) instead of the Python
objects the components take. Each face is the real component (same type token, same
resources), only its constructor reads plain data; a bad spec fails before any resource
with every problem named, as ``pulumi up`` on this project does.
"""

import json
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi

from components import lattice as lattice_module
from components import spoke as spoke_module
from lattice.plan import plan_lattice
from lattice.rules import secret_names
from lattice.spec import LatticeSpec
from lattice.stack import from_wire, parse_lattice

PACKAGE = "wasmcloud-lattice"
VERSION = "0.1.0"
"""The package version (pyproject's; a test keeps them equal)."""


class LatticeArgs(TypedDict):
    """Inputs of ``Lattice`` from another language."""

    lattice: dict[str, Any]
    """The lattice spec: the object a stack file holds under ``wasmcloud-lattice:lattice``
    (``name``, ``hubs``, ``spokes``, ...), camelCase keys as there."""
    secrets: NotRequired[pulumi.Input[dict[str, str]]]
    """Values of the secret config names the spec refers to (kubeconfigs, an external
    hub's ``.creds``), by name; pass them as secrets."""


class Lattice(lattice_module.Lattice):
    """A whole wasmCloud lattice on NATS: hub regions (clusters joined by gateways), edge
    spokes (leaf nodes, hub-spoke and hub-spoke-spoke), their credentials and certificates,
    and each spoke's connection outputs for the wasmCloud host beside it."""

    def __init__(self, name: str, args: LatticeArgs, opts: pulumi.ResourceOptions | None = None):
        spec = parse_lattice(from_wire(args["lattice"]), f"Lattice {name}: lattice")
        secrets = _secret_inputs(spec, args.get("secrets"))
        super().__init__(name, spec, secrets, opts)


def _secret_inputs(spec: LatticeSpec, given: pulumi.Input[dict[str, str]] | None) -> dict[str, pulumi.Input[str]]:
    """Each secret the spec names, from a plain map or from one secret output of a map."""
    if given is None:
        return {}
    if isinstance(given, dict):
        return {k: pulumi.Output.secret(v) for k, v in given.items()}
    whole: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(given)

    def pick(name: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(whole.apply(lambda values: values[name]))

    return {name: pick(name) for name in secret_names(spec)}


class EdgeSpokeArgs(TypedDict):
    """Inputs of ``EdgeSpoke`` from another language: one site against a lattice that
    another stack runs (read its outputs with a stack reference)."""

    lattice: str
    """The lattice name (the other stack's ``lattice`` output)."""
    spoke: dict[str, Any]
    """This site's spoke entry, as in a stack file: ``name``, ``upstream``, ``platform``, ..."""
    upstream_urls: pulumi.Input[list[str]]
    """What it dials: the other stack's ``hubs.<upstream>.leafUrls``."""
    leaf_creds: pulumi.Input[str]
    """Its ``.creds``: the other stack's ``spokes.<name>.creds`` (a secret)."""
    ca_cert: pulumi.Input[str]
    """The lattice CA certificate: the other stack's ``caCert``."""
    hub_jetstream_domain: NotRequired[str]
    """The hubs' JetStream domain (default ``hub``)."""
    kubeconfig: NotRequired[pulumi.Input[str]]
    """``platform: kubernetes``: the site cluster's kubeconfig (a secret)."""


def site_spec(lattice: str, entry: Mapping[str, Any], hub_domain: str, source: str) -> LatticeSpec:
    """A spec holding just one site under its hub, for a site deployed apart from its
    lattice's stack. The hub is one of the lattice's own (its leaf listener presents a
    certificate from the lattice CA), so it is planned as such; nothing builds it: its
    URLs, the CA and the site's ``.creds`` come from the lattice stack's outputs.
    Raises :class:`LatticeSpecError` naming ``source``."""
    raw = {
        "name": lattice,
        "hubs": [{"name": entry.get("upstream"), "platform": "kubernetes", "nodes": 1, "jetstreamDomain": hub_domain}],
        "spokes": [dict(entry)],
    }
    return parse_lattice(raw, source)


class EdgeSpoke(spoke_module.EdgeSpoke):
    """One edge site: a NATS leaf node that dials its hub over TLS with its own
    credentials, and a wasmCloud host beside it that connects anonymously on localhost."""

    def __init__(self, name: str, args: EdgeSpokeArgs, opts: pulumi.ResourceOptions | None = None):
        spec = site_spec(
            args["lattice"],
            from_wire(args["spoke"]),
            args.get("hub_jetstream_domain", "hub"),
            f"EdgeSpoke {name}: spoke",
        )
        kubeconfig = args.get("kubeconfig")
        super().__init__(
            name,
            spoke_module.EdgeSpokeArgs(
                plan=plan_lattice(spec),
                spoke=spec.spokes[0],
                upstream_urls=args["upstream_urls"],
                leaf_creds=pulumi.Output.secret(args["leaf_creds"]),
                ca_cert_pem=args["ca_cert"],
                kubeconfig=None if kubeconfig is None else pulumi.Output.secret(kubeconfig),
            ),
            opts,
        )


COMPONENTS: list[type[pulumi.ComponentResource]] = [Lattice, EdgeSpoke]


def package_schema() -> dict[str, Any]:
    """The package schema as ``pulumi package get-schema`` would print it, made offline by
    the same analyzer the provider runs."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider(COMPONENTS, PACKAGE, version=VERSION)
    schema: dict[str, Any] = json.loads(provider.schema or "{}")
    return schema
