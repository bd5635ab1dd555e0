"""The reload classifier against a real nats-server: for every server a change kind
touches (and a few direct edits that cover the remaining rules), start the server with the
old files, write the new ones, send SIGHUP, and read the server's verdict from its log.

The classifier must say RELOAD exactly when the server accepts the reload, and RESTART
when it refuses it (``Failed to reload server configuration``) or when every restart rule
that fired is one nats-server accepts without acting on it (``Rule.inert``: a changed
``.creds``); the last is shown on a live leaf link, which keeps its connection.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from lattice.addressing import LOOPBACK, Addressing, Ports, ServerAddress, certificate_hosts, direct_addressing
from lattice.natsconf import CONFIG_FILE
from lattice.plan import LatticePlan, plan_lattice
from lattice.reload import Action, classify, decide
from lattice.stack import CONFIG_KEY
from sandbox import binaries
from sandbox.ports import free_ports
from sandbox.tls import PrivateCA
from tests.support.changes import CHANGE_KINDS, ServerFilesText, base_raw, server_files, variant
from tests.support.helpers import _CA, ROOT, spec_from

pytestmark = pytest.mark.live

RELOADED = "Reloaded server configuration"
REFUSED = "Failed to reload server configuration"


class Loopback:
    """Loopback addresses that stay put across renderings: one set of ports per server name."""

    def __init__(self) -> None:
        self.ports: dict[str, Ports] = {}

    def __call__(self, plan: LatticePlan) -> Addressing:
        per = len(fields(Ports))
        for server in plan.servers:
            if server.name not in self.ports:
                taken = {p for ports in self.ports.values() for p in vars(ports).values()}
                self.ports[server.name] = Ports(*free_ports(per, exclude=taken))
        return direct_addressing(
            plan,
            {
                s.name: ServerAddress(dial_host=LOOPBACK, bind_host=LOOPBACK, ports=self.ports[s.name])
                for s in plan.servers
            },
        )

    def monitor(self, server: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[server].monitor}"


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    directory: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _localize(text: str, directory: Path) -> str:
    """The renderer's machine paths, moved under ``directory``."""
    return text.replace("/etc/nats/", f"{directory}/").replace("/var/lib/nats/jetstream", f"{directory}/js")


