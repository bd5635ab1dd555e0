"""This project's own program under the real engine, against a real Kubernetes API server.

`pulumi up`, `preview`, `stack output`, `stack export`, `destroy` and the policy pack run as a
person types them, through the CLI and the Python language host the toolchain built
(``scripts/toolchain.sh``). The kubernetes provider is real; so are the API server's
validation, Pod Security admission of every pod the StatefulSets create, and the provider's
waits: a simulated node (``sandbox/simulated_node.py``) reports pods ready and gives load
balancers an address, as a kubelet and a cloud would, and nothing skips awaiting. The
``random`` and ``tls`` providers are stand-ins (``tests/e2e/standins``): the Go proxy serves
neither. The steps run in order on one stack (``pytest -x``: a later step needs the earlier).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lattice.natsconf import RenderedServer
from sandbox.kube import KubeControlPlane
from sandbox.simulated_node import SimulatedNode
from tests.e2e.conftest import PASSPHRASE, Toolchain
from tests.support.helpers import ROOT, nats_server_test

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

STACK = "e2e"
KUBECONFIG_SECRET = "kubeconfig-e2e"
SPEC: dict[str, Any] = {
    "name": "e2e",
    "hubs": [
        {
            "name": "cloud",
            "platform": "kubernetes",
            "nodes": 3,
            "kubernetes": {
                "kubeconfig": KUBECONFIG_SECRET,
                "storageGib": 2,
                "websocket": {"host": "nats-ws.e2e.example"},
            },
        }
    ],
    "spokes": [
        {
            "name": "site-a",
            "upstream": "cloud",
            "platform": "kubernetes",
            "kubernetes": {"kubeconfig": KUBECONFIG_SECRET, "egressCidrs": ["198.51.100.10/32"], "storageGib": 1},
        },
        {
            "name": "site-b",
            "upstream": "cloud",
            "platform": "kubernetes",
            "leafTransport": "websocket",
            "kubernetes": {"kubeconfig": KUBECONFIG_SECRET, "egressCidrs": ["198.51.100.20/32"], "storageGib": 1},
        },
        {
            "name": "cell-1",
            "upstream": "site-a",
            "platform": "kubernetes",
            "wasmcloudHost": False,
            "kubernetes": {"kubeconfig": KUBECONFIG_SECRET, "egressCidrs": ["198.51.100.10/32"], "storageGib": 1},
        },
    ],
}
SITES = ["site-a", "site-b", "cell-1"]
SPEC["hubStreams"] = [  # the hub-stream agent's Deployment, ConfigMap and Secret, through the real API server
    {
        "name": "EVENTS",
        "maxBytes": 64 * 2**20,
        "sources": {"stream": "EVENTS", "subjects": ["events.{spoke}.>"], "spokes": SITES},
    },
    {"name": "CONFIG", "maxBytes": 16 * 2**20, "subjects": ["config.>"], "mirrors": {"spokes": SITES}},
]
NEW_SPOKE: dict[str, Any] = {
    "name": "site-c",
    "upstream": "cloud",
    "platform": "kubernetes",
    "kubernetes": {"kubeconfig": KUBECONFIG_SECRET, "egressCidrs": ["198.51.100.30/32"], "storageGib": 1},
}
NAMESPACES = ["e2e-cloud", "e2e-site-a", "e2e-site-b", "e2e-cell-1"]


@dataclass
class Project:
    """A copy of this project (the program, its packages, the policy pack) with one stack
    whose config this test edits, a file backend and the session's toolchain."""

    dir: Path
    env: dict[str, str]
    pulumi: Path

    def run(self, *args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.pulumi), *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if ok and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def write_spec(self, spec: dict[str, Any]) -> None:
        """Edit the stack file's lattice as a person would (its salt and secrets kept)."""
        path = self.dir / "stacks" / f"Pulumi.{STACK}.yaml"
        doc = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        doc["config"] = {**(doc.get("config") or {}), "wasmcloud-lattice:lattice": spec}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def cluster(kube: KubeControlPlane) -> Iterator[KubeControlPlane]:
    with SimulatedNode(kube) as node:
        yield kube
    assert node.errors == [], node.errors


@pytest.fixture(scope="module")
def project(
    toolchain: Toolchain, standins_home: Path, cluster: KubeControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Project:
    root = tmp_path_factory.mktemp("project")
    for name in ("__main__.py", "Pulumi.yaml", "components", "lattice", "policy"):
        (root / name).symlink_to(ROOT / name)
    (root / "stacks").mkdir()
    state = tmp_path_factory.mktemp("state")
    env = {
        **toolchain.env,
        "PULUMI_HOME": str(standins_home),
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
    }
    p = Project(root, env, toolchain.pulumi)
    p.run("stack", "init", STACK)
    p.write_spec(SPEC)
    p.run("config", "set", "--secret", KUBECONFIG_SECRET, stdin=cluster.kubeconfig.read_text())
    return p


def _objects(kube: KubeControlPlane, path: str) -> list[dict[str, Any]]:
    listed = kube.get(path)
    assert listed is not None
    items: list[dict[str, Any]] = listed["items"]
    return items


def _ours(kube: KubeControlPlane, kind_path: str) -> dict[str, dict[str, Any]]:
    """Objects of the lattice (``namespace/name`` -> object)."""
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
        for o in _objects(kube, kind_path)
        if o["metadata"]["namespace"].startswith("e2e-")
    }


