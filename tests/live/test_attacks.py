"""The attack suite: every attack on a running lattice is refused, and the server says so.

Real servers on loopback (and a network namespace for the last one). Each test makes the
attack, then shows the refusal as the target server reports it: its log line, the
protocol error it sent, or its own monitoring view, not merely a client's exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from lattice.addressing import CertificateHosts, Ports, ServerAddress
from lattice.credentials import decode_jwt_claims, format_creds, leaf_user_creds, nkey_from_entropy, user_jwt
from lattice.natsconf import ServerFiles, render_server
from lattice.plan import plan_lattice
from sandbox import binaries, isolation
from sandbox.checks import connect_hub, connect_spoke, quiet_errors
from sandbox.monitor import get_json, leaf_peers
from sandbox.ports import free_ports
from sandbox.processes import Supervisor
from sandbox.topology import LocalLattice
from tests.live.attackers import (
    RawLeaf,
    foreign_certificate,
    log_size,
    plaintext_probe,
    present_certificate,
    rogue_server,
    tamper_jwt,
    tls_files,
    wait_for_line,
)
from tests.support.helpers import plan_entropy, spec_from

pytestmark = pytest.mark.live

HUB = "use1-0"


def _hub_log(lattice: LocalLattice, server: str = HUB) -> Path:
    return lattice.supervisor.log_path(server)


def _leaf_names(lattice: LocalLattice, hub: str = "use1") -> set[str]:
    return {leaf["name"] for s in lattice.plan.hub(hub).servers for leaf in leaf_peers(lattice.monitor_url(s))}


# --- TLS: plaintext and foreign certificates ---------------------------------------------------


@pytest.mark.parametrize(
    ("port", "refusal"),
    [
        ("cluster", r"TLS route handshake error: tls: first record does not look like a TLS handshake"),
        ("gateway", r"TLS gateway handshake error: tls: first record does not look like a TLS handshake"),
        ("leaf", r"Leafnode connection closed: TLS Handshake Failure"),
    ],
)
def test_plaintext_is_refused_on_route_gateway_and_leaf_ports(
    dev_lattice: LocalLattice, port: str, refusal: str
) -> None:
    log = _hub_log(dev_lattice)
    start = log_size(log)
    info, reply, closed = plaintext_probe(getattr(dev_lattice.ports[HUB], port), b"CONNECT {}\r\nPING\r\n")
    line = wait_for_line(log, refusal, after=start)
    assert line, f"no refusal in {HUB}'s log"
    assert closed and b"PONG" not in reply, "the server hung up without speaking NATS with us"
    if info is not None:  # the leaf port announces TLS before it refuses plaintext
        assert info["tls_required"] is True


def test_plaintext_client_is_refused_on_the_hub_client_port(dev_lattice: LocalLattice) -> None:
    """A hub's client port announces ``tls_required`` and closes on a plaintext CONNECT
    (nats-server logs client handshake failures only at debug level)."""
    info, reply, closed = plaintext_probe(dev_lattice.ports[HUB].client, b'CONNECT {"name":"plain"}\r\nPING\r\n')
    assert info is not None and info["tls_required"] is True and info["auth_required"] is True
    assert closed, "the server hung up"
    assert b"PONG" not in reply and b"+OK" not in reply, reply
    connz = get_json(f"{dev_lattice.monitor_url(HUB)}/connz")
    assert "plain" not in {c.get("name") for c in connz["connections"]}


FOREIGN_REFUSAL = r"(certificate signed by unknown authority|didn't provide a certificate)"
"""The hub's own refusal of a peer certificate from another CA (Go's TLS client offers no
certificate whose issuer the hub's CA list does not name, hence the second form)."""


