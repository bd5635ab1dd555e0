"""The one renderer of nats-server configs. AWS, Kubernetes and the sandbox all call it.

Pure and deterministic: the same plan, addresses and credentials give byte-identical
text. One small function per config block (server, accounts, jetstream, cluster,
gateway, leafnodes), composed per role, in the spirit of the nats-io/k8s chart.

A config depends only on the plan and the resolved addresses, never on key material:
whatever derives from keys lives in files beside it, delivered through the node's secret
channel and picked up with a config reload:

- ``trust.conf`` (hubs): operator and account JWTs. Public, but a spoke's removal adds a
  revocation here, and that must reach the hubs without touching their instances.
- ``leaf.creds`` (a spoke on a hub): its leaf user's JWT and seed.
- ``upstream-auth.conf`` (a spoke on a spoke): its upstream URLs with its password.
- ``leaf-users.conf`` (a mid-tier spoke): its children's bcrypt hashes; adding a child
  changes this file only.
- ``server-cert.pem``/``server-key.pem`` (hubs, mid-tier spokes) and ``ca.pem`` (every
  server of ours): TLS on every link that leaves a machine, from the lattice's private CA.

TLS everywhere: a hub's client, route, gateway and leaf listeners and a mid-tier spoke's
leaf listener present the server's certificate; routes and gateways verify each other
both ways against the lattice CA (mutual TLS); leaf remotes verify the server they dial
(the leaf's JWT or password authenticates the other way). A spoke's client port is
plaintext on purpose: it is bound to 127.0.0.1, where its wasmCloud host connects.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from lattice.credentials import ChildLogin, HubTrust, LatticeAuth
from lattice.plan import LOCAL_ACCOUNT, LatticePlan, Ports, ServerPlan

LOOPBACK = "127.0.0.1"
LOCAL_USER = "local"
SPOKE_PING_INTERVAL = "7s"
SPOKE_PING_MAX = 2
"""A silently dead upstream is noticed within 3 intervals (~14-21 s) instead of the
2 min x 2 default. At 10 s the worst case was just over 30 s (measured by the bench)."""
LEAF_RECONNECT_DELAY = "1s"
TLS_MIN_VERSION = "1.2"
TLS_TIMEOUT = 5
"""Seconds for a TLS handshake; generous for leaf links over slow or lossy edge WANs."""


@dataclass(frozen=True)
class ServerAddress:
    """Where one server listens and how its peers reach it, as its platform resolved it."""

    dial_host: str
    ports: Ports = field(default_factory=Ports)
    bind_host: str = "0.0.0.0"
    """Interface for the route, gateway and leaf listeners (and a hub's client port)."""


@dataclass(frozen=True)
class Addressing:
    """Resolved addresses of every server, plus the URLs each group is dialed at."""

    servers: Mapping[str, ServerAddress]
    leaf_urls: Mapping[str, tuple[str, ...]]
    """Hub or mid-tier spoke -> the leaf URLs its children dial (nodes or a balancer)."""
    gateway_urls: Mapping[str, tuple[str, ...]]
    """Hub -> the gateway URLs other regions dial."""
    gateway_advertise: Mapping[str, str] = field(default_factory=dict)
    """Hub server -> ``host:port`` it advertises to other regions (gossip must reach it)."""
    leaf_behind_balancer: frozenset[str] = frozenset()
    """Hubs whose leaf URLs are a load balancer: their nodes set ``no_advertise``."""
    websocket_urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Hub -> the ``wss://`` (or ``ws://``) URLs spokes with ``leafTransport: websocket`` dial."""
    websocket_tls: bool = True
    """Hub WebSocket listeners terminate TLS with ``ws-cert.pem``/``ws-key.pem`` beside the
    config, and spokes verify them against ``ca.pem``; False where a balancer in front
    terminates TLS (the listener then sets ``no_tls``)."""
    websocket_ca: bool = True
    """Spokes verify the WebSocket listener against ``ca.pem`` beside their config (a private
    CA, as in the sandbox); False: against the system's roots (a public certificate)."""


def direct_addressing(
    plan: LatticePlan, servers: Mapping[str, ServerAddress], *, websocket_tls: bool = True
) -> Addressing:
    """Addressing where every server is dialed directly (the sandbox, Elastic IPs)."""
    leaf_urls: dict[str, tuple[str, ...]] = {}
    gateway_urls: dict[str, tuple[str, ...]] = {}
    websocket_urls: dict[str, tuple[str, ...]] = {}
    scheme = "wss" if websocket_tls else "ws"
    for hub in plan.hubs:
        if hub.external_urls:
            leaf_urls[hub.name] = hub.external_urls
            continue
        addrs = [servers[s] for s in hub.servers]
        leaf_urls[hub.name] = tuple(f"nats-leaf://{a.dial_host}:{a.ports.leaf}" for a in addrs)
        gateway_urls[hub.name] = tuple(f"nats://{a.dial_host}:{a.ports.gateway}" for a in addrs)
        websocket_urls[hub.name] = tuple(f"{scheme}://{a.dial_host}:{a.ports.websocket}" for a in addrs)
    for spoke in plan.spokes:
        if spoke.is_mid_tier:
            a = servers[spoke.name]
            leaf_urls[spoke.name] = (f"nats-leaf://{a.dial_host}:{a.ports.leaf}",)
    return Addressing(
        servers=dict(servers),
        leaf_urls=leaf_urls,
        gateway_urls=gateway_urls,
        websocket_urls=websocket_urls,
        websocket_tls=websocket_tls,
    )


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


# --- formatting ----------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot render {type(value).__name__}")


INCLUDE = "include"
"""A key rendered as the ``include "path"`` directive rather than a ``key: value`` pair."""


def _entry(pad: str, key: str, value: Any, indent: int) -> str:
    if key == INCLUDE:
        return f"{pad}include {_scalar(value)}"
    return f"{pad}{key}: {_format(value, indent)}"


def _format(value: Any, indent: int) -> str:
    pad = "  " * (indent + 1)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = [_entry(pad, key, val, indent + 1) for key, val in value.items()]
        return "{\n" + "\n".join(lines) + "\n" + "  " * indent + "}"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return "[" + ", ".join(_scalar(v) for v in value) + "]"
        items = [f"{pad}{_format(v, indent + 1)}" for v in value]
        return "[\n" + "\n".join(items) + "\n" + "  " * indent + "]"
    return _scalar(value)


def format_conf(blocks: Mapping[str, Any], header: str = "") -> str:
    """Top-level keys one per line; nested maps and lists indented two spaces."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [_entry("", key, value, 0) for key, value in blocks.items()]
    return "\n".join(lines) + "\n"


# --- TLS -------------------------------------------------------------------------------------


def presents_certificate(server: ServerPlan) -> bool:
    """Hubs and mid-tier spokes listen beyond their machine, so they hold a certificate."""
    return server.role == "hub" or bool(server.leaf_children)


def verifies_upstream(plan: LatticePlan, server: ServerPlan) -> bool:
    """A spoke whose upstream is ours verifies it against the lattice CA; an external hub's
    URLs (``tls://connect.ngs.global``) carry a certificate the system roots trust."""
    if server.upstream is None:
        return False
    return not (plan.is_hub(server.upstream) and plan.hub(server.upstream).external_urls)


def needs_ca(plan: LatticePlan, server: ServerPlan) -> bool:
    return presents_certificate(server) or verifies_upstream(plan, server)


def listener_tls(files: ServerFiles, *, verify: bool = False, handshake_first: bool = False) -> dict[str, Any]:
    """The server's certificate; ``verify``: peers must present one from the lattice CA."""
    block: dict[str, Any] = {
        "cert_file": files.server_cert_file,
        "key_file": files.server_key_file,
        "ca_file": files.ca_file,
        "min_version": TLS_MIN_VERSION,
        "timeout": TLS_TIMEOUT,
    }
    if verify:
        block["verify"] = True
    if handshake_first:
        block["handshake_first"] = True
    return block


def remote_tls(files: ServerFiles, *, handshake_first: bool = False) -> dict[str, Any]:
    """A leaf remote verifies the server it dials against the lattice CA."""
    block: dict[str, Any] = {"ca_file": files.ca_file, "timeout": TLS_TIMEOUT}
    if handshake_first:
        block["handshake_first"] = True
    return block


@dataclass(frozen=True)
class CertificateHosts:
    """The subject alternative names a server's certificate needs."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def _url_host(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    return host


def merge_hosts(parts: Sequence[CertificateHosts]) -> CertificateHosts:
    """One certificate for several servers (a Kubernetes hub's pods share theirs)."""
    return CertificateHosts(
        dns_names=tuple(sorted({d for p in parts for d in p.dns_names})),
        ip_addresses=tuple(sorted({i for p in parts for i in p.ip_addresses})),
    )


def certificate_hosts(plan: LatticePlan, server_name: str, addressing: Addressing) -> CertificateHosts:
    """Every host a peer dials this server at, from the same addressing its configs use:
    its own address (routes, clients, a mid-tier's children), its advertised gateway
    address, and the balancer in front of its leaf listener."""
    server = plan.server(server_name)
    hosts = {addressing.servers[server_name].dial_host}
    if server_name in addressing.gateway_advertise:
        hosts.add(addressing.gateway_advertise[server_name].rsplit(":", 1)[0])
    if server.group in addressing.leaf_behind_balancer:
        hosts.update(_url_host(u) for u in addressing.leaf_urls.get(server.group, ()))
    dns, ips = [], []
    for host in sorted(hosts):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns.append(host)
        else:
            ips.append(host)
    return CertificateHosts(dns_names=tuple(dns), ip_addresses=tuple(ips))


# --- blocks ----------------------------------------------------------------------------------


def server_block(server: ServerPlan, client_host: str, monitor_host: str, ports: Ports) -> dict[str, Any]:
    block: dict[str, Any] = {
        "server_name": server.name,
        "listen": f"{client_host}:{ports.client}",
        "http": f"{monitor_host}:{ports.monitor}",
    }
    if server.role == "spoke":
        block["ping_interval"] = SPOKE_PING_INTERVAL
        block["ping_max"] = SPOKE_PING_MAX
    return block


def operator_block(trust: HubTrust) -> dict[str, Any]:
    """Decentralized auth: every client, leaf and service proves a JWT chain to the operator."""
    return {
        "operator": trust.operator_jwt,
        "system_account": trust.system_account,
        "resolver": "MEMORY",
        "resolver_preload": dict(sorted(trust.account_jwts.items())),
    }


def local_accounts_block() -> dict[str, Any]:
    """A spoke's anonymous localhost account: hosts need no credentials at all."""
    return {
        "accounts": {LOCAL_ACCOUNT: {"users": [{"user": LOCAL_USER}], "jetstream": "enabled"}},
        "no_auth_user": LOCAL_USER,
    }


def jetstream_block(domain: str, store_dir: str) -> dict[str, Any]:
    return {"jetstream": {"domain": domain, "store_dir": store_dir}}


def cluster_block(plan: LatticePlan, server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    """Routes to the other nodes of the hub; absent on a 1-node hub (it would exit)."""
    if not server.peers:
        return {}
    own = addressing.servers[server.name]
    routes = []
    for peer in server.peers:
        addr = addressing.servers[peer]
        routes.append(f"nats-route://{addr.dial_host}:{addr.ports.cluster}")
    return {
        "cluster": {
            "name": server.group,
            "listen": f"{own.bind_host}:{own.ports.cluster}",
            "tls": listener_tls(files, verify=True),
            "routes": routes,
        }
    }


def gateway_block(server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    if not server.gateways:
        return {}
    own = addressing.servers[server.name]
    block: dict[str, Any] = {"name": server.group, "listen": f"{own.bind_host}:{own.ports.gateway}"}
    if server.name in addressing.gateway_advertise:
        block["advertise"] = addressing.gateway_advertise[server.name]
    block["tls"] = listener_tls(files, verify=True)
    block["gateways"] = [{"name": hub, "urls": list(addressing.gateway_urls[hub])} for hub in server.gateways]
    return {"gateway": block}


def websocket_block(server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    """A hub's WebSocket listener for leaf links that can only leave their site over HTTPS.
    Operator mode authenticates them exactly as on the leaf port."""
    if not server.websocket:
        return {}
    own = addressing.servers[server.name]
    block: dict[str, Any] = {"listen": f"{own.bind_host}:{own.ports.websocket}"}
    if addressing.websocket_tls:
        block["tls"] = {"cert_file": files.ws_cert_file, "key_file": files.ws_key_file, "min_version": "1.2"}
    else:
        block["no_tls"] = True  # a balancer in front terminates TLS
    return {"websocket": block}


def _leaf_listener(plan: LatticePlan, server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    own = addressing.servers[server.name]
    listener: dict[str, Any] = {"listen": f"{own.bind_host}:{own.ports.leaf}"}
    listener["tls"] = listener_tls(files, handshake_first=plan.tls_handshake_first)
    if server.role == "hub":
        # Operator mode: the leaf listener authenticates JWTs against the operator, so an
        # anonymous leaf is refused. (Config users are not allowed here in operator mode.)
        if server.group in addressing.leaf_behind_balancer:
            listener["no_advertise"] = True
        return listener
    # Config mode: each child logs in with its own password; the bcrypt hashes sit in an
    # included file so adding a child changes that file, not this config.
    listener["authorization"] = {INCLUDE: LEAF_USERS_INCLUDE}
    return listener


def leafnodes_block(
    plan: LatticePlan,
    server: ServerPlan,
    addressing: Addressing,
    files: ServerFiles,
) -> dict[str, Any]:
    block: dict[str, Any] = {}
    if server.role == "hub" or server.leaf_children:
        block.update(_leaf_listener(plan, server, addressing, files))
    if server.upstream is not None:
        remote: dict[str, Any]
        if plan.is_hub(server.upstream):
            websocket = plan.spoke(server.name).leaf_transport == "websocket"
            urls = addressing.websocket_urls[server.upstream] if websocket else addressing.leaf_urls[server.upstream]
            remote = {"urls": list(urls), "credentials": files.creds_file, "account": LOCAL_ACCOUNT}
            if websocket:
                if addressing.websocket_tls and addressing.websocket_ca:
                    remote["tls"] = {"ca_file": files.ca_file}
            elif verifies_upstream(plan, server):
                remote["tls"] = remote_tls(files, handshake_first=plan.tls_handshake_first)
        else:
            # The URL carries a password: it lives in a secret file this config includes.
            remote = {INCLUDE: UPSTREAM_AUTH_INCLUDE, "account": LOCAL_ACCOUNT}
            remote["tls"] = remote_tls(files, handshake_first=plan.tls_handshake_first)
        block["reconnect_delay"] = LEAF_RECONNECT_DELAY
        block["remotes"] = [remote]
    return {"leafnodes": block} if block else {}


# --- composition --------------------------------------------------------------------------------


def _header(plan: LatticePlan, server: ServerPlan) -> str:
    what = f"hub {server.group}" if server.role == "hub" else f"spoke (upstream {server.upstream})"
    return (
        f"nats-server config for {server.name}: {what} of lattice {plan.lattice}.\n"
        "Rendered by wasmcloud-lattice (components/natsconf.py); do not edit by hand."
    )


def render_server_config(plan: LatticePlan, server_name: str, addressing: Addressing, files: ServerFiles) -> str:
    """The config text of one server: public, and free of anything derived from keys."""
    server = plan.server(server_name)
    own = addressing.servers[server.name]
    blocks: dict[str, Any] = {}
    if server.role == "hub":
        blocks.update(server_block(server, own.bind_host, own.bind_host, own.ports))
        blocks["tls"] = listener_tls(files)  # the client port: service users come from other machines
        blocks[INCLUDE] = TRUST_INCLUDE
    else:
        blocks.update(server_block(server, LOOPBACK, LOOPBACK, own.ports))
        blocks.update(local_accounts_block())
    blocks.update(jetstream_block(server.jetstream_domain, files.store_dir))
    blocks.update(cluster_block(plan, server, addressing, files))
    blocks.update(gateway_block(server, addressing, files))
    blocks.update(leafnodes_block(plan, server, addressing, files))
    blocks.update(websocket_block(server, addressing, files))
    return format_conf(blocks, _header(plan, server))


def render_trust(trust: HubTrust) -> str:
    """A hub's ``trust.conf``: the operator and the preloaded account JWTs (public)."""
    return format_conf(operator_block(trust), "Operator trust for a hub; rendered by wasmcloud-lattice.")


def render_leaf_users(children: Sequence[str], logins: Mapping[str, ChildLogin]) -> str:
    """A mid-tier spoke's ``leaf-users.conf``: one bcrypt login per child (secret file)."""
    missing = [c for c in children if c not in logins]
    if missing:
        raise ValueError(f"no login for child spokes: {', '.join(missing)}")
    users = [{"user": logins[c].user, "password": logins[c].password_hash, "account": LOCAL_ACCOUNT} for c in children]
    return format_conf({"users": users})


def _with_login(url: str, login: ChildLogin) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(login.user, safe='')}:{quote(login.password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def render_upstream_auth(urls: Sequence[str], login: ChildLogin) -> str:
    """The secret include file of a spoke whose upstream is a mid-tier spoke."""
    return format_conf({"urls": [_with_login(u, login) for u in urls]})


@dataclass(frozen=True)
class ServerTls:
    """A server's TLS material from the lattice CA: the CA certificate every server of
    ours trusts and, for one that listens beyond its machine, its own key pair."""

    ca_pem: str
    cert_pem: str | None = None
    key_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RenderedServer:
    config: str
    secret_files: Mapping[str, str] = field(repr=False)
    """Path on the server -> text, each written 0600 beside the config and delivered
    through the node's secret channel (``trust.conf`` is public but travels the same way)."""


def render_tls_files(plan: LatticePlan, server_name: str, files: ServerFiles, tls: ServerTls | None) -> dict[str, str]:
    """A server's TLS files by path: ``ca.pem`` for every server of ours, and the key pair
    of one that listens beyond its machine."""
    server = plan.server(server_name)
    out: dict[str, str] = {}
    if not needs_ca(plan, server):
        return out
    if tls is None:
        raise ValueError(f"{server.name} needs the lattice CA to render its files")
    out[files.ca_file] = tls.ca_pem
    if presents_certificate(server):
        if tls.cert_pem is None or tls.key_pem is None:
            raise ValueError(f"{server.name} needs its TLS certificate and key to render its files")
        out[files.server_cert_file] = tls.cert_pem
        out[files.server_key_file] = tls.key_pem
    return out


def render_server_files(
    plan: LatticePlan,
    server_name: str,
    addressing: Addressing,
    files: ServerFiles,
    *,
    trust: HubTrust | None = None,
    leaf_creds: str | None = None,
    upstream_login: ChildLogin | None = None,
    child_logins: Mapping[str, ChildLogin] | None = None,
    tls: ServerTls | None = None,
) -> dict[str, str]:
    """The files a server's config includes or points at, keyed by their path.

    Each role needs its own piece: a hub ``trust``, a spoke on a hub its ``leaf_creds``,
    a spoke on a spoke its ``upstream_login``, a mid-tier spoke its ``child_logins``, and
    each server of ours its ``tls`` (hubs and mid-tier spokes with their own key pair).
    """
    server = plan.server(server_name)

    def need(value: Any, what: str) -> Any:
        if value is None:
            raise ValueError(f"{server.name} needs {what} to render its files")
        return value

    out = render_tls_files(plan, server_name, files, tls)
    if server.role == "hub":
        out[files.trust_file] = render_trust(need(trust, "the operator trust"))
    if server.upstream is not None:
        if plan.is_hub(server.upstream):
            out[files.creds_file] = need(leaf_creds, "its leaf credentials")
        else:
            urls = addressing.leaf_urls[server.upstream]
            out[files.upstream_auth_file] = render_upstream_auth(urls, need(upstream_login, "its upstream login"))
    if server.role == "spoke" and server.leaf_children:
        out[files.leaf_users_file] = render_leaf_users(
            server.leaf_children, need(child_logins, "its children's logins")
        )
    return out


def auth_pieces(auth: LatticeAuth, server: str) -> dict[str, Any]:
    """The keyword arguments of :func:`render_server_files` for ``server``, from ``auth``."""
    return {
        "trust": auth.trust,
        "leaf_creds": auth.leaf_creds.get(server),
        "upstream_login": auth.child_logins.get(server),
        "child_logins": auth.child_logins,
    }


def render_server(
    plan: LatticePlan,
    server_name: str,
    addressing: Addressing,
    files: ServerFiles,
    auth: LatticeAuth,
    tls: ServerTls | None,
) -> RenderedServer:
    """One server's config and the secret files it points at."""
    return RenderedServer(
        config=render_server_config(plan, server_name, addressing, files),
        secret_files=render_server_files(
            plan, server_name, addressing, files, **auth_pieces(auth, server_name), tls=tls
        ),
    )


def render_lattice(
    plan: LatticePlan,
    addressing: Addressing,
    auth: LatticeAuth,
    files_for: Mapping[str, ServerFiles],
    tls_for: Mapping[str, ServerTls],
) -> dict[str, RenderedServer]:
    """Every server of the lattice: its config and the secret files it points at."""
    return {
        s.name: render_server(plan, s.name, addressing, files_for[s.name], auth, tls_for.get(s.name))
        for s in plan.servers
    }
