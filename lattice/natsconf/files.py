"""Where a server's config and the files it includes sit on its machine.

Secret files sit beside the config: nats-server resolves ``include`` against the config's
directory, even for an absolute path, so configs name included files relatively.
"""

from __future__ import annotations

from dataclasses import dataclass

CONFIG_FILE = "nats-server.conf"
TRUST_INCLUDE = "trust.conf"
WS_CERT_FILE = "ws-cert.pem"
WS_KEY_FILE = "ws-key.pem"
CA_FILE = "ca.pem"
SERVER_CERT_FILE = "server-cert.pem"
SERVER_KEY_FILE = "server-key.pem"
CREDS_FILE = "leaf.creds"
UPSTREAM_AUTH_INCLUDE = "upstream-auth.conf"
LEAF_USERS_INCLUDE = "leaf-users.conf"


@dataclass(frozen=True)
class ServerFiles:
    """Paths on the machine that runs the server. Secret files sit beside the config."""

    config_dir: str = "/etc/nats"
    store_dir: str = "/var/lib/nats/jetstream"
    pid_file: str | None = None
    """Where nats-server writes its pid, for a process beside it that signals it (the
    Kubernetes config reloader, the lame-duck ``preStop``); none on a VM (systemd knows)."""

    @property
    def config_file(self) -> str:
        return f"{self.config_dir}/{CONFIG_FILE}"

    # nats-server resolves ``include`` against the config's directory, even for an
    # absolute path, so configs name included files relatively and they sit beside it.

    @property
    def creds_file(self) -> str:
        return f"{self.config_dir}/{CREDS_FILE}"

    @property
    def trust_file(self) -> str:
        return f"{self.config_dir}/{TRUST_INCLUDE}"

    @property
    def upstream_auth_file(self) -> str:
        return f"{self.config_dir}/{UPSTREAM_AUTH_INCLUDE}"

    @property
    def leaf_users_file(self) -> str:
        return f"{self.config_dir}/{LEAF_USERS_INCLUDE}"

    @property
    def ws_cert_file(self) -> str:
        return f"{self.config_dir}/{WS_CERT_FILE}"

    @property
    def ws_key_file(self) -> str:
        return f"{self.config_dir}/{WS_KEY_FILE}"

    @property
    def ca_file(self) -> str:
        return f"{self.config_dir}/{CA_FILE}"

    @property
    def server_cert_file(self) -> str:
        return f"{self.config_dir}/{SERVER_CERT_FILE}"

    @property
    def server_key_file(self) -> str:
        return f"{self.config_dir}/{SERVER_KEY_FILE}"
