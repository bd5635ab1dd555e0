#!/usr/bin/env bash
# Build natscli's `nats` (for `nats bench`, the Go client the lattice bench measures throughput with)
# from the pinned Go module version in scripts/natscli.versions, into a cache outside the checkout.
#
#   scripts/natscli.sh        build it unless present (about 1 minute cold on 2 cores)
#   scripts/natscli.sh --bin  print where the binary is (or will be); builds nothing
#
# Its cache key is a hash of natscli.versions and this script only, so adding or bumping a bench tool
# never changes the key of the engine toolchain (scripts/toolchain.sh), which takes 40 minutes cold.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/natscli.versions"
# shellcheck source=natscli.versions
source "$pins"

key="$(cat "$pins" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
root="${WASMCLOUD_LATTICE_TOOLCHAIN:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-lattice/toolchain}"
dir="$root/natscli-$key"
nats="$dir/bin/nats"

case "${1:-}" in
  --bin) echo "$nats"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--bin]" >&2; exit 2 ;;
esac

if [ -x "$nats" ]; then
  echo "natscli: $nats $NATSCLI_VERSION present (skipped)"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "natscli: need Go on PATH" >&2; exit 1; }
mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS
# Static, reproducible, and never a Go toolchain download (a module that needs a newer Go fails with
# Go's own message). Installed into a temp dir first, so a failed build never leaves a binary behind.
if ! CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS=-mod=mod GOBIN="$tmp" \
  go install -trimpath -ldflags "-s -w" "github.com/nats-io/natscli/nats@$NATSCLI_VERSION" >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  echo "natscli: building github.com/nats-io/natscli/nats@$NATSCLI_VERSION failed (see above)" >&2
  exit 1
fi
mkdir -p "$dir/bin"
mv "$tmp/nats" "$nats"
echo "natscli: built $nats ($("$nats" --version)) in $((SECONDS - started))s"
