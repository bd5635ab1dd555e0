"""What a wasmCloud host beside a spoke needs: the same shape from the sandbox and Pulumi.

Hosts connect anonymously to the leaf on localhost; the leaf carries the credentials.
"""

from typing import TypedDict

from lattice.addressing import LOOPBACK, PORTS, spoke_client_url
from lattice.plan import LatticePlan


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


class SpokeConnection(TypedDict):
    """What the wasmCloud host beside a spoke needs (camelCase: the stack output's keys)."""

    natsUrl: str
    jsDomain: str
    lattice: str
    upstream: str
    wasmcloudV1Env: dict[str, str]
    washHostArgs: list[str]


def spoke_connection(plan: LatticePlan, spoke: str, port: int = PORTS.client) -> SpokeConnection:
    """Connection outputs for one spoke (stack export ``spokes[<name>]``, sandbox JSON)."""
    sp = plan.spoke(spoke)
    lattice = plan.lattice_of(spoke)
    url = spoke_client_url(port)
    return SpokeConnection(
        natsUrl=url,
        jsDomain=sp.jetstream_domain,
        lattice=lattice,
        upstream=sp.upstream,
        wasmcloudV1Env={
            "WASMCLOUD_NATS_HOST": LOOPBACK,
            "WASMCLOUD_NATS_PORT": str(port),
            "WASMCLOUD_LATTICE": lattice,
            "WASMCLOUD_JS_DOMAIN": sp.jetstream_domain,
        },
        washHostArgs=wash_host_args(url, spoke),
    )
