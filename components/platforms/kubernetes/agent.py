"""The hub-stream agent beside a Kubernetes hub region: one Deployment that runs
``lattice/jetstream_sync.py`` every 30 s against the region's pods, as every AWS hub
node runs it after ``nats-sync`` and the sandbox runs it as a process.

Its settings and the program travel in a ConfigMap (public), its bearer JWT in a Secret of
its own; the lattice CA comes from the hub's files Secret (only that key). Its pods carry
labels of their own, so no hub Service or disruption budget ever selects them. A new
program rolls its pod (a digest on the template); new settings are read on the next run.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components.platforms.kubernetes.scope import ClusterScope, core, labels, meta, object_meta
from components.platforms.kubernetes.workloads import container_security, pod_security
from lattice import names
from lattice.jetstream import AGENT_CONFIG_FILE, AGENT_JWT_FILE, AGENT_PROGRAM
from lattice.natsconf import CA_FILE
from lattice.node.cloudinit import agent_program
from lattice.spec import KubernetesSettings

AGENT_DIR = "/etc/jetstream-sync"
INTERVAL_SECONDS = 30


def hub_stream_agent(
    prefix: str,
    lattice: str,
    hub: str,
    settings: KubernetesSettings,
    scope: ClusterScope,
    agent: tuple[pulumi.Output[str], pulumi.Output[str]],
    files_secret: pulumi.Input[str],
) -> k8s.apps.v1.Deployment:
    """The agent's ConfigMap, Secret and Deployment in the hub's namespace."""
    group = f"{hub}-jetstream-sync"
    agent_settings, jwt = agent
    program = agent_program()
    config_map = core.ConfigMap(
        f"{prefix}-jetstream-sync",
        metadata=object_meta(group, scope.namespace, lattice, group),
        data=agent_settings.apply(lambda text: {AGENT_CONFIG_FILE: text, AGENT_PROGRAM: program}),
        opts=scope.opts(),
    )
    secret = core.Secret(
        f"{prefix}-jetstream-sync",
        metadata=object_meta(group, scope.namespace, lattice, group),
        string_data=jwt.apply(lambda token: {AGENT_JWT_FILE: token}),
        opts=scope.opts(),
    )
    selector = {"app.kubernetes.io/instance": names.instance_label(lattice, group)}
    volume = core.VolumeArgs(
        name="agent",
        projected=core.ProjectedVolumeSourceArgs(
            default_mode=0o440,  # its user and group (fsGroup) read the JWT; nobody else
            sources=[
                core.VolumeProjectionArgs(config_map=core.ConfigMapProjectionArgs(name=config_map.metadata.name)),
                core.VolumeProjectionArgs(secret=core.SecretProjectionArgs(name=secret.metadata.name)),
                core.VolumeProjectionArgs(
                    secret=core.SecretProjectionArgs(
                        name=files_secret, items=[core.KeyToPathArgs(key=CA_FILE, path=CA_FILE)]
                    )
                ),
            ],
        ),
    )
    program_path, config_path = f"{AGENT_DIR}/{AGENT_PROGRAM}", f"{AGENT_DIR}/{AGENT_CONFIG_FILE}"
    container = core.ContainerArgs(
        name="jetstream-sync",
        image=settings.agent_image,
        command=["python3", program_path, "--config", config_path, "--interval", str(INTERVAL_SECONDS)],
        env=[core.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
        volume_mounts=[core.VolumeMountArgs(name="agent", mount_path=AGENT_DIR, read_only=True)],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "64Mi"}),
        security_context=container_security(),
    )
    digest = hashlib.sha256(program.encode()).hexdigest()
    return k8s.apps.v1.Deployment(
        f"{prefix}-jetstream-sync",
        metadata=object_meta(group, scope.namespace, lattice, group),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=meta.LabelSelectorArgs(match_labels=selector),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(
                    labels=labels(lattice, group), annotations={"wasmcloud-lattice/agent-program": digest}
                ),
                spec=core.PodSpecArgs(
                    security_context=pod_security(),
                    automount_service_account_token=False,
                    containers=[container],
                    volumes=[volume],
                ),
            ),
        ),
        opts=scope.opts(),
    )
