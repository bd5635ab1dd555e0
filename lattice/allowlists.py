"""Who may reach a listener beyond its machine: the sources a firewall admits.

A leaf port admits its children at their egress addresses (an AWS node's Elastic IP, a
Kubernetes site's ``egressCidrs``) plus its ``leafAllowedCidrs``; a gateway port admits
the other regions' nodes the same way. Platforms turn these lists into security-group
rules or LoadBalancer source ranges; the spec refuses a child whose address is unknown
(:func:`lattice.rules.leaf_ports_admit_their_children`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from lattice.plan import LatticePlan
from lattice.spec import OPEN_CIDRS

OPEN_LEAF_MARK = "wasmcloud-lattice/leaf-open-to-any-address"
"""Tag (AWS) or annotation (Kubernetes) on a leaf listener opened to every address on
purpose (``leafAllowedCidrs: [0.0.0.0/0]``): the policy pack refuses an unmarked one."""


def open_leaf_mark(leaf_allowed_cidrs: Sequence[str]) -> dict[str, str]:
    """The mark for a listener whose ``leafAllowedCidrs`` opens it to every address."""
    return {OPEN_LEAF_MARK: "leafAllowedCidrs"} if OPEN_CIDRS & set(leaf_allowed_cidrs) else {}


def host_cidr(address: str) -> str:
    """One address as a CIDR block (``/32``, or ``/128`` for IPv6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address; a firewall rule admits addresses only") from None
    return f"{ip}/{ip.max_prefixlen}"


def leaf_sources(allowed: Sequence[str], children_egress: Iterable[str]) -> list[str]:
    """What a leaf port admits: ``allowed`` and every child's egress, sorted; only the open
    blocks when ``allowed`` opens it to every address."""
    opened = sorted(OPEN_CIDRS & set(allowed))
    if opened:
        return opened
    return sorted({*allowed, *children_egress})


def gateway_sources(plan: LatticePlan, hub: str, peer_hosts: Mapping[str, Sequence[str]]) -> list[str]:
    """What a region's gateway port admits: each other region's nodes, at the Elastic IPs
    an AWS region's nodes dial from, or a Kubernetes region's ``egressCidrs`` (its gateway
    Services' addresses are where it is dialed, not where it dials from)."""
    sources: set[str] = set()
    for peer in plan.server(plan.hub(hub).servers[0]).gateways:
        planned = plan.hub(peer)
        if planned.platform == "aws":
            sources.update(host_cidr(h) for h in peer_hosts[peer])
        else:
            sources.update(planned.egress_cidrs)
    return sorted(sources)
