#!/usr/bin/env python3
"""jetstream-sync: keep the streams and consumers a lattice's ``hubStreams`` declare.

Runs beside the hubs on every platform: on each AWS hub node after ``nats-sync`` (its
timer), as a Deployment per Kubernetes hub region, as a process in the sandbox. It reads
its settings (``jetstream-sync.json``, rendered by :mod:`lattice.jetstream`): the hub
servers to dial, the CA, its bearer JWT's file and the hub streams with their sites, which
:func:`expand` makes into every asset, each with the API that keeps it (the hubs'
``$JS.API``, or a site's ``$JS.<domain>.API`` through the hubs). The project derives its
assets and the sites' leaf allow-lists from the same functions (this file ships alone).

Each run looks every asset up and creates what is missing or updates what differs from
the stack, in order (hub streams, the hubs' consumers for mirroring sites, then the
sites' streams, since a mirror binds to its consumer). It never deletes or purges a
stream; it deletes only the hubs' per-site consumers (``site-<domain>``) of a site no
longer declared. A site that does not answer (its link is down) is left for the next run.

Standard library only (Python 3.9, as on Amazon Linux 2023): a bearer JWT logs in
without signing a nonce, so no ed25519 is needed; the NATS protocol it speaks is CONNECT,
SUB, PUB and MSG/HMSG over TLS. It lives in ``lattice/`` beside ``reload.py``, the other
module that ships alone to the nodes, because the pure core derives the sites' grants from
its names: importing nothing, it stands on the ground floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import ssl
import sys
import time
from typing import Any, TypeVar

T = TypeVar("T")

HUB_API = "$JS.API"
NOT_FOUND = (10059, 10014)
"""JetStream's ``err_code`` for "stream not found" and "consumer not found"."""
MIRROR_UNCHANGEABLE = "mirror configuration can not be updated"
"""nats-server's refusal to change a stream's mirror (stream.go): a site's mirror made another
way (the earlier releases' recipe, its own consumer at the hubs) must be deleted at the site
for the agent to make it bound to the site's consumer."""
REQUEST_TIMEOUT = 5.0
CONSUMER_PREFIX = "site-"
"""A mirroring site's consumer at the hubs is ``site-<its domain>``: the agent deletes
consumers of this form that no declared site uses any more."""
HEARTBEAT_NS = 1_000_000_000
"""A flow-control consumer's idle heartbeat: nats-server requires exactly 1 s (consumer.go)."""
SPOKE = "{spoke}"
"""In a stream's subjects, the token each site's own name fills (``lattice.spec.SPOKE_TOKEN``)."""
SYNCED = ("ok", "created", "updated", "deleted")
"""The states of an asset the run left as the stack declares it."""


# -- the names JetStream sees (the leaf allow-lists are made from the same: lattice.jetstream)


def domain_api(domain: str) -> str:
    """Where a JetStream domain's API answers from another domain."""
    return f"$JS.{domain}.API"


def source_deliver_prefix(domain: str) -> str:
    """The deliver prefix a hub stream gives its source at ``domain``: the site may send up
    deliveries under it only, so no site can feed another site's source."""
    return f"$JS.S.{domain}"


def mirror_consumer(domain: str) -> str:
    return f"{CONSUMER_PREFIX}{domain}"


def mirror_deliver_subject(domain: str, stream: str) -> str:
    return f"$JS.M.{domain}.{stream}"


def for_site(subject: str, spoke: str) -> str:
    """``subject`` with its ``{spoke}`` token replaced by ``spoke``'s name."""
    return ".".join(spoke if part == SPOKE else part for part in subject.split("."))