@pytest.mark.parametrize("link", ["route", "gateway"])
def test_a_route_or_gateway_with_another_cas_certificate_is_refused(
    dev_lattice: LocalLattice, tmp_path: Path, link: str
) -> None:
    log = _hub_log(dev_lattice)
    start = log_size(log)
    # insecure: the intruder accepts any server certificate, so only the hub's check can refuse
    tls = {**foreign_certificate(tmp_path, f"intruder-{link}"), "insecure": True, "timeout": 2}
    listen = f"127.0.0.1:{free_ports(1)[0]}"
    ports = dev_lattice.ports[HUB]
    blocks: dict[str, object] = (
        {
            "cluster": {
                "name": "use1",
                "listen": listen,
                "tls": tls,
                "routes": [f"nats-route://127.0.0.1:{ports.cluster}"],
            }
        }
        if link == "route"
        else {
            "gateway": {
                "name": "intruder",
                "listen": listen,
                "tls": tls,
                "gateways": [{"name": "use1", "urls": [f"nats://127.0.0.1:{ports.gateway}"]}],
            }
        }
    )
    with rogue_server(tmp_path, f"intruder-{link}", blocks) as rogue_log:
        line = wait_for_line(log, rf"TLS {link} handshake error: .*{FOREIGN_REFUSAL}", 15, start)
        assert line, f"{HUB} did not refuse the {link}:\n" + rogue_log.read_text()[-1500:]
    # the same certificate pushed by a client that presents it anyway
    start = log_size(log)
    port = ports.cluster if link == "route" else ports.gateway
    ours = present_certificate(port, foreign_certificate(tmp_path, f"pushy-{link}"))
    assert ours.startswith("refused"), ours
    pattern = (
        rf"TLS {link} handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority"
    )
    assert wait_for_line(log, pattern, 5, start), f"{HUB} logged no verification failure"
    routes = get_json(f"{dev_lattice.monitor_url(HUB)}/routez")["routes"]
    assert "intruder" not in {r.get("remote_name") for r in routes}
    assert "intruder" not in get_json(f"{dev_lattice.monitor_url(HUB)}/gatewayz").get("inbound_gateways", {})


def _lattice_certificate_for_another_host(lattice: LocalLattice, workdir: Path) -> dict[str, str]:
    """A genuine certificate of the lattice CA, issued to another address: what an attacker
    holding some other server's key (a compromised mid-tier spoke's) would present."""
    cert = lattice.ca.issue("store-12", CertificateHosts(dns_names=(), ip_addresses=("10.9.9.9",)))
    return tls_files(workdir, "stolen", {"cert_file": cert.cert_pem, "key_file": cert.key_pem})


@pytest.mark.parametrize(
    ("certificate", "spoke_says"),
    [
        ("another CA", r"certificate signed by unknown authority"),
        ("the lattice CA, another host", r"certificate is valid for 10\.9\.9\.9, not 127\.0\.0\.1"),
    ],
)
def test_a_spoke_refuses_an_impostor_hub(
    dev_lattice: LocalLattice, tmp_path: Path, certificate: str, spoke_says: str
) -> None:
    """A man in the middle on the leaf link: store-14's own rendered config, pointed at an
    impostor's leaf listener. The spoke verifies the lattice CA and the address it dials,
    and never links."""
    leaf_port = free_ports(1)[0]
    tls = (
        foreign_certificate(tmp_path, "impostor")
        if certificate == "another CA"
        else _lattice_certificate_for_another_host(dev_lattice, tmp_path)
    )
    impostor = {"leafnodes": {"listen": f"127.0.0.1:{leaf_port}", "tls": tls}}
    with rogue_server(tmp_path, "impostor", impostor) as impostor_log:
        lattice = dev_lattice
        ports = Ports(*free_ports(6))
        addressing = replace(
            lattice.addressing,
            servers={**lattice.addressing.servers, "store-14": ServerAddress("127.0.0.1", ports, "127.0.0.1")},
            leaf_urls={**lattice.addressing.leaf_urls, "use1": (f"nats-leaf://127.0.0.1:{leaf_port}",)},
        )
        files = ServerFiles(config_dir=str(tmp_path / "spoke"), store_dir=str(tmp_path / "spoke" / "js"))
        rendered = render_server(lattice.plan, "store-14", addressing, files, lattice.auth, lattice.tls["store-14"])
        Path(files.config_dir).mkdir()
        Path(files.config_file).write_text(rendered.config.replace('"store-14"', '"store-14-mitm"', 1))
        for path, text in rendered.secret_files.items():
            Path(path).write_text(text)
        (tmp_path / "logs").mkdir()
        with Supervisor(tmp_path / "logs") as spoke:
            spoke.start("spoke", [binaries.nats_server(), "-c", files.config_file])
            line = wait_for_line(spoke.log_path("spoke"), spoke_says, 15)
            assert line, spoke.log_tail("spoke", 10)
        impostor_said = impostor_log.read_text()
    assert "TLS leafnode handshake error: remote error: tls: bad certificate" in impostor_said
    assert "Leafnode connection closed: TLS Handshake Failure" in impostor_said


