"""The component package from another language, through the real plugin host: a Pulumi YAML
program builds a whole lattice with ``wasmcloud-lattice:Lattice``, served by this repository's
``provider/`` directory (the Python language host runs its ``__main__.py``), against the local
API server. The schema the engine reports is the committed one (``provider/schema.json``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.kube import KubeControlPlane
from sandbox.simulated_node import SimulatedNode
from tests.e2e.conftest import PASSPHRASE, Toolchain
from tests.support.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

LATTICE: dict[str, Any] = {
    "name": "yamlx",
    "hubs": [{"name": "cloud", "platform": "kubernetes", "nodes": 1, "kubernetes": {"storageGib": 1}}],
    "spokes": [
        {
            "name": "shop",
            "upstream": "cloud",
            "platform": "kubernetes",
            "kubernetes": {"egressCidrs": ["198.51.100.7/32"], "storageGib": 1},
        }
    ],
}


@pytest.fixture(scope="module")
def cluster(kube: KubeControlPlane) -> Iterator[KubeControlPlane]:
    with SimulatedNode(kube) as node:
        yield kube
    assert node.errors == [], node.errors


def _run(toolchain: Toolchain, home: Path, cwd: Path, state: Path, *args: str, ok: bool = True) -> str:
    env = {
        **toolchain.env,
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
    }
    proc = subprocess.run(
        [str(toolchain.pulumi), *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if ok and proc.returncode != 0:
        pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    if not ok and proc.returncode == 0:
        pytest.fail(f"pulumi {' '.join(args)} succeeded; expected a refusal:\n{proc.stdout}")
    return proc.stdout + proc.stderr


def test_the_engine_checks_a_program_against_the_committed_schema(
    toolchain: Toolchain, standins_home: Path, tmp_path: Path
) -> None:
    """Pulumi YAML type-checks a program against the schema the engine got from the plugin
    (GetSchema): a misspelt input is refused in the engine's words, naming the inputs the
    schema has, which are the committed schema's. (`pulumi package get-schema <dir>` cannot
    run offline here: it installs the plugin's dependencies and the plugins they need, the
    AWS provider among them, which cannot be built.)"""
    project, state = tmp_path / "project", tmp_path / "state"
    project.mkdir()
    state.mkdir()
    program = {
        "name": "schema-probe",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "wasmcloud-lattice", "path": str(ROOT / "provider")}]},
        "resources": {"lattice": {"type": "wasmcloud-lattice:Lattice", "properties": {"latice": {"name": "x"}}}},
    }
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
    _run(toolchain, standins_home, project, state, "stack", "init", "probe")
    refused = _run(toolchain, standins_home, project, state, "preview", ok=False)
    committed = json.loads((ROOT / "provider" / "schema.json").read_text())
    inputs = committed["resources"]["wasmcloud-lattice:index:Lattice"]["inputProperties"]
    assert "is not assignable from {latice:" in refused and "Missing required property 'lattice'" in refused, refused
    named = re.search(r"Existing properties are: ([^\n]+)", refused)
    assert named is not None, refused
    assert sorted(p.strip() for p in named.group(1).split(",")) == sorted(inputs)


def test_a_yaml_program_builds_a_lattice_through_the_plugin_host(
    toolchain: Toolchain, standins_home: Path, cluster: KubeControlPlane, tmp_path: Path
) -> None:
    project, state = tmp_path / "project", tmp_path / "state"
    project.mkdir()
    state.mkdir()
    program: dict[str, Any] = {
        "name": "lattice-from-yaml",
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "wasmcloud-lattice", "path": str(ROOT / "provider")}]},
        "config": {"kubeconfig": {"type": "string", "secret": True}},
        "resources": {
            "lattice": {
                "type": "wasmcloud-lattice:Lattice",
                "properties": {
                    "lattice": {
                        **LATTICE,
                        "hubs": [{**h, "kubernetes": {**h["kubernetes"], "kubeconfig": "kc"}} for h in LATTICE["hubs"]],
                        "spokes": [
                            {**s, "kubernetes": {**s["kubernetes"], "kubeconfig": "kc"}} for s in LATTICE["spokes"]
                        ],
                    },
                    "secrets": {"kc": "${kubeconfig}"},
                },
            }
        },
        # a spoke's creds read by key: Pulumi YAML 1.25 exports a secret nested in a whole
        # exported object as {} (measured here), so a program takes each one it needs
        "outputs": {
            "spokes": "${lattice.spokes}",
            "shopCreds": '${lattice.spokes["shop"].creds}',
            "caCert": "${lattice.caCert}",
        },
    }
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
    _run(toolchain, standins_home, project, state, "stack", "init", "yaml")
    subprocess.run(
        [str(toolchain.pulumi), "config", "set", "--secret", "kubeconfig", "--non-interactive"],
        cwd=project,
        env={
            **toolchain.env,
            "PULUMI_HOME": str(standins_home),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        },
        input=cluster.kubeconfig.read_text(),
        check=True,
        capture_output=True,
        text=True,
    )
    _run(toolchain, standins_home, project, state, "up", "--yes", "--skip-preview")
    statefulsets = cluster.get("/apis/apps/v1/namespaces/yamlx-shop/statefulsets/shop")
    assert statefulsets is not None and statefulsets["status"].get("readyReplicas") == 1
    outputs = json.loads(_run(toolchain, standins_home, project, state, "stack", "output", "--json"))
    print(json.dumps(outputs, indent=1)[:3000])
    exported = json.loads(_run(toolchain, standins_home, project, state, "stack", "export", "--show-secrets"))
    comp = next(r for r in exported["deployment"]["resources"] if r["type"] == "wasmcloud-lattice:index:Lattice")
    print("COMPONENT", json.dumps(comp.get("outputs", {}).get("spokes"), indent=1)[:2000])
    assert outputs["spokes"]["shop"]["natsUrl"] == "nats://127.0.0.1:4222"
    assert outputs["shopCreds"] == "[secret]"
    assert outputs["caCert"].startswith("-----BEGIN CERTIFICATE-----")
    shown = json.loads(_run(toolchain, standins_home, project, state, "stack", "output", "--json", "--show-secrets"))
    assert "BEGIN NATS USER JWT" in shown["shopCreds"]
    _run(toolchain, standins_home, project, state, "preview", "--expect-no-changes")
    _run(toolchain, standins_home, project, state, "destroy", "--yes", "--skip-preview")
    for namespace in ("yamlx-cloud", "yamlx-shop"):
        cluster.wait_deleted(f"/api/v1/namespaces/{namespace}", timeout=120)
