"""The plan: servers, routes, gateways and upstream order derived from the spec."""

from __future__ import annotations

from lattice.plan import plan_lattice
from tests.support.helpers import load_stack, spec_from


def test_dev_plan_servers_and_links() -> None:
    plan = plan_lattice(load_stack("dev"))
    names = [s.name for s in plan.servers]
    assert names[:6] == ["use1-0", "use1-1", "use1-2", "euw1-0", "euw1-1", "euw1-2"]
    use1 = plan.server("use1-0")
    assert use1.peers == ("use1-1", "use1-2")
    assert use1.gateways == ("euw1",)
    assert use1.leaf_children == ("store-12", "store-14")
    assert plan.spoke("device-7").tier == 2
    assert plan.spoke("store-12").children == ("device-7",)
    assert plan.spoke("store-12").is_mid_tier
    assert {s.name: plan.site_link(s.name) for s in plan.spokes} == {
        "store-12": "store-12",
        "store-14": "store-14",
        "factory-3": "factory-3",
        "device-7": "store-12",
    }


def test_spokes_come_after_their_upstream_whatever_the_spec_order() -> None:
    plan = plan_lattice(
        spec_from(
            {
                "name": "acme",
                "hubs": [{"name": "use1", "platform": "kubernetes"}],
                "spokes": [
                    {"name": "device", "upstream": "site", "platform": "kubernetes"},
                    {"name": "site", "upstream": "region", "platform": "kubernetes"},
                    {"name": "region", "upstream": "use1", "platform": "kubernetes"},
                ],
            }
        )
    )
    assert [s.name for s in plan.spokes] == ["region", "site", "device"]
    assert [s.tier for s in plan.spokes] == [1, 2, 3]
    assert [plan.site_link(s.name) for s in plan.spokes] == ["region", "region", "region"]


def test_one_node_hub_has_no_peers_and_single_hub_no_gateways() -> None:
    plan = plan_lattice(spec_from({"name": "acme", "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}]}))
    (server,) = plan.servers
    assert server.peers == ()
    assert server.gateways == ()