def test_up_creates_what_the_program_declares(project: Project, cluster: KubeControlPlane, tmp_path: Path) -> None:
    up = project.run("up", "--yes", "--skip-preview")
    assert "Resources:" in up.stdout
    namespaces = {n["metadata"]["name"]: n for n in _objects(cluster, "/api/v1/namespaces")}
    for name in NAMESPACES:
        assert namespaces[name]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    statefulsets = _ours(cluster, "/apis/apps/v1/statefulsets")
    assert sorted(statefulsets) == ["e2e-cell-1/cell-1", "e2e-cloud/cloud", "e2e-site-a/site-a", "e2e-site-b/site-b"]
    for name, sts in statefulsets.items():  # Pod Security admitted every pod, and each became ready
        assert sts["status"].get("readyReplicas") == sts["spec"]["replicas"], name
    # the hub-stream agent beside the hub: its pod admitted under "restricted" and ready
    deployments = _ours(cluster, "/apis/apps/v1/deployments")
    assert sorted(deployments) == ["e2e-cloud/cloud-jetstream-sync"]
    assert deployments["e2e-cloud/cloud-jetstream-sync"]["status"].get("readyReplicas") == 1
    services = _ours(cluster, "/api/v1/services")
    assert {"e2e-cloud/cloud", "e2e-cloud/cloud-leaf", "e2e-site-a/site-a-leaf"} <= set(services)
    assert services["e2e-cloud/cloud-leaf"]["spec"]["loadBalancerSourceRanges"] == [
        "198.51.100.10/32",
        "198.51.100.20/32",
    ]
    secrets = _ours(cluster, "/api/v1/secrets")
    config_maps = _ours(cluster, "/api/v1/configmaps")
    checked = 0
    for key, config_map in config_maps.items():
        if not key.endswith("-config"):
            continue
        files = {
            f"/etc/nats/{k}": base64.b64decode(v).decode()
            for k, v in secrets[key.removesuffix("-config") + "-files"]["data"].items()
        }
        for conf_name, text in config_map["data"].items():
            result = nats_server_test(RenderedServer(config=text, secret_files=files), tmp_path / key / conf_name)
            assert result.returncode == 0, f"{key}/{conf_name}: {result.stderr}"
            checked += 1
    assert checked == 3 + 3
    creds = base64.b64decode(secrets["e2e-site-a/site-a-files"]["data"]["leaf.creds"]).decode()
    assert "BEGIN NATS USER JWT" in creds and "BEGIN USER NKEY SEED" in creds


def test_a_second_preview_shows_no_changes(project: Project) -> None:
    project.run("preview", "--expect-no-changes")


def test_outputs_are_documented_and_secrets_stay_encrypted_in_the_state(project: Project) -> None:
    outputs = json.loads(project.run("stack", "output", "--json").stdout)
    assert set(outputs) == {"lattice", "hubs", "spokes", "serviceCreds", "latticeServiceCreds", "caCert"}
    assert outputs["serviceCreds"] == "[secret]" and outputs["spokes"]["site-a"]["creds"] == "[secret]"
    assert outputs["spokes"]["site-a"]["natsUrl"] == "nats://127.0.0.1:4222"
    assert outputs["hubs"]["cloud"]["websocketUrls"] == ["wss://nats-ws.e2e.example:8443"]
    shown = json.loads(project.run("stack", "output", "--json", "--show-secrets").stdout)
    assert "BEGIN NATS USER JWT" in shown["spokes"]["site-a"]["creds"]
    state = project.run("stack", "export").stdout
    assert "BEGIN NATS USER JWT" not in state and "NKEY SEED" not in state and "PRIVATE KEY" not in state
    exported = json.loads(state)["deployment"]["resources"]
    stack = next(r for r in exported if r["type"] == "pulumi:pulumi:Stack")
    assert "ciphertext" in stack["outputs"]["serviceCreds"]
    keys = [r for r in exported if r["type"] == "random:index/randomPassword:RandomPassword"]
    assert len(keys) == 4 + len(SPEC["spokes"]), "operator, SYS, account, service user; a leaf key per spoke"
    for key in keys:  # the entropy is in `result`, encrypted; the id is not the value
        assert key["id"] == "none" and "ciphertext" in key["outputs"]["result"], key["urn"]


def _steps(preview_json: str) -> dict[str, set[str]]:
    """op -> names of the resources a `preview --json` would touch (``same`` left out)."""
    doc = json.loads(preview_json)
    ops: dict[str, set[str]] = {}
    for step in doc.get("steps", []):
        if step["op"] != "same":
            ops.setdefault(step["op"], set()).add(step["urn"].rsplit("::", 1)[1])
    return ops


