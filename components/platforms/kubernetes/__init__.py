"""Kubernetes: hub regions as StatefulSets (:mod:`.hub`), edge sites as one pod each
(:mod:`.spoke`), in a namespace of their own on a cluster reached through an explicit
provider (:mod:`.scope`), from the pod parts in :mod:`.workloads`."""

from components.platforms.kubernetes.hub import build_hub
from components.platforms.kubernetes.spoke import build_spoke

__all__ = ["build_hub", "build_spoke"]