# --- leaf authentication ------------------------------------------------------------------


def _rogue_leaf_remote(lattice: LocalLattice, creds: Path | None) -> dict[str, object]:
    remote: dict[str, object] = {
        "urls": list(lattice.addressing.leaf_urls["use1"]),
        "tls": {"ca_file": str(lattice.ca_file)},
    }
    if creds is not None:
        remote["credentials"] = str(creds)
    return remote


def _refused_leaf(lattice: LocalLattice, tmp_path: Path, name: str, creds: str | None) -> tuple[str, str]:
    """A rogue leaf server that trusts the lattice CA (TLS succeeds) and logs in with
    ``creds``; returns (what the hub told it, what the hub logged)."""
    path = None
    if creds is not None:
        path = tmp_path / f"{name}.creds"
        path.write_text(creds)
    hub_logs = {s: log_size(_hub_log(lattice, s)) for s in lattice.plan.hub("use1").servers}
    blocks = {"leafnodes": {"reconnect_delay": "1s", "remotes": [_rogue_leaf_remote(lattice, path)]}}
    with rogue_server(tmp_path, name, blocks) as rogue_log:
        told = wait_for_line(rogue_log, r"Authorization Violation", 15)
        assert name not in _leaf_names(lattice)
    logged = [
        wait_for_line(_hub_log(lattice, s), r"authentication error|Authorization|[Rr]evoked", 1, start)
        for s, start in hub_logs.items()
    ]
    return told or "", " | ".join(line for line in logged if line)


def test_an_anonymous_leaf_is_refused(dev_lattice: LocalLattice, tmp_path: Path) -> None:
    told, logged = _refused_leaf(dev_lattice, tmp_path, "rogue-anon", None)
    assert "Authorization Violation" in told, "the hub told the leaf why"
    assert "authentication error" in logged


def test_a_leaf_with_a_tampered_jwt_is_refused(dev_lattice: LocalLattice, tmp_path: Path) -> None:
    wider = tamper_jwt(dev_lattice.auth.leaf_creds["store-14"], {"pub": {}, "sub": {}})
    told, logged = _refused_leaf(dev_lattice, tmp_path, "rogue-tampered", wider)
    assert "Authorization Violation" in told
    assert "authentication error" in logged


def test_a_leaf_with_another_operators_jwt_is_refused(dev_lattice: LocalLattice, tmp_path: Path) -> None:
    from lattice.credentials import assemble

    other = assemble(dev_lattice.plan, plan_entropy(dev_lattice.plan, "other"))
    told, logged = _refused_leaf(dev_lattice, tmp_path, "rogue-operator", other.leaf_creds["store-12"])
    assert "Authorization Violation" in told
    assert "authentication error" in logged


def test_a_spokes_leaf_credentials_do_not_work_for_a_normal_client(dev_lattice: LocalLattice, tmp_path: Path) -> None:
    creds = tmp_path / "store-12.creds"
    creds.write_text(dev_lattice.auth.leaf_creds["store-12"])
    log = _hub_log(dev_lattice)
    start = log_size(log)

    async def attempt() -> str:
        try:
            nc = await nats.connect(
                servers=[dev_lattice.client_url(HUB)],
                user_credentials=str(creds),
                tls=dev_lattice.client_tls(),
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=3,
                error_cb=quiet_errors,
            )
        except Exception as err:
            return str(err)
        await nc.close()
        return "connected"

    told = asyncio.run(attempt())
    assert "Authorization Violation" in told, told
    assert wait_for_line(log, r"cid:\d+ - authentication error", 5, start), "the hub logged the refusal"


# --- least privilege on the leaf link ------------------------------------------------------


