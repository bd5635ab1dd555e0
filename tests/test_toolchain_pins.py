"""The toolchain (scripts/toolchain.versions) and the Python SDK pins (requirements.txt) must agree: the
SDK asks the engine for a provider plugin of exactly its own version, and the engine must be at least
as new as the SDK. Checked here, in plain `make test`, so a pin bump cannot split them silently."""

from __future__ import annotations

import re
import subprocess

from tests.support.helpers import ROOT

SCRIPT = ROOT / "scripts" / "toolchain.sh"


def _pins() -> dict[str, str]:
    text = (ROOT / "scripts" / "toolchain.versions").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))


def _requirements() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.removeprefix("v").split("."))


def test_the_kubernetes_provider_is_the_sdk_version() -> None:
    assert _requirements()["pulumi-kubernetes"] == _pins()["PULUMI_KUBERNETES_VERSION"]


def test_the_engine_is_at_least_the_sdk() -> None:
    assert _version(_pins()["PULUMI_VERSION"]) >= _version(_requirements()["pulumi"])


def test_env_keeps_the_engine_offline_and_names_the_cache_outside_the_checkout() -> None:
    out = subprocess.run([str(SCRIPT), "--env"], check=True, capture_output=True, text=True).stdout
    exports = dict(re.findall(r"^export ([A-Z_]+)=(.*)$", out, flags=re.MULTILINE))
    assert exports["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert exports["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert exports["PULUMI_IGNORE_AMBIENT_PLUGINS"] == "true"
    toolchain_dir = exports["WASMCLOUD_LATTICE_TOOLCHAIN_DIR"].strip('"')
    assert not toolchain_dir.startswith(str(ROOT) + "/")
    assert exports["PULUMI_HOME"].strip('"').startswith(toolchain_dir)
