"""Addressing: ports, where each server is, every URL a peer dials, the hosts a certificate names.

The only place a NATS URL or ``host:port`` is formed. A platform resolves where its
servers are (Elastic IPs and a balancer on AWS, pod and Service names on Kubernetes,
loopback ports in the sandbox) into one :class:`Addressing` through the functions here;
the renderer writes configs from it, the certificates name the hosts in it, and the
components' URL outputs are read from it, so the three cannot disagree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from lattice.plan import LatticePlan

LOOPBACK = "127.0.0.1"
"""Where a spoke's anonymous client port and its monitor listen, and where the sandbox runs."""
ANY_INTERFACE = "0.0.0.0"


@dataclass(frozen=True)
class Ports:
    """The standard NATS ports; platforms override them (the sandbox uses ephemeral ones)."""

    client: int = 4222
    cluster: int = 6222
    gateway: int = 7222
    leaf: int = 7422
    monitor: int = 8222
    websocket: int = 8443
    """A hub's WebSocket listener, for spokes that can only leave their site over HTTPS."""


PORTS = Ports()


# --- URLs ------------------------------------------------------------------------------------


def host_port(host: str, port: int) -> str:
    return f"{host}:{port}"


def client_url(host: str, port: int = PORTS.client) -> str:
    return f"nats://{host_port(host, port)}"


def route_url(host: str, port: int = PORTS.cluster) -> str:
    return f"nats-route://{host_port(host, port)}"


def gateway_url(host: str, port: int = PORTS.gateway) -> str:
    return f"nats://{host_port(host, port)}"


def leaf_url(host: str, port: int = PORTS.leaf) -> str:
    return f"nats-leaf://{host_port(host, port)}"


def websocket_url(host: str, port: int = PORTS.websocket, *, tls: bool = True) -> str:
    return f"{'wss' if tls else 'ws'}://{host_port(host, port)}"


def monitor_url(host: str, port: int = PORTS.monitor) -> str:
    return f"http://{host_port(host, port)}"


def spoke_client_url(port: int = PORTS.client) -> str:
    """What a wasmCloud host beside a spoke connects to: the leaf on loopback, anonymously."""
    return client_url(LOOPBACK, port)