def test_a_spoke_cannot_publish_outside_its_allow_list(dev_lattice: LocalLattice) -> None:
    """A compromised spoke sends a message the hub never asked for: refused, link closed."""
    log = _hub_log(dev_lattice)
    start = log_size(log)
    leaf = RawLeaf(dev_lattice.ports[HUB].leaf, dev_lattice.auth.leaf_creds["store-14"], dev_lattice.ca.cert_pem)
    try:
        leaf.read_for(0.5)
        leaf.send("LMSG secret.plans 5\r\nhello\r\nPING\r\n")
        told = leaf.read_for(3)
    finally:
        leaf.close()
    assert "-ERR 'Permissions Violation for Publish to \"secret.plans\"'" in told
    assert wait_for_line(log, r'Publish Violation on "secret.plans"', 5, start)


def test_a_spoke_cannot_subscribe_outside_its_allow_list(dev_lattice: LocalLattice) -> None:
    """A compromised spoke registers interest outside its list: the hub delivers nothing
    on it. Its own count of messages sent down the link shows it."""
    leaf = RawLeaf(dev_lattice.ports[HUB].leaf, dev_lattice.auth.leaf_creds["store-14"], dev_lattice.ca.cert_pem)
    try:
        leaf.read_for(0.5)
        leaf.send("LS+ secret.>\r\nLS+ orders.>\r\nPING\r\n")
        leaf.read_for(0.5)
        before = _rogue_leafz(dev_lattice)

        async def publish() -> None:
            hub = await connect_hub(dev_lattice, "use1", "attack-publisher")
            for _ in range(3):
                await hub.publish("secret.plans", b"s")
                await hub.publish("orders.attack", b"o")
            await hub.flush()
            await hub.close()

        asyncio.run(publish())
        got = leaf.read_for(2)
        after = _rogue_leafz(dev_lattice)
    finally:
        leaf.close()
    assert got.count("LMSG orders.attack") == 3, "the allowed subject flows (the path works)"
    assert "secret.plans" not in got
    assert after["out_msgs"] - before["out_msgs"] == 3, "the hub sent the three allowed messages, not six"


def _rogue_leafz(lattice: LocalLattice) -> dict[str, int]:
    leafz = get_json(f"{lattice.monitor_url(HUB)}/leafz")
    rogue = next(x for x in leafz["leafs"] if x["name"] == "rogue")
    return {"out_msgs": int(rogue["out_msgs"]), "in_msgs": int(rogue["in_msgs"])}


def test_a_spokes_local_traffic_outside_the_list_never_reaches_the_hub(dev_lattice: LocalLattice) -> None:
    """The same through the real path: a host at store-12 publishes; a service at the hub listens."""

    async def run() -> list[str]:
        hub = await connect_hub(dev_lattice, "use1", "attack-listener")
        spoke = await connect_spoke(dev_lattice, "store-12", "attack-local")
        got: list[str] = []

        async def record(msg: Msg) -> None:
            got.append(msg.subject)

        await hub.subscribe("secret.>", cb=record)
        await hub.subscribe("orders.>", cb=record)
        await hub.flush()
        deadline = time.monotonic() + 10
        while "orders.from-store" not in got and time.monotonic() < deadline:
            await spoke.publish("secret.from-store", b"s")
            await spoke.publish("orders.from-store", b"o")
            await spoke.flush()
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        await spoke.close()
        await hub.close()
        return got

    got = asyncio.run(run())
    assert "orders.from-store" in got, "the allowed subject crosses (the path works)"
    assert "secret.from-store" not in got


# --- sites cannot act on each other --------------------------------------------------------


@pytest.fixture(scope="module")
def dev_hosts(dev_lattice: LocalLattice) -> Iterator[dict[str, str]]:
    """A real wasmCloud host beside every dev spoke: spoke -> host id (from its heartbeat)."""
    hosts = dev_lattice.start_hosts()
    try:
        yield asyncio.run(isolation.wait_for_hosts(dev_lattice, hosts))
    finally:
        for host in hosts:
            dev_lattice.supervisor.stop(f"host-{host}")


