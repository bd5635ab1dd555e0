"""What an attacker brings: rogue nats-servers, raw sockets and a hand-rolled leaf client.

Every attack runs against real servers on loopback; each helper returns what the target
server said (its log lines, its protocol errors), so a test shows the server's refusal.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nkeys

from lattice.natsconf import format_conf
from sandbox import binaries
from sandbox.ports import free_ports
from sandbox.processes import Supervisor
from sandbox.tls import PrivateCA


def wait_for_line(log: Path, pattern: str, timeout: float = 10.0, after: int = 0) -> str | None:
    """The first log line (past byte ``after``) matching ``pattern``, or None at the timeout."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")[after:] if log.exists() else ""
        for line in text.splitlines():
            if regex.search(line):
                return line
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


@contextmanager
def rogue_server(workdir: Path, name: str, blocks: Mapping[str, Any]) -> Iterator[Path]:
    """A nats-server of the attacker's with ``blocks`` added to a loopback base; yields its
    log and always stops it."""
    client_port, monitor_port = free_ports(2)
    conf = workdir / f"{name}.conf"
    base = {"server_name": name, "listen": f"127.0.0.1:{client_port}", "http": f"127.0.0.1:{monitor_port}"}
    conf.write_text(format_conf({**base, **blocks}))
    supervisor = Supervisor(workdir)
    try:
        supervisor.start(name, [binaries.nats_server(), "-c", str(conf)])
        yield supervisor.log_path(name)
    finally:
        supervisor.stop_all()


def tls_files(workdir: Path, name: str, pems: Mapping[str, str]) -> dict[str, str]:
    """PEM texts written beside each other: ``tls`` block key -> file path."""
    out = {}
    for key, text in pems.items():
        path = workdir / f"{name}-{key}.pem"
        path.write_text(text)
        out[key] = str(path)
    return out


def foreign_certificate(workdir: Path, name: str) -> dict[str, str]:
    """A key pair from a CA the lattice has never seen, as a ``tls`` block's files."""
    ca = PrivateCA(f"{name} intruder")
    cert = ca.issue(name)
    return tls_files(workdir, name, {"cert_file": cert.cert_pem, "key_file": cert.key_pem, "ca_file": ca.cert_pem})


def plaintext_probe(port: int, payload: bytes) -> tuple[dict[str, Any] | None, bytes, bool]:
    """Speak plaintext NATS to a port: the INFO it sends first (None if it sends none, as
    a route or gateway port waiting for TLS), whatever follows our ``payload``, and
    whether the server closed the connection (within 3 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.settimeout(1.0)
        info = None
        try:
            first = sock.recv(8192)
        except TimeoutError:
            first = b""
        if first.startswith(b"INFO "):
            info = json.loads(first[5:].split(b"\r\n", 1)[0])
        sock.sendall(payload)
        sock.settimeout(3.0)
        rest, closed = b"", False
        try:
            while chunk := sock.recv(8192):
                rest += chunk
            closed = True
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            pass
        return info, rest, closed


def _creds_parts(creds: str) -> tuple[str, str]:
    jwt = re.search(r"-----BEGIN NATS USER JWT-----\n(.+?)\n", creds)
    seed = re.search(r"-----BEGIN USER NKEY SEED-----\n(.+?)\n", creds)
    assert jwt and seed, "not a .creds file"
    return jwt.group(1), seed.group(1)


class RawLeaf:
    """A leaf connection spoken by hand: a compromised spoke that sends whatever it likes,
    whatever interest the hub announced. It authenticates with real ``.creds``."""

    def __init__(self, port: int, creds: str, ca_pem: str, name: str = "rogue", host: str = "127.0.0.1"):
        """``host``: where to dial the hub (its certificate names 127.0.0.1, checked as such)."""
        raw = socket.create_connection((host, port), timeout=5)
        info = json.loads(raw.makefile("rb").readline()[5:])
        context = ssl.create_default_context(cadata=ca_pem)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        jwt, seed = _creds_parts(creds)
        signed = nkeys.from_seed(seed.encode()).sign(info["nonce"].encode())
        sig = base64.urlsafe_b64encode(signed).rstrip(b"=").decode()
        connect = {"jwt": jwt, "sig": sig, "tls_required": True, "name": name, "headers": True, "server_id": name}
        self.send(f"CONNECT {json.dumps(connect)}\r\nPING\r\n")
        self.received = ""

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def read_for(self, seconds: float) -> str:
        """Everything the hub sends within ``seconds`` (or until it closes the link)."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLError):
                continue
            if not chunk:
                break
            self.received += chunk.decode(errors="replace")
        return self.received

    def close(self) -> None:
        self.sock.close()


def tamper_jwt(creds: str, change: Mapping[str, Any]) -> str:
    """The same ``.creds`` with claims in the JWT's ``nats`` section changed and the
    original signature kept: what a spoke would try to widen its own permissions."""
    jwt, _ = _creds_parts(creds)
    header, body, sig = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["nats"].update(change)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return creds.replace(jwt, f"{header}.{forged}.{sig}")


def present_certificate(port: int, files: Mapping[str, str]) -> str:
    """Open TLS to ``port`` presenting the certificate in ``files`` whatever the server asks
    for (a Go client would withhold one the server's CA list does not name); returns how
    the handshake ended on our side."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the attacker does not care who the server is
    context.load_cert_chain(files["cert_file"], files["key_file"])
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
        try:
            with context.wrap_socket(raw) as sock:
                sock.sendall(b"PING\r\n")
                return f"answered {sock.recv(100)!r}"
        except (ssl.SSLError, OSError) as err:
            return f"refused: {err}"


def leaf_login(host: str, port: int, creds_file: str, ca_file: str, seconds: float = 2.0) -> str:
    """Log in to a hub's leaf port as ``creds_file`` and return what the hub said (run from
    another network namespace: ``python -c`` with this module on the path)."""
    leaf = RawLeaf(port, Path(creds_file).read_text(), Path(ca_file).read_text(), "netns-leaf", host)
    try:
        return leaf.read_for(seconds)
    finally:
        leaf.close()
