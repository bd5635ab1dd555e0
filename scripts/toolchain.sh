#!/usr/bin/env bash
# Build the real Pulumi engine, its plugins, etcd and the Kubernetes API server from the pinned Go
# module versions in scripts/toolchain.versions, into a cache outside the checkout.
#
#   scripts/toolchain.sh          build what is missing (each component is skipped when its binary exists)
#   scripts/toolchain.sh --env    print the `export` lines that put the toolchain to use (builds nothing)
#   scripts/toolchain.sh --dir    print the toolchain directory
#   scripts/toolchain.sh --probe  ask the Go module proxy again for the components it refused
#
# Each tool is built in a throw-away wrapper module (`go mod init`): a module's own replace directives
# are ignored when it is a dependency, so the wrapper copies the version-to-version ones and points
# each local-path one (../sdk, ./staging/...) at the published module of the same release. No module
# source lands in the repository. The default GOMODCACHE/GOCACHE are used, so warm CI caches help.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/toolchain.versions"
# shellcheck source=toolchain.versions
source "$pins"

key="$(cat "$pins" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
root="${WASMCLOUD_LATTICE_TOOLCHAIN:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-lattice/toolchain}"
dir="$root/$key"
bin="$dir/bin"
pulumi_home="$dir/pulumi-home"

print_env() {
  # Provider plugins come only from PULUMI_HOME at the exact version the SDK asks for (never from PATH,
  # never downloaded); language plugins are found next to the pulumi binary.
  cat <<EOF
export WASMCLOUD_LATTICE_TOOLCHAIN_DIR="$dir"
export PATH="$bin:\$PATH"
export PULUMI_HOME="$pulumi_home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_PYTHON_CMD="$(cd "$here/.." && pwd)/.venv/bin/python"
EOF
}

case "${1:-}" in
  --env) print_env; exit 0 ;;
  --dir) echo "$dir"; exit 0 ;;
  --probe | "") ;;
  *) echo "usage: $0 [--env | --dir | --probe]" >&2; exit 2 ;;
esac

command -v go >/dev/null 2>&1 || { echo "toolchain: need Go on PATH" >&2; exit 1; }
# Static binaries; wrappers resolve their go.sum as they go; a module that needs a newer Go than this
# machine has fails with Go's own message instead of fetching a toolchain (set GOTOOLCHAIN to allow it).
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

die() { echo "toolchain: $*" >&2; exit 1; }

# go mod download -json MODULE@VERSION, printing the module's directory; names the module and version
# (and the proxy's answer) when it is refused.
download() {
  local out
  out="$(go mod download -json "$1" 2>&1)" || true
  python3 - "$1" "$out" <<'PY'
import json, sys
want, raw = sys.argv[1], sys.argv[2]
try:
    info = json.loads(raw)
except ValueError:
    sys.exit(f"\ntoolchain: the Go module proxy refused {want}: {raw.strip()}")
if info.get("Error") or not info.get("Dir"):
    sys.exit(f"\ntoolchain: the Go module proxy refused {want}: {info.get('Error', raw).strip()}")
print(info["Dir"])
PY
}

# Print `go mod edit` flags that carry MODULE_DIR/go.mod's replaces into a wrapper: version-to-version
# replaces as they are, local-path replaces (../sdk, ./staging/x) as the same module at LOCAL_VERSION.
replaces_of() {
  go mod edit -json "$1/go.mod" | python3 -c '
import json, sys
local_version = sys.argv[1]
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    lhs = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    if new.get("Version"):
        print(f"-replace={lhs}={new['"'"'Path'"'"']}@{new['"'"'Version'"'"']}")
    else:
        print(f"-replace={lhs}={old['"'"'Path'"'"']}@{local_version}")
' "$2"
}

# A fresh wrapper module in a temp dir under the toolchain dir (removed on exit, whatever happens).
new_wrapper() {
  local w
  w="$(mktemp -d "$dir/.build.XXXXXX")"
  (cd "$w" && go mod init wasmcloud-lattice.local/toolchain/"$1" >/dev/null 2>&1)
  echo "$w"
}

# Run a go command in a wrapper; on failure show its output and name the step.
run_go() {
  local w="$1" what="$2" log
  shift 2
  log="$(mktemp "$dir/.log.XXXXXX")"
  if ! (cd "$w" && "$@") >"$log" 2>&1; then
    echo >&2
    cat "$log" >&2
    if grep -qE '403 Forbidden|404 Not Found|not available|unknown revision|invalid version' "$log"; then
      echo "toolchain: the Go module proxy refused a module while $what (see the lines above: module@version)" >&2
    fi
    rm -f "$log"
    die "failed while $what: $*"
  fi
  rm -f "$log"
}

