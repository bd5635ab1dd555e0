"""What every component shares: children parented last, and a typed ``Output.secret``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

ChildOpts = Callable[..., pulumi.ResourceOptions]
"""A component's factory for its children's options (``parent=self`` applied last)."""


class LatticeComponent(pulumi.ComponentResource):
    """Base of every component: children are parented to it whatever a caller passes."""

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(**kwargs), pulumi.ResourceOptions(parent=self))


def secret(value: pulumi.Input[Any]) -> pulumi.Output[Any]:
    """``Output.secret`` typed for mypy (its stub cannot infer through nested inputs)."""
    out: pulumi.Output[Any] = pulumi.Output.secret(value)
    return out