def test_no_spoke_commands_another_sites_hosts(dev_lattice: LocalLattice, dev_hosts: dict[str, str]) -> None:
    """From every spoke's anonymous local port (device-7 under store-12 included), every
    host command to every other site's host: none is answered. The hub drives every host,
    and inside a site (store-12 and its device-7) hosts still reach each other."""

    async def run() -> isolation.IsolationReport:
        report = isolation.IsolationReport()
        await isolation.measure_from_hub(dev_lattice, dev_hosts, report, timeout=5)
        await isolation.measure_commands(dev_lattice, dev_hosts, report, attempts=1, timeout=2)
        return report

    report = asyncio.run(run())
    assert report.from_hub.answered == report.from_hub.sent == len(dev_hosts), "the cloud side drives every host"
    assert report.cross_site.sent == 4 * 10  # 4 commands x (2 + 2 + 3 + 3) hosts of other sites
    assert report.cross_site.answered == 0, report.lines()
    assert set(report.cross_site_by_command) == {"heartbeat", "workload.status", "workload.stop", "workload.start"}
    assert report.own_site.answered == report.own_site.sent > 0, "a site's own hosts still answer it"
    assert report.own_site_by_spoke["device-7"] == isolation.Answered(8, 8), "its own host and store-12's"


@pytest.mark.parametrize("command", ["heartbeat", "workload.start", "workload.stop"])
def test_a_compromised_spoke_sending_a_host_command_up_is_refused(
    dev_lattice: LocalLattice, dev_hosts: dict[str, str], command: str
) -> None:
    """With store-14's own credentials, a host command for store-12's host sent straight into
    the hub: refused as a publish violation, the link closed."""
    subject = isolation.host_subject(dev_hosts["store-12"], command)
    log = _hub_log(dev_lattice)
    start = log_size(log)
    leaf = RawLeaf(dev_lattice.ports[HUB].leaf, dev_lattice.auth.leaf_creds["store-14"], dev_lattice.ca.cert_pem)
    try:
        leaf.read_for(0.5)
        payload = isolation.HOST_COMMANDS[command].decode()
        leaf.send(f"LMSG {subject} _INBOX.rogue.1 {len(payload)}\r\n{payload}\r\nPING\r\n")
        told = leaf.read_for(3)
    finally:
        leaf.close()
    assert f"-ERR 'Permissions Violation for Publish to \"{subject}\"'" in told
    assert wait_for_line(log, rf'Publish Violation on "{subject}"', 5, start)


def test_what_a_spoke_can_still_do_is_the_threat_models_residual_risk(
    dev_lattice: LocalLattice, dev_hosts: dict[str, str]
) -> None:
    """Measured, as README's Threat model states it: a site may still forge heartbeats for
    hosts that do not exist, and overhear the cloud side's commands to other sites' hosts
    and their replies (host ids are random, so nats-server cannot scope either by site).
    If this fails, something closed a door: update the threat model."""

    async def run() -> isolation.IsolationReport:
        report = isolation.IsolationReport()
        await isolation.measure_forged_heartbeats(dev_lattice, report)
        await isolation.measure_overhearing(dev_lattice, dev_hosts, report)
        return report

    report = asyncio.run(run())
    assert report.forged_heartbeats == isolation.Answered(4, 4)
    assert report.overheard_commands == report.overheard_replies == isolation.Answered(10, 10)


# --- a second lattice on the same hubs -------------------------------------------------------

SHARED = {
    "name": "acme",
    "lattices": ["globex"],
    "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}],
    "spokes": [
        {"name": "a", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False},
        {"name": "b", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False, "lattice": "globex"},
        {"name": "c", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False, "keyRotation": 1},
    ],
    "retiredSpokes": ["gone"],
}


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalLattice]:
    spec = spec_from(SHARED)
    with LocalLattice(spec, entropy=plan_entropy(plan_lattice(spec))) as lattice:
        lattice.start_servers()
        result = lattice.wait_converged(timeout=30)
        assert result.ok, result.missing
        yield lattice


def test_each_lattice_lands_in_its_own_account_at_the_hub(shared: LocalLattice) -> None:
    accounts = {leaf["name"]: leaf["account"] for leaf in leaf_peers(shared.monitor_url(HUB))}
    assert accounts["a"] == accounts["c"] == shared.auth.trust.accounts["acme"]
    assert accounts["b"] == shared.auth.trust.accounts["globex"] != accounts["a"]