started=0
begin() {
  started=$SECONDS
  printf '==> %-28s %-40s ' "$1" "$2"
}
done_in() { echo "built in $((SECONDS - started))s"; }
present() {
  if [ -x "$1" ]; then
    echo "present (skipped)"
    return 0
  fi
  return 1
}

probe() {
  local m rc=0
  for m in \
    github.com/pulumi/pulumi-random/provider/v4@latest \
    github.com/pulumi/pulumi-tls/provider/v5@latest; do
    if download "$m" >/dev/null; then echo "served now: $m"; else rc=1; fi
  done
  return $rc
}
if [ "${1:-}" = --probe ]; then probe; exit $?; fi

mkdir -p "$bin" "$pulumi_home"
trap 'rm -rf "$dir"/.build.* "$dir"/.log.*' EXIT
echo "toolchain: $dir (Go $(go env GOVERSION), GOMODCACHE $(go env GOMODCACHE), GOCACHE $(go env GOCACHE))"
ldflags_common="-s -w"

# --- pulumi CLI -------------------------------------------------------------------------------------
begin pulumi "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION"
if ! present "$bin/pulumi"; then
  mod="$(download "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")"
  download "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" >/dev/null
  w="$(new_wrapper pulumi)"
  # shellcheck disable=SC2046
  run_go "$w" "pinning github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" \
    go mod edit $(replaces_of "$mod" "$PULUMI_VERSION") \
    "-require=github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "-require=github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  run_go "$w" "resolving github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" \
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION"
  # The release build's flags (.goreleaser.yml): pure-Go os/user, no x/net/trace.
  run_go "$w" "building github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" \
    go build -trimpath -tags osusergo,grpcnotrace -o "$bin/pulumi" \
    -ldflags "$ldflags_common -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  rm -rf "$w"
  done_in
fi

# --- pulumi-language-python (next to pulumi), with the exec script of the CLI's sdk/v3 release ------------
# The host itself is pulumi-language-python-<version>; pulumi-language-python is our adapter in front of
# it (scripts/python_host_adapter.py: where the new CLI says a plugin is, in the words the old host reads).
python_host="$bin/pulumi-language-python-$PULUMI_PYTHON_HOST_VERSION"
begin pulumi-language-python "github.com/pulumi/pulumi/sdk/v3@$PULUMI_PYTHON_HOST_VERSION"
if ! present "$python_host"; then
  download "github.com/pulumi/pulumi/sdk/v3@$PULUMI_PYTHON_HOST_VERSION" >/dev/null
  sdk="$(download "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION")"
  w="$(new_wrapper pulumi-language-python)"
  run_go "$w" "resolving github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@$PULUMI_PYTHON_HOST_VERSION" \
    go get "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@$PULUMI_PYTHON_HOST_VERSION"
  run_go "$w" "building github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@$PULUMI_PYTHON_HOST_VERSION" \
    go build -trimpath -o "$python_host" \
    -ldflags "$ldflags_common -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_PYTHON_HOST_VERSION" \
    github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  rm -rf "$w"
  done_in
fi
install -m 0644 "$here/python_host_adapter.py" "$bin/python_host_adapter.py"
cat >"$bin/pulumi-language-python" <<LAUNCHER
#!/usr/bin/env bash
export WASMCLOUD_LATTICE_PYTHON_HOST="$python_host"
exec "\${PULUMI_PYTHON_CMD:-python3}" "$bin/python_host_adapter.py" "\$@"
LAUNCHER
chmod 0755 "$bin/pulumi-language-python"

# --- pulumi-language-yaml (next to pulumi: the engine looks there for language plugins) --------------
begin pulumi-language-yaml "github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION"
if ! present "$bin/pulumi-language-yaml"; then
  mod="$(download "github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION")"
  w="$(new_wrapper pulumi-yaml)"
  # shellcheck disable=SC2046
  run_go "$w" "pinning github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION" \
    go mod edit $(replaces_of "$mod" "$PULUMI_YAML_VERSION") "-require=github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION"
  run_go "$w" "resolving github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION" \
    go get "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION"
  run_go "$w" "building github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION" \
    go build -trimpath -o "$bin/pulumi-language-yaml" \
    -ldflags "$ldflags_common -X github.com/pulumi/pulumi-yaml/pkg/version.Version=${PULUMI_YAML_VERSION#v}" \
    github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
  rm -rf "$w"
  done_in
fi

