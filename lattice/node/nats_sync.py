#!/usr/bin/env python3
"""nats-sync: write a node's files from its AWS Secrets Manager secret and apply the change
the way nats-server can take it: nothing, a reload (SIGHUP), or a restart of this node only.

Runs on every cloud node (installed by the boot script, run at boot and by a systemd
timer). The secret holds ``{"files": {"<name>": "<text>"}, "programs": {...}}``: the node's
whole rendered config (``nats-server.conf``) and what it includes or names (``trust.conf``,
``.creds``, certificates), and the programs that run here (this file and the reload
classifier, ``lattice/reload.py`` shipped as ``nats_reload.py``), so a new config, a key,
a revocation or a fix to this job never touches the instance or its user-data.

On a change the classifier (the same module the program and the tests use) decides:
- reload: ``systemctl reload`` (SIGHUP), then confirmed on ``/varz`` (``config_load_time``
  moves only when nats-server accepted it); a refused reload falls back to a restart;
- restart: a hub node waits for its turn (node ``i`` of ``n`` may restart only in the
  ``i``-th of ``n`` wall-clock slots, so two nodes of a cluster never restart together),
  then for every peer's ``/healthz`` (JetStream current), then restarts; the unit's
  ``ExecStop`` (``nats-sync --drain``) puts nats-server in lame-duck mode first. A spoke
  (one server, nobody to hand clients to) restarts at once.

After the files, on a hub whose stack declares ``hubStreams`` (its secret names the
region's agent secret under ``agent``), it fetches the hub-stream agent and its settings
from there and runs it once: every hub node keeps the stack's streams and consumers each
minute.

Standard library and the AWS CLI only (Python 3.9 and the CLI ship with Amazon Linux 2023).
Settings come from the environment so the systemd unit, and tests, set them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLASSIFIER = "nats_reload.py"
"""The reload classifier's file name on a node (``lattice/reload.py`` in the project)."""
AGENT = "jetstream_sync.py"
AGENT_CONFIG = "jetstream-sync.json"
"""The hub-stream agent and its settings, by the names its secret gives them
(``lattice.jetstream``'s; a test keeps them equal)."""
AGENT_TIMEOUT = 50
"""Seconds the agent may take (within the timer's minute): a site that does not answer costs
one request timeout, all sites' requests are sent at once."""
PENDING = ".nats-sync-restart"
"""Marks a restart decided but not yet done (survives a crash of this job)."""
SLOT_SECONDS = 120
"""A node's turn: the drain (lame duck, the handoff, quit), start, and JetStream catching up fit in it."""
DRAIN_WAIT = 120
"""How long ``--drain`` waits for the peers to be healthy before leaving anyway."""
HANDOFF_SECONDS = 5
"""Lame duck's JetStream handoff, then quit: ``LAME_DUCK_HANDOFF_SECONDS`` in
``lattice/natsconf/blocks.py`` says why (this file runs alone on a node; a test keeps the
two equal)."""


class Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.secret_id = env.get("NATS_SYNC_SECRET_ID", "")
        self.region = env.get("NATS_SYNC_REGION", "")
        self.config_dir = env.get("NATS_SYNC_CONFIG_DIR", "/etc/nats")
        self.owner = env.get("NATS_SYNC_OWNER", "nats")
        self.program_dir = env.get("NATS_SYNC_PROGRAM_DIR", "/usr/local/lib/nats-sync")
        self.service = env.get("NATS_SYNC_SERVICE", "nats-server.service")
        self.slot = int(env.get("NATS_SYNC_SLOT", "0"))
        self.slots = int(env.get("NATS_SYNC_SLOTS", "1"))
        self.slot_seconds = float(env.get("NATS_SYNC_SLOT_SECONDS", str(SLOT_SECONDS)))


def log(message: str) -> None:
    print(f"nats-sync: {message}", flush=True)