def test_a_spoke_of_lattice_b_cannot_read_lattice_a(shared: LocalLattice) -> None:
    async def run() -> tuple[list[str], list[str], list[str]]:
        spoke_a = await connect_spoke(shared, "a", "host-a")
        spoke_b = await connect_spoke(shared, "b", "host-b")
        service_a = await connect_hub(shared, "use1", "service-a")
        service_b = await connect_hub(shared, "use1", "service-b", account="globex")
        seen_b: list[str] = []
        seen_service_b: list[str] = []
        seen_service_a: list[str] = []

        async def into(box: list[str]) -> object:
            async def record(msg: Msg) -> None:
                box.append(msg.subject)

            return record

        await spoke_b.subscribe("runtime.>", cb=await into(seen_b))  # type: ignore[arg-type]
        await service_b.subscribe(">", cb=await into(seen_service_b))  # type: ignore[arg-type]
        await service_a.subscribe("runtime.>", cb=await into(seen_service_a))  # type: ignore[arg-type]
        await spoke_b.flush()
        await service_b.flush()
        await service_a.flush()
        deadline = time.monotonic() + 10
        while "runtime.operator.heartbeat.acme-secret" not in seen_service_a and time.monotonic() < deadline:
            await spoke_a.publish("runtime.operator.heartbeat.acme-secret", b"for acme only")
            await spoke_a.flush()
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        for nc in (spoke_a, spoke_b, service_a, service_b):
            await nc.close()
        return seen_service_a, seen_b, seen_service_b

    seen_a, seen_b, seen_service_b = asyncio.run(run())
    assert "runtime.operator.heartbeat.acme-secret" in seen_a, "lattice A's own service hears it (the path works)"
    assert "runtime.operator.heartbeat.acme-secret" not in seen_b, "lattice B's spoke does not"
    assert "runtime.operator.heartbeat.acme-secret" not in seen_service_b, (
        "nor does lattice B's service subscribed to everything"
    )


def test_a_retired_spokes_jwt_is_refused(shared: LocalLattice, tmp_path: Path) -> None:
    entropy = plan_entropy(shared.plan)
    revoked = leaf_user_creds("gone", entropy["account-lattice"], entropy["leaf-gone"])
    told, logged = _refused_leaf(shared, tmp_path, "gone", revoked)
    assert "Authorization Violation" in told
    assert "authentication error" in logged


def test_a_rotated_out_key_is_refused_and_the_new_one_is_in(shared: LocalLattice, tmp_path: Path) -> None:
    entropy = plan_entropy(shared.plan)
    old = leaf_user_creds("c", entropy["account-lattice"], entropy["leaf-c"])
    assert old != shared.auth.leaf_creds["c"]
    told, logged = _refused_leaf(shared, tmp_path, "c-old", old)
    assert "Authorization Violation" in told and "authentication error" in logged
    assert "c" in _leaf_names(shared), "the spoke with its current key stays linked"


def _responses_only_leaf_creds(lattice: LocalLattice) -> str:
    """A leaf user of lattice ``acme`` that may publish up only heartbeats, with the ``resp``
    claim (``allow_responses``) for replies: what the allow-lists would be if ``resp`` could
    carry a site's replies instead of ``_INBOX.>``."""
    entropy = plan_entropy(lattice.plan)
    account = nkey_from_entropy("account", entropy["account-lattice"])
    user = nkey_from_entropy("user", hashlib.sha256(b"responses-only").digest())
    jwt = user_jwt(
        account,
        user,
        "leaf-responses-only",
        connection_types=["LEAFNODE"],
        allow_pub=["runtime.operator.heartbeat.*"],
        allow_sub=["runtime.host.*.>", "_INBOX.>"],
        response_window_ns=60 * 10**9,
    )
    return format_creds(jwt, user.seed)


def _request_in_thread(lattice: LocalLattice, subject: str, timeout: float) -> tuple[threading.Thread, list[str]]:
    out: list[str] = []

    async def ask() -> None:
        hub = await connect_hub(lattice, "use1", "resp-requester")
        try:
            out.append((await hub.request(subject, b"", timeout=timeout)).data.decode())
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as err:
            out.append(type(err).__name__)
        finally:
            await hub.close()

    thread = threading.Thread(target=lambda: asyncio.run(ask()))
    thread.start()
    return thread, out


