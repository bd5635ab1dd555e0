"""EdgeSpoke: one edge site, a leaf nats-server that dials out, and a wasmCloud host beside it.

It checks its arguments, hands one :class:`~components.platforms.contract.SpokeInputs` to
the platform the spec names and exposes what that platform resolved.
"""

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict, cast

import pulumi

from components.base import LatticeComponent, secret
from components.certificates import CaMaterial, server_certificate
from components.platforms import platform_for
from components.platforms.contract import IssueCertificate, Lookups, SpokeInputs
from lattice.addressing import CertificateHosts
from lattice.credentials import ChildLogin
from lattice.natsconf import CREDS_FILE, UPSTREAM_AUTH_INCLUDE, ServerTls
from lattice.outputs import SpokeConnection, oci_mirror, spoke_connection
from lattice.plan import LatticePlan, needs_ca, presents_certificate
from lattice.rules import cluster_access_problem
from lattice.spec import SpokeSpec

TYPE = "wasmcloud-lattice:index:EdgeSpoke"


class EdgeSpokeArgs(TypedDict):
    """Inputs of an :class:`EdgeSpoke`. Usable without a ``Lattice``: give the URLs and
    credentials of an existing hub (for example from a ``StackReference``)."""

    plan: LatticePlan
    """A plan that holds this spoke (its upstream may be an ``external`` hub)."""
    spoke: SpokeSpec
    """This spoke's spec entry (``platform: aws`` or ``kubernetes``, with that block's settings)."""
    upstream_urls: pulumi.Input[Sequence[str]]
    """What it dials: ``HubCluster.leaf_urls`` (``websocket_urls`` with ``leafTransport:
    websocket``), a mid-tier ``EdgeSpoke.leaf_urls``, or an external hub's ``urls``."""
    leaf_creds: NotRequired[pulumi.Input[str] | None]
    """The ``.creds`` of this spoke's leaf user (a secret); required when the upstream is a hub."""
    upstream_login: NotRequired[pulumi.Input[ChildLogin] | None]
    """Login at a mid-tier upstream (a secret); required when the upstream is a spoke."""
    child_logins: NotRequired[pulumi.Input[Mapping[str, ChildLogin]]]
    """A mid-tier spoke: its children's logins (only their bcrypt hashes reach the node)."""
    child_cidrs: NotRequired[pulumi.Input[Sequence[str]]]
    """A mid-tier spoke: its children's egress addresses (CIDRs) allowed on the leaf port."""
    ca_cert_pem: NotRequired[pulumi.Input[str]]
    """The lattice CA certificate (``LatticeCA.cert_pem``, public): the spoke verifies the
    upstream it dials against it. Required unless the upstream is an external hub."""
    ca_key_pem: NotRequired[pulumi.Input[str]]
    """The lattice CA key (a secret): a mid-tier spoke signs its leaf listener's certificate."""
    kubeconfig: NotRequired[pulumi.Input[str] | None]
    """``platform: kubernetes``: the cluster's kubeconfig (a secret)."""
    lookups: NotRequired[Lookups]
    """Shared AMI and zone lookups (a ``Lattice`` passes one); default: the component's own."""


def _check_args(name: str, args: EdgeSpokeArgs) -> None:
    """Refuse bad arguments before anything is registered."""
    plan, spec = args["plan"], args["spoke"]
    problem = cluster_access_problem(spec, kubeconfig_given=args.get("kubeconfig") is not None)
    if problem:
        raise ValueError(f"EdgeSpoke {name}: spoke {spec.name} {problem}")
    planned = plan.spoke(spec.name)
    if planned.upstream_is_hub and args.get("leaf_creds") is None:
        raise ValueError(f"EdgeSpoke {name}: leaf_creds is required (upstream {planned.upstream} is a hub)")
    if not planned.upstream_is_hub and args.get("upstream_login") is None:
        raise ValueError(f"EdgeSpoke {name}: upstream_login is required (upstream {planned.upstream} is a spoke)")
    server = plan.server(spec.name)
    if needs_ca(plan, server) and args.get("ca_cert_pem") is None:
        raise ValueError(f"EdgeSpoke {name}: ca_cert_pem is required (it verifies {planned.upstream} against it)")
    if presents_certificate(server) and args.get("ca_key_pem") is None:
        raise ValueError(f"EdgeSpoke {name}: ca_key_pem is required (a mid-tier spoke's listener needs a certificate)")
    if plan.mirrors(spec.name) and args.get("ca_key_pem") is None:
        raise ValueError(f"EdgeSpoke {name}: ca_key_pem is required (its registry mirror needs a certificate)")


