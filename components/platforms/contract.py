"""What every platform takes and gives back: one typed input per hub region or spoke in,
its resources built and its addresses resolved out.

``HubCluster`` and ``EdgeSpoke`` check their arguments, fill these inputs and hand them to
the platform the spec names (:func:`components.platforms.platform_for`); they never build
a resource themselves. A platform resolves where its servers are into an
:class:`~lattice.addressing.Addressing` (with the functions of :mod:`lattice.addressing`),
renders configs and files with :mod:`lattice.natsconf`, and creates its resources as
children of the component (``inputs.child``), named ``<inputs.name>-...``. A new platform
(GCP, bare metal) is a new module with ``build_hub`` and ``build_spoke``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pulumi

from components.base import ChildOpts
from lattice.addressing import CertificateHosts
from lattice.credentials import ChildLogin
from lattice.natsconf import ServerTls
from lattice.plan import LatticePlan
from lattice.spec import HubSpec, SpokeSpec

T = TypeVar("T")


class IssueCertificate(Protocol):
    """Issues a key pair from the lattice CA for exactly ``hosts`` (children ``<prefix>-tls``)."""

    def __call__(
        self, prefix: str, common_name: str, hosts: pulumi.Output[CertificateHosts]
    ) -> pulumi.Output[ServerTls]: ...


class Lookups:
    """Lookups a platform makes once per program however many components ask (on AWS: an
    AMI and the zones per region). A ``Lattice`` shares one; a component alone makes its own."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, ...], Any] = {}

    def once(self, key: tuple[str, ...], look_up: Callable[[], T]) -> T:
        if key not in self._found:
            self._found[key] = look_up()
        found: T = self._found[key]
        return found


@dataclass(frozen=True)
class HubInputs:
    """One hub region to build."""

    name: str
    """The component's name; every child's name starts with it."""
    plan: LatticePlan
    hub: HubSpec
    trust_conf: pulumi.Input[str]
    peer_gateway_hosts: pulumi.Output[Mapping[str, Sequence[str]]]
    """Every other region -> its nodes' gateway addresses (resolved plain lists)."""
    child_cidrs: pulumi.Output[Sequence[str]]
    """Its spokes' egress CIDRs, which its leaf port admits (with ``leafAllowedCidrs``)."""
    issue_certificate: IssueCertificate
    child: ChildOpts
    parent: pulumi.Resource
    """The component: parent of the platform's invokes."""
    lookups: Lookups
    kubeconfig: pulumi.Input[str] | None = None
    agent_jwt: pulumi.Input[str] | None = None
    """The hub-stream agent's bearer JWT (a secret), where the plan declares ``hubStreams``:
    the platform runs :mod:`lattice.jetstream_sync` beside the region with it."""


@dataclass(frozen=True)
class BuiltHub:
    """A built hub region: its rendered configs and the addresses peers dial."""

    configs: pulumi.Output[dict[str, str]]
    leaf_urls: pulumi.Output[list[str]]
    websocket_urls: pulumi.Output[list[str]]
    gateway_hosts: pulumi.Output[list[str]]
    """The nodes' gateway addresses, which other regions dial and allow."""
    gateway_urls: pulumi.Output[list[str]]
    client_urls: pulumi.Output[list[str]]
    namespace: pulumi.Output[str | None] = field(default_factory=lambda: pulumi.Output.from_input(None))
    vpc_id: pulumi.Output[str | None] = field(default_factory=lambda: pulumi.Output.from_input(None))
    security_group_id: pulumi.Output[str | None] = field(default_factory=lambda: pulumi.Output.from_input(None))
    instance_ids: pulumi.Output[list[str]] = field(default_factory=lambda: pulumi.Output.from_input([]))


@dataclass(frozen=True)
class SpokeInputs:
    """One edge site to build."""

    name: str
    plan: LatticePlan
    spoke: SpokeSpec
    upstream_urls: pulumi.Output[Sequence[str]]
    leaf_creds: pulumi.Input[str] | None
    upstream_login: pulumi.Input[ChildLogin] | None
    child_logins: pulumi.Input[Mapping[str, ChildLogin]]
    child_cidrs: pulumi.Output[Sequence[str]]
    """A mid-tier spoke: its children's egress CIDRs, allowed on its leaf port."""
    ca_cert_pem: pulumi.Input[str] | None
    issue_certificate: IssueCertificate | None
    """For a mid-tier spoke's leaf listener (None where the spoke only dials)."""
    child: ChildOpts
    parent: pulumi.Resource
    lookups: Lookups
    kubeconfig: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class BuiltSpoke:
    """A built spoke: its config, the files it includes, and where it can be reached."""

    config: pulumi.Output[str]
    files: pulumi.Output[dict[str, str]]
    """File name -> text (a secret)."""
    leaf_urls: pulumi.Output[list[str]]
    public_ip: pulumi.Output[str | None] = field(default_factory=lambda: pulumi.Output.from_input(None))
    egress_cidrs: pulumi.Output[list[str]] = field(default_factory=lambda: pulumi.Output.from_input([]))
    instance_id: pulumi.Output[str | None] = field(default_factory=lambda: pulumi.Output.from_input(None))


class Platform(Protocol):
    """A platform module: ``components.platforms.aws``, ``components.platforms.kubernetes``."""

    def build_hub(self, inputs: HubInputs) -> BuiltHub: ...

    def build_spoke(self, inputs: SpokeInputs) -> BuiltSpoke: ...
