"""The hub streams in the pure core: what the agent keeps, what each site's link is granted for
it (from the same names), the agent's own permissions, the limits, and the agent program's
own pieces (it ships alone to the nodes, on Python 3.9)."""

from __future__ import annotations

import ast
import itertools
import json
from pathlib import Path

import pytest

from lattice import jetstream_sync
from lattice.jetstream import agent_config, agent_permissions, assets, site_grants, site_quota
from lattice.limits import FILE_SHARE, MEMORY_SHARE, account_limits
from lattice.permissions import leaf_permissions
from lattice.plan import JETSTREAM_FILE_SHARE, JETSTREAM_MEMORY_SHARE, plan_lattice
from lattice.spec import SPOKE_TOKEN
from lattice.subjects import as_stream_subject, for_site, overlap
from tests.support.helpers import ROOT, STACK_NAMES, load_stack, spec_from

GIB = 2**30


def test_the_dev_stacks_assets_come_in_the_order_they_must_exist() -> None:
    plan = plan_lattice(load_stack("dev"))
    found = assets(plan)
    kinds = [
        "hub" if a["api"] == "$JS.API" and "consumer" not in a else "consumer" if "consumer" in a else "site"
        for a in found
    ]
    assert kinds == sorted(kinds, key=["hub", "consumer", "site"].index), "hub streams, consumers, then sites"
    hub = {a["stream"]: a["config"] for a in found if kinds[found.index(a)] == "hub"}
    assert hub["EDGE-SALES"]["placement"] == {"cluster": "use1"}, "a super-cluster says where it lives"
    assert [s["external"] for s in hub["EDGE-SALES"]["sources"]] == [
        {"api": f"$JS.{d}.API", "deliver": f"$JS.S.{d}"} for d in ("store-12", "store-14", "factory-3", "device-7")
    ]
    consumers = [a for a in found if "consumer" in a]
    assert [c["consumer"] for c in consumers] == ["site-store-12", "site-store-14", "site-factory-3", "site-device-7"]
    assert all(
        c["config"]["ack_policy"] == "flow_control" and c["config"]["idle_heartbeat"] == 10**9 for c in consumers
    )
    sites = [a for a in found if "site" in a]
    sales = next(a for a in sites if a["site"] == "device-7" and a["stream"] == "SALES")
    assert sales["api"] == "$JS.device-7.API" and sales["config"]["subjects"] == ["sales.device-7.>"]
    mirror = next(a for a in sites if a["site"] == "factory-3" and a["stream"] == "CONFIG")
    assert mirror["config"]["mirror"]["consumer"] == {
        "name": "site-factory-3",
        "deliver_subject": "$JS.M.factory-3.CONFIG",
    }
    assert mirror["config"]["mirror"]["external"] == {"api": "$JS.hub.API"}


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_recipe_finds_the_subjects_it_sends_granted(stack: str) -> None:
    """The grants and the assets come from the same names: each mirror's reset and flow
    control up and its deliveries down, each source's deliveries up under its site's prefix,
    each publisher's own subjects up: in the allow-lists of the link that carries that site
    (its own, or its mid-tier ancestor's), and nothing of the hubs' API besides."""
    plan = plan_lattice(load_stack(stack))
    for asset in assets(plan):
        site = asset.get("site")
        if site is None:
            continue
        allow = leaf_permissions(plan, plan.site_link(site))
        mirror = asset["config"].get("mirror")
        if mirror:
            consumer = mirror["consumer"]["name"]
            assert f"$JS.{plan.hub_domain}.API.CONSUMER.RESET.{mirror['name']}.{consumer}" in allow.publish
            assert f"$JS.FC.{mirror['name']}.{consumer}.*" in allow.publish
            assert mirror["consumer"]["deliver_subject"] in allow.subscribe
        else:
            assert f"$JS.S.{plan.spoke(site).jetstream_domain}.>" in allow.publish
            assert f"$JS.FC.{asset['stream']}.>" in allow.subscribe
    for spoke in plan.spokes:
        if plan.dials_external_hub(spoke.name) or not spoke.upstream_is_hub:
            continue
        up = leaf_permissions(plan, spoke.name).publish
        hub_api = [s for s in up if s.startswith(f"$JS.{plan.hub_domain}.API")]
        assert all(".CONSUMER.RESET." in s and s.rsplit(".", 1)[1].startswith("site-") for s in hub_api), hub_api


def test_a_site_of_no_hub_stream_gets_no_replication_grant() -> None:
    plan = plan_lattice(load_stack("staging"))
    assert not plan.hub_streams
    for spoke in plan.spokes:
        grants = site_grants(plan, spoke.name)
        assert grants.up == grants.down == frozenset()
    allow = leaf_permissions(plan, plan.spokes[0].name)
    assert not any(s.startswith(("$JS.S", "$JS.M", "$JS.FC", "$JSC", "$JS.hub")) for s in allow.publish)


def test_the_agent_may_keep_the_declared_streams_and_never_delete_one() -> None:
    plan = plan_lattice(load_stack("dev"))
    allowed = agent_permissions(plan)
    publish, subscribe = allowed.publish, allowed.subscribe
    assert subscribe == ("_INBOX.jetstream-sync.>",)
    assert allowed.deny_publish == ("$JS.hub.API.>",), "a site stream's name never makes a hub stream"
    assert not any(".STREAM.DELETE." in s or ".STREAM.PURGE." in s or ".MSG.DELETE." in s for s in publish)
    assert "$JS.API.STREAM.CREATE.EDGE-SALES" in publish and "$JS.*.API.STREAM.CREATE.SALES" in publish
    assert "$JS.API.CONSUMER.DELETE.CONFIG.*" in publish, "a retired site's consumer"
    assert not any(s.endswith(".>") or s in ("$JS.API.INFO",) for s in publish)


