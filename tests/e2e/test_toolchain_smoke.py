"""The whole chain, for real: the pulumi CLI and the kubernetes provider built from Go modules, the
Python SDK pins of requirements.txt, and a local kube-apiserver (with etcd and the controller manager).

Each program creates a Namespace and a ConfigMap through an explicit provider, is updated, previewed
with ``--expect-no-changes`` and destroyed (a namespace delete completes only when the controller
manager's namespace controller has emptied it), with a file backend in a temp dir.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi import automation as auto

from sandbox.kube import KubeControlPlane
from tests.e2e.conftest import PASSPHRASE, Toolchain, inline_workspace
from tests.support.helpers import ROOT
from tests.support.kube_program import SKIP_AWAIT, skip_await

pytestmark = pytest.mark.e2e


def _pins() -> dict[str, str]:
    text = (ROOT / "scripts" / "toolchain.versions").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))


K8S_PROVIDER = _pins()["PULUMI_KUBERNETES_VERSION"]


def _cli(tc: Toolchain, cwd: Path, state: Path, *args: str) -> str:
    """One pulumi CLI command with the file backend; fails the test with its output if it fails."""
    env = {**tc.env, "PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    proc = subprocess.run(
        [str(tc.pulumi), *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _assert_created(kube: KubeControlPlane, namespace: str) -> dict[str, Any]:
    assert kube.get(f"/api/v1/namespaces/{namespace}") is not None
    cm = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/settings")
    assert cm is not None, f"ConfigMap settings not in {namespace}"
    assert cm["data"] == {"greeting": "hello"}
    return cm


def test_versions(toolchain: Toolchain, kube: KubeControlPlane) -> None:
    """The binaries report the pinned versions: the engine's, the provider's in PULUMI_HOME, the API server's."""
    pins = _pins()
    version = subprocess.run(
        [str(toolchain.pulumi), "version"], env=toolchain.env, capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == pins["PULUMI_VERSION"]
    plugins = subprocess.run(
        [str(toolchain.pulumi), "plugin", "ls"], env=toolchain.env, capture_output=True, text=True, check=True
    )
    assert re.search(rf"^kubernetes\s+resource\s+{re.escape(K8S_PROVIDER)}\s", plugins.stdout, re.MULTILINE), (
        plugins.stdout
    )
    server = kube.get("/version")
    assert server is not None
    assert server["gitVersion"] == pins["KUBERNETES_VERSION"]


@pytest.mark.timeout(900)
def test_yaml_program_through_the_cli(toolchain: Toolchain, kube: KubeControlPlane, tmp_path: Path) -> None:
    """`pulumi up`, `preview --expect-no-changes` and `destroy` as a person types them (pulumi-language-yaml)."""
    project, state = tmp_path / "project", tmp_path / "state"
    project.mkdir()
    state.mkdir()
    pinned = {"provider": "${cluster}", "version": K8S_PROVIDER}
    program = {
        "name": "toolchain-smoke-yaml",
        "runtime": "yaml",
        "config": {"kubeconfig": {"type": "string"}},
        "resources": {
            "cluster": {
                "type": "pulumi:providers:kubernetes",
                "properties": {"kubeconfig": "${kubeconfig}"},
                "options": {"version": K8S_PROVIDER},
            },
            "ns": {
                "type": "kubernetes:core/v1:Namespace",
                "properties": {"metadata": {"name": "smoke-yaml"}},
                "options": dict(pinned),  # copies: safe_dump would write YAML aliases
            },
            "settings": {
                "type": "kubernetes:core/v1:ConfigMap",
                "properties": {
                    "metadata": {"name": "settings", "namespace": "${ns.metadata.name}"},
                    "data": {"greeting": "hello"},
                },
                "options": dict(pinned),  # copies: safe_dump would write YAML aliases
            },
        },
        "outputs": {"namespace": "${ns.metadata.name}"},
    }
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))

    _cli(toolchain, project, state, "stack", "init", "smoke")
    _cli(toolchain, project, state, "config", "set", "kubeconfig", str(kube.kubeconfig))
    _cli(toolchain, project, state, "up", "--yes")
    _assert_created(kube, "smoke-yaml")
    _cli(toolchain, project, state, "preview", "--expect-no-changes")
    _cli(toolchain, project, state, "destroy", "--yes")
    assert kube.get("/api/v1/namespaces/smoke-yaml") is None
    _cli(toolchain, project, state, "stack", "rm", "--yes", "smoke")


