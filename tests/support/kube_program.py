"""What a Pulumi program needs to run against the local control plane (``sandbox.kube``): there is no
kubelet, so workloads never become ready and the provider would wait for them for ten minutes."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

SKIP_AWAIT = "pulumi.com/skipAwait"


def skip_await(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """A stack transform (``pulumi.runtime.register_resource_transform``) that annotates every Kubernetes
    object ``pulumi.com/skipAwait: "true"``: created objects are taken as they are, not awaited."""
    if not args.custom or not args.type_.startswith("kubernetes:"):
        return None  # components and the provider itself carry no metadata
    metadata = args.props.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        return None  # an Output[dict]: cannot be edited here; leave the object as written
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return None
    props = {**args.props, "metadata": {**metadata, "annotations": {**annotations, SKIP_AWAIT: "true"}}}
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)