def test_reply_permissions_do_not_carry_a_spokes_replies(shared: LocalLattice, tmp_path: Path) -> None:
    """Why a site still publishes up to ``_INBOX.>``: with only the ``resp`` claim, a real
    leaf nats-server never sends its host's answer (the hub advertises interest in the
    requester's inbox only where the leaf user may publish), and nats-server 2.15.1 refuses
    even a hand-made answer to the very inbox it just delivered (``Publish Violation``).
    If this fails, nats-server honours ``resp`` for leaf users now: revisit the lists."""
    creds = _responses_only_leaf_creds(shared)
    # a real leaf nats-server with a responder behind it: the request arrives, no reply crosses
    path = tmp_path / "responses-only.creds"
    path.write_text(creds)
    remote = {"urls": list(shared.addressing.leaf_urls["use1"]), "tls": {"ca_file": str(shared.ca_file)}}
    with rogue_server(
        tmp_path, "responses-only", {"leafnodes": {"remotes": [{**remote, "credentials": str(path)}]}}
    ) as log:
        listening = wait_for_line(log, r"Listening for client connections on 127\.0\.0\.1:(\d+)")
        assert listening and wait_for_line(log, r"Leafnode connection created", 10)
        port = int(listening.rsplit(":", 1)[1])

        async def serve_and_ask() -> tuple[int, str]:
            site = await nats.connect(f"nats://127.0.0.1:{port}", error_cb=quiet_errors)
            seen: list[Msg] = []

            async def answer(msg: Msg) -> None:
                seen.append(msg)
                await msg.respond(b"pong")

            await site.subscribe("runtime.host.SPOKEPROBE.>", cb=answer)
            await site.flush()
            hub = await connect_hub(shared, "use1", "resp-hub")
            outcome = "none"
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                try:
                    outcome = (await hub.request("runtime.host.SPOKEPROBE.heartbeat", b"", timeout=1)).data.decode()
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as err:
                    outcome = type(err).__name__
            await hub.close()
            await site.close()
            return len(seen), outcome

        delivered, outcome = asyncio.run(serve_and_ask())
    assert delivered >= 1, "the request came down to the site"
    assert outcome == "TimeoutError", f"the site's reply never came up: {outcome}"
    # the same credentials spoken by hand, answering the very inbox the hub delivered
    log = _hub_log(shared)
    start = log_size(log)
    leaf = RawLeaf(shared.ports[HUB].leaf, creds, shared.ca.cert_pem, name="responses-raw")
    try:
        leaf.read_for(0.5)
        leaf.send("LS+ runtime.host.RAWPROBE.>\r\nPING\r\n")
        leaf.read_for(0.5)
        thread, answer = _request_in_thread(shared, "runtime.host.RAWPROBE.heartbeat", 3)
        request = None
        deadline = time.monotonic() + 5
        while request is None and time.monotonic() < deadline:
            request = re.search(r"LMSG runtime\.host\.RAWPROBE\.heartbeat (\S+) 0\r\n", leaf.read_for(0.3))
        assert request, "the request came down to the raw leaf"
        leaf.send(f"LMSG {request.group(1)} 4\r\npong\r\n")
        thread.join(10)
    finally:
        leaf.close()
    assert answer == ["TimeoutError"], answer
    assert wait_for_line(log, rf'Publish Violation on "{re.escape(request.group(1))}"', 5, start)


