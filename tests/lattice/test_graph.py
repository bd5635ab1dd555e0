"""Topology pictures: every server and link is drawn, and the committed pictures are current."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from lattice.graph import mermaid, svg
from lattice.plan import plan_lattice
from sandbox.cli import main
from tests.support.helpers import ROOT, STACK_NAMES, load_stack


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_server_spoke_and_link_is_drawn(stack: str) -> None:
    plan = plan_lattice(load_stack(stack))
    text = mermaid(plan)
    for server in plan.servers:
        assert f'"{server.name}' in text or f"{server.name} ·" in text, server.name
    assert text.count(" --> ") == len(plan.spokes)
    built = [h for h in plan.hubs if h.servers]
    assert text.count("gateway 7222") == len(built) * (len(built) - 1) // 2
    picture = ET.fromstring(svg(plan))  # noqa: S314 (our own output, checked to be well-formed)
    assert picture.tag.endswith("svg")
    assert len(re.findall("<line ", svg(plan))) == len(plan.spokes)


def test_the_committed_pictures_of_prod_are_current() -> None:
    plan = plan_lattice(load_stack("prod"))
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block is not None and block.group(1) == mermaid(plan), "run `make graph` and paste the Mermaid"
    assert (ROOT / "docs" / "topology-prod.svg").read_text() == svg(plan), "run `make graph`"


def test_graph_of_an_invalid_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    bad = "tests/lattice/invalid_stacks/unknown-upstream.yaml"
    assert main(["graph", "--stack-file", bad]) == 2
    assert "no hub or spoke named 'use9'" in capsys.readouterr().err
