"""The spec: valid stacks parse with their defaults; every invalid stack says where and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lattice.problems import LatticeSpecError
from lattice.stack import parse_lattice
from sandbox.cli import main
from tests.support.helpers import ROOT, STACK_NAMES, load_stack

INVALID = sorted((Path(__file__).parent / "invalid_stacks").glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    return [line.removeprefix("# expect: ").rstrip("\n") for line in path.open() if line.startswith("# expect: ")]


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 25
    assert all(expectations(p) for p in INVALID), "every invalid stack states the message it must produce"


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_stack_exits_2_naming_file_and_key_path(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    label = str(path.relative_to(ROOT))
    code = main(["up", "--stack-file", label, "--check"])
    err = capsys.readouterr().err
    assert code == 2, err
    for expected in expectations(path):
        assert any(line.startswith(f"{label}: ") and expected in line for line in err.splitlines()), (
            f"missing {expected!r} in:\n{err}"
        )
    assert "Traceback" not in err


def test_invalid_stack_from_a_shell_prints_no_traceback() -> None:
    path = "tests/lattice/invalid_stacks/many-problems.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "up", "--stack-file", path, "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4, "all problems at once, one per line"
    assert all(line.startswith(f"{path}: lattice") for line in lines)
    assert "Traceback" not in proc.stderr


def test_unknown_stack_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--stack", "nope", "--check"]) == 2
    assert "stacks/Pulumi.nope.yaml: lattice: cannot read stack file" in capsys.readouterr().err


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_committed_stack_is_valid(stack: str) -> None:
    spec = load_stack(stack)
    assert spec.hubs


def test_defaults() -> None:
    spec = parse_lattice(
        {
            "name": "acme",
            "hubs": [{"name": "use1", "platform": "kubernetes"}],
            "spokes": [{"name": "store-1", "upstream": "use1", "platform": "kubernetes"}],
        },
        "test",
    )
    assert spec.hubs[0].nodes == 3
    assert spec.hub_domain == "hub"
    assert spec.spokes[0].domain == "store-1"
    assert spec.spokes[0].wasmcloud_host is True


def test_error_lists_every_problem_sorted_by_key_path() -> None:
    with pytest.raises(LatticeSpecError) as info:
        parse_lattice(
            {
                "name": "acme",
                "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 2}],
                "spokes": [
                    {"name": "b", "upstream": "x", "platform": "kubernetes"},
                    {"name": "a", "upstream": "use1", "platform": "kubernetes", "extra": 1},
                ],
            },
            "stacks/Pulumi.t.yaml",
        )
    paths = [p.path for p in info.value.problems]
    assert paths == ["lattice.hubs[0].nodes", "lattice.spokes[0].upstream", "lattice.spokes[1].extra"]
    assert str(info.value).splitlines()[0].startswith("stacks/Pulumi.t.yaml: lattice.hubs[0].nodes: must be")