# --- pulumi-resource-kubernetes (installed into the toolchain's PULUMI_HOME, not on PATH) -------------
k8s_mod=github.com/pulumi/pulumi-kubernetes/provider/v4
k8s_plugin="$pulumi_home/plugins/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION/pulumi-resource-kubernetes"
begin pulumi-resource-kubernetes "$k8s_mod@$PULUMI_KUBERNETES_MODULE_VERSION"
if ! present "$k8s_plugin"; then
  mod="$(download "$k8s_mod@$PULUMI_KUBERNETES_MODULE_VERSION")"
  download "github.com/pulumi/pulumi-kubernetes/sdk/v4@$PULUMI_KUBERNETES_SDK_MODULE_VERSION" >/dev/null
  w="$(new_wrapper pulumi-kubernetes)"
  # shellcheck disable=SC2046
  run_go "$w" "pinning $k8s_mod@$PULUMI_KUBERNETES_MODULE_VERSION" \
    go mod edit $(replaces_of "$mod" "$PULUMI_KUBERNETES_SDK_MODULE_VERSION") "-require=$k8s_mod@$PULUMI_KUBERNETES_MODULE_VERSION"
  run_go "$w" "resolving $k8s_mod/cmd/pulumi-resource-kubernetes@$PULUMI_KUBERNETES_MODULE_VERSION" \
    go get "$k8s_mod/cmd/pulumi-resource-kubernetes@$PULUMI_KUBERNETES_MODULE_VERSION"
  # main.go embeds schema-embed.json and terraform-mapping-embed.json, which the provider's Makefile
  # makes with `VERSION=<version> go generate cmd/pulumi-resource-kubernetes/main.go` (generate.go:
  # schema.json with its version set). Same step, on a copy of the main package in the wrapper.
  mkdir -p "$w/cmd"
  cp -r "$mod/cmd/pulumi-resource-kubernetes" "$w/cmd/"
  chmod -R u+w "$w/cmd"
  run_go "$w/cmd/pulumi-resource-kubernetes" "generating the kubernetes provider's embedded schema" \
    env VERSION="$PULUMI_KUBERNETES_VERSION" go run ./generate.go
  run_go "$w" "building $k8s_mod/cmd/pulumi-resource-kubernetes@$PULUMI_KUBERNETES_MODULE_VERSION" \
    go build -trimpath -o "$w/pulumi-resource-kubernetes" \
    -ldflags "$ldflags_common -X $k8s_mod/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" \
    ./cmd/pulumi-resource-kubernetes
  # The engine's own install: plugins/resource-kubernetes-v<version>/ and its marker files.
  run_go "$w" "installing the kubernetes provider into $pulumi_home" \
    env PULUMI_HOME="$pulumi_home" PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" plugin install \
    resource kubernetes "$PULUMI_KUBERNETES_VERSION" --file "$w/pulumi-resource-kubernetes" --non-interactive
  rm -rf "$w"
  done_in
fi

# --- etcd ---------------------------------------------------------------------------------------------
begin etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
if ! present "$bin/etcd"; then
  mod="$(download "go.etcd.io/etcd/server/v3@$ETCD_VERSION")"
  w="$(new_wrapper etcd)"
  # shellcheck disable=SC2046
  run_go "$w" "pinning go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    go mod edit $(replaces_of "$mod" "$ETCD_VERSION") "-require=go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  run_go "$w" "resolving go.etcd.io/etcd/server/v3@$ETCD_VERSION" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  run_go "$w" "building go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    go build -trimpath -o "$bin/etcd" -ldflags "$ldflags_common" go.etcd.io/etcd/server/v3
  rm -rf "$w"
  done_in
fi

# --- kube-apiserver, kube-controller-manager ------------------------------------------------------------
kube_minor="${KUBERNETES_VERSION#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags="$ldflags_common"
# What hack/lib/version.sh sets: pulumi-kubernetes reads /version, and v0.0.0 reads as an old server.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
kube_wrapper=""
kube_build() {
  local name="$1"
  begin "$name" "k8s.io/kubernetes@$KUBERNETES_VERSION"
  present "$bin/$name" && return 0
  if [ -z "$kube_wrapper" ]; then
    local mod
    mod="$(download "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    kube_wrapper="$(new_wrapper kubernetes)"
    # shellcheck disable=SC2046
    run_go "$kube_wrapper" "pinning k8s.io/kubernetes@$KUBERNETES_VERSION (staging modules at $KUBERNETES_STAGING_VERSION)" \
      go mod edit $(replaces_of "$mod" "$KUBERNETES_STAGING_VERSION") "-require=k8s.io/kubernetes@$KUBERNETES_VERSION"
  fi
  run_go "$kube_wrapper" "resolving k8s.io/kubernetes/cmd/$name@$KUBERNETES_VERSION" \
    go get "k8s.io/kubernetes/cmd/$name@$KUBERNETES_VERSION"
  run_go "$kube_wrapper" "building k8s.io/kubernetes/cmd/$name@$KUBERNETES_VERSION" \
    go build -trimpath -o "$bin/$name" -ldflags "$kube_ldflags" "k8s.io/kubernetes/cmd/$name"
  done_in
}
kube_build kube-apiserver
kube_build kube-controller-manager

echo "toolchain: ready in ${SECONDS}s. Use it with: eval \"\$($0 --env)\""
PULUMI_HOME="$pulumi_home" PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" plugin ls