def test_the_agents_settings_are_deterministic_and_small() -> None:
    plan = plan_lattice(load_stack("dev"))
    one = agent_config(plan, ["tls://10.0.0.1:4222"], "ca.pem")
    assert one == agent_config(plan, ["tls://10.0.0.1:4222"], "ca.pem")
    document = json.loads(one)
    assert jetstream_sync.expand(document) == assets(plan), "the agent makes the same assets"
    assert len(one) < 1200, "a site costs its name and domain"


def test_a_sites_quota_is_its_hub_streams_times_their_replicas() -> None:
    plan = plan_lattice(load_stack("dev"))
    assert site_quota(plan, "store-12") == 3 * GIB, "EDGE-SALES; mirrors store nothing at the hubs"
    edge = plan_lattice(load_stack("edge-k8s"))
    assert site_quota(edge, "site-a") == 3 * (2 * GIB + 256 * 2**20), "TELEMETRY and ORDERS"
    assert site_quota(edge, "cell-7") == 3 * 2 * GIB, "a source, no publisher"


def test_the_accounts_storage_follows_the_hubs_volumes_shared_among_the_lattices() -> None:
    two = spec_from(
        {
            "name": "acme",
            "lattices": ["globex"],
            "hubs": [
                {"name": "use1", "platform": "aws", "region": "us-east-1", "nodes": 3, "aws": {"dataVolumeGib": 40}},
                {
                    "name": "eu",
                    "platform": "kubernetes",
                    "nodes": 5,
                    "kubernetes": {"storageGib": 10, "memory": "2Gi"},
                },
            ],
        }
    )
    limits = account_limits(two)
    assert limits.file_bytes == (int(3 * 40 * GIB * 0.75) + int(5 * 10 * GIB * 0.9)) // 2
    assert limits.memory_bytes == (3 * 512 * 2**20 + 5 * 2**30) // 2
    assert (FILE_SHARE, MEMORY_SHARE) == (JETSTREAM_FILE_SHARE, JETSTREAM_MEMORY_SHARE)
    external = spec_from({"name": "acme", "hubs": [{"name": "ngs", "platform": "external", "urls": ["tls://x:7422"]}]})
    assert (account_limits(external).file_bytes, account_limits(external).memory_bytes) == (None, None), (
        "an external hub's capacity is not ours to bound (the sandbox's stand-in runs unlimited)"
    )
    set_ = spec_from(
        {"name": "acme", "hubs": [{"name": "h", "platform": "kubernetes"}], "limits": {"hubFileStorageGib": 7}}
    )
    assert account_limits(set_).file_bytes == 7 * GIB


SUBJECTS = ["a", "a.b", "a.*", "a.>", "*.b", ">", "a.b.c", "a.*.c", "b.>", "*"]


def _literal_matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def test_subjects_overlap_exactly_when_some_literal_subject_matches_both() -> None:
    literals = [".".join(t) for n in (1, 2, 3, 4) for t in itertools.product("abcx", repeat=n)]
    for a, b in itertools.product(SUBJECTS, repeat=2):
        expected = any(_literal_matches(a, s) and _literal_matches(b, s) for s in literals)
        assert overlap(a, b) == expected, (a, b)


def test_a_site_token_becomes_the_sites_name_or_every_site() -> None:
    assert for_site(f"sales.{SPOKE_TOKEN}.>", "store-12") == "sales.store-12.>"
    assert as_stream_subject(f"sales.{SPOKE_TOKEN}.>") == "sales.*.>"
    assert jetstream_sync.SPOKE == SPOKE_TOKEN


def test_the_agent_holds_a_server_config_to_what_it_declared() -> None:
    wanted = {"name": "S", "max_bytes": 5, "sources": [{"name": "A", "external": {"api": "$JS.x.API"}}]}
    found = {
        **wanted,
        "max_bytes": 5,
        "num_replicas": 3,
        "sources": [{"name": "A", "external": {"api": "$JS.x.API", "deliver": ""}}],
    }
    assert jetstream_sync.matches(wanted, found), "the server's defaults beside what was declared"
    assert not jetstream_sync.matches({**wanted, "max_bytes": 6}, found)
    assert not jetstream_sync.matches({**wanted, "sources": []}, found)


NODE_PROGRAMS = ["lattice/jetstream_sync.py", "lattice/node/nats_sync.py", "lattice/reload.py"]


@pytest.mark.parametrize("program", NODE_PROGRAMS)
def test_a_node_program_runs_on_python_3_9(program: str) -> None:
    """Amazon Linux 2023 ships Python 3.9: its grammar (no ``match``, no parenthesised
    context managers), no ``zip(strict=)``, no import from the rest of the package."""
    source = (ROOT / program).read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip":
            assert not any(k.arg == "strict" for k in node.keywords), f"{program}:{node.lineno}: zip(strict=)"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert not (module or "").startswith(("lattice", "sandbox", "components")), f"{program}: imports {module}"
    assert Path(ROOT / program).stat().st_size > 0
