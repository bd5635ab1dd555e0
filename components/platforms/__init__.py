"""Platforms: peers behind one contract (:mod:`components.platforms.contract`).

This module is where a platform is chosen: ``platform_for`` maps the spec's ``platform``
of a hub or spoke to the module that builds it.
"""

from __future__ import annotations

from components.platforms import aws, kubernetes
from components.platforms.contract import Platform

PLATFORMS: dict[str, Platform] = {"aws": aws, "kubernetes": kubernetes}


def platform_for(name: str) -> Platform:
    """The platform that builds a hub or spoke with ``platform: <name>``."""
    if name not in PLATFORMS:
        raise ValueError(f"no platform builds {name!r} (known: {', '.join(sorted(PLATFORMS))})")
    return PLATFORMS[name]
