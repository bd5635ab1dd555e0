"""Where a hub's or spoke's objects go on Kubernetes: its cluster (an explicit provider
from a kubeconfig given as a secret) and its namespace, and how their names and labels
are formed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.base import ChildOpts, secret
from lattice import names
from lattice.spec import KubernetesSettings

meta = k8s.meta.v1
core = k8s.core.v1


def cluster_provider(
    prefix: str, settings: KubernetesSettings, kubeconfig: pulumi.Input[str] | None, opts: ChildOpts
) -> k8s.Provider:
    """The explicit provider for one cluster: its kubeconfig (a secret), never the ambient
    one unless ``ambientKubeconfig`` asks for it.

    A changed config or trust (a revocation) updates its ConfigMap or Secret in place. By
    default the provider replaces them, and replacing the Secret a hub's pods mount made the
    engine replace the hub's whole StatefulSet, every pod of the region at once (seen in the
    e2e tier on retiring a spoke); in place, only the pods' checksum annotation changes, and
    they roll one at a time."""
    if kubeconfig is None and not settings.ambient_kubeconfig:
        raise ValueError(f"{prefix}: no kubeconfig given and ambientKubeconfig is off")
    return k8s.Provider(
        f"{prefix}-k8s",
        kubeconfig=None if kubeconfig is None else secret(kubeconfig),
        enable_config_map_mutable=True,
        enable_secret_mutable=True,
        opts=opts(),
    )


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

        name = settings.namespace or names.namespace(lattice, group)
        namespace = core.Namespace(
            f"{prefix}-ns",
            metadata=meta.ObjectMetaArgs(name=name, labels={**labels(lattice, group), **POD_SECURITY}),
            opts=opts(),
        )
        selector = {"app.kubernetes.io/instance": names.instance_label(lattice, group)}
        return ClusterScope(opts=opts, namespace=namespace.metadata.name, namespace_name=name, selector=selector)


POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
"""The namespaces this program creates admit only pods that pass Pod Security "restricted"
(ours do; the admission controller proves it on every pod the StatefulSets create)."""


def labels(lattice: str, group: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "nats",
        "app.kubernetes.io/instance": names.instance_label(lattice, group),
        "app.kubernetes.io/part-of": "wasmcloud-lattice",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def object_meta(
    name: str, namespace: pulumi.Input[str], lattice: str, group: str, annotations: dict[str, str] | None = None
) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(lattice, group), annotations=annotations)


def source_ranges(settings: KubernetesSettings, cidrs: pulumi.Output[list[str]]) -> pulumi.Output[list[str]] | None:
    """A LoadBalancer's source ranges (the cloud's firewall in front of it); other Service
    types have none (a NodePort is the nodes' firewall's business)."""
    return cidrs if settings.service_type == "LoadBalancer" else None


def service_address(service: core.Service, dns_name: str) -> pulumi.Output[str]:
    """A LoadBalancer's ingress hostname or IP; the cluster DNS name for other types."""

    def pick(status: Any) -> str:
        ingress = ((status or {}).get("load_balancer") or {}).get("ingress") or []
        for entry in ingress:
            address = entry.get("hostname") or entry.get("ip")
            if address:
                return str(address)
        return dns_name

    return service.status.apply(lambda s: pick(plain(s)))


def plain(value: Any) -> Any:
    """Output types of pulumi-kubernetes are classes with snake_case attributes; walk them."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