def test_adding_a_spoke_creates_its_resources_and_widens_only_its_hubs_allow_list(project: Project) -> None:
    project.write_spec({**SPEC, "spokes": [*SPEC["spokes"], NEW_SPOKE]})
    ops = _steps(project.run("preview", "--json").stdout)
    assert ops.pop("update") == {"e2e-cloud-leaf"}, "only the hub's leaf Service admits the new site"
    assert set(ops) == {"create"}
    assert ops["create"] == {
        "e2e-site-c",
        "e2e-site-c-k8s",
        "e2e-site-c-ns",
        "e2e-site-c-config",
        "e2e-site-c-files",
        "e2e-site-c-nats",
        "e2e-keys-leaf-site-c",
    }
    shown = _readable(project.run("preview").stdout)
    if os.environ.get("UPDATE_README"):
        README.write_text(README.read_text().replace(_readme_example(), shown))
    assert _readme_example() == shown, (
        "README's pull-request example is this preview: `UPDATE_README=1 make e2e` after a deliberate change"
    )
    project.run("up", "--yes", "--skip-preview")
    project.run("preview", "--expect-no-changes")


def test_retiring_a_spoke_deletes_it_and_revokes_it_at_the_hub(project: Project, cluster: KubeControlPlane) -> None:
    project.write_spec({**SPEC, "retiredSpokes": ["site-c"]})
    ops = _steps(project.run("preview", "--json").stdout)
    assert ops.pop("delete") >= {"e2e-site-c-nats", "e2e-site-c-ns", "e2e-site-c-files"}
    assert ops.pop("update") == {"e2e-cloud-files", "e2e-cloud-leaf"}, (
        "the revocation in the hub's trust (its pods' reloader applies it: no pod rolls), and its allow-list"
    )
    assert ops == {}
    hub = "/apis/apps/v1/namespaces/e2e-cloud/statefulsets/cloud"
    before = cluster.get(hub)
    assert before is not None
    project.run("up", "--yes", "--skip-preview")
    cluster.wait_deleted("/api/v1/namespaces/e2e-site-c")
    after = cluster.get(hub)
    assert after is not None
    assert after["metadata"]["generation"] == before["metadata"]["generation"], "the hub's pod template is as it was"


def test_a_volume_claim_change_is_refused_by_key_path(project: Project) -> None:
    bigger = copy.deepcopy(SPEC)
    bigger["retiredSpokes"] = ["site-c"]
    bigger["hubs"][0]["kubernetes"]["storageGib"] = 4
    project.write_spec(bigger)
    preview = project.run("preview", ok=False)
    assert preview.returncode != 0
    assert (
        "stacks/Pulumi.e2e.yaml: lattice.hubs[0].kubernetes.storageGib: was 2 when its StatefulSet was created, now 4"
        in preview.stdout + preview.stderr
    )
    project.write_spec({**SPEC, "retiredSpokes": ["site-c"]})


def test_the_policy_pack_passes_and_refuses_a_floating_image(project: Project) -> None:
    passed = project.run("preview", "--policy-pack", "policy")
    assert "wasmcloud-lattice@" in passed.stdout
    floating = copy.deepcopy(SPEC)
    floating["retiredSpokes"] = ["site-c"]
    floating["spokes"][0]["kubernetes"]["image"] = "nats:alpine"
    project.write_spec(floating)
    refused = project.run("preview", "--policy-pack", "policy", ok=False)
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "images-pinned" in out and "image 'nats:alpine' floats" in out
    project.write_spec({**SPEC, "retiredSpokes": ["site-c"]})


def test_destroy_leaves_nothing_of_the_lattice(project: Project, cluster: KubeControlPlane) -> None:
    project.run("destroy", "--yes", "--skip-preview")
    for name in NAMESPACES:
        cluster.wait_deleted(f"/api/v1/namespaces/{name}", timeout=120)
    assert _ours(cluster, "/apis/apps/v1/statefulsets") == {}


README = ROOT / "README.md"
EXAMPLE_INTRO = "A PR that adds a spoke comments like this"


def _readme_example() -> str:
    """The text block that follows the README's pull-request example sentence."""
    text = README.read_text()
    start = text.index("```text\n", text.index(EXAMPLE_INTRO)) + len("```text\n")
    return text[start : text.index("```", start)]


def _readable(preview: str) -> str:
    """A preview as a reviewer reads it in a pull request, made stable: its header, each
    resource's line once, sorted by resource name (the engine prints them as they happen,
    in no fixed order), and the summary; the changed outputs left out."""
    lines = [line.rstrip() for line in preview.splitlines()]
    header = next(line for line in lines if line.startswith("Previewing "))
    resources = sorted(
        {line for line in lines if re.match(r"^ [+~-]{1,2} +\S+ \S+ ", line)}, key=lambda ln: ln.split()[2]
    )
    summary = lines[lines.index("Resources:") :]
    return "\n".join([header, *resources, "", *(line for line in summary if line)]) + "\n"
