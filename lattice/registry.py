"""The OCI registry mirror beside each edge host: its config and where hosts pull from.

A wasmCloud v2 host asks the registry for a component's manifest at every workload start,
even with a warm ``--oci-cache-dir`` (wash-runtime ``pull_component``: the cached digest is
compared with the registry's), so a host restarted while its site's WAN is down cannot
start anything from a cloud registry. A pull-through mirror (CNCF distribution's proxy
mode) on the site's loopback keeps every artifact it served; hosts pull from it by digest,
which it answers from its own storage without asking upstream.

One renderer for the sandbox and both spoke platforms, as for NATS configs.
"""

from __future__ import annotations

import json

from lattice.addressing import LOOPBACK

MIRROR_PORT = 5443
"""The mirror's TLS port on a spoke's loopback (outside the NATS ports)."""
MIRROR_CERT_FILE = "registry-mirror-cert.pem"
MIRROR_KEY_FILE = "registry-mirror-key.pem"
"""The mirror's certificate (127.0.0.1 and localhost, from the lattice CA) among the
spoke's secret files."""
MIRROR_CONFIG_FILE = "registry-mirror.yml"
HOST_CA_FILE = "/etc/wasmcloud/ca.pem"
"""Where a spoke's wasmCloud host finds the lattice CA (``--oci-ca-path``), on both platforms."""


def registry_config(
    port: int,
    storage_dir: str,
    cert_file: str,
    key_file: str,
    *,
    upstream: str | None = None,
    bind_host: str = LOOPBACK,
) -> str:
    """distribution's config (JSON, which is YAML): TLS 1.2+ with the given certificate,
    blobs under ``storage_dir``; ``upstream`` (``https://host[:port]``) makes it a
    pull-through mirror of that registry. Deterministic: keys sorted."""
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": storage_dir}, "delete": {"enabled": True}},
        "http": {
            "addr": f"{bind_host}:{port}",
            "tls": {"certificate": cert_file, "key": key_file, "minimumtls": "tls1.2"},
        },
    }
    if upstream is not None:
        config["proxy"] = {"remoteurl": upstream}
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def node_mirror_config(upstream: str, config_dir: str, storage_dir: str) -> str:
    """A spoke platform's mirror: ``<config_dir>/`` holds its certificate and key."""
    cert, key = f"{config_dir}/{MIRROR_CERT_FILE}", f"{config_dir}/{MIRROR_KEY_FILE}"
    return registry_config(MIRROR_PORT, storage_dir, cert, key, upstream=upstream)


def mirror_host(port: int = MIRROR_PORT) -> str:
    """``host:port`` of a spoke's mirror, as an OCI reference names a registry."""
    return f"{LOOPBACK}:{port}"


def mirrored_reference(reference: str, mirror: str) -> str:
    """``registry.example/ns/name@sha256:...`` -> ``<mirror>/ns/name@sha256:...``: the same
    repository and digest, pulled through the site's mirror."""
    _, _, path = reference.partition("/")
    if not path:
        raise ValueError(f"{reference!r} names no repository after its registry")
    return f"{mirror}/{path}"
