"""What a lattice's account may hold at the hubs, and what one site's leaf link may do there.

nats-server enforces every figure here: the account's JetStream storage (an R3 stream
reserves three times its ``max_bytes``: measured, ``insufficient storage resources
available``) and each leaf user's subscriptions and payload. The defaults follow the hubs'
own capacity, so the account is refused before a volume fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lattice.spec import GIB, MIB, HubSpec, LatticeSpec

FILE_SHARE = Decimal("0.9")
"""Of a Kubernetes hub pod's volume, what JetStream may fill: its ``max_file_store``
(``lattice.plan.JETSTREAM_FILE_SHARE``; a test keeps them equal)."""
AWS_FILE_SHARE = Decimal("0.75")
"""Of an AWS hub node's volume, what JetStream fills: its config sets no ``max_file_store``,
so nats-server takes 75% of the store's free disk at start (``server/disk_avail.go``), and
the store has its own volume."""
MEMORY_SHARE = Decimal("0.5")
"""Of a Kubernetes hub pod's memory limit (``lattice.plan.JETSTREAM_MEMORY_SHARE``)."""
AWS_NODE_MEMORY_STORE = 512 * MIB
"""An AWS hub node's share of memory-backed streams: its instance type's memory is not in
the stack, and nats-server's own default (75% of the machine) would leave the server none."""
SITE_PAYLOAD_BYTES = 1 * MIB
"""A leaf user's largest message: nats-server's default ``max_payload``, which every server
of the lattice keeps. A site's local clients are refused beyond it by their own spoke, so
it never reaches the link; a larger message sent down would close it (measured: "maximum
payload exceeded: 8000 vs 4096", with both sides at different limits)."""


@dataclass(frozen=True)
class AccountLimits:
    file_bytes: int | None
    """The account's JetStream file storage at the hubs; None: unlimited (no hub of ours)."""
    memory_bytes: int | None
    site_subscriptions: int
    site_payload: int = SITE_PAYLOAD_BYTES


def hub_volume_gib(hub: HubSpec) -> int:
    return hub.aws.data_volume_gib if hub.platform == "aws" else hub.kubernetes.storage_gib


def node_file_bytes(hub: HubSpec) -> int:
    """JetStream file storage one node of a hub region holds: its share of its volume."""
    share = AWS_FILE_SHARE if hub.platform == "aws" else FILE_SHARE
    return int(hub_volume_gib(hub) * GIB * share)


def hub_file_bytes(hub: HubSpec) -> int:
    """JetStream file storage one hub region holds, every node's."""
    return hub.nodes * node_file_bytes(hub)


def hub_memory_bytes(hub: HubSpec) -> int:
    per_node = hub.kubernetes.memory_bytes * MEMORY_SHARE if hub.platform == "kubernetes" else AWS_NODE_MEMORY_STORE
    return int(hub.nodes * per_node)


def account_limits(spec: LatticeSpec) -> AccountLimits:
    """Each lattice account's bounds at the hubs: the stack's ``limits``, or by default the
    regions' capacity shared equally among the lattices on the hubs. An external hub's
    capacity is its operator's business: with no hub of ours, the storage is unlimited
    (what the sandbox's stand-in for it runs with)."""
    built = [h for h in spec.hubs if h.platform != "external"]
    share = len(spec.all_lattices)
    limits = spec.limits
    file_bytes = memory_bytes = None
    if limits.hub_file_storage_gib is not None:
        file_bytes = limits.hub_file_storage_gib * GIB
    elif built:
        file_bytes = sum(hub_file_bytes(h) for h in built) // share
    if limits.hub_memory_storage_mib is not None:
        memory_bytes = limits.hub_memory_storage_mib * MIB
    elif built:
        memory_bytes = sum(hub_memory_bytes(h) for h in built) // share
    return AccountLimits(file_bytes=file_bytes, memory_bytes=memory_bytes, site_subscriptions=limits.site_subscriptions)
