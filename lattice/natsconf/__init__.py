"""The one renderer of nats-server configs: AWS, Kubernetes and the sandbox all call it.

- :mod:`lattice.natsconf.blocks`: one function per config block;
- :mod:`lattice.natsconf.render`: blocks composed per role, and the files a config includes;
- :mod:`lattice.natsconf.files`: where those files sit on the server's machine;
- :mod:`lattice.natsconf.format`: the text format.
"""

from lattice.natsconf.files import (
    CA_FILE,
    CONFIG_FILE,
    CREDS_FILE,
    LEAF_USERS_INCLUDE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    TRUST_INCLUDE,
    UPSTREAM_AUTH_INCLUDE,
    WS_CERT_FILE,
    WS_KEY_FILE,
    ServerFiles,
)
from lattice.natsconf.format import format_conf
from lattice.natsconf.render import (
    RenderedServer,
    ServerTls,
    auth_pieces,
    render_lattice,
    render_leaf_users,
    render_server,
    render_server_config,
    render_server_files,
    render_tls_files,
    render_trust,
    render_upstream_auth,
)

__all__ = [
    "CA_FILE",
    "CONFIG_FILE",
    "CREDS_FILE",
    "LEAF_USERS_INCLUDE",
    "SERVER_CERT_FILE",
    "SERVER_KEY_FILE",
    "TRUST_INCLUDE",
    "UPSTREAM_AUTH_INCLUDE",
    "WS_CERT_FILE",
    "WS_KEY_FILE",
    "RenderedServer",
    "ServerFiles",
    "ServerTls",
    "auth_pieces",
    "format_conf",
    "render_lattice",
    "render_leaf_users",
    "render_server",
    "render_server_config",
    "render_server_files",
    "render_tls_files",
    "render_trust",
    "render_upstream_auth",
]
