"""One function per nats-server config block (server, accounts, jetstream, cluster,
gateway, leafnodes, websocket, tls), in the spirit of the nats-io/k8s chart.

Each takes the plan's view of one server and the resolved addressing; none forms a URL
itself (:mod:`lattice.addressing` does) and none touches key material.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lattice.addressing import Addressing, Ports, host_port, route_url
from lattice.credentials import HubTrust
from lattice.natsconf.files import LEAF_USERS_INCLUDE, UPSTREAM_AUTH_INCLUDE, ServerFiles
from lattice.natsconf.format import INCLUDE
from lattice.plan import LOCAL_ACCOUNT, JetStreamLimits, LatticePlan, ServerPlan, verifies_upstream

LOCAL_USER = "local"
SPOKE_PING_INTERVAL = "3s"
SPOKE_PING_MAX = 2
"""A silently dead upstream is noticed within 2-3 intervals (6-9 s) instead of the 2 min x 2
default. A spoke pings its leaf link every interval whatever the traffic (client.go
``processPingTimer``: never delayed for a soliciting leaf); the hub answers, so a link costs
one PING and one PONG per interval: the README counts the bytes per 1000 spokes."""
LEAF_RECONNECT_DELAY_MS = (100, 400)
"""A lost leaf link is redialed after ``reconnect_delay`` exactly: nats-server adds jitter only
after a failed dial (leafnode.go ``reConnectToRemoteLeafNode`` vs ``connectToRemoteLeafNode``).
So each server's delay is spread over this range by a hash of its name: spokes that lose the
same hub node do not all redial it in the same millisecond, and the rendering stays
deterministic. The default 1 s made re-attachment take 1.1 s over a 20 ms WAN."""
LEAF_COMPRESSION = "s2_fast"
"""Leaf links compress with S2's fast level whatever the RTT. The default, s2_auto, moves to
s2_better above 50 ms and s2_best above 100 ms (server.go ``selectS2AutoModeBasedOnRTT``),
and each level keeps its encoder per connection: the fleet bench measured a hub holding
1.7 MiB per leaf under s2_auto over a 20 ms WAN and 0.55 MiB with s2_fast, and spending a
third of a reconnect storm's CPU in the best-level encoder. Reloadable (reload.go)."""
TLS_MIN_VERSION = "1.2"
TLS_TIMEOUT = 5
"""Seconds for a TLS handshake; generous for leaf links over slow or lossy edge WANs."""
LAME_DUCK_DURATION = "30s"
"""A hub node stopping on purpose hands its clients and leaf links to its peers over this
long (nats-server's minimum; its default is 2 min, the NATS Helm chart's 30 s)."""
LAME_DUCK_GRACE_PERIOD = "10s"
"""Before it starts closing them (nats-server's default, said here so a platform can size
its stop timeout from the config)."""
LAME_DUCK_HANDOFF_SECONDS = 5
"""How a hub node stops on purpose, on every platform (the sandbox's roll, ``nats-sync
--drain``, the Kubernetes ``preStop``): lame duck (``--signal ldm``: no new connections, its
JetStream leaders move to the peers, about 1 s in ``lameDuckMode``), then, this long later and
well inside the grace period, ``--signal quit`` (SIGINT; SIGTERM is ignored in lame duck), so
its clients, leaf links and gateway connections all drop at one instant. Left to finish on
its own, lame duck closes the clients one by one (at most 1 s apart) and the gateways only at
its exit, and the other regions' servers whose outbound gateway pointed at it redial only
after 1 s (``gatewayReconnectDelay``, gateway.go, not configurable), dropping what they send
to its region meanwhile: a request refused while a leaf link moved, retried 1.5 s later, then
fell into that gap (seen 1 in about 5000 requests across a region while hub nodes restarted).
A node without clients exits at the end of the handoff by itself."""
ROLL_SETTLE_SECONDS = 5
"""After a restarted node is back (healthy, routes, every gateway up), this long before the
next node's turn: one disruption's retry (a 2 s timeout, a retry 1.5 s later) must not land
in the next one's gateway gap. The Kubernetes hub StatefulSet's ``minReadySeconds``; AWS
nodes take turns minutes apart (nats-sync's slots)."""


