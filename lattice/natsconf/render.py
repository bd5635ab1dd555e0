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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lattice.addressing import LOOPBACK, Addressing, url_with_login
from lattice.credentials import ChildLogin, HubTrust, LatticeAuth
from lattice.natsconf.blocks import (
    cluster_block,
    gateway_block,
    jetstream_block,
    leafnodes_block,
    listener_tls,
    local_accounts_block,
    operator_block,
    server_block,
    websocket_block,
)
from lattice.natsconf.files import TRUST_INCLUDE, ServerFiles
from lattice.natsconf.format import INCLUDE, format_conf
from lattice.plan import LOCAL_ACCOUNT, LatticePlan, ServerPlan, needs_ca, presents_certificate

RENDERED_BY = "Rendered by wasmcloud-lattice (components/natsconf.py); do not edit by hand."
"""Kept byte for byte though the renderer now lives in lattice/natsconf/: every config
carries it, and on AWS a config is part of the user-data, so rewording it would replace
every instance of every stack on the next ``pulumi up``."""


def _header(plan: LatticePlan, server: ServerPlan) -> str:
    what = f"hub {server.group}" if server.role == "hub" else f"spoke (upstream {server.upstream})"
    return f"nats-server config for {server.name}: {what} of lattice {plan.lattice}.\n{RENDERED_BY}"


def render_server_config(plan: LatticePlan, server_name: str, addressing: Addressing, files: ServerFiles) -> str:
    """The config text of one server: public, and free of anything derived from keys."""
    server = plan.server(server_name)
    own = addressing.servers[server.name]
    blocks: dict[str, Any] = {}
    if server.role == "hub":
        blocks.update(server_block(server, own.bind_host, own.bind_host, own.ports, files.pid_file))
        blocks["tls"] = listener_tls(files)  # the client port: service users come from other machines
        blocks[INCLUDE] = TRUST_INCLUDE
    else:
        blocks.update(server_block(server, LOOPBACK, LOOPBACK, own.ports, files.pid_file))
        blocks.update(local_accounts_block())
    blocks.update(jetstream_block(server.jetstream_domain, files.store_dir, server.jetstream_limits))
    blocks.update(cluster_block(plan, server, addressing, files))
    blocks.update(gateway_block(server, addressing, files))
    blocks.update(leafnodes_block(plan, server, addressing, files))
    blocks.update(websocket_block(plan, server, addressing, files))
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


def render_upstream_auth(urls: Sequence[str], login: ChildLogin) -> str:
    """The secret include file of a spoke whose upstream is a mid-tier spoke."""
    return format_conf({"urls": [url_with_login(u, login.user, login.password) for u in urls]})


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
