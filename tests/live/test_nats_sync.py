"""nats-sync against a real nats-server: a reload-class change is reloaded (and confirmed on
``/varz``), a restart-class change restarts the server, nothing else does either. The
``aws`` and ``systemctl`` it calls are stand-ins on PATH; ``systemctl`` drives the real
server process (SIGHUP for reload; stop and start for restart)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lattice.natsconf import CONFIG_FILE
from lattice.node import nats_sync
from lattice.node.cloudinit import sync_programs
from sandbox import binaries
from sandbox.ports import free_ports

pytestmark = pytest.mark.live

FAKE_SYSTEMCTL = """\
import os, signal, subprocess, sys, time
state = {state!r}
with open(os.path.join(state, "calls"), "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
pid_file = os.path.join(state, "pid")
pid = int(open(pid_file).read())
def alive(p):  # a zombie (the test started the first server, and reaps it late) is gone
    try:
        return open(f"/proc/{{p}}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
command = sys.argv[1]
if command == "is-active":
    sys.exit(0 if alive(pid) else 3)
if command == "reload":
    os.kill(pid, signal.SIGHUP)
elif command == "restart":
    os.kill(pid, signal.SIGTERM)
    while alive(pid):
        time.sleep(0.05)
    log = open(os.path.join(state, "server.log"), "ab")
    proc = subprocess.Popen([{server!r}, "-c", {config!r}], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    open(pid_file, "w").write(str(proc.pid))
"""


def config(name: str, client: int, monitor: int, ping_max: int) -> str:
    return textwrap.dedent(f"""\
        server_name: "{name}"
        listen: "127.0.0.1:{client}"
        http: "127.0.0.1:{monitor}"
        ping_max: {ping_max}
        """)


class Node:
    """A directory laid out like a node's, a real nats-server, and the stand-in tools."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc, self.lib, self.bin, self.state = (root / d for d in ("etc", "lib", "bin", "state"))
        for d in (self.etc, self.lib, self.bin, self.state):
            d.mkdir()
        self.client, self.monitor = free_ports(2)
        aws = self.bin / "aws"
        aws.write_text(f"#!/bin/sh\ncat {self.state / 'secret.json'}\n")
        systemctl = self.bin / "systemctl"
        systemctl.write_text(
            f"#!{sys.executable}\n"
            + FAKE_SYSTEMCTL.format(
                state=str(self.state), server=binaries.nats_server(), config=str(self.etc / CONFIG_FILE)
            )
        )
        for tool in (aws, systemctl):
            tool.chmod(0o755)

    def publish(self, text: str) -> None:
        secret = {"files": {CONFIG_FILE: text}, "programs": sync_programs()}
        (self.state / "secret.json").write_text(json.dumps(secret))

    def sync(self, *flags: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "NATS_SYNC_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:node",
            "NATS_SYNC_REGION": "us-east-1",
            "NATS_SYNC_CONFIG_DIR": str(self.etc),
            "NATS_SYNC_PROGRAM_DIR": str(self.lib),
            "NATS_SYNC_OWNER": "",
            "NATS_SYNC_SLOT_SECONDS": "10",
        }
        return subprocess.run(
            [sys.executable, str(self.lib / "nats_sync.py"), *flags],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        with open(self.state / "server.log", "ab") as log:
            proc = subprocess.Popen(
                [binaries.nats_server(), "-c", str(self.etc / CONFIG_FILE)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (self.state / "pid").write_text(str(proc.pid))
        self.varz()

    def pid(self) -> int:
        return int((self.state / "pid").read_text())

    def varz(self) -> Any:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/varz", timeout=2) as r:
                    return json.load(r)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        try:
            pid = self.pid()
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = Node(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def test_nats_sync_reloads_or_restarts_as_the_classifier_says(node: Node) -> None:
    # first boot: the boot script copies the programs, nats-sync writes the config, then
    # the server starts
    for name, text in sync_programs().items():
        (node.lib / name).write_text(text)
    node.publish(config("n1", node.client, node.monitor, ping_max=2))
    first = node.sync()
    assert first.returncode == 0, first.stderr
    node.start()
    pid = node.pid()

    node.publish(config("n1", node.client, node.monitor, ping_max=3))  # reload-class
    reloaded = node.sync("--reload", "--once")
    assert reloaded.returncode == 0, reloaded.stderr
    assert "ping_max: reloadable" in reloaded.stdout and "reloaded nats-server" in reloaded.stdout
    assert node.pid() == pid and node.varz()["ping_max"] == 3

    node.publish(config("n2", node.client, node.monitor, ping_max=3))  # restart-class
    restarted = node.sync("--reload", "--once")
    assert restarted.returncode == 0, restarted.stderr
    assert "server_name: needs restart" in restarted.stdout and "nats-server healthy again" in restarted.stdout
    assert node.pid() != pid and node.varz()["server_name"] == "n2"
    assert not (node.etc / nats_sync.PENDING).exists()

    calls = (node.state / "calls").read_text()
    quiet = node.sync("--reload", "--once")
    assert "updated" not in quiet.stdout and (node.state / "calls").read_text().count("\n") == calls.count("\n") + 1
