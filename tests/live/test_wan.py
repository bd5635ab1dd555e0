"""The emulated WAN link itself: it delays, cuts loudly, black-holes silently, and heals."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from lattice.stack import load_stack_file
from sandbox.monitor import leaf_attachment
from sandbox.ports import free_ports
from sandbox.topology import LocalLattice
from sandbox.wan import Wan
from tests.support.helpers import ROOT

DELAY = 0.05


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


def _round_trip(port: int, timeout: float = 2.0) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        return time.monotonic() - start


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _answers(port: int) -> bool:
    try:
        _round_trip(port, timeout=1)
    except (OSError, AssertionError):
        return False
    return True


@pytest.fixture
def wan() -> Iterator[Wan]:
    links = Wan()
    yield links
    links.close()


def test_a_link_adds_its_delay_each_way(wan: Wan, echo_port: int) -> None:
    port = free_ports(1)[0]
    wan.add("a", "127.0.0.1", port, echo_port, DELAY)
    assert 2 * DELAY <= _round_trip(port) < 2 * DELAY + 0.5


def test_a_loud_cut_resets_and_refuses_and_a_heal_restores(wan: Wan, echo_port: int) -> None:
    port = free_ports(1)[0]
    wan.add("a", "127.0.0.1", port, echo_port, DELAY)
    open_conn = socket.create_connection(("127.0.0.1", port), timeout=2)
    open_conn.sendall(b"x")
    assert open_conn.recv(1) == b"x"
    wan.cut("a")
    time.sleep(0.1)
    assert _closed(open_conn), "the open connection was reset"
    assert not _answers(port), "a new connection is refused"
    wan.heal("a")
    time.sleep(0.05)
    assert _round_trip(port) < 1


def test_a_silent_cut_keeps_the_socket_open_and_drops_the_bytes(wan: Wan, echo_port: int) -> None:
    port = free_ports(1)[0]
    wan.add("a", "127.0.0.1", port, echo_port, DELAY)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        wan.cut("a", silent=True)
        time.sleep(0.05)
        sock.sendall(b"lost")  # no reset: the sender cannot tell
        sock.settimeout(3 * DELAY + 0.2)
        with pytest.raises(TimeoutError):
            sock.recv(4)


def test_a_spoke_behind_wan_links_cannot_bypass_them_when_they_are_cut() -> None:
    """Hubs gossip their nodes' leaf URLs unless ``no_advertise``: a reconnecting spoke
    then dialed a hub node directly, past its cut link (found by the bench)."""
    spec = load_stack_file(ROOT / "tests/stacks/Pulumi.bench-tiny.yaml")
    with LocalLattice(spec, wan_delay=0.005) as lattice:
        lattice.start_servers()
        assert lattice.wait_converged(timeout=60).ok
        assert lattice.wan is not None
        for link in lattice.wan_links("site-a"):
            lattice.wan.cut(link)
        time.sleep(0.5)  # the reset is immediate; then it redials every second for 3 s
        seen = set()
        for _ in range(30):
            seen.add(leaf_attachment(lattice.plan, lattice.monitors(), "site-a"))
            time.sleep(0.1)
        assert seen == {None}, f"site-a got back in around its cut links: {seen}"
        for link in lattice.wan_links("site-a"):
            lattice.wan.heal(link)
        deadline = time.monotonic() + 10
        while leaf_attachment(lattice.plan, lattice.monitors(), "site-a") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leaf_attachment(lattice.plan, lattice.monitors(), "site-a") is not None


def test_a_silently_dead_upstream_is_noticed_and_left_for_another_hub_node() -> None:
    """No RST, no FIN: the link just stops. The spoke's own pings (every 3 s, 2 missed)
    notice it and it moves to another hub node; nats' defaults would take minutes."""
    spec = load_stack_file(ROOT / "tests/stacks/Pulumi.bench-tiny.yaml")
    with LocalLattice(spec, wan_delay=0.005) as lattice:
        lattice.start_servers()
        assert lattice.wait_converged(timeout=60).ok
        assert lattice.wan is not None
        node = leaf_attachment(lattice.plan, lattice.monitors(), "site-a")
        assert node is not None
        lattice.wan.cut(f"site-a->{node}", silent=True)
        started = time.monotonic()
        moved_to = None
        while time.monotonic() - started < 60:
            current = leaf_attachment(lattice.plan, lattice.monitors(), "site-a")
            if current not in (None, node):
                moved_to = current
                break
            time.sleep(0.5)
        took = time.monotonic() - started
        assert moved_to is not None, "the spoke never left the dead link"
        assert took < 15, f"took {took:.0f} s; ping_interval 3s x ping_max 2 notices within 9 s"
        log = lattice.supervisor.log_path("site-a").read_text()
        assert "Stale Connection" in log or "stale connection" in log.lower(), log[-1500:]
