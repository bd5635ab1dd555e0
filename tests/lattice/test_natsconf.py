"""The renderer: golden configs, determinism, `nats-server -t`, and the safety rules."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lattice.addressing import LOOPBACK
from lattice.natsconf import ServerFiles, render_server_config
from lattice.natsconf.blocks import LEAF_RECONNECT_DELAY_MS, leaf_reconnect_delay
from lattice.plan import ServerPlan, plan_lattice
from tests.support.helpers import (
    EXTREME_STACKS,
    STACK_NAMES,
    load_stack,
    nats_server_test,
    render_plan,
    render_stack,
    spec_from,
    symbolic_addressing,
)

GOLDEN = Path(__file__).parent / "golden"
SEED = re.compile(r"S[OAU][A-Z2-7]{56}")


def top_level_keys(config: str) -> set[str]:
    return {line.split(":")[0] for line in config.splitlines() if line and not line[0].isspace() and ":" in line}


@pytest.mark.parametrize("server", ["use1-0", "euw1-2", "store-12", "store-14", "device-7"])
def test_dev_configs_match_golden_files(server: str) -> None:
    """A reviewer reads what changed here. Regenerate with UPDATE_GOLDEN=1 after a deliberate change."""
    _, _, rendered = render_stack("dev")
    golden = GOLDEN / f"dev-{server}.conf"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered[server].config)
    assert rendered[server].config == golden.read_text()


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_rendering_is_byte_identical_across_runs(stack: str) -> None:
    first = render_stack(stack)[2]
    second = render_stack(stack)[2]
    assert {n: (r.config, dict(r.secret_files)) for n, r in first.items()} == {
        n: (r.config, dict(r.secret_files)) for n, r in second.items()
    }


@pytest.mark.parametrize("stack", [*STACK_NAMES, *EXTREME_STACKS])
def test_every_rendered_config_passes_nats_server_t(stack: str, tmp_path: Path) -> None:
    _, _, rendered = render_stack(stack)
    assert rendered
    for name, server in rendered.items():
        result = nats_server_test(server, tmp_path / name)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_no_secret_in_any_config_only_in_secret_files(stack: str) -> None:
    _, auth, rendered = render_stack(stack)
    secrets = auth.secret_values()
    assert secrets
    for name, server in rendered.items():
        assert not SEED.search(server.config), f"{name} config holds an nkey seed"
        for secret in secrets:
            assert secret not in server.config, f"{name} config holds a secret"
    for login in auth.child_logins.values():
        assert any(login.password in t for r in rendered.values() for t in r.secret_files.values())


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_role_rules(stack: str) -> None:
    plan, _, rendered = render_stack(stack)
    for server in plan.servers:
        config = rendered[server.name].config
        keys = top_level_keys(config)
        assert f'server_name: "{server.name}"' in config
        assert "leafnodes" in keys or (server.role == "spoke" and server.upstream is None)
        if server.role == "hub":
            # operator mode: every connection, leaf links included, must prove a JWT chain
            assert 'include "trust.conf"' in config.splitlines()
            trust = top_level_keys(rendered[server.name].secret_files["/etc/nats/trust.conf"])
            assert trust == {"operator", "system_account", "resolver", "resolver_preload"}
            assert "jetstream" in keys
            assert "no_auth_user" not in keys
            assert ("cluster" in keys) == bool(server.peers)
            assert ("gateway" in keys) == bool(server.gateways)
            assert f'domain: "{plan.hub_domain}"' in config
        else:
            assert f'listen: "{LOOPBACK}:' in config.splitlines()[3]
            assert f'http: "{LOOPBACK}:' in config
            assert 'no_auth_user: "local"' in config
            assert f'domain: "{server.jetstream_domain}"' in config
            assert 'ping_interval: "3s"' in config
            assert "cluster" not in keys and "gateway" not in keys
            upstream = server.upstream or ""
            if plan.is_hub(upstream) and plan.hub(upstream).external_urls:
                assert all(u in config for u in plan.hub(upstream).external_urls), "an external hub's own urls"
            elif plan.is_hub(upstream):
                websocket = plan.spoke(server.name).leaf_transport == "websocket"
                url = "wss://{}.nats.internal:8443" if websocket else "nats-leaf://{}.nats.internal:7422"
                for node in plan.group_servers(upstream):
                    assert url.format(node) in config, "every hub node is a remote URL"
            if server.leaf_children:
                assert 'include "leaf-users.conf"' in config and "password" not in config
                users = rendered[server.name].secret_files["/etc/nats/leaf-users.conf"]
                assert users.count("password:") == len(server.leaf_children)
                assert users.count('"$2b$') == len(server.leaf_children)


def test_one_node_hub_renders_without_cluster_block() -> None:
    plan = plan_lattice(spec_from({"name": "acme", "hubs": [{"name": "solo", "platform": "kubernetes", "nodes": 1}]}))
    _, rendered = render_plan(plan)
    keys = top_level_keys(rendered["solo-0"].config)
    assert "cluster" not in keys and "gateway" not in keys and "jetstream" in keys


def test_adding_a_spoke_leaves_every_hub_config_byte_identical() -> None:
    spoke_a = {"name": "a", "upstream": "use1", "platform": "kubernetes"}
    spoke_b = {"name": "b", "upstream": "use1", "platform": "kubernetes"}
    base = {"name": "acme", "hubs": [{"name": "use1", "platform": "kubernetes"}], "spokes": [spoke_a]}
    more = {**base, "spokes": [spoke_a, spoke_b]}
    plan_a, plan_b = plan_lattice(spec_from(base)), plan_lattice(spec_from(more))
    _, before = render_plan(plan_a)
    _, after = render_plan(plan_b)
    for hub_server in plan_a.hub("use1").servers:
        assert before[hub_server].config == after[hub_server].config
    assert before["a"].config == after["a"].config


def test_spokes_that_lose_one_hub_node_redial_it_spread_out_not_at_once() -> None:
    """nats-server redials a lost leaf after exactly ``reconnect_delay`` (no jitter on that
    path), so the jitter is in the rendering: each spoke's delay is its own, from its name."""
    low, high = LEAF_RECONNECT_DELAY_MS
    delays = [int(leaf_reconnect_delay(f"store-{i}").removesuffix("ms")) for i in range(1000)]
    assert all(low <= d < high for d in delays)
    assert len(set(delays)) > (high - low) * 0.9, "nearly every millisecond of the range is used"
    quarter = (high - low) // 4
    buckets = [sum(low + q * quarter <= d < low + (q + 1) * quarter for d in delays) for q in range(4)]
    assert min(buckets) > 200, f"spread evenly over the range: {buckets}"
    assert leaf_reconnect_delay("store-12") == leaf_reconnect_delay("store-12")
    spec = load_stack("dev")
    _, _, rendered = render_stack("dev")
    for spoke in spec.spokes:
        assert f'reconnect_delay: "{leaf_reconnect_delay(spoke.name)}"' in rendered[spoke.name].config


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_leaf_link_compresses_at_the_fast_level_on_both_ends(stack: str) -> None:
    """s2_auto would pick s2_best past 100 ms RTT: its encoder per leaf is what made a hub
    hold 1.7 MiB per leaf in the fleet bench (0.55 MiB at s2_fast)."""
    plan, _, rendered = render_stack(stack)
    for server in plan.servers:
        config = rendered[server.name].config
        listens = server.role == "hub" or bool(server.leaf_children)
        expected = int(listens) + int(server.upstream is not None)
        assert config.count('compression: "s2_fast"') == expected, server.name


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_configs_do_not_depend_on_key_material(stack: str) -> None:
    """Keys live in files beside the config, so new keys (a rotation, a revocation) change
    no config: on a cloud node the config never changes for them, only its secret."""
    plan = plan_lattice(load_stack(stack))
    _, one = render_plan(plan, salt="one")
    _, two = render_plan(plan, salt="two")
    assert {n: r.config for n, r in one.items()} == {n: r.config for n, r in two.items()}
    changed = [n for n in one if one[n].secret_files != two[n].secret_files]
    external = {h.name for h in plan.hubs if h.external_urls}  # their spokes' .creds are given, not ours

    def ours(s: ServerPlan) -> bool:
        return s.role == "hub" or bool(s.leaf_children) or (s.upstream is not None and s.upstream not in external)

    assert changed == [s.name for s in plan.servers if ours(s)]


def test_a_config_renders_without_any_credentials() -> None:
    plan = plan_lattice(load_stack("staging"))
    config = render_server_config(plan, "use1-0", symbolic_addressing(plan), ServerFiles())
    assert "operator" not in top_level_keys(config)
