"""EdgeSpoke: one edge site, a leaf nats-server that dials out, and a wasmCloud host beside it."""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.base import ChildOpts, LatticeComponent, secret
from components.certificates import CaMaterial, ca_only, server_certificate
from components.platforms.aws import (
    Network,
    RegionLookups,
    ingress,
    node_address,
    node_instance,
    node_profile,
    node_secret,
    node_security_group,
    public_network,
)
from lattice.addressing import Addressing, Ports, ServerAddress, certificate_hosts
from lattice.credentials import ChildLogin
from lattice.natsconf import (
    CREDS_FILE,
    UPSTREAM_AUTH_INCLUDE,
    ServerFiles,
    ServerTls,
    render_server_config,
    render_server_files,
)
from lattice.node.cloudinit import NodeBoot, render_user_data
from lattice.outputs import spoke_connection
from lattice.plan import LatticePlan, needs_ca, presents_certificate
from lattice.spec import SpokeSpec

TYPE = "wasmcloud-lattice:index:EdgeSpoke"
PORTS = Ports()


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
    lookups: NotRequired[RegionLookups]
    """Shared AMI and zone lookups (a ``Lattice`` passes one); default: the component's own."""


def spoke_addressing(plan: LatticePlan, spoke: str, upstream_urls: Sequence[str], own_host: str) -> Addressing:
    """What a spoke's config needs: its upstream's URLs (leaf or WebSocket) and, for a
    mid-tier spoke, the host its children dial."""
    planned = plan.spoke(spoke)
    urls = tuple(upstream_urls)
    own = (f"nats-leaf://{own_host}:{PORTS.leaf}",)
    if planned.leaf_transport == "websocket":
        return Addressing(
            servers={spoke: ServerAddress(dial_host=own_host)},
            leaf_urls={spoke: own},
            gateway_urls={},
            websocket_urls={planned.upstream: urls},
            websocket_tls=all(u.startswith("wss://") for u in urls),
            websocket_ca=False,  # a cloud hub's listener carries a certificate the system trusts
        )
    return Addressing(
        servers={spoke: ServerAddress(dial_host=own_host)},
        leaf_urls={planned.upstream: urls, spoke: own},
        gateway_urls={},
    )


def spoke_tls(
    prefix: str,
    plan: LatticePlan,
    spoke: str,
    addressing: pulumi.Output[Addressing],
    args: EdgeSpokeArgs,
    opts: ChildOpts,
) -> pulumi.Output[ServerTls | None]:
    """The spoke's TLS material: the CA to verify its upstream and, for a mid-tier spoke,
    a certificate for the address its children dial."""
    server = plan.server(spoke)
    if presents_certificate(server):
        ca = CaMaterial(cert_pem=args["ca_cert_pem"], key_pem=args["ca_key_pem"])
        hosts = addressing.apply(lambda a: certificate_hosts(plan, spoke, a))
        return server_certificate(prefix, spoke, hosts, ca, opts)
    if needs_ca(plan, server):
        return ca_only(args["ca_cert_pem"])
    return pulumi.Output.from_input(None)


def spoke_files(
    plan: LatticePlan,
    spoke: str,
    addressing: pulumi.Output[Addressing],
    args: EdgeSpokeArgs,
    files: ServerFiles,
    tls: pulumi.Output[ServerTls | None],
) -> pulumi.Output[dict[str, str]]:
    """File name -> text of what the spoke's config includes (a secret)."""

    def render(values: list[Any]) -> dict[str, str]:
        resolved, creds, login, logins, material = values
        rendered = render_server_files(
            plan, spoke, resolved, files, leaf_creds=creds, upstream_login=login, child_logins=logins, tls=material
        )
        return {path.rsplit("/", 1)[1]: text for path, text in rendered.items()}

    return secret(
        pulumi.Output.all(
            addressing, args.get("leaf_creds"), args.get("upstream_login"), args.get("child_logins", {}), tls
        ).apply(render)
    )


