"""What a wasmCloud host beside a spoke needs: the same shape from the sandbox and Pulumi.

Hosts connect anonymously to the leaf on localhost; the leaf carries the credentials.
"""

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from lattice.addressing import LOOPBACK, PORTS, spoke_client_url
from lattice.plan import LatticePlan
from lattice.registry import HOST_CA_FILE, mirror_host


@dataclass(frozen=True)
class OciMirror:
    """The site's pull-through registry mirror, as its host reaches it."""

    host: str
    """``127.0.0.1:<port>``: the registry part of the references the host pulls."""
    ca_file: str
    """Where the host finds the CA that signed the mirror's certificate (``--oci-ca-path``)."""


def oci_mirror(plan: LatticePlan, spoke: str) -> OciMirror | None:
    """A spoke platform's mirror beside its host (``workloads.edgeMirror``), or None."""
    return OciMirror(mirror_host(), HOST_CA_FILE) if plan.mirrors(spoke) else None


def wash_host_args(nats_url: str, host_name: str, mirror: OciMirror | None = None) -> list[str]:
    """Arguments for the wasmCloud v2 host (``wash host ...``)."""
    args = [
        "--scheduler-nats-url",
        nats_url,
        "--data-nats-url",
        nats_url,
        "--host-name",
        host_name,
    ]
    if mirror is not None:
        args += ["--oci-ca-path", mirror.ca_file]
    return args


class SpokeConnection(TypedDict):
    """What the wasmCloud host beside a spoke needs (camelCase: the stack output's keys)."""

    natsUrl: str
    jsDomain: str
    lattice: str
    upstream: str
    wasmcloudV1Env: dict[str, str]
    washHostArgs: list[str]
    ociMirror: NotRequired[str]
    """Where the host pulls components: ``<ociMirror>/<repository>@sha256:<digest>``."""


def spoke_connection(
    plan: LatticePlan, spoke: str, port: int = PORTS.client, mirror: OciMirror | None = None
) -> SpokeConnection:
    """Connection outputs for one spoke (stack export ``spokes[<name>]``, sandbox JSON)."""
    sp = plan.spoke(spoke)
    lattice = plan.lattice_of(spoke)
    url = spoke_client_url(port)
    connection = SpokeConnection(
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
        washHostArgs=wash_host_args(url, spoke, mirror),
    )
    if mirror is not None:
        connection["ociMirror"] = mirror.host
    return connection
