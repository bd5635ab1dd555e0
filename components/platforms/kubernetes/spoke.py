"""An edge site on a (small) Kubernetes cluster: one pod.

The leaf nats-server listens on 127.0.0.1 only and, beside it, the wasmCloud host connects
to it over the pod's loopback. Credentials sit in a Secret mounted into the leaf container
only. A mid-tier spoke adds a leaf Service, open to its children's addresses.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.platforms.contract import BuiltSpoke, SpokeInputs
from components.platforms.files import children_dial, spoke_files
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
    MIRROR_DIR,
    MIRROR_STORAGE,
    checksum,
    config_volume,
    data_claim,
    host_containers,
    mirror_container,
    mirror_volumes,
    nats_container,
    pid_volume,
    pod_security,
    reloader_container,
    restart_checksum,
    service_port,
)
from lattice import names
from lattice.addressing import LOOPBACK, PORTS, Addressing, service_host, spoke_addressing
from lattice.allowlists import leaf_sources, open_leaf_mark
from lattice.natsconf import CONFIG_FILE, render_server_config
from lattice.outputs import oci_mirror, spoke_connection
from lattice.registry import MIRROR_CERT_FILE, MIRROR_CONFIG_FILE, MIRROR_KEY_FILE, node_mirror_config


def build_spoke(inputs: SpokeInputs) -> BuiltSpoke:
    plan, spec, name = inputs.plan, inputs.spoke, inputs.name
    planned = plan.spoke(spec.name)
    settings, lattice = spec.kubernetes, plan.lattice
    scope = ClusterScope.create(name, lattice, spec.name, settings, inputs.kubeconfig, inputs.child)
    opts, ns, ns_name, selector = scope.opts, scope.namespace, scope.namespace_name, scope.selector

    own_host: pulumi.Output[str] = pulumi.Output.from_input(LOOPBACK)
    if planned.is_mid_tier:  # only a mid-tier spoke listens beyond its pod: its children dial it
        sources = inputs.child_cidrs.apply(lambda c: leaf_sources(settings.leaf_allowed_cidrs, c))
        leaf_service_name = names.service(f"{spec.name}-leaf")
        leaf_service = core.Service(
            f"{name}-leaf",
            metadata=object_meta(
                leaf_service_name,
                ns,
                lattice,
                spec.name,
                annotations=open_leaf_mark(settings.leaf_allowed_cidrs) or None,
            ),
            spec=core.ServiceSpecArgs(
                type=settings.service_type,
                selector=selector,
                ports=[service_port("leaf", PORTS.leaf)],
                load_balancer_source_ranges=source_ranges(settings, sources),
            ),
            opts=opts(),
        )
        own_host = service_address(leaf_service, service_host(leaf_service_name, ns_name))

    def resolve(values: list[Any]) -> Addressing:
        urls, host = values
        return spoke_addressing(plan, spec.name, urls, host)

    addressing = pulumi.Output.all(inputs.upstream_urls, own_host).apply(resolve)
    config = addressing.apply(lambda a: render_server_config(plan, spec.name, a, FILES))
    files = spoke_files(inputs, addressing, FILES)
    config_map = core.ConfigMap(
        f"{name}-config",
        metadata=object_meta(f"{spec.name}-config", ns, lattice, spec.name),
        data=config.apply(lambda c: {CONFIG_FILE: c}),
        opts=opts(),
    )
    files_secret = core.Secret(
        f"{name}-files",
        metadata=object_meta(f"{spec.name}-files", ns, lattice, spec.name),
        string_data=files,
        opts=opts(),
    )
    # Only a restart-class change rolls the pod (the reloader applies the rest in place to
    # nats-server); the registry mirror reads its config and certificate at start only, so
    # any change to them rolls it too. A digest of 256-bit secrets reveals nothing; unsecret
    # it, or the whole pod spec would turn secret and vanish from preview diffs.
    mirrored = plan.mirrors(spec.name) and plan.workload_registry is not None
    mirror_text = (
        node_mirror_config(plan.workload_registry, MIRROR_DIR, MIRROR_STORAGE)
        if mirrored and plan.workload_registry is not None
        else None
    )

    def restart_digest(v: list[Any]) -> dict[str, str]:
        nats = restart_checksum({spec.name: v[0]}, v[1])
        if mirror_text is None:
            return {"wasmcloud-lattice/restart": nats}
        mirror = {k: v[1].get(k) for k in (MIRROR_CERT_FILE, MIRROR_KEY_FILE)}
        return {"wasmcloud-lattice/restart": checksum([nats, mirror_text, mirror])}

    rollout = pulumi.Output.unsecret(pulumi.Output.all(config, files).apply(restart_digest))
    watched = pulumi.Output.unsecret(
        files.apply(lambda f: [FILES.config_file, *(f"{FILES.config_dir}/{n}" for n in sorted(f))])
    )
    containers = [
        nats_container(settings, FILES.config_file, websocket=False, loopback_monitor=True, lame_duck=False),
        reloader_container(settings, watched),
    ]
    init_containers: list[core.ContainerArgs] = []
    volumes = [config_volume(config_map.metadata.name, files_secret.metadata.name), pid_volume()]
    if spec.wasmcloud_host:
        connection = spoke_connection(plan, spec.name, mirror=oci_mirror(plan, spec.name))
        installer, host = host_containers(
            settings, connection["washHostArgs"], plan.artifact_mirror, lattice_ca=mirrored
        )
        init_containers.append(installer)
        containers.append(host)  # no credentials volume: the host connects anonymously to 127.0.0.1
        volumes += [
            core.VolumeArgs(name="host-home", empty_dir=core.EmptyDirVolumeSourceArgs()),
            core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs()),
        ]
    if mirror_text is not None:
        mirror_config = core.ConfigMap(
            f"{name}-registry-mirror",
            metadata=object_meta(f"{spec.name}-registry-mirror", ns, lattice, spec.name),
            data={MIRROR_CONFIG_FILE: mirror_text},
            opts=opts(),
        )
        containers.append(mirror_container(settings))
        volumes += mirror_volumes(mirror_config.metadata.name, files_secret.metadata.name)
    k8s.apps.v1.StatefulSet(
        f"{name}-nats",
        metadata=object_meta(spec.name, ns, lattice, spec.name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=names.service(spec.name),
            replicas=1,
            selector=meta.LabelSelectorArgs(match_labels=selector),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(lattice, spec.name), annotations=rollout),
                spec=core.PodSpecArgs(
                    security_context=pod_security(),
                    share_process_namespace=True,  # the reloader signals nats-server
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
    return BuiltSpoke(
        config=config,
        files=files,
        leaf_urls=children_dial(inputs, addressing),
        egress_cidrs=pulumi.Output.from_input(list(settings.egress_cidrs)),
    )
