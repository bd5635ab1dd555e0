"""The reload classifier on rendered configs: parsing, diffing by key path, the rules.

Whether nats-server really agrees is `tests/live/test_reload_live.py`; here the pure cases.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lattice import natsconf
from lattice.natsconf import CONFIG_FILE, format_conf
from lattice.reload import Action, ConfError, classify, parse_server, restart_fingerprint, rule_for
from tests.support.changes import readme_table, symbolic_outcomes
from tests.support.helpers import ROOT, STACK_NAMES, render_stack


def server_files(stack: str, server: str) -> dict[str, str]:
    rendered = render_stack(stack)[2][server]
    return {CONFIG_FILE: rendered.config, **rendered.secret_files}


def edit(files: Mapping[str, str], name: str, old: str, new: str) -> dict[str, str]:
    out = dict(files)
    key = next(k for k in out if k.rsplit("/", 1)[-1] == name)
    assert old in out[key], f"{old!r} not in {name}"
    out[key] = out[key].replace(old, new)
    return out


def test_config_file_name_is_the_renderers() -> None:
    from lattice import reload

    assert reload.CONFIG_FILE == natsconf.CONFIG_FILE


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_rendered_server_parses_with_its_includes(stack: str) -> None:
    for name, rendered in render_stack(stack)[2].items():
        files = {CONFIG_FILE: rendered.config, **rendered.secret_files}
        tree, sources = parse_server(files)
        assert tree["server_name"] == name
        assert classify(files, files).action is Action.NONE
        included = set(sources.values()) - {CONFIG_FILE}
        if "operator" in tree:
            assert sources[("operator",)] == "trust.conf"
        assert included <= {"trust.conf", "leaf-users.conf", "upstream-auth.conf"}


def test_the_parser_reads_what_the_formatter_writes() -> None:
    blocks = {"a": 1, "b": {"c": [1, 2], "d": [{"e": "x y", "f": True}]}, "g": 'quote"d', "h": False}
    tree, _ = parse_server({CONFIG_FILE: format_conf(blocks, "a header\nover two lines")})
    assert tree == blocks


def test_an_include_missing_from_the_files_is_a_clear_error() -> None:
    with pytest.raises(ConfError, match=r"trust\.conf: included but not among the server's files"):
        parse_server({CONFIG_FILE: 'include "trust.conf"\n'})


def test_a_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ConfError, match=r"nats-server\.conf:3: expected a value, found '}'"):
        parse_server({CONFIG_FILE: "a: 1\nb: {\n  c: }\n"})


def test_route_change_reloads_but_gateway_change_restarts() -> None:
    hub = server_files("dev", "use1-0")
    routes = edit(hub, CONFIG_FILE, "use1-2.nats.internal:6222", "use1-9.nats.internal:6222")
    change = classify(hub, routes)
    assert change.action is Action.RELOAD
    assert change.reasons[0].startswith("cluster.routes: reloadable")
    gateways = edit(hub, CONFIG_FILE, "euw1-2.nats.internal:7222", "euw1-9.nats.internal:7222")
    change = classify(hub, gateways)
    assert change.action is Action.RESTART
    assert change.reasons[0].startswith("gateway.gateways.urls: needs restart")


def test_route_order_does_not_matter() -> None:
    hub = server_files("dev", "use1-0")
    a, b = '"nats-route://use1-1.nats.internal:6222"', '"nats-route://use1-2.nats.internal:6222"'
    swapped = edit(hub, CONFIG_FILE, f"{a}, {b}", f"{b}, {a}")
    assert classify(hub, swapped).action is Action.NONE


def test_a_changed_certificate_reloads_everywhere_it_is_named() -> None:
    hub = server_files("dev", "use1-0")
    rotated = {**hub, next(k for k in hub if k.endswith("server-cert.pem")): "another certificate"}
    change = classify(hub, rotated)
    assert change.action is Action.RELOAD
    assert {r.split(" ")[0] for r in change.reasons} == {
        "tls.cert_file",
        "cluster.tls.cert_file",
        "gateway.tls.cert_file",
        "leafnodes.tls.cert_file",
    }
    assert all("(server-cert.pem changed)" in r for r in change.reasons)


def test_trust_changes_name_the_included_file() -> None:
    hub = server_files("dev", "use1-0")
    trust = next(k for k in hub if k.endswith("trust.conf"))
    tree, _ = parse_server(hub)
    account, jwt = next(iter(tree["resolver_preload"].items()))
    revoked = {**hub, trust: hub[trust].replace(jwt, jwt + "x")}
    change = classify(hub, revoked)
    assert change.action is Action.RELOAD
    assert change.reasons[0].startswith(f"resolver_preload.{account} (trust.conf): reloadable")
    operator = {**hub, trust: hub[trust].replace(tree["operator"], tree["operator"] + "x")}
    assert classify(hub, operator).action is Action.RESTART


def test_a_new_child_of_a_mid_tier_spoke_restarts_it() -> None:
    """nats-server compares leaf authorization users and refuses any change (found here:
    ``config reload not supported for LeafNode: field "Users"``)."""
    mid = server_files("dev", "store-12")
    users = next(k for k in mid if k.endswith("leaf-users.conf"))
    more = {**mid, users: mid[users].replace("users: [", 'users: [\n  {\n    user: "x"\n    password: "y"\n  }')}
    change = classify(mid, more)
    assert change.action is Action.RESTART
    assert change.reasons[0].startswith("leafnodes.authorization.users (leaf-users.conf) added: needs restart")


def test_a_remote_with_new_urls_is_removed_and_added() -> None:
    device = server_files("dev", "device-7")
    auth = next(k for k in device if k.endswith("upstream-auth.conf"))
    moved = {**device, auth: device[auth].replace("store-12.nats.internal", "store-12b.nats.internal")}
    change = classify(device, moved)
    assert change.action is Action.RELOAD
    assert [r.split(":")[0] for r in change.reasons] == [
        "leafnodes.remotes removed",
        "leafnodes.remotes added",
    ]


def test_a_remote_field_other_than_tls_restarts() -> None:
    spoke = server_files("dev", "store-14")
    slower = edit(spoke, CONFIG_FILE, "timeout: 5", "timeout: 9")
    assert classify(spoke, slower).action is Action.RESTART
    assert classify(spoke, edit(spoke, CONFIG_FILE, "ping_max: 2", "ping_max: 3")).action is Action.RELOAD


def test_jetstream_limits_only_rise_on_reload() -> None:
    base = format_conf({"server_name": "a", "jetstream": {"domain": "d", "max_file_store": 100}})
    up = base.replace("100", "200")
    assert classify({CONFIG_FILE: base}, {CONFIG_FILE: up}).action is Action.RELOAD
    assert classify({CONFIG_FILE: up}, {CONFIG_FILE: base}).action is Action.RESTART


def test_unknown_keys_restart() -> None:
    assert rule_for(("max_payload",)).action is Action.RESTART
    assert rule_for(("cluster", "name")).action is Action.RELOAD
    assert rule_for(("leafnodes", "remotes")).action is Action.RELOAD
    assert rule_for(("leafnodes", "remotes", "tls", "timeout")).action is Action.RESTART
    creds = rule_for(("leafnodes", "remotes", "credentials"), file_change=True)
    assert creds.action is Action.RESTART
    assert creds.inert
    assert rule_for(("websocket", "tls", "cert_file"), file_change=True).action is Action.RELOAD
    assert rule_for(("websocket", "listen")).action is Action.RESTART


@pytest.mark.parametrize("server", ["use1-0", "store-12", "device-7"])
def test_the_fingerprint_moves_with_restart_class_changes_only(server: str) -> None:
    files = server_files("dev", server)
    renamed = edit(files, CONFIG_FILE, f'server_name: "{server}"', 'server_name: "other"')
    assert restart_fingerprint(renamed) != restart_fingerprint(files)
    pings = edit(files, CONFIG_FILE, 'listen: "', 'listen: "1')  # a listener moves: restart
    assert restart_fingerprint(pings) != restart_fingerprint(files)
    for name in files:
        if name.endswith(".pem"):  # certificates are re-read on reload
            assert restart_fingerprint({**files, name: "new"}) == restart_fingerprint(files)
        if name.endswith(".creds"):  # read only when the link connects
            assert restart_fingerprint({**files, name: "new"}) != restart_fingerprint(files)


def test_the_readme_table_is_what_the_classifier_computes() -> None:
    """README "What a change touches": regenerate the block from tests/support/changes.py."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- change-table: generated by tests/support/changes.py -->\n")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /change-table -->")]
    assert block == readme_table()