def load_classifier(program_dir: str) -> Any:
    """``nats_reload.py`` beside this job on a node; ``lattice/reload.py`` in the project."""
    candidates = [Path(program_dir) / CLASSIFIER, Path(__file__).resolve().parents[1] / "reload.py"]
    for path in candidates:
        if path.is_file():
            spec = importlib.util.spec_from_file_location("nats_reload", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules["nats_reload"] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
            return module
    raise SystemExit(f"nats-sync: no {CLASSIFIER} in {program_dir}")


# -- the secret -----------------------------------------------------------------------------


def fetch(secret_id: str, region: str, attempts: int) -> dict[str, Any]:
    """The secret's document (``files``, ``programs`` and, for a hub of a stack with hub
    streams, ``agent``: its region's agent secret); retried, since at first boot the role
    may not be usable yet."""
    argv = ["aws", "secretsmanager", "get-secret-value", "--region", region, "--secret-id", secret_id]
    argv += ["--query", "SecretString", "--output", "text"]
    error = ""
    for attempt in range(attempts):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            document = json.loads(result.stdout)
            out: dict[str, Any] = {}
            for key in ("files", "programs"):
                part = document.get(key, {})
                if not isinstance(part, dict):
                    raise SystemExit(f"nats-sync: secret's {key!r} is not a mapping")
                out[key] = {str(k): str(v) for k, v in part.items()}
            if not out["files"]:
                raise SystemExit("nats-sync: secret has no 'files' mapping")
            if isinstance(document.get("agent"), str):
                out["agent"] = document["agent"]
            return out
        error = result.stderr.strip()
        time.sleep(min(2**attempt, 30))
    raise SystemExit(f"nats-sync: cannot read secret {secret_id}: {error}")


def _safe_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise SystemExit(f"nats-sync: refusing file name {name!r}")


def read_current(names: list[str], directory: str) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            with open(os.path.join(directory, name)) as current:
                out[name] = current.read()
        except FileNotFoundError:
            pass
    return out


def write_changed(files: dict[str, str], directory: str, owner: str, mode: int = 0o600) -> list[str]:
    """Write each file that differs, by rename; return the names written."""
    changed = []
    for name, text in sorted(files.items()):
        _safe_name(name)
        path = os.path.join(directory, name)
        if read_current([name], directory).get(name) == text:
            continue
        tmp = f"{path}.nats-sync"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        if os.geteuid() == 0 and owner:
            shutil.chown(tmp, owner, owner)
        os.replace(tmp, path)
        changed.append(name)
    return changed


# -- the server, seen from its monitor port -------------------------------------------------


def _get_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own monitor ports
        return json.load(response)


def healthy(monitor: str) -> bool:
    """``/healthz``: the server is up and, with JetStream, its meta leader known and every
    stream and consumer current (what a peer must be before another node may go)."""
    try:
        return bool(_get_json(f"{monitor}/healthz").get("status") == "ok")
    except (OSError, ValueError, urllib.error.URLError):
        return False


def config_load_time(monitor: str) -> str | None:
    try:
        return str(_get_json(f"{monitor}/varz")["config_load_time"])
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


def monitors(config: dict[str, Any]) -> tuple[str, list[str]]:
    """This server's monitor URL and its cluster peers' (route hosts, the same port)."""
    port = str(config.get("http", "127.0.0.1:8222")).rsplit(":", 1)[1]
    own = f"http://127.0.0.1:{port}"
    peers = []
    for route in config.get("cluster", {}).get("routes", []):
        host = str(route).split("://", 1)[-1].rsplit(":", 1)[0].split("@")[-1]
        peers.append(f"http://{host}:{port}")
    return own, peers


# -- turns ----------------------------------------------------------------------------------


def seconds_until_turn(now: float, slot: int, slots: int, slot_seconds: float) -> float:
    """Wall-clock turns: node ``slot`` of ``slots`` may begin a restart only in the first
    quarter of its own slot of every cycle, so a restart ends inside its slot and two nodes'
    never overlap (the clocks are NTP-synced: Amazon Time Sync)."""
    cycle = slots * slot_seconds
    position = now % cycle
    start = slot * slot_seconds
    if start <= position < start + slot_seconds / 4:
        return 0.0
    return (start - position) % cycle


def restart_in_turn(
    settings: Settings,
    own: str,
    peers: list[str],
    restart: Callable[[], None],
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    is_healthy: Callable[[str], bool] = healthy,
) -> None:
    """Wait for this node's turn with every peer healthy, restart, wait until healthy again."""
    if settings.slots > 1:
        while True:
            sleep(seconds_until_turn(now(), settings.slot, settings.slots, settings.slot_seconds))
            sick = [p for p in peers if not is_healthy(p)]
            if not sick:
                break
            log(f"not restarting in this turn: {', '.join(sick)} not healthy")
            sleep(settings.slot_seconds / 4)  # past this turn's start: wait for the next one
    log("restarting nats-server (lame duck first)")
    restart()
    deadline = now() + settings.slot_seconds
    while not is_healthy(own) and now() < deadline:
        sleep(1)
    log("nats-server healthy again" if is_healthy(own) else "nats-server not healthy after its restart")


def drain(settings: Settings, main_pid: int, *, wait: float = DRAIN_WAIT, handoff: float = HANDOFF_SECONDS) -> None:
    """``ExecStop`` of a hub node: wait (bounded) until every peer is healthy, so this node
    is never the second one down, then lame duck (no new connections, its JetStream leaders
    move to the peers) and, ``handoff`` seconds later, quit: its clients, leaf links and
    gateways drop at one instant (see ``HANDOFF_SECONDS``)."""
    classifier = load_classifier(settings.program_dir)
    files = read_current([classifier.CONFIG_FILE], settings.config_dir)
    peers: list[str] = []
    if files:
        try:
            tree, _ = classifier.parse_server(_with_includes(files, settings.config_dir, classifier))
            peers = monitors(tree)[1]
        except (ValueError, OSError) as err:
            log(f"drain: cannot read the config ({err}); not waiting for peers")
    deadline = time.monotonic() + wait
    while peers and time.monotonic() < deadline:
        sick = [p for p in peers if not healthy(p)]
        if not sick:
            break
        log(f"drain: waiting for {', '.join(sick)}")
        time.sleep(2)
    try:
        os.kill(main_pid, signal.SIGUSR2)  # nats-server --signal ldm=<pid>
    except ProcessLookupError:
        return
    log(f"drain: lame duck mode for pid {main_pid}")
    deadline = time.monotonic() + handoff
    while _running(main_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not _running(main_pid):
        return
    try:
        os.kill(main_pid, signal.SIGINT)  # nats-server --signal quit=<pid>
        log(f"drain: quit pid {main_pid} after the handoff")
    except ProcessLookupError:
        return
    while _running(main_pid):
        time.sleep(0.2)


def _running(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _with_includes(files: dict[str, str], directory: str, classifier: Any) -> dict[str, str]:
    """The config and every file beside it (the parser picks what the config includes)."""
    out = dict(files)
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry not in out and os.path.isfile(path) and not entry.startswith("."):
            with open(path) as f:
                out[entry] = f.read()
    return out


# -- one run --------------------------------------------------------------------------------


def systemctl(*args: str) -> int:
    return subprocess.run(["systemctl", *args], check=False).returncode


def sync(settings: Settings, document: dict[str, Any], apply: bool) -> int:
    wanted = document["files"]
    if document["programs"]:
        os.makedirs(settings.program_dir, exist_ok=True)
        updated = write_changed(document["programs"], settings.program_dir, "", mode=0o755)
        if updated:
            log("updated programs " + ", ".join(updated))
    classifier = load_classifier(settings.program_dir)
    current = read_current(sorted(wanted), settings.config_dir)
    pending_path = os.path.join(settings.config_dir, PENDING)
    running = apply and systemctl("is-active", "--quiet", settings.service) == 0
    action = "none"
    if running and classifier.CONFIG_FILE in current:
        try:
            change = classifier.classify(current, wanted)
            action = change.action.value
            for reason in change.reasons:
                log(reason)
        except ValueError as err:  # a config the parser cannot read: be safe
            log(f"cannot classify the change ({err}): restart")
            action = "restart"
    if action == "restart":
        Path(pending_path).touch()
    changed = write_changed(wanted, settings.config_dir, settings.owner)
    if changed:
        log("updated " + ", ".join(changed))
    if not running:
        return 0
    if os.path.exists(pending_path):
        action = "restart"
    own, peers = monitors(classifier.parse_server(wanted)[0])
    if action == "reload":
        before = config_load_time(own)
        systemctl("reload", settings.service)
        deadline = time.monotonic() + 10
        while config_load_time(own) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        if config_load_time(own) != before:
            log("reloaded nats-server")
            return 0
        log("nats-server refused the reload: restart")
        Path(pending_path).touch()
        action = "restart"
    if action == "restart":
        restart_in_turn(settings, own, peers, lambda: _restart(settings))
        os.remove(pending_path)
    return 0


def _restart(settings: Settings) -> None:
    if systemctl("restart", settings.service) != 0:
        raise SystemExit("nats-sync: systemctl restart failed")


def run_agent(settings: Settings, agent_secret: str, run: Callable[..., Any] = subprocess.run) -> int:
    """Fetch the region's hub-stream agent (its program and settings), write them beside
    nats-sync's and the server's files (the JWT 0600, root's), and run it once; its exit code."""
    document = fetch(agent_secret, settings.region, 1)
    updated = write_changed(document["programs"], settings.program_dir, "", mode=0o755)
    if updated:
        log("updated programs " + ", ".join(updated))
    write_changed(document["files"], settings.config_dir, "")
    config = os.path.join(settings.config_dir, AGENT_CONFIG)
    program = os.path.join(settings.program_dir, AGENT)
    try:
        done = run([sys.executable, program, "--config", config], check=False, timeout=AGENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        log(f"the hub-stream agent took more than {AGENT_TIMEOUT} s")
        return 124
    code: int = done.returncode
    if code != 0:
        log(f"the hub-stream agent left some stream or consumer as it was (exit {code}; see its lines)")
    return code


def main(argv: list[str]) -> int:
    settings = Settings(dict(os.environ))
    if "--drain" in argv:  # ExecStop=nats-sync --drain $MAINPID (empty once the server is gone)
        rest = argv[argv.index("--drain") + 1 :]
        if rest and rest[0].isdigit():
            drain(settings, int(rest[0]))
        return 0
    apply = "--reload" in argv
    document = fetch(settings.secret_id, settings.region, 1 if "--once" in argv else 30)
    code = sync(settings, document, apply=apply)
    if apply and "agent" in document:
        run_agent(settings, document["agent"])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
