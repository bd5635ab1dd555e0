"""A hub region on a Kubernetes cluster.

A StatefulSet whose pods are named like the plan's servers (``<hub>-0`` ...), so each pod
reads its own rendered config from one ConfigMap (``<server>.conf``); routes go over a
headless Service, spokes dial one leaf Service, other regions dial one gateway Service
per pod (each pod advertises its own address). Credentials and TLS files sit in a Secret
mounted beside the configs.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.platforms.contract import BuiltHub, HubInputs
from components.platforms.files import agent_files, hub_files
from components.platforms.kubernetes.agent import hub_stream_agent
from components.platforms.kubernetes.scope import (
    ClusterScope,
    core,
    labels,
    meta,
    object_meta,
    service_address,
    source_ranges,
)
from components.platforms.kubernetes.workloads import (
    FILES,
    TERMINATION_GRACE_SECONDS,
    config_volume,
    data_claim,
    nats_container,
    pid_volume,
    pod_security,
    reloader_container,
    restart_checksum,
    service_port,
)
from lattice import names
from lattice.addressing import (
    PORTS,
    Addressing,
    balanced_hub_addressing,
    balanced_leaf_urls,
    balanced_websocket_urls,
    certificate_hosts,
    client_url,
    merge_hosts,
    pod_host,
)
from lattice.addressing import service_host as dns_name
from lattice.allowlists import gateway_sources, leaf_sources, open_leaf_mark
from lattice.natsconf import CA_FILE, render_server_config
from lattice.natsconf.blocks import ROLL_SETTLE_SECONDS


def build_hub(inputs: HubInputs) -> BuiltHub:
    plan, hub, name = inputs.plan, inputs.hub, inputs.name
    settings, lattice = hub.kubernetes, plan.lattice
    servers = plan.hub(hub.name).servers
    first = plan.server(servers[0])
    scope = ClusterScope.create(name, lattice, hub.name, settings, inputs.kubeconfig, inputs.child)
    opts, ns, ns_name, selector = scope.opts, scope.namespace, scope.namespace_name, scope.selector

    routes_service = names.service(hub.name)
    core.Service(
        f"{name}-routes",
        metadata=object_meta(routes_service, ns, lattice, hub.name),
        spec=core.ServiceSpecArgs(
            cluster_ip="None",
            publish_not_ready_addresses=True,  # routes need each other's DNS before they are ready
            selector=selector,
            ports=[
                service_port("client", PORTS.client),
                service_port("cluster", PORTS.cluster),
                service_port("monitor", PORTS.monitor),
            ],
        ),
        opts=opts(),
    )
    leaf_ports = [service_port("leaf", PORTS.leaf)]
    if first.websocket:
        leaf_ports.append(service_port("websocket", PORTS.websocket))
    leaf_service_name = names.service(f"{hub.name}-leaf")
    leaf_cidrs = inputs.child_cidrs.apply(lambda c: leaf_sources(settings.leaf_allowed_cidrs, c))
    leaf_service = core.Service(
        f"{name}-leaf",
        metadata=object_meta(
            leaf_service_name, ns, lattice, hub.name, annotations=open_leaf_mark(settings.leaf_allowed_cidrs) or None
        ),
        spec=core.ServiceSpecArgs(
            type=settings.service_type,
            selector=selector,
            ports=leaf_ports,
            load_balancer_source_ranges=source_ranges(settings, leaf_cidrs),
        ),
        opts=opts(),
    )
    leaf_host = service_address(leaf_service, dns_name(leaf_service_name, ns_name))

    gateway_hosts: list[pulumi.Output[str]] = []
    if first.gateways:
        peer_cidrs = inputs.peer_gateway_hosts.apply(lambda p: gateway_sources(plan, hub.name, p))
        for server in servers:  # one address per pod: each advertises its own to other regions
            gateway_service = names.service(f"{server}-gateway")
            svc = core.Service(
                f"{name}-{server.rsplit('-', 1)[1]}-gateway",
                metadata=object_meta(gateway_service, ns, lattice, hub.name),
                spec=core.ServiceSpecArgs(
                    type=settings.service_type,
                    selector={**selector, "statefulset.kubernetes.io/pod-name": server},
                    ports=[service_port("gateway", PORTS.gateway)],
                    load_balancer_source_ranges=source_ranges(settings, peer_cidrs),
                ),
                opts=opts(),
            )
            gateway_hosts.append(service_address(svc, dns_name(gateway_service, ns_name)))
    hosts = pulumi.Output.all(*gateway_hosts).apply(list) if gateway_hosts else pulumi.Output.from_input([])
    websocket_secret = _public_websocket_certificate(inputs, scope) if first.websocket else None

    def resolve(values: list[Any]) -> Addressing:
        leaf, own_gateways, peer_hosts = values
        return balanced_hub_addressing(
            plan,
            hub.name,
            dial_hosts=[pod_host(s, routes_service, ns_name) for s in servers],
            advertise_hosts=own_gateways,
            leaf_host=leaf,
            peer_gateway_hosts=peer_hosts,
            websocket_host=settings.websocket.host,
        )

    addressing = pulumi.Output.all(leaf_host, hosts, inputs.peer_gateway_hosts).apply(resolve)
    configs = addressing.apply(lambda a: {s: render_server_config(plan, s, a, FILES) for s in servers})
    # The pods share one config directory, so one certificate names every pod's addresses.
    material = inputs.issue_certificate(
        name, hub.name, addressing.apply(lambda a: merge_hosts([certificate_hosts(plan, s, a) for s in servers]))
    )
    files_out = hub_files(plan, servers[0], inputs.trust_conf, material, FILES)
    config_map = core.ConfigMap(
        f"{name}-config",
        metadata=object_meta(f"{hub.name}-config", ns, lattice, hub.name),
        data=configs.apply(lambda c: {f"{s}.conf": c[s] for s in servers}),
        opts=opts(),
    )
    files = core.Secret(
        f"{name}-files",
        metadata=object_meta(f"{hub.name}-files", ns, lattice, hub.name),
        string_data=files_out,
        opts=opts(),
    )
    client_urls = [client_url(pod_host(s, routes_service, ns_name)) for s in servers]
    agent = agent_files(plan, client_urls, inputs.agent_jwt, CA_FILE)
    if agent is not None:
        hub_stream_agent(name, lattice, hub.name, settings, scope, agent, files.metadata.name)
    # A reloadable change (a revocation, a renewed certificate) reaches the pods through the
    # reloader; a restart-class one (a new region's gateway) rolls them one at a time (the PDB
    # holds quorum). A digest of 256-bit secrets reveals nothing: unsecret it, or the pod spec
    # would turn secret and vanish from preview diffs.
    rollout = pulumi.Output.unsecret(
        pulumi.Output.all(configs, files_out).apply(lambda v: {"wasmcloud-lattice/restart": restart_checksum(*v)})
    )
    watched = pulumi.Output.unsecret(
        files_out.apply(
            lambda f: [f"{FILES.config_dir}/$(POD_NAME).conf", *(f"{FILES.config_dir}/{n}" for n in sorted(f))]
        )
    )
    k8s.apps.v1.StatefulSet(
        f"{name}-nats",
        metadata=object_meta(hub.name, ns, lattice, hub.name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=routes_service,
            replicas=len(servers),
            pod_management_policy="Parallel",
            min_ready_seconds=ROLL_SETTLE_SECONDS,  # a roll's next pod waits this long (blocks.py)
            selector=meta.LabelSelectorArgs(match_labels=selector),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(lattice, hub.name), annotations=rollout),
                spec=core.PodSpecArgs(
                    security_context=pod_security(),
                    automount_service_account_token=False,
                    share_process_namespace=True,  # the reloader signals nats-server
                    containers=[
                        nats_container(
                            settings,
                            f"{FILES.config_dir}/$(POD_NAME).conf",
                            websocket=first.websocket,
                            loopback_monitor=False,
                            lame_duck=True,
                        ),
                        reloader_container(settings, watched),
                    ],
                    volumes=[
                        config_volume(config_map.metadata.name, files.metadata.name, websocket_secret),
                        pid_volume(),
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
                    termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                ),
            ),
            volume_claim_templates=[data_claim(settings)],
        ),
        opts=opts(),
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-pdb",
        metadata=object_meta(hub.name, ns, lattice, hub.name),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=meta.LabelSelectorArgs(match_labels=selector)
        ),
        opts=opts(),
    )
    return BuiltHub(
        configs=configs,
        # from the balancer's address only: spokes need nothing else of the hub
        leaf_urls=leaf_host.apply(lambda h: list(balanced_leaf_urls(h))),
        websocket_urls=leaf_host.apply(
            lambda h: list(balanced_websocket_urls(plan, hub.name, h, settings.websocket.host))
        ),
        gateway_hosts=hosts,
        gateway_urls=addressing.apply(lambda a: list(a.gateway_urls[hub.name])),
        # per pod: each name is on the certificate the client verifies (known before any pod is)
        client_urls=pulumi.Output.from_input(client_urls),
        namespace=ns,
    )


def _public_websocket_certificate(inputs: HubInputs, scope: ClusterScope) -> pulumi.Output[str] | None:
    """With ``websocket.issuer``: a cert-manager Certificate for ``websocket.host``, whose
    Secret the pods mount (spokes verify it against their system roots). Without: None,
    the listener presents the hub's own certificate from the lattice CA."""
    hub, lattice = inputs.hub, inputs.plan.lattice
    websocket = hub.kubernetes.websocket
    if not websocket.issuer:
        return None
    secret_name = f"{hub.name}-websocket-tls"
    k8s.apiextensions.CustomResource(
        f"{inputs.name}-websocket-tls",
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata=object_meta(secret_name, scope.namespace, lattice, hub.name),
        spec={
            "secretName": secret_name,
            "dnsNames": [websocket.host],
            "issuerRef": {"name": websocket.issuer, "kind": websocket.issuer_kind, "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
        opts=scope.opts(),
    )
    return pulumi.Output.from_input(secret_name)