# --- the spoke's anonymous local port -------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def outsider() -> Iterator[str]:
    """A network namespace joined to this one by a veth pair: another machine on the
    site's LAN, at 10.213.0.2, that sees this machine at 10.213.0.1."""
    if shutil.which("ip") is None:
        pytest.fail("the iproute2 'ip' command is required (Debian package iproute2)")
    ns, host_if = f"attacker{time.monotonic_ns() % 100000}", f"vatk{time.monotonic_ns() % 10000}"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", "eth-attacker", "netns", ns)
        _ip("addr", "add", "10.213.0.1/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", "10.213.0.2/30", "dev", "eth-attacker")
        _ip("-n", ns, "link", "set", "eth-attacker", "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def _connect_from(ns: str, host: str, port: int) -> str:
    probe = (
        "import socket,sys\n"
        "s=socket.socket();s.settimeout(3)\n"
        "try:\n s.connect((sys.argv[1],int(sys.argv[2])));print('OPEN')\n"
        "except OSError as e:\n print('REFUSED',e)\n"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "python3", "-c", probe, host, str(port)],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return out.stdout.strip()


def test_a_spokes_anonymous_port_is_unreachable_from_another_machine(dev_lattice: LocalLattice, outsider: str) -> None:
    """The leaf's client port (no auth: the hosts' door) is bound to 127.0.0.1. From the
    outsider's namespace this machine's address answers on a control port bound to every
    interface, and refuses the spoke's port."""
    import socket

    control = socket.socket()
    control.bind(("0.0.0.0", 0))
    control.listen(1)
    try:
        reached = _connect_from(outsider, "10.213.0.1", control.getsockname()[1])
        assert reached.startswith("OPEN"), f"the path to this machine works: {reached}"
        port = dev_lattice.ports["store-12"].client
        spoke = _connect_from(outsider, "10.213.0.1", port)
    finally:
        control.close()
    assert spoke.startswith("REFUSED") and "Connection refused" in spoke, spoke
    varz = get_json(f"{dev_lattice.monitor_url('store-12')}/varz")
    assert varz["host"] == "127.0.0.1", "the server itself reports the loopback bind"


# --- a stolen spoke credential is bound to its site ------------------------------------------

BOUND = {
    "name": "acme",
    "hubs": [{"name": "use1", "platform": "aws", "region": "us-east-1", "nodes": 1}],
    "spokes": [
        # an AWS spoke: its Elastic IP (here 127.0.0.1) is its leaf user's only source
        {"name": "store", "upstream": "use1", "platform": "aws", "region": "us-east-2", "wasmcloudHost": False},
        # a Kubernetes site without egressCidrs: a dynamic address, nothing to bind
        {"name": "roaming", "upstream": "use1", "platform": "kubernetes", "wasmcloudHost": False},
    ],
}


@pytest.fixture(scope="module")
def reachable_hub() -> Iterator[LocalLattice]:
    """A lattice whose hub listens on every interface, so another namespace can dial it."""
    with LocalLattice(spec_from(BOUND), hub_bind_host="0.0.0.0") as lattice:
        lattice.start_servers()
        result = lattice.wait_converged(timeout=30)
        assert result.ok, result.missing
        yield lattice


def _leaf_login_from(ns: str, lattice: LocalLattice, spoke: str, workdir: Path) -> str:
    """What the hub tells a leaf login with ``spoke``'s genuine .creds from namespace ``ns``."""
    creds = workdir / f"{spoke}.creds"
    creds.write_text(lattice.auth.leaf_creds[spoke])
    code = "import sys; from tests.live.attackers import leaf_login; print(leaf_login(*sys.argv[1:]))"
    args = ["10.213.0.1", str(lattice.ports["use1-0"].leaf), str(creds), str(lattice.ca_file)]
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return out.stdout


def test_a_stolen_spoke_credential_is_refused_off_its_site(
    reachable_hub: LocalLattice, outsider: str, tmp_path: Path
) -> None:
    """store's own .creds, used from another machine (10.213.0.2): the hub refuses the
    source address it carries. The real store (127.0.0.1) stays linked; a site whose
    address is dynamic carries no src, so its .creds work from anywhere (the residual)."""
    claims = decode_jwt_claims(reachable_hub.auth.leaf_creds["store"].split("\n")[1])
    assert claims["nats"]["src"] == ["127.0.0.1/32"]
    log = _hub_log(reachable_hub)
    start = log_size(log)
    told = _leaf_login_from(outsider, reachable_hub, "store", tmp_path)
    assert "Authorization Violation" in told, told
    assert wait_for_line(log, r"Bad src Ip 10\.213\.0\.2", 5, start), "the hub names the refused source"
    assert "store" in _leaf_names(reachable_hub), "the spoke at its own address stays linked"
    unbound = _leaf_login_from(outsider, reachable_hub, "roaming", tmp_path)
    assert "Authorization Violation" not in unbound and "PONG" in unbound, unbound
