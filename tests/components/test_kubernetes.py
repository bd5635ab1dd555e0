"""The Kubernetes platform under mocks: hubs and spokes in the stacks that use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.platforms.kubernetes.workloads import FILES, wash_installer
from lattice.natsconf import RenderedServer
from lattice.node.artifacts import WASH
from sandbox.tls import PrivateCA
from tests.support.helpers import load_stack, nats_server_test
from tests.support.mocks import is_secret
from tests.support.program import ProgramRun, run_program, runs_of, stack_config

K8S_STACKS = ["edge-k8s", "prod"]


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, ProgramRun]]:
    yield from runs_of(K8S_STACKS)


def _of(run: ProgramRun, typ: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in run.mocks.of_type(typ)}


def _pod(sts: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = sts["spec"]["template"]["spec"]
    return pod


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] if c["name"] == name)


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_every_cluster_is_reached_through_an_explicit_provider_with_a_secret_kubeconfig(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    providers = runs[stack].mocks.of_type("pulumi:providers:kubernetes")
    assert providers
    for provider in providers:
        assert is_secret(provider.inputs["kubeconfig"]), provider.name


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_pods_have_probes_limits_and_no_root(stack: str, runs: dict[str, ProgramRun]) -> None:
    for name, sts in _of(runs[stack], "kubernetes:apps/v1:StatefulSet").items():
        assert not is_secret(sts["spec"]), f"{name}: a secret spec would hide the pod from preview diffs"
        nats = _container(_pod(sts), "nats")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in nats, f"{name}: {probe}"
        assert nats["resources"]["requests"]["memory"] and nats["resources"]["limits"]["memory"]
        assert nats["securityContext"]["runAsNonRoot"] is True
        assert nats["securityContext"]["readOnlyRootFilesystem"] is True
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"].endswith("Gi")


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_hub_pods_spread_and_keep_a_quorum(stack: str, runs: dict[str, ProgramRun]) -> None:
    spec, run = load_stack(stack), runs[stack]
    statefulsets = _of(run, "kubernetes:apps/v1:StatefulSet")
    budgets = _of(run, "kubernetes:policy/v1:PodDisruptionBudget")
    for hub in (h for h in spec.hubs if h.platform == "kubernetes"):
        sts = statefulsets[f"{spec.name}-{hub.name}-nats"]
        pod = _pod(sts)
        assert sts["spec"]["replicas"] == hub.nodes
        anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
        assert budgets[f"{spec.name}-{hub.name}-pdb"]["spec"]["maxUnavailable"] == 1
        # each pod reads its own config: the ConfigMap has one per server, named like the pods
        config_map = _of(run, "kubernetes:core/v1:ConfigMap")[f"{spec.name}-{hub.name}-config"]
        assert sorted(config_map["data"]) == [f"{hub.name}-{i}.conf" for i in range(hub.nodes)]
        assert _container(pod, "nats")["args"] == ["--config", "/etc/nats/$(POD_NAME).conf"]


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_the_host_sidecar_connects_to_the_pods_loopback_and_never_sees_the_credentials(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    spec, run = load_stack(stack), runs[stack]
    statefulsets = _of(run, "kubernetes:apps/v1:StatefulSet")
    checked = 0
    for spoke in (s for s in spec.spokes if s.platform == "kubernetes"):
        pod = _pod(statefulsets[f"{spec.name}-{spoke.name}-nats"])
        names = [c["name"] for c in pod["containers"]]
        assert names == (["nats", "wasmcloud-host"] if spoke.wasmcloud_host else ["nats"])
        assert {m["name"] for m in _container(pod, "nats")["volumeMounts"]} == {"config", "data"}
        if spoke.wasmcloud_host:
            host = _container(pod, "wasmcloud-host")
            command = " ".join(host["command"])
            assert "--scheduler-nats-url nats://127.0.0.1:4222 --data-nats-url nats://127.0.0.1:4222" in command
            assert "config" not in {m["name"] for m in host["volumeMounts"]}, "credentials stay in the leaf container"
            installer = pod["initContainers"][0]["command"][-1]
            assert WASH.sha256 in installer and WASH.binary_sha256 in installer
            checked += 1
    assert checked


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_spokes_expose_nothing_but_a_mid_tier_leaf_port(stack: str, runs: dict[str, ProgramRun]) -> None:
    spec, run = load_stack(stack), runs[stack]
    services = _of(run, "kubernetes:core/v1:Service")
    upstreams = {s.upstream for s in spec.spokes}
    for spoke in (s for s in spec.spokes if s.platform == "kubernetes"):
        own = {n: svc for n, svc in services.items() if n.startswith(f"{spec.name}-{spoke.name}-")}
        if spoke.name in upstreams:
            assert list(own) == [f"{spec.name}-{spoke.name}-leaf"]
            assert [p["port"] for p in own[f"{spec.name}-{spoke.name}-leaf"]["spec"]["ports"]] == [7422]
        else:
            assert own == {}, f"{spoke.name} must expose no port"


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_secrets_are_secret_and_config_maps_hold_none(stack: str, runs: dict[str, ProgramRun]) -> None:
    run = runs[stack]
    for name, secret in _of(run, "kubernetes:core/v1:Secret").items():
        assert is_secret(secret["stringData"]), name
    for name, config_map in _of(run, "kubernetes:core/v1:ConfigMap").items():
        for text in config_map["data"].values():
            assert "SEED" not in text and "password" not in text and "BEGIN NATS" not in text, name


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_every_config_in_a_config_map_passes_nats_server_check(
    stack: str, runs: dict[str, ProgramRun], tmp_path: Path
) -> None:
    run, ca = runs[stack], PrivateCA("test")
    cert = ca.issue("hub")
    secrets = {n: s["stringData"]["value"] for n, s in _of(run, "kubernetes:core/v1:Secret").items()}
    checked = 0
    for name, config_map in _of(run, "kubernetes:core/v1:ConfigMap").items():
        files = {f"{FILES.config_dir}/{k}": v for k, v in secrets[name.replace("-config", "-files")].items()}
        files[FILES.ws_cert_file], files[FILES.ws_key_file] = cert.cert_pem, cert.key_pem  # the TLS Secret's items
        for key, config in config_map["data"].items():
            result = nats_server_test(RenderedServer(config=config, secret_files=files), tmp_path / name / key)
            assert result.returncode == 0, f"{name}/{key}: {result.stderr}"
            checked += 1
    spec = load_stack(stack)
    hubs = sum(h.nodes for h in spec.hubs if h.platform == "kubernetes")
    assert checked == hubs + len([s for s in spec.spokes if s.platform == "kubernetes"])


def test_the_websocket_hub_listens_with_tls_and_its_spoke_dials_wss(runs: dict[str, ProgramRun]) -> None:
    run = runs["edge-k8s"]
    hub_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-cloud-config"]["data"]["cloud-0.conf"]
    assert 'cert_file: "/etc/nats/ws-cert.pem"' in hub_config and "no_tls" not in hub_config
    spoke_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-site-b-config"]["data"]["nats-server.conf"]
    assert 'urls: ["wss://' in spoke_config and ":8443" in spoke_config
    assert "ca_file" not in spoke_config, "a cloud certificate verifies against the system's roots"
    leaf_service = _of(run, "kubernetes:core/v1:Service")["acme-edge-cloud-leaf"]
    assert [p["port"] for p in leaf_service["spec"]["ports"]] == [7422, 8443]
    assert run.exports["hubs"]["cloud"]["websocketUrls"][0].startswith("wss://")


def test_the_wash_installer_is_valid_python_that_checks_both_digests() -> None:
    script = wash_installer()
    compile(script, "installer", "exec")
    assert WASH.sha256 in script and WASH.binary_sha256 in script and WASH.url in script


def test_adding_a_k3s_spoke_changes_nothing_that_exists(runs: dict[str, ProgramRun]) -> None:
    before = runs["edge-k8s"]
    config = stack_config("edge-k8s")
    lattice = config["wasmcloud-lattice:lattice"]
    new = {"name": "site-c", "upstream": "cloud", "platform": "kubernetes", "kubernetes": {"kubeconfig": "kc-c"}}
    config["wasmcloud-lattice:lattice"] = {**lattice, "spokes": [*lattice["spokes"], new]}
    config["wasmcloud-lattice:kc-c"] = "apiVersion: v1\nkind: Config\n"
    after = run_program("edge-k8s", config)
    old = {(r.typ, r.name): r.inputs for r in before.mocks.resources}
    now = {(r.typ, r.name): r.inputs for r in after.mocks.resources}
    assert [k for k in old if old[k] != now.get(k)] == []
    assert {k[1] for k in now.keys() - old.keys()} == {
        "acme-edge-site-c",
        "acme-edge-site-c-k8s",
        "acme-edge-site-c-ns",
        "acme-edge-site-c-config",
        "acme-edge-site-c-files",
        "acme-edge-site-c-nats",
        "acme-edge-keys-leaf-site-c",
    }
