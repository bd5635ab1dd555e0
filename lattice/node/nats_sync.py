#!/usr/bin/env python3
"""nats-sync: write a node's files from its AWS Secrets Manager secret, reload on change.

Runs on every cloud node (installed by the boot script, run at boot and by a systemd
timer). The secret holds ``{"files": {"<name>": "<text>"}}``: the node's ``.creds``, a
hub's ``trust.conf``, a mid-tier spoke's ``leaf-users.conf``. A revocation or a new child
spoke changes the secret, this job rewrites the file (0600, atomically) and reloads
nats-server; the instance and its user-data never change for it.

Standard library and the AWS CLI only (both on Amazon Linux 2023). Settings come from the
environment so the systemd unit, and tests, set them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time


def _settings() -> tuple[str, str, str, str]:
    env = os.environ
    return (
        env["NATS_SYNC_SECRET_ID"],
        env["NATS_SYNC_REGION"],
        env.get("NATS_SYNC_CONFIG_DIR", "/etc/nats"),
        env.get("NATS_SYNC_OWNER", "nats"),
    )


def fetch(secret_id: str, region: str, attempts: int) -> dict[str, str]:
    """The secret's files; retried, since at first boot the role may not be usable yet."""
    argv = ["aws", "secretsmanager", "get-secret-value", "--region", region, "--secret-id", secret_id]
    argv += ["--query", "SecretString", "--output", "text"]
    error = ""
    for attempt in range(attempts):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            files = json.loads(result.stdout)["files"]
            if not isinstance(files, dict):
                raise SystemExit("nats-sync: secret has no 'files' mapping")
            return {str(k): str(v) for k, v in files.items()}
        error = result.stderr.strip()
        time.sleep(min(2**attempt, 30))
    raise SystemExit(f"nats-sync: cannot read secret {secret_id}: {error}")


def write_changed(files: dict[str, str], config_dir: str, owner: str) -> list[str]:
    """Write each file that differs, mode 0600, by rename; return the names written."""
    changed = []
    for name, text in sorted(files.items()):
        if not name or "/" in name or name.startswith("."):
            raise SystemExit(f"nats-sync: refusing file name {name!r}")
        path = os.path.join(config_dir, name)
        try:
            with open(path) as current:
                if current.read() == text:
                    continue
        except FileNotFoundError:
            pass
        tmp = f"{path}.nats-sync"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        if os.geteuid() == 0:
            shutil.chown(tmp, owner, owner)
        os.replace(tmp, path)
        changed.append(name)
    return changed


def main(argv: list[str]) -> int:
    secret_id, region, config_dir, owner = _settings()
    attempts = 1 if "--once" in argv else 30
    changed = write_changed(fetch(secret_id, region, attempts), config_dir, owner)
    if changed:
        print("nats-sync: updated " + ", ".join(changed))
        active = subprocess.run(["systemctl", "is-active", "--quiet", "nats-server.service"], check=False)
        if "--reload" in argv and active.returncode == 0:
            subprocess.run(["systemctl", "reload", "nats-server.service"], check=True)
            print("nats-sync: reloaded nats-server")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
