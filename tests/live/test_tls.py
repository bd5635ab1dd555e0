"""TLS-first leaf links (``tls.handshakeFirst``), for middleboxes that drop a plaintext INFO."""

from __future__ import annotations

import pytest

from sandbox.topology import LocalLattice
from tests.live.attackers import plaintext_probe
from tests.support.helpers import spec_from

pytestmark = pytest.mark.live

SPEC = {
    "name": "acme",
    "tls": {"handshakeFirst": True},
    "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}],
    "spokes": [
        {"name": "site", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "device", "upstream": "site", "platform": "kubernetes", "wasmcloudHost": False},
    ],
}


def test_leaf_links_start_with_the_tls_handshake_and_still_link() -> None:
    with LocalLattice(spec_from(SPEC)) as lattice:
        for server in ("use1-0", "site", "device"):
            assert "handshake_first: true" in lattice.rendered[server].config, server
        lattice.start_servers()
        result = lattice.wait_converged(timeout=30)
        assert result.ok, result.missing
        for listener in ("use1-0", "site"):  # both leaf listeners: the hub's and the mid-tier's
            info, _, closed = plaintext_probe(lattice.ports[listener].leaf, b"CONNECT {}\r\n")
            assert info is None, f"{listener} sent a plaintext INFO before the TLS handshake"
            assert closed, f"{listener} hung up on a plaintext client"
