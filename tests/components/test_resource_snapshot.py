"""Every stack registers exactly the recorded resources: the same URNs (type and parent
chain), providers and inputs (secret markers included), under the mocks.

This is what keeps a refactor from showing up in anyone's ``pulumi preview``: a changed
URN is a delete and a create, a changed input an update (or a replacement). A change
that is meant to alter resources regenerates the snapshots with ``make snapshots``, and
the diff of ``tests/components/snapshots/`` shows the reviewer exactly which resources it touches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import ROOT, STACK_NAMES
from tests.support.mocks import SECRET_SIG, SIG_KEY
from tests.support.program import ProgramRun, runs_of

SNAPSHOTS = ROOT / "tests" / "components" / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, ProgramRun]]:
    yield from runs_of(STACK_NAMES)


def digest(registration: dict[str, Any]) -> str:
    canonical = json.dumps(registration, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def snapshot_of(run: ProgramRun) -> dict[str, str]:
    """URN -> digest of its registration, sorted by URN."""
    return {urn: digest(reg) for urn, reg in sorted(run.registered.items())}


def snapshot_file(stack: str) -> Path:
    return SNAPSHOTS / f"{stack}.json"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_stack_registers_the_recorded_resources(stack: str, runs: dict[str, ProgramRun]) -> None:
    current = snapshot_of(runs[stack])
    path = snapshot_file(stack)
    if UPDATE:
        path.write_text(json.dumps(current, indent=1) + "\n")
    recorded: dict[str, str] = json.loads(path.read_text())
    added = sorted(set(current) - set(recorded))
    removed = sorted(set(recorded) - set(current))
    changed = sorted(u for u in set(current) & set(recorded) if current[u] != recorded[u])
    assert (added, removed, changed) == ([], [], []), (
        f"{stack}: {len(added)} new, {len(removed)} gone, {len(changed)} changed resources "
        f"(first of each: {added[:1]}, {removed[:1]}, {changed[:1]}); if that is intended, `make snapshots`"
    )


def test_the_digest_covers_inputs_and_their_secretness(runs: dict[str, ProgramRun]) -> None:
    registration = next(r for r in runs["dev"].registered.values() if r["inputs"].get("description"))
    description = registration["inputs"]["description"]
    edited = {**registration, "inputs": {**registration["inputs"], "description": description + "."}}
    secret = {
        **registration,
        "inputs": {**registration["inputs"], "description": {SIG_KEY: SECRET_SIG, "value": description}},
    }
    assert len({digest(registration), digest(edited), digest(secret)}) == 3