def url_with_login(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (quoted) in front of its host."""
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_host(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    return host


def all_tls_websockets(urls: Sequence[str]) -> bool:
    return all(u.startswith("wss://") for u in urls)


def service_host(service: str, namespace: str) -> str:
    """A Kubernetes Service's cluster DNS name."""
    return f"{service}.{namespace}.svc.cluster.local"


def pod_host(server: str, service: str, namespace: str) -> str:
    """A StatefulSet pod's stable DNS name through its headless Service."""
    return f"{server}.{service_host(service, namespace)}"


# --- where servers are ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerAddress:
    """Where one server listens and how its peers reach it, as its platform resolved it."""

    dial_host: str
    ports: Ports = field(default_factory=Ports)
    bind_host: str = ANY_INTERFACE
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

    def client_urls(self, servers: Sequence[str]) -> list[str]:
        """Client URLs of ``servers`` (a hub's nodes), for cloud-side services."""
        return [client_url(self.servers[s].dial_host, self.servers[s].ports.client) for s in servers]


def direct_addressing(
    plan: LatticePlan, servers: Mapping[str, ServerAddress], *, websocket_tls: bool = True
) -> Addressing:
    """Addressing where every server is dialed directly (the sandbox, the tests)."""
    leaf_urls: dict[str, tuple[str, ...]] = {}
    gateway_urls: dict[str, tuple[str, ...]] = {}
    websocket_urls: dict[str, tuple[str, ...]] = {}
    for hub in plan.hubs:
        if hub.is_external:
            leaf_urls[hub.name] = hub.external_urls
            continue
        addrs = [servers[s] for s in hub.servers]
        leaf_urls[hub.name] = tuple(leaf_url(a.dial_host, a.ports.leaf) for a in addrs)
        gateway_urls[hub.name] = tuple(gateway_url(a.dial_host, a.ports.gateway) for a in addrs)
        websocket_urls[hub.name] = tuple(
            websocket_url(a.dial_host, a.ports.websocket, tls=websocket_tls) for a in addrs
        )
    for spoke in plan.spokes:
        if spoke.is_mid_tier:
            a = servers[spoke.name]
            leaf_urls[spoke.name] = (leaf_url(a.dial_host, a.ports.leaf),)
    return Addressing(
        servers=dict(servers),
        leaf_urls=leaf_urls,
        gateway_urls=gateway_urls,
        websocket_urls=websocket_urls,
        websocket_tls=websocket_tls,
    )


def balanced_leaf_urls(leaf_host: str) -> tuple[str, ...]:
    """Where spokes dial a balanced hub region: its balancer, nothing else. Apart from
    :func:`balanced_hub_addressing` so a spoke's inputs depend on the balancer's address
    alone, not on every node's (at 1000 spokes that dependency fan-in cost the program)."""
    return (leaf_url(leaf_host),)


def balanced_websocket_urls(plan: LatticePlan, hub: str, leaf_host: str, websocket_host: str | None) -> tuple[str, ...]:
    """Where WebSocket spokes dial a balanced hub region (none unless it has a listener)."""
    if not plan.server(plan.hub(hub).servers[0]).websocket:
        return ()
    return (websocket_url(websocket_host or leaf_host),)


def balanced_hub_addressing(
    plan: LatticePlan,
    hub: str,
    *,
    dial_hosts: Sequence[str],
    advertise_hosts: Sequence[str],
    leaf_host: str,
    peer_gateway_hosts: Mapping[str, Sequence[str]],
    websocket_host: str | None = None,
) -> Addressing:
    """A cloud hub region: nodes route to each other at ``dial_hosts`` (private IPs, pod
    names), advertise ``advertise_hosts`` to other regions (Elastic IPs, per-pod gateway
    Services; none when the region has no peer), and take leaf links (and WebSocket leaf
    links) through one balancer at ``leaf_host`` (``no_advertise``: spokes keep dialing it).
    ``websocket_host``: the DNS name WebSocket spokes dial instead (a record pointing at the
    balancer, named on the listener's certificate)."""
    servers = plan.hub(hub).servers
    missing = [g for g in plan.server(servers[0]).gateways if g not in peer_gateway_hosts]
    if missing:
        raise ValueError(f"hub {hub}: no gateway addresses given for hub(s) {', '.join(missing)}")
    if advertise_hosts and len(advertise_hosts) != len(servers):
        raise ValueError(f"hub {hub}: {len(advertise_hosts)} gateway addresses for {len(servers)} nodes")
    gateway_urls = {peer: tuple(gateway_url(h) for h in hosts) for peer, hosts in peer_gateway_hosts.items()}
    gateway_urls[hub] = tuple(gateway_url(h) for h in advertise_hosts)
    websocket = balanced_websocket_urls(plan, hub, leaf_host, websocket_host)
    return Addressing(
        servers={s: ServerAddress(dial_host=h) for s, h in zip(servers, dial_hosts, strict=True)},
        leaf_urls={hub: balanced_leaf_urls(leaf_host)},
        gateway_urls=gateway_urls,
        gateway_advertise={s: host_port(h, PORTS.gateway) for s, h in zip(servers, advertise_hosts, strict=False)},
        leaf_behind_balancer=frozenset({hub}),
        websocket_urls={hub: websocket} if websocket else {},
    )


def spoke_addressing(plan: LatticePlan, spoke: str, upstream_urls: Sequence[str], own_host: str) -> Addressing:
    """What a spoke's config needs: its upstream's URLs (leaf or WebSocket) and, for a
    mid-tier spoke, the host its children dial."""
    planned = plan.spoke(spoke)
    urls = tuple(upstream_urls)
    own = (leaf_url(own_host),)
    if planned.leaf_transport == "websocket":
        return Addressing(
            servers={spoke: ServerAddress(dial_host=own_host)},
            leaf_urls={spoke: own},
            gateway_urls={},
            websocket_urls={planned.upstream: urls},
            websocket_tls=all_tls_websockets(urls),
            # a listener with a public certificate (cert-manager) is verified against the
            # system's roots; one from the lattice CA against ca.pem, like every other link
            websocket_ca=not plan.hub(planned.upstream).websocket_public_certificate,
        )
    return Addressing(
        servers={spoke: ServerAddress(dial_host=own_host)},
        leaf_urls={planned.upstream: urls, spoke: own},
        gateway_urls={},
    )


# --- what certificates name -------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateHosts:
    """The subject alternative names a server's certificate needs."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


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
        hosts.update(url_host(u) for u in addressing.leaf_urls.get(server.group, ()))
    if server.websocket:  # a WebSocket spoke dials this name (the listener presents this certificate)
        hosts.update(url_host(u) for u in addressing.websocket_urls.get(server.group, ()))
    dns, ips = [], []
    for host in sorted(hosts):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns.append(host)
        else:
            ips.append(host)
    return CertificateHosts(dns_names=tuple(dns), ip_addresses=tuple(ips))
