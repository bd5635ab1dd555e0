"""The sandbox runs every stack in stacks/ and the extreme ones of the test corpus: the
platform only changes addresses, and an external hub gets a local stand-in with operator
JWT auth. Where a stack declares hub streams, the agent creates every one of its streams
and consumers on the real servers (nats-server's own API validates each) and store and
forward works both ways."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.checks import check_spokes_reach_hubs
from sandbox.streams import check_hub_streams
from sandbox.topology import LocalLattice
from tests.support.helpers import EXTREME_STACKS, STACK_NAMES, load_stack

pytestmark = pytest.mark.live


@pytest.mark.parametrize("stack", [*(s for s in STACK_NAMES if s != "dev"), *EXTREME_STACKS])  # dev: conftest.py
def test_stack_converges_and_every_spoke_reaches_its_hub(stack: str) -> None:
    spec = load_stack(stack)
    with LocalLattice(spec) as lattice:
        lattice.start_servers()
        result = lattice.wait_converged(timeout=60)
        assert result.ok, f"{stack}: {result.missing}"
        lattice.start_agents()
        checks = asyncio.run(check_spokes_reach_hubs(lattice))
        assert len(checks) == len(spec.spokes)
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]
        streams = asyncio.run(check_hub_streams(lattice, timeout=60))
        assert len(streams) == (
            1 + sum(bool(s.sources) + bool(s.mirrors) for s in spec.hub_streams) if spec.hub_streams else 0
        )
        assert all(c.ok for c in streams), [c for c in streams if not c.ok]
        for hub in lattice.stand_ins:
            config = next(lattice.rendered[s.name].config for s in lattice.plan.spokes if s.upstream == hub)
            assert "connect.ngs.global" not in config, "spokes dial the stand-in"
            assert 'include "trust.conf"' in lattice.rendered[f"{hub}-0"].config, "the stand-in runs operator mode"