def test_every_change_kind_touches_what_it_should() -> None:
    """The table's claims, one by one, so a regression names itself."""
    found = symbolic_outcomes()

    def action(kind: str, server: str) -> str:
        outcome = found[kind][server]
        return outcome if isinstance(outcome, str) else outcome.action.value

    assert {action("add a spoke", s) for s in found["add a spoke"]} == {"none", "starts"}
    assert action("add a spoke under a mid-tier spoke", "store-12") == "restart"
    assert action("retire a spoke", "use1-0") == "reload" and action("retire a spoke", "store-14") == "stops"
    assert action("rotate a spoke's key", "use1-0") == "reload"
    assert action("rotate a spoke's key", "store-14") == "restart"
    assert action("change `leafPermissions`", "use1-0") == "none"
    assert action("add a hub region", "euw1-2") == "restart" and action("add a hub region", "apse1-0") == "starts"
    assert action("turn on `tls.handshakeFirst`", "use1-0") == "reload"
    stream = "add a hub stream a spoke publishes into"  # its new .creds; the hubs' configs stay
    assert {s for s in found[stream] if action(stream, s) != "none"} == {"store-14"}
    assert action(stream, "store-14") == "restart"
    revision = "raise `leafPermissions.revision`"  # every leaf signed anew; the hubs name the new signer
    assert {s for s in found[revision] if action(revision, s) == "restart"} == {"store-12", "store-14", "factory-3"}
    assert action(revision, "use1-0") == action(revision, "euw1-2") == "reload"
    assert action(revision, "device-7") == "none", "a spoke of a spoke logs in with its password"