def expand(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Every asset of the settings' hub streams, in the order they must exist: hub streams,
    the hubs' consumers for mirroring sites, then each site's streams (a mirror binds to
    its consumer). Each: ``api``, ``stream``, ``config``, and ``consumer`` or ``site``."""
    hub: list[dict[str, Any]] = []
    consumers: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []
    for stream in settings["streams"]:
        name, config = stream["name"], dict(stream["config"])
        sources = stream.get("sources")
        config["sources"] = [  # said when empty too, so sources the stack drops are dropped
            {"name": sources["stream"], "external": {"api": domain_api(d), "deliver": source_deliver_prefix(d)}}
            for _, d in (sources["sites"] if sources else [])
        ]
        if sources:
            for spoke, domain in sources["sites"]:
                site = dict(sources["config"], name=sources["stream"])
                site["subjects"] = [for_site(s, spoke) for s in sources["subjects"]]
                sites.append({"api": domain_api(domain), "stream": sources["stream"], "config": site, "site": spoke})
        hub.append({"api": HUB_API, "stream": name, "config": config})
        mirrors = stream.get("mirrors")
        for spoke, domain in mirrors["sites"] if mirrors else []:
            consumer = mirror_consumer(domain)
            deliver = mirror_deliver_subject(domain, name)
            consumer_config = {
                "durable_name": consumer,
                "name": consumer,
                "deliver_subject": deliver,
                "deliver_policy": "all",
                "ack_policy": "flow_control",
                "flow_control": True,
                "idle_heartbeat": HEARTBEAT_NS,
            }
            consumers.append({"api": HUB_API, "stream": name, "consumer": consumer, "config": consumer_config})
            mirror = {
                "name": mirrors["stream"],
                "storage": "file",
                "max_bytes": config["max_bytes"],
                "mirror": {
                    "name": name,
                    "external": {"api": domain_api(settings["hub_domain"])},
                    "consumer": {"name": consumer, "deliver_subject": deliver},
                },
            }
            sites.append({"api": domain_api(domain), "stream": mirrors["stream"], "config": mirror, "site": spoke})
    return [*hub, *consumers, *sites]


def log(message: str) -> None:
    print(f"jetstream-sync: {message}", flush=True)


class NatsError(RuntimeError):
    """The server refused us, or no server could be reached."""


class Connection:
    """One NATS client connection (TLS, bearer JWT) that sends requests in batches."""

    def __init__(self, servers: list[str], ca_file: str, jwt: str, inbox: str, timeout: float = REQUEST_TIMEOUT):
        self.inbox = f"{inbox}.{random.getrandbits(64):016x}"
        self.batches = 0
        self.timeout = timeout
        self.buffer = b""
        errors = []
        for url in servers:
            try:
                self.sock = self._dial(url, ca_file, jwt)
                self.url = url
                break
            except (OSError, NatsError, ValueError, IndexError) as err:  # IndexError: a malformed INFO
                errors.append(f"{url}: {err}")
        else:
            raise NatsError("no server answered: " + "; ".join(errors))
        self._send(f"SUB {self.inbox}.*.* 1\r\n".encode())

    def _dial(self, url: str, ca_file: str, jwt: str) -> socket.socket:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        raw = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        try:
            self.sock = raw
            info = json.loads(self._line().split(b" ", 1)[1])
            sock: socket.socket = raw
            if scheme == "tls" or info.get("tls_required"):
                context = ssl.create_default_context(cafile=ca_file)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                sock = context.wrap_socket(raw, server_hostname=host.strip("[]"))
                sock.settimeout(self.timeout)
            self.sock = sock
            connect = {
                "jwt": jwt,
                "verbose": False,
                "pedantic": False,
                "headers": True,
                "no_responders": True,
                "protocol": 1,
                "name": "jetstream-sync",
                "lang": "python-stdlib",
                "version": "1",
            }
            self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            while True:
                line = self._line()
                if line == b"PONG":
                    return sock
                if line.startswith(b"-ERR"):
                    raise NatsError(line.decode(errors="replace"))
        except BaseException:
            raw.close()
            raise

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise NatsError("connection closed by the server")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _payload(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def requests(self, items: list[tuple[str, bytes]], timeout: float = REQUEST_TIMEOUT) -> list[bytes | None]:
        """Send every request at once; each answer, or None where none came in time (or no
        responder exists: a site whose link is down)."""
        out: list[bytes | None] = [None] * len(items)
        pending = set(range(len(items)))
        self.batches += 1  # each batch its own replies: a late answer to an earlier one is dropped
        batch = str(self.batches).encode()
        for i, (subject, payload) in enumerate(items):
            reply = f"{self.inbox}.{self.batches}.{i}"
            self._send(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                line = self._line()
            except (socket.timeout, TimeoutError):  # noqa: UP041 - distinct on Python 3.9, the nodes'
                break
            finally:
                self.sock.settimeout(self.timeout)
            if line == b"PING":
                self._send(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise NatsError(line.decode(errors="replace"))
            elif line.startswith((b"MSG ", b"HMSG ")):
                parts = line.split()
                headers = 0
                if parts[0] == b"HMSG":
                    headers, total = int(parts[-2]), int(parts[-1])
                else:
                    total = int(parts[-1])
                body = self._payload(total)
                *_, token, number = parts[1].rsplit(b".", 2)
                index = int(number) if token == batch else -1
                if index in pending:
                    pending.discard(index)
                    head, data = body[:headers], body[headers:]
                    out[index] = None if b" 503" in head.split(b"\r\n", 1)[0] else data
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# -- what an asset is, and whether the server holds it as declared ------------------------


def pairs(items: list[T], answers: list[bytes | None]) -> list[tuple[T, bytes | None]]:
    """Each request with its answer (``Connection.requests`` gives one per request; Python
    3.9 has no ``zip(strict=True)``)."""
    assert len(items) == len(answers)
    return [(item, answers[i]) for i, item in enumerate(items)]


def label(asset: dict[str, Any]) -> str:
    where = asset.get("site") or "hubs"
    consumer = asset.get("consumer")
    return f"{where}: stream {asset['stream']}" + (f" consumer {consumer}" if consumer else "")


def matches(wanted: Any, found: Any) -> bool:
    """Whether ``found`` (the server's view) holds every key of ``wanted`` with its value;
    lists match item by item, and an empty value matches a key the server leaves out (it
    omits empty ones), so a declared ``"sources": []`` notices sources the stack dropped."""
    if isinstance(wanted, dict):
        if not isinstance(found, dict):
            return False
        return all(matches(v, found[k]) if k in found else v in ([], {}) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(found, list)
            and len(found) == len(wanted)
            and all(matches(w, found[i]) for i, w in enumerate(wanted))
        )
    return bool(wanted == found)


def _info_subject(asset: dict[str, Any]) -> str:
    if asset.get("consumer"):
        return f"{asset['api']}.CONSUMER.INFO.{asset['stream']}.{asset['consumer']}"
    return f"{asset['api']}.STREAM.INFO.{asset['stream']}"


def _change(asset: dict[str, Any], exists: bool) -> tuple[str, bytes]:
    if asset.get("consumer"):
        body = {"stream_name": asset["stream"], "config": asset["config"], "action": "update" if exists else "create"}
        return f"{asset['api']}.CONSUMER.CREATE.{asset['stream']}.{asset['consumer']}", json.dumps(body).encode()
    verb = "UPDATE" if exists else "CREATE"
    return f"{asset['api']}.STREAM.{verb}.{asset['stream']}", json.dumps(asset["config"]).encode()


def _decode(answer: bytes | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    try:
        value = json.loads(answer)
    except ValueError:
        return {"error": {"description": f"not JSON: {answer[:80]!r}"}}
    return value if isinstance(value, dict) else {"error": {"description": "not an object"}}


def sync_group(conn: Connection, group: list[dict[str, Any]]) -> dict[str, str]:
    """Look every asset of ``group`` up, then create or update what needs it: each asset's
    state (``ok``, ``created``, ``updated``, ``unreachable`` or ``failed: ...``)."""
    states: dict[str, str] = {}
    infos = conn.requests([(_info_subject(a), b"") for a in group])
    changes: list[tuple[dict[str, Any], bool]] = []
    for asset, answer in pairs(group, infos):
        info = _decode(answer)
        if info is None:
            states[label(asset)] = "unreachable"
        elif "error" in info:
            if info["error"].get("err_code") in NOT_FOUND:
                changes.append((asset, False))
            else:
                states[label(asset)] = f"failed: {info['error'].get('description')}"
        elif matches(asset["config"], info.get("config")):
            states[label(asset)] = "ok"
        else:
            changes.append((asset, True))
    answers = conn.requests([_change(a, exists) for a, exists in changes])
    for (asset, exists), answer in pairs(changes, answers):
        result = _decode(answer)
        if result is None:
            states[label(asset)] = "unreachable"
        elif "error" in result:
            why = str(result["error"].get("description"))
            if MIRROR_UNCHANGEABLE in why:
                why += f" (delete {asset['stream']} at {asset.get('site')}: the agent makes it again, bound)"
            states[label(asset)] = f"failed: {why}"
        else:
            states[label(asset)] = "updated" if exists else "created"
    return states


def retire_consumers(conn: Connection, assets: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """Delete the hubs' per-site consumers (``prefix``) of the hub streams that no declared
    site uses any more."""
    wanted: dict[str, set[str]] = {}
    for asset in assets:
        if asset["api"] == HUB_API:
            consumers = wanted.setdefault(asset["stream"], set())
            if asset.get("consumer"):
                consumers.add(asset["consumer"])
    states: dict[str, str] = {}
    streams = sorted(wanted)
    answers = conn.requests([(f"{HUB_API}.CONSUMER.NAMES.{s}", b"") for s in streams])
    doomed: list[tuple[str, str]] = []
    for stream, answer in pairs(streams, answers):
        names = (_decode(answer) or {}).get("consumers") or []
        doomed += [(stream, n) for n in sorted(names) if n.startswith(prefix) and n not in wanted[stream]]
    results = conn.requests([(f"{HUB_API}.CONSUMER.DELETE.{s}.{n}", b"") for s, n in doomed])
    for (stream, name), answer in pairs(doomed, results):
        result = _decode(answer)
        ok = result is not None and result.get("success")
        states[f"hubs: stream {stream} consumer {name}"] = "deleted" if ok else f"failed: {result}"
    return states


def run_once(settings: dict[str, Any], base: str) -> dict[str, str]:
    """One pass over every asset; each asset's state."""
    with open(os.path.join(base, settings["jwt_file"])) as f:
        jwt = f.read().strip()
    servers = list(settings["servers"])
    random.shuffle(servers)  # several agents (one per hub node) spread over the servers
    conn = Connection(servers, os.path.join(base, settings["ca_file"]), jwt, settings["inbox"])
    try:
        assets = expand(settings)
        states: dict[str, str] = {}
        hub_streams = [a for a in assets if not a.get("site") and not a.get("consumer")]
        consumers = [a for a in assets if a.get("consumer")]
        sites = [a for a in assets if a.get("site")]
        for group in (hub_streams, consumers, sites):
            if group:
                states.update(sync_group(conn, group))
        states.update(retire_consumers(conn, [*hub_streams, *consumers], CONSUMER_PREFIX))
        return states
    finally:
        conn.close()


def in_sync(states: dict[str, str]) -> bool:
    return all(s in SYNCED for s in states.values())


def report(states: dict[str, str]) -> None:
    """Log what this run changed or could not do (every run, so it shows in the journal)."""
    for name, state in sorted(states.items()):
        if state != "ok":
            log(f"{name}: {state}")


def write_status(path: str | None, states: dict[str, str], started: float) -> None:
    """The run's outcome, for whoever watches (the sandbox's waits): ``started`` is when
    the run began (``time.time()``)."""
    if not path:
        return
    document = {"in_sync": in_sync(states), "started": started, "assets": states}
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jetstream-sync", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="jetstream-sync.json")
    parser.add_argument("--interval", type=float, default=0, help="run every N seconds (0: once)")
    parser.add_argument("--status", help="write each run's states to this JSON file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    base = os.path.dirname(os.path.abspath(args.config))
    while True:
        started = time.time()
        try:
            with open(args.config) as f:
                settings = json.load(f)
            states = run_once(settings, base)
        except Exception as err:  # a failed run is reported; under --interval the next one tries again
            log(f"run failed: {err}")
            states = {"hubs": f"unreachable: {err}"}
        report(states)
        write_status(args.status, states, started)
        if not args.interval:
            return 0 if in_sync(states) else 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