class EdgeSpoke(LatticeComponent):
    """One edge site: a leaf nats-server bound to 127.0.0.1 that dials its upstream over TLS
    with its own credentials, and a wasmCloud host beside it. What it creates depends on the
    platform: see :mod:`components.platforms.aws.spoke` and
    :mod:`components.platforms.kubernetes.spoke`."""

    connection: pulumi.Output[SpokeConnection]
    """What the wasmCloud host beside the leaf needs (``natsUrl``, ``washHostArgs``, ...)."""
    creds: pulumi.Output[str]
    """The leaf's credential (a secret): its ``.creds``, or its upstream-auth include."""
    public_ip: pulumi.Output[str | None]
    """An AWS spoke's Elastic IP (its stable egress address)."""
    egress_cidrs: pulumi.Output[list[str]]
    """Where this spoke's connections come from, for its upstream's allow-list (AWS: its EIP)."""
    leaf_urls: pulumi.Output[list[str]]
    """Where children dial this spoke (empty unless it is a mid-tier spoke)."""
    instance_id: pulumi.Output[str | None]
    config: pulumi.Output[str]
    """The rendered nats-server config (public; what the boot script writes)."""

    def __init__(self, name: str, args: EdgeSpokeArgs, opts: pulumi.ResourceOptions | None = None):
        plan, spec = args["plan"], args["spoke"]
        _check_args(name, args)
        platform = platform_for(spec.platform)
        super().__init__(TYPE, name, None, opts)
        planned = plan.spoke(spec.name)
        issue: IssueCertificate | None = None
        if args.get("ca_key_pem") is not None:
            ca = CaMaterial(cert_pem=args.get("ca_cert_pem", ""), key_pem=args["ca_key_pem"])

            def issue(
                prefix: str, common_name: str, hosts: pulumi.Output[CertificateHosts]
            ) -> pulumi.Output[ServerTls]:
                return server_certificate(prefix, common_name, hosts, ca, self.child)

        built = platform.build_spoke(
            SpokeInputs(
                name=name,
                plan=plan,
                spoke=spec,
                upstream_urls=cast(pulumi.Output[Sequence[str]], pulumi.Output.from_input(args["upstream_urls"])),
                leaf_creds=args.get("leaf_creds"),
                upstream_login=args.get("upstream_login"),
                child_logins=args.get("child_logins", {}),
                child_cidrs=cast(pulumi.Output[Sequence[str]], pulumi.Output.from_input(args.get("child_cidrs", []))),
                ca_cert_pem=args.get("ca_cert_pem"),
                issue_certificate=self._issuer(args),
                child=self.child,
                parent=self,
                lookups=args.get("lookups") or Lookups(),
                kubeconfig=args.get("kubeconfig"),
            )
        )
        self.config, self.leaf_urls = built.config, built.leaf_urls
        self.public_ip, self.egress_cidrs, self.instance_id = built.public_ip, built.egress_cidrs, built.instance_id
        credential_name = CREDS_FILE if planned.upstream_is_hub else UPSTREAM_AUTH_INCLUDE
        self.connection = pulumi.Output.from_input(
            spoke_connection(plan, spec.name, mirror=oci_mirror(plan, spec.name))
        )
        self.creds = secret(built.files.apply(lambda f: f[credential_name]))
        self.register_outputs(
            {
                "connection": self.connection,
                "creds": self.creds,
                "publicIp": self.public_ip,
                "egressCidrs": self.egress_cidrs,
                "leafUrls": self.leaf_urls,
                "instanceId": self.instance_id,
                "config": self.config,
            }
        )

    def _issuer(self, args: EdgeSpokeArgs) -> IssueCertificate | None:
        """Certificates from the lattice CA, where its key was handed over (a mid-tier spoke)."""
        key_pem = args.get("ca_key_pem")
        if key_pem is None:
            return None
        ca = CaMaterial(cert_pem=args.get("ca_cert_pem", ""), key_pem=key_pem)

        def issue(prefix: str, common_name: str, hosts: pulumi.Output[CertificateHosts]) -> pulumi.Output[ServerTls]:
            return server_certificate(prefix, common_name, hosts, ca, self.child)

        return issue
