"""What a wasmCloud host beside a spoke needs: the same shape from the sandbox and Pulumi.

Hosts connect anonymously to the leaf on localhost; the leaf carries the credentials.
"""

from __future__ import annotations

from typing import Any

from lattice.plan import LatticePlan, Ports

LOCAL_NATS_HOST = "127.0.0.1"


def spoke_nats_url(port: int = Ports().client) -> str:
    return f"nats://{LOCAL_NATS_HOST}:{port}"


def wash_host_args(nats_url: str, host_name: str) -> list[str]:
    """Arguments for the wasmCloud v2 host (``wash host ...``)."""
    return [
        "--scheduler-nats-url",
        nats_url,
        "--data-nats-url",
        nats_url,
        "--host-name",
        host_name,
    ]


def spoke_connection(plan: LatticePlan, spoke: str, port: int = Ports().client) -> dict[str, Any]:
    """Connection outputs for one spoke (stack export ``spokes[<name>]``, sandbox JSON)."""
    sp = plan.spoke(spoke)
    lattice = plan.lattice_of(spoke)
    url = spoke_nats_url(port)
    return {
        "natsUrl": url,
        "jsDomain": sp.jetstream_domain,
        "lattice": lattice,
        "upstream": sp.upstream,
        "wasmcloudV1Env": {
            "WASMCLOUD_NATS_HOST": LOCAL_NATS_HOST,
            "WASMCLOUD_NATS_PORT": str(port),
            "WASMCLOUD_LATTICE": lattice,
            "WASMCLOUD_JS_DOMAIN": sp.jetstream_domain,
        },
        "washHostArgs": wash_host_args(url, spoke),
    }