def leaf_reconnect_delay(server: str) -> str:
    """This server's leaf ``reconnect_delay``: a fixed point in ``LEAF_RECONNECT_DELAY_MS``
    chosen by its name (a per-server jitter that renders the same every time)."""
    low, high = LEAF_RECONNECT_DELAY_MS
    spread = int.from_bytes(hashlib.sha256(server.encode()).digest()[:4], "big") % (high - low)
    return f"{low + spread}ms"


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


def server_block(
    server: ServerPlan, client_host: str, monitor_host: str, ports: Ports, pid_file: str | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "server_name": server.name,
        "listen": host_port(client_host, ports.client),
        "http": host_port(monitor_host, ports.monitor),
    }
    if pid_file is not None:
        block["pid_file"] = pid_file
    if server.role == "hub":
        block["lame_duck_duration"] = LAME_DUCK_DURATION
        block["lame_duck_grace_period"] = LAME_DUCK_GRACE_PERIOD
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


def jetstream_block(domain: str, store_dir: str, limits: JetStreamLimits | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"domain": domain, "store_dir": store_dir}
    if limits is not None:  # a capped pod: refuse writes before the kernel or the volume does
        block["max_memory_store"] = limits.max_memory_bytes
        block["max_file_store"] = limits.max_file_bytes
    return {"jetstream": block}


def cluster_block(plan: LatticePlan, server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    """Routes to the other nodes of the hub; absent on a 1-node hub (it would exit)."""
    if not server.peers:
        return {}
    own = addressing.servers[server.name]
    routes = []
    for peer in server.peers:
        addr = addressing.servers[peer]
        routes.append(route_url(addr.dial_host, addr.ports.cluster))
    return {
        "cluster": {
            "name": server.group,
            "listen": host_port(own.bind_host, own.ports.cluster),
            "tls": listener_tls(files, verify=True),
            "routes": routes,
        }
    }


def gateway_block(server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    if not server.gateways:
        return {}
    own = addressing.servers[server.name]
    block: dict[str, Any] = {"name": server.group, "listen": host_port(own.bind_host, own.ports.gateway)}
    if server.name in addressing.gateway_advertise:
        block["advertise"] = addressing.gateway_advertise[server.name]
    block["tls"] = listener_tls(files, verify=True)
    block["gateways"] = [{"name": hub, "urls": list(addressing.gateway_urls[hub])} for hub in server.gateways]
    return {"gateway": block}


def websocket_block(
    plan: LatticePlan, server: ServerPlan, addressing: Addressing, files: ServerFiles
) -> dict[str, Any]:
    """A hub's WebSocket listener for leaf links that can only leave their site over HTTPS.
    Operator mode authenticates them exactly as on the leaf port. It presents the server's
    own certificate from the lattice CA (which names the host WebSocket spokes dial), or a
    publicly trusted one beside it (``ws-cert.pem``, e.g. from cert-manager)."""
    if not server.websocket:
        return {}
    own = addressing.servers[server.name]
    block: dict[str, Any] = {"listen": host_port(own.bind_host, own.ports.websocket)}
    if addressing.websocket_tls:
        if plan.hub(server.group).websocket_public_certificate:
            cert, key = files.ws_cert_file, files.ws_key_file
        else:
            cert, key = files.server_cert_file, files.server_key_file
        block["tls"] = {"cert_file": cert, "key_file": key, "min_version": TLS_MIN_VERSION}
    else:
        block["no_tls"] = True  # a balancer in front terminates TLS
    return {"websocket": block}


def _leaf_listener(plan: LatticePlan, server: ServerPlan, addressing: Addressing, files: ServerFiles) -> dict[str, Any]:
    own = addressing.servers[server.name]
    listener: dict[str, Any] = {"listen": host_port(own.bind_host, own.ports.leaf)}
    listener["tls"] = listener_tls(files, handshake_first=plan.tls_handshake_first)
    listener["compression"] = LEAF_COMPRESSION
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
        remote["compression"] = LEAF_COMPRESSION
        block["reconnect_delay"] = leaf_reconnect_delay(server.name)
        block["remotes"] = [remote]
    return {"leafnodes": block} if block else {}
