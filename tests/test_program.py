"""The Pulumi program under the SDK's mocks: every stack loads; a bad stack fails cleanly.

The AWS and Kubernetes resources arrive with the components; here the program validates
its config and exports the connection outputs the shared code computes.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.outputs import spoke_connection
from components.plan import plan_lattice
from tests.helpers import ROOT, STACK_NAMES, load_stack


@pytest.fixture(autouse=True)
def event_loop_for_pulumi() -> Iterator[None]:
    """Pulumi's mocks use the current event loop; asyncio.run elsewhere leaves none set."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def run_program(stack: str, config: dict[str, Any]) -> tuple[RecordingMocks, dict[str, Any]]:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="wasmcloud-lattice", stack=stack, preview=False)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    namespace: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        # the harness waits for every outstanding RPC (exports) before returning
        namespace.update(runpy.run_path(str(ROOT / "__main__.py")))

    program()
    return mocks, namespace


def stack_config(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = doc["config"]
    return config


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_program_plans_every_stack(stack: str) -> None:
    _, namespace = run_program(stack, stack_config(stack))
    expected = plan_lattice(load_stack(stack))
    assert namespace["plan"] == expected
    connections = {s.name: spoke_connection(expected, s.name) for s in expected.spokes}
    assert all(c["natsUrl"] == "nats://127.0.0.1:4222" for c in connections.values())


def test_bad_stack_fails_with_the_sandbox_message_before_any_resource() -> None:
    bad = Path(__file__).parent / "invalid_stacks" / "unknown-upstream.yaml"
    config = yaml.safe_load(bad.read_text())["config"]
    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", config)
    assert str(info.value) == "stacks/Pulumi.dev.yaml: lattice.spokes[0].upstream: no hub or spoke named 'use9'"
    assert "Traceback" not in str(info.value)


def test_missing_lattice_config_is_a_clear_error() -> None:
    with pytest.raises(pulumi.RunError, match=r"stacks/Pulumi.dev.yaml: lattice: missing config key"):
        run_program("dev", {"aws:region": "us-east-1"})
