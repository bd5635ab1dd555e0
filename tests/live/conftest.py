"""One running dev topology shared by the live tests of a module (started once, always stopped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.topology import LocalLattice
from tests.support.helpers import load_stack


@pytest.fixture(scope="package")
def dev_lattice() -> Iterator[LocalLattice]:
    with LocalLattice(load_stack("dev")) as lattice:
        lattice.start_servers()
        conv = lattice.wait_converged(timeout=60)
        assert conv.ok, f"dev topology did not converge: {conv.missing}"
        yield lattice
