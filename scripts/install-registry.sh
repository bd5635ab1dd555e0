#!/usr/bin/env bash
# The sandbox's OCI registry and the spokes' pull-through mirrors are CNCF distribution, as
# Debian packages it (docker-registry). Installed with apt when missing (root, or sudo);
# the package's own system service is not wanted: the sandbox starts its registries itself.
set -euo pipefail
if command -v docker-registry >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "docker-registry (CNCF distribution) is missing and there is no apt-get: install it by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "docker-registry is missing: run as root or with sudo" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
# Debian enables a system service on port 5000; stop it where systemd runs
if [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
command -v docker-registry