@pytest.mark.timeout(900)
def test_python_program_through_the_automation_api(
    toolchain: Toolchain, kube: KubeControlPlane, tmp_path: Path
) -> None:
    """The Python SDK pins (pulumi, pulumi-kubernetes) against the built engine and provider."""
    import pulumi_kubernetes as k8s

    def program() -> None:
        pulumi.runtime.register_resource_transform(skip_await)
        cluster = k8s.Provider("cluster", kubeconfig=str(kube.kubeconfig))
        opts = pulumi.ResourceOptions(provider=cluster)
        ns = k8s.core.v1.Namespace("ns", metadata={"name": "smoke-python"}, opts=opts)
        k8s.core.v1.ConfigMap(
            "settings",
            metadata={"name": "settings", "namespace": ns.metadata.name},
            data={"greeting": "hello"},
            opts=opts,
        )
        pulumi.export("namespace", ns.metadata.name)

    project = "toolchain-smoke-python"
    opts = inline_workspace(toolchain, tmp_path, project)
    stack = auto.create_or_select_stack("smoke", project_name=project, program=program, opts=opts)
    try:
        up = stack.up(color="never")
        assert up.summary.result == "succeeded"
        assert up.outputs["namespace"].value == "smoke-python"
        cm = _assert_created(kube, "smoke-python")
        assert cm["metadata"]["annotations"][SKIP_AWAIT] == "true"  # the stack transform ran

        preview = stack.preview(expect_no_changes=True, color="never")
        assert set(preview.change_summary) == {"same"}

        destroy = stack.destroy(color="never")
        assert destroy.summary.result == "succeeded"
        # skipAwait also skips waiting for the delete: the namespace controller finishes it
        kube.wait_deleted("/api/v1/namespaces/smoke-python")
    finally:
        stack.workspace.remove_stack("smoke", force=True)


MISSING_PLUGIN = r"no resource plugin 'pulumi-resource-(random|tls)' found in the workspace at version v"
BRIDGED_NOT_BUILT = (
    "not built: the Go module proxy refuses github.com/pulumi/pulumi-random/provider/v4 and "
    "github.com/pulumi/pulumi-tls/provider/v5 (scripts/toolchain.versions)"
)


@pytest.mark.timeout(600)
def test_random_and_tls_providers_load(toolchain: Toolchain, tmp_path: Path) -> None:
    """A RandomBytes and a tls PrivateKey: the SDK pins ask the engine for their provider plugins.

    Until the proxy serves their modules this is an expected failure, and the engine must say the
    plugin is missing (never download one: automatic acquisition is off). The stand-ins of
    ``tests/e2e/standins`` are not in this session's ``PULUMI_HOME``: only ``standins_home`` has them
    (tests/e2e/test_standins.py)."""
    import pulumi_random
    import pulumi_tls

    def program() -> None:
        pulumi_random.RandomBytes("bytes", length=16)
        pulumi_tls.PrivateKey("key", algorithm="ECDSA", ecdsa_curve="P256")

    project = "toolchain-smoke-bridged"
    opts = inline_workspace(toolchain, tmp_path, project)
    stack = auto.create_or_select_stack("smoke", project_name=project, program=program, opts=opts)
    try:
        failure = None
        try:
            stack.up(color="never")
        except auto.CommandError as err:
            failure = str(err)
        if failure is not None:
            assert re.search(MISSING_PLUGIN, failure), failure
            pytest.xfail(BRIDGED_NOT_BUILT)
        stack.destroy(color="never")
    finally:
        stack.workspace.remove_stack("smoke", force=True)
