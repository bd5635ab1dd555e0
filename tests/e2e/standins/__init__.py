"""TEST DOUBLES for the e2e tier: stand-ins for the ``random`` (v4.21.4) and ``tls`` (v5.6.2)
resource provider plugins, which cannot be built here (the Go module proxy refuses every version
of github.com/pulumi/pulumi-random and github.com/pulumi/pulumi-tls; ``scripts/toolchain.sh --probe``).

They are Pulumi provider plugins in Python (:mod:`.server`) serving exactly the resources this
program uses, with the real providers' tokens, inputs, outputs and replacement rules. Their values
are real: random bytes from :mod:`secrets`, keys and certificates from ``cryptography``
(:mod:`tests.support.tls_material`, shared with the mocks). They are never used outside
``tests/e2e/``, and never installed into the toolchain's own ``PULUMI_HOME``: a test session
installs them into a ``PULUMI_HOME`` of its own (:func:`install_standins`), so a home without them
still shows the engine refusing to run (the plugin is missing, nothing is downloaded).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.e2e.standins import random_provider, tls_provider
from tests.e2e.standins.server import StandinProvider

ROOT = Path(__file__).resolve().parents[3]
PROVIDERS: dict[str, StandinProvider] = {p.name: p for p in (random_provider.PROVIDER, tls_provider.PROVIDER)}


def plugin_dir(pulumi_home: Path, name: str, version: str) -> Path:
    """Where the engine looks for a resource plugin (``workspace.PluginDescriptor.Dir``)."""
    return pulumi_home / "plugins" / f"resource-{name}-v{version}"


def launcher(provider: StandinProvider, python: Path) -> str:
    """The plugin executable: a shell script that runs the stand-in with the project's venv
    (``-P``: the engine starts plugins in the program's directory, which must not shadow ``tests``)."""
    return (
        "#!/bin/sh\n"
        f"# TEST DOUBLE: stand-in for pulumi-resource-{provider.name} v{provider.version}, written by\n"
        "# tests/e2e/standins (install_standins) for the e2e tier. Not the real provider.\n"
        f"PYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(str(python))} -P -m tests.e2e.standins "
        f'{provider.name} "$@"\n'
    )


def install_standins(pulumi_home: Path, python: Path) -> list[Path]:
    """Write both stand-ins into ``pulumi_home``'s plugin cache, as ``pulumi plugin install --file``
    lays a plugin out: ``plugins/resource-<name>-v<version>/pulumi-resource-<name>``, executable.
    The engine takes a directory there as installed unless a ``<dir>.partial`` file sits beside it.
    Returns the launchers."""
    written = []
    for provider in PROVIDERS.values():
        directory = plugin_dir(pulumi_home, provider.name, provider.version)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"pulumi-resource-{provider.name}"
        path.write_text(launcher(provider, python))
        path.chmod(0o755)
        written.append(path)
    return written
