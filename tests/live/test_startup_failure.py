"""A server that cannot start is named at once, and nothing is left running."""

from __future__ import annotations

import socket
import time

import pytest

from sandbox.topology import LocalLattice, SandboxError
from tests.support.helpers import load_stack

pytestmark = pytest.mark.live


def test_server_that_cannot_bind_is_reported_promptly_and_everything_stops() -> None:
    lattice = LocalLattice(load_stack("staging"))
    workdir = lattice.workdir
    with lattice, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", lattice.ports["store-1"].client))
        squatter.listen()
        lattice.start_servers()
        started = time.monotonic()
        with pytest.raises(SandboxError, match=r"(?s)store-1 exited 1: .*address already in use"):
            lattice.wait_converged(timeout=60)
        assert time.monotonic() - started < 15, "a dead server ends the wait, not the timeout"
        pids = list(lattice.supervisor.procs.values())
    assert all(p.poll() is not None for p in pids)
    assert not workdir.exists()