def write_files(directory: Path, files: Mapping[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, text in files.items():
        path = directory / name
        path.write_text(_localize(text, directory))
        path.chmod(0o600)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback monitor
        return json.load(response)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Servers:
    """nats-server processes of one test, each stopped on every exit path."""

    def __init__(self, root: Path, addressing: Loopback) -> None:
        self.root = root
        self.addressing = addressing
        self.running: dict[str, Running] = {}

    def start(self, name: str, files: Mapping[str, str], tag: str = "") -> Running:
        directory = self.root / f"{name}{tag}"
        write_files(directory, files)
        log = directory / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binaries.nats_server(), "-c", str(directory / CONFIG_FILE)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        running = Running(proc, directory, log)
        self.running[name] = running
        wait_for(lambda: get_json(f"{self.addressing.monitor(name)}/varz"), 15, f"{name}'s monitor")
        return running

    def stop(self, name: str) -> None:
        running = self.running.pop(name, None)
        if running is None or running.proc.poll() is not None:
            return
        running.proc.terminate()
        try:
            running.proc.wait(10)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    group = Servers(tmp_path, Loopback())
    try:
        yield group
    finally:
        group.stop_all()


def reload_verdict(running: Running, files: Mapping[str, str]) -> tuple[bool, str]:
    """Write ``files`` over the running server's and SIGHUP it: (accepted, its log line)."""
    before = len(running.log_text())
    write_files(running.directory, files)
    running.proc.send_signal(signal.SIGHUP)

    def said() -> bool:
        tail = running.log_text()[before:]
        return RELOADED in tail or REFUSED in tail

    wait_for(said, 10, "the server's reload verdict")
    tail = running.log_text()[before:]
    line = next(ln for ln in tail.splitlines() if RELOADED in ln or REFUSED in ln)
    return RELOADED in line, line


@dataclass(frozen=True)
class Case:
    name: str
    server: str
    before: ServerFilesText
    after: ServerFilesText


def _edit(files: ServerFilesText, name: str, old: str, new: str) -> ServerFilesText:
    assert old in files[name], f"{old!r} not in {name}"
    return {**files, name: files[name].replace(old, new)}


def cases(addressing: Loopback) -> list[Case]:
    """One server per distinct outcome of each change kind, and direct edits for the rules
    no change kind reaches (a listener, a domain, JetStream limits, a certificate)."""
    base = server_files(base_raw(), addressing)
    out: list[Case] = []
    for kind in CHANGE_KINDS:
        after = server_files(variant(kind), addressing)
        seen: set[tuple[str, ...]] = set()
        for server in base:
            if server not in after:
                continue
            change = classify(base[server], after[server])
            shape = tuple(sorted(r.split(":")[0] for r in change.reasons))
            if change.action is Action.NONE or shape in seen:
                continue
            seen.add(shape)
            out.append(Case(kind.name, server, base[server], after[server]))
    hub, spoke = base["use1-0"], base["store-14"]
    route = f"{LOOPBACK}:{addressing.ports['use1-2'].cluster}"
    out += [
        Case("a route moves", "use1-0", hub, _edit(hub, CONFIG_FILE, route, f"{LOOPBACK}:{free_ports(1)[0]}")),
        Case("a hub's JetStream domain", "use1-0", hub, _edit(hub, CONFIG_FILE, 'domain: "hub"', 'domain: "hub2"')),
        Case("a server's name", "store-14", spoke, _edit(spoke, CONFIG_FILE, '"store-14"', '"store-14b"')),
        Case("a spoke's ping_max", "store-14", spoke, _edit(spoke, CONFIG_FILE, "ping_max: 2", "ping_max: 3")),
        Case("a remote's TLS timeout", "store-14", spoke, _edit(spoke, CONFIG_FILE, "timeout: 5", "timeout: 7")),
        Case("a JetStream limit raised", "store-14", *_with_limit(spoke, 1 << 30, 2 << 30)),
        Case("a JetStream limit lowered", "store-14", *_with_limit(spoke, 2 << 30, 1 << 30)),
        Case("a JetStream limit set", "store-14", *_with_limit(spoke, 0, 1 << 30)),
        Case("a rotated server certificate", "use1-0", hub, _reissued(hub, addressing, base_raw(), "use1-0")),
    ]
    # a WebSocket listener (the edge-k8s stack's hub; it presents the hub's own certificate)
    edge_raw = _stack_raw("edge-k8s")
    edge = server_files(edge_raw, addressing)["cloud-0"]
    assert "websocket: {" in edge[CONFIG_FILE]
    websocket = f"{LOOPBACK}:{addressing.ports['cloud-0'].websocket}"
    out += [
        Case(
            "a WebSocket listener moves",
            "cloud-0",
            edge,
            _edit(edge, CONFIG_FILE, websocket, f"{LOOPBACK}:{free_ports(1)[0]}"),
        ),
        Case(
            "a WebSocket hub's certificate renewed", "cloud-0", edge, _reissued(edge, addressing, edge_raw, "cloud-0")
        ),
    ]
    return out


def _stack_raw(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return dict(doc["config"][CONFIG_KEY])


def _with_limit(files: ServerFilesText, before: int, after: int) -> tuple[ServerFilesText, ServerFilesText]:
    anchor = 'store_dir: "/var/lib/nats/jetstream"'
    first = _edit(files, CONFIG_FILE, anchor, f"{anchor}\n  max_file_store: {before}") if before else files
    return first, _edit(files, CONFIG_FILE, anchor, f"{anchor}\n  max_file_store: {after}")


def _reissued(files: ServerFilesText, addressing: Loopback, raw: dict[str, Any], server: str) -> ServerFilesText:
    """The server's key pair re-issued by the same CA for the same names (a rotation)."""
    plan = plan_lattice(spec_from(raw))
    hosts = certificate_hosts(plan, server, addressing(plan))
    fresh = PrivateCA.issue(_CA, server, hosts)  # past the test CA's cache: a new key
    assert fresh.cert_pem != files["server-cert.pem"]
    return {**files, "server-cert.pem": fresh.cert_pem, "server-key.pem": fresh.key_pem}


def test_the_classifier_says_what_nats_server_does_on_sighup(servers: Servers) -> None:
    table = cases(servers.addressing)
    assert {c.name for c in table} >= {k.name for k in CHANGE_KINDS} - {"add a spoke"}  # adding one touches none
    results = []
    for index, case in enumerate(table):
        running = servers.start(case.server, case.before, tag=f"-{index}")
        try:
            accepted, line = reload_verdict(running, case.after)
            decisions = decide(case.before, case.after)
            predicted = classify(case.before, case.after).action
            inert = [d for d in decisions if d.action is Action.RESTART and d.rule.inert]
            refused = [d for d in decisions if d.action is Action.RESTART and not d.rule.inert]
            results.append((case.name, case.server, predicted.value, "accepted" if accepted else "refused"))
            if refused:
                assert not accepted, f"{case.name} on {case.server}: classified restart, but the server reloaded"
            elif inert:
                assert accepted and predicted is Action.RESTART
            else:
                assert accepted, f"{case.name} on {case.server}: classified {predicted.value}; server: {line}"
                assert predicted is Action.RELOAD
        finally:
            servers.stop(case.server)
    print("\n".join(" | ".join(r) for r in results))


def test_a_reload_is_in_effect(servers: Servers) -> None:
    """Routes and ping settings move on SIGHUP (the server's /varz), a certificate is re-read."""
    base = server_files(base_raw(), servers.addressing)
    hub = servers.start("use1-0", base["use1-0"])
    monitor = servers.addressing.monitor("use1-0")
    old_route = f"{LOOPBACK}:{servers.addressing.ports['use1-2'].cluster}"
    new_route = f"{LOOPBACK}:{free_ports(1)[0]}"
    assert old_route in get_json(f"{monitor}/varz")["cluster"]["urls"]
    accepted, _ = reload_verdict(hub, _edit(base["use1-0"], CONFIG_FILE, old_route, new_route))
    assert accepted
    urls = get_json(f"{monitor}/varz")["cluster"]["urls"]
    assert new_route in urls and old_route not in urls

    spoke = servers.start("store-14", base["store-14"])
    accepted, _ = reload_verdict(spoke, _edit(base["store-14"], CONFIG_FILE, "ping_max: 2", "ping_max: 3"))
    assert accepted
    assert get_json(f"{servers.addressing.monitor('store-14')}/varz")["ping_max"] == 3


def test_changed_creds_are_accepted_but_the_running_link_keeps_its_old_jwt(servers: Servers) -> None:
    """Why ``.creds`` are restart-class: a reload takes them, the link does not redial."""
    raw = {
        "name": "acme",
        "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}],
        "spokes": [{"name": "site", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False}],
    }
    before = server_files(raw, servers.addressing)
    widened = {**raw, "leafPermissions": {"subjects": ["billing.>"]}}
    after = server_files(widened, servers.addressing)
    assert before["use1-0"] == after["use1-0"]  # the hub does not change
    change = classify(before["site"], after["site"])
    assert change.action is Action.RESTART
    assert all(d.rule.inert for d in decide(before["site"], after["site"]))

    servers.start("use1-0", before["use1-0"])
    site = servers.start("site", before["site"])
    hub_monitor = servers.addressing.monitor("use1-0")

    def link() -> dict[str, Any] | None:
        leafs = get_json(f"{hub_monitor}/leafz")["leafs"]
        return leafs[0] if leafs else None

    wait_for(lambda: link() is not None, 15, "the leaf link")
    first = link()
    assert first is not None
    accepted, _ = reload_verdict(site, after["site"])
    assert accepted
    time.sleep(1.5)  # the remote would redial within its 1 s reconnect delay if it meant to
    same = link()
    # the spoke's source port: a redial would take another
    assert same is not None and same["port"] == first["port"], "the link redialed on reload"
    os.kill(site.proc.pid, 0)  # still the same process