class EdgeSpoke(LatticeComponent):
    """One edge site: on Kubernetes, one pod (see :mod:`components.platforms.kubernetes`); on
    AWS an edge VM, with:

    - a small VPC with one public subnet (or uses ``aws.subnetId``);
    - a network interface and Elastic IP: a stable egress address for allow-lists;
    - a security group with no inbound NATS rule at all (a spoke only dials out), except
      the leaf port of a mid-tier spoke, open to its children's addresses;
    - a Secrets Manager secret with the leaf's credentials and the lattice CA (a mid-tier
      spoke: also its leaf listener's TLS key and certificate), a role that reads only it;
    - the instance: the leaf nats-server bound to 127.0.0.1 and, with ``wasmcloudHost``,
      a wasmCloud host as a second systemd service connecting anonymously to it.
    """

    connection: pulumi.Output[dict[str, Any]]
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
        if spec.platform == "aws" and not spec.region:
            raise ValueError(f"EdgeSpoke {name}: spoke {spec.name} on aws needs a region")
        if spec.platform == "kubernetes" and args.get("kubeconfig") is None and not spec.kubernetes.ambient_kubeconfig:
            raise ValueError(
                f"EdgeSpoke {name}: spoke {spec.name} needs a kubeconfig (or kubernetes.ambientKubeconfig)"
            )
        planned = plan.spoke(spec.name)
        if planned.upstream_is_hub and args.get("leaf_creds") is None:
            raise ValueError(f"EdgeSpoke {name}: leaf_creds is required (upstream {planned.upstream} is a hub)")
        if not planned.upstream_is_hub and args.get("upstream_login") is None:
            raise ValueError(f"EdgeSpoke {name}: upstream_login is required (upstream {planned.upstream} is a spoke)")
        server = plan.server(spec.name)
        if needs_ca(plan, server) and args.get("ca_cert_pem") is None:
            raise ValueError(f"EdgeSpoke {name}: ca_cert_pem is required (it verifies {planned.upstream} against it)")
        if presents_certificate(server) and args.get("ca_key_pem") is None:
            raise ValueError(
                f"EdgeSpoke {name}: ca_key_pem is required (a mid-tier spoke's listener needs a certificate)"
            )
        super().__init__(TYPE, name, None, opts)
        if spec.platform == "kubernetes":
            from components.platforms.kubernetes import build_spoke

            built = build_spoke(self, name, args, self.child)
            self.config, files_out, self.leaf_urls = built.config, built.files, built.leaf_urls
            self.public_ip = self.instance_id = pulumi.Output.from_input(None)
            self.egress_cidrs = pulumi.Output.from_input([])
        else:
            files_out = self._on_aws(name, args)
        credential_name = CREDS_FILE if planned.upstream_is_hub else UPSTREAM_AUTH_INCLUDE
        self.connection = pulumi.Output.from_input(spoke_connection(plan, spec.name))
        self.creds = secret(files_out.apply(lambda f: f[credential_name]))
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

    def _on_aws(self, name: str, args: EdgeSpokeArgs) -> pulumi.Output[dict[str, str]]:
        plan, spec = args["plan"], args["spoke"]
        files = ServerFiles()
        planned = plan.spoke(spec.name)
        self._lookups = args.get("lookups") or RegionLookups()
        region, settings, lattice = str(spec.region), spec.aws, plan.lattice

        network = self._network(name, lattice, region, spec)
        rules = []
        if planned.is_mid_tier:
            sources = pulumi.Output.from_input(args.get("child_cidrs", [])).apply(
                lambda cidrs: sorted({*cidrs, *settings.leaf_allowed_cidrs})
            )
            rules.append(ingress(PORTS.leaf, "leaf links from this spoke's children only", cidr_blocks=sources))
        group = node_security_group(
            f"{name}-node",
            lattice=lattice,
            region=region,
            vpc_id=network.vpc_id,
            description=f"NATS spoke {spec.name} of lattice {lattice}: dials out only",
            rules=rules,
            opts=self.child,
        )
        address = node_address(
            name,
            lattice=lattice,
            region=region,
            subnet_id=network.subnet_ids[0],
            security_group_id=group.id,
            opts=self.child,
        )
        upstream_urls = pulumi.Output.from_input(args["upstream_urls"])

        def addressing(values: list[Any]) -> Addressing:
            urls, ip = values
            return spoke_addressing(plan, spec.name, urls, ip)

        resolved = pulumi.Output.all(upstream_urls, address.public_ip).apply(addressing)
        self.config = resolved.apply(lambda a: render_server_config(plan, spec.name, a, files))

        files_out = spoke_files(
            plan, spec.name, resolved, args, files, spoke_tls(name, plan, spec.name, resolved, args, self.child)
        )
        files_secret = node_secret(name, lattice=lattice, region=region, files=files_out, opts=self.child)
        profile = node_profile(name, lattice=lattice, secret_arn=files_secret.arn, opts=self.child)

        connection = spoke_connection(plan, spec.name)
        host_args = connection["washHostArgs"] if spec.wasmcloud_host else None

        def boot(values: list[Any]) -> str:
            config, arn = values
            return render_user_data(
                NodeBoot(
                    server=spec.name,
                    lattice=lattice,
                    config=config,
                    secret_id=arn,
                    region=region,
                    files=files,
                    wasmcloud_host_args=host_args,
                )
            )

        instance = node_instance(
            name,
            lattice=lattice,
            server=spec.name,
            region=region,
            ami=self._lookups.ami(settings.ami, region, self),
            ami_pinned=bool(settings.ami),
            instance_type=settings.instance_type,
            interface_id=address.interface.id,
            profile=profile,
            user_data=pulumi.Output.all(self.config, files_secret.arn).apply(boot),
            root_gib=settings.volume_gib,
            opts=self.child,
        )

        self.public_ip = address.public_ip
        self.egress_cidrs = address.public_ip.apply(lambda ip: [f"{ip}/32"])
        self.leaf_urls = (
            address.public_ip.apply(lambda ip: [f"nats-leaf://{ip}:{PORTS.leaf}"])
            if planned.is_mid_tier
            else pulumi.Output.from_input([])
        )
        self.instance_id = instance.id
        return files_out

    def _network(self, name: str, lattice: str, region: str, spec: SpokeSpec) -> Network:
        settings = spec.aws
        if settings.subnet_id:
            subnet = aws.ec2.get_subnet_output(
                id=settings.subnet_id, region=region, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            return Network(
                vpc_id=subnet.vpc_id,
                vpc_cidr=subnet.cidr_block,
                subnet_ids=[pulumi.Output.from_input(settings.subnet_id)],
                zones=[subnet.availability_zone],
            )
        zones = self._lookups.zones((), region, self)
        return public_network(
            name, lattice=lattice, region=region, cidr=settings.vpc_cidr, zones=zones, count=1, opts=self.child
        )
