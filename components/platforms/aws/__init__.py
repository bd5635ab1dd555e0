"""AWS: hub regions and edge sites on EC2 (:mod:`.hub`, :mod:`.spoke`), from the building
blocks in :mod:`.network` and :mod:`.node`."""

from components.platforms.aws.hub import build_hub
from components.platforms.aws.spoke import build_spoke

__all__ = ["build_hub", "build_spoke"]
