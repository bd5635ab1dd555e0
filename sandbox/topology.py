"""A stack's whole topology as local processes: the sandbox platform.

It resolves addresses (loopback, ephemeral ports), mints credentials from fresh entropy,
renders every config with the one renderer, and supervises nats-server and wasmCloud
host processes. Credential files are 0600 in a private temp dir removed on exit.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from types import TracebackType

from lattice.addressing import (
    LOOPBACK,
    Ports,
    ServerAddress,
    certificate_hosts,
    client_url,
    direct_addressing,
    leaf_url,
    monitor_url,
)
from lattice.credentials import LatticeAuth, assemble, binds_source, plan_key_names
from lattice.natsconf import RenderedServer, ServerFiles, ServerTls, render_lattice, render_server
from lattice.outputs import OciMirror, SpokeConnection, spoke_connection
from lattice.plan import LatticePlan, plan_lattice
from lattice.spec import HubSpec, LatticeSpec, SpokeSpec
from sandbox import binaries, hubstreams
from sandbox.monitor import Convergence, wait_converged
from sandbox.ports import free_ports
from sandbox.processes import Supervisor
from sandbox.tls import PrivateCA, lattice_tls
from sandbox.wan import Wan

Progress = Callable[[str], None]


class SandboxError(RuntimeError):
    """The topology could not be brought up; the message says which server and why."""


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class LocalLattice:
    """One stack on loopback. Use as a context manager: everything stops on exit."""

    def __init__(
        self,
        spec: LatticeSpec,
        *,
        workdir: Path | None = None,
        entropy: Mapping[str, bytes] | None = None,
        wan_delay: float | None = None,
        hub_bind_host: str = LOOPBACK,
    ):
        """``entropy`` (key name -> 32 bytes) defaults to fresh random keys. With
        ``wan_delay`` (seconds, one way) every spoke dials its upstream through its own
        emulated WAN links (:mod:`sandbox.wan`), one per upstream server, named
        ``<spoke>-><server>``. ``hub_bind_host``: where hubs listen (``0.0.0.0`` lets a
        test reach them from another network namespace); they are dialed on loopback."""
        self.spec = spec
        self.hub_bind_host = hub_bind_host
        self._given_entropy = entropy
        self.wan_delay = wan_delay
        self.wan: Wan | None = None
        self.stand_ins = tuple(h.name for h in spec.hubs if h.platform == "external")
        self.plan: LatticePlan = plan_lattice(spec, stand_in_for_external=True)
        self.generation = 1
        self.running_release: dict[str, str] = {}
        """Server -> the nats-server release its process runs."""
        """How many stacks this lattice has run: 1 at start, one more per :meth:`adopt`."""
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="wasmcloud-lattice-")) if workdir is None else workdir
        try:
            self._prepare()
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> None:
        """Addresses, credentials and rendered configs; nothing is started yet."""
        os.chmod(self.workdir, 0o700)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.supervisor = Supervisor(self.workdir / "logs")
        self.reserved_ports: set[int] = set()
        self.ports: dict[str, Ports] = {}
        self.entropy: Mapping[str, bytes] = dict(self._given_entropy or {})
        self.ca = PrivateCA(self.plan.lattice)
        self.ca_file = self.workdir / "ca.pem"
        self._issued: dict[str, tuple[object, ServerTls]] = {}
        self.registry_links: dict[str, int] = {}
        self._derive()
        self.service_creds = self.workdir / "service.creds"
        # the cloud's OCI registry (sandbox.workloads starts it): reserved now, so a spoke's
        # WAN link to it can be set up with the others
        self.registry_port = self.reserve_ports(1)[0]
        with_hosts = [s.name for s in self.plan.spokes if s.wasmcloud_host]
        self.mirror_ports = dict(zip(with_hosts, self.reserve_ports(len(with_hosts)), strict=True))
        if self.wan_delay is not None:
            self._route_spokes_over_wan(self.wan_delay)

    def _derive(self) -> None:
        """Everything that follows from ``self.plan``, keeping what an earlier generation
        chose: a server keeps its ports, a key its entropy, a certificate its key pair while
        the hosts it names stay the same (so a change re-renders only what it touches)."""
        names = [s.name for s in self.plan.servers]
        per = len(fields(Ports))
        new = [n for n in names if n not in self.ports]
        flat = free_ports(per * len(new), exclude=self.reserved_ports) if new else []
        self.reserved_ports.update(flat)
        self.ports.update({n: Ports(*flat[per * i : per * i + per]) for i, n in enumerate(new)})
        addresses = {
            s.name: ServerAddress(
                dial_host=LOOPBACK,
                bind_host=self.hub_bind_host if s.role == "hub" else LOOPBACK,
                ports=self.ports[s.name],
            )
            for s in self.plan.servers
        }
        self.addressing = direct_addressing(self.plan, addresses)
        if self.wan_delay is not None:
            # The WAN proxies stand where a balancer would: hubs must not gossip their direct
            # leaf URLs, or a reconnecting spoke would bypass its link (found by the bench).
            hubs = frozenset(h.name for h in self.plan.hubs)
            self.addressing = replace(self.addressing, leaf_behind_balancer=hubs)
        self.entropy = {
            **{name: os.urandom(32) for name in plan_key_names(self.plan)},
            **self.entropy,
        }
        # Every spoke dials from 127.0.0.1 here: where the program knows a site's address
        # (an AWS spoke's Elastic IP, a Kubernetes spoke's egressCidrs), this stands for it.
        sources = {
            s.name: (f"{LOOPBACK}/32",)
            for s in self.plan.spokes
            if binds_source(self.plan, s.name) and (s.platform == "aws" or s.egress_cidrs)
        }
        self.auth: LatticeAuth = assemble(self.plan, self.entropy, sources)
        self.tls = self._kept_tls(lattice_tls(self.plan, self.addressing, self.ca))
        self.files = {
            n: ServerFiles(
                config_dir=str(self.workdir / "servers" / n), store_dir=str(self.workdir / "servers" / n / "jetstream")
            )
            for n in names
        }
        self.rendered = render_lattice(self.plan, self.addressing, self.auth, self.files, self.tls)
        self.lattice_service_creds = {
            name: self.workdir / ("service.creds" if name == self.plan.lattice else f"service-{name}.creds")
            for name in self.plan.lattices
        }

    def _kept_tls(self, minted: dict[str, ServerTls]) -> dict[str, ServerTls]:
        """An earlier generation's key pair where the certificate would name the same hosts."""
        out: dict[str, ServerTls] = {}
        for name, tls in minted.items():
            hosts = certificate_hosts(self.plan, name, self.addressing) if tls.cert_pem else None
            kept = self._issued.get(name)
            out[name] = kept[1] if kept is not None and kept[0] == hosts else tls
            self._issued[name] = (hosts, out[name])
        return out

    def adopt(self, spec: LatticeSpec) -> tuple[LatticePlan, dict[str, RenderedServer]]:
        """Make ``spec`` this lattice's next generation: plan, addresses, credentials and
        rendered files (written by :meth:`write_server`; nothing is started or signalled).
        The previous plan and rendering come back, for the roll to compare."""
        old_plan, old_rendered = self.plan, dict(self.rendered)
        self.spec = spec
        self.plan = plan_lattice(spec, stand_in_for_external=True)
        self._derive()
        if self.wan_delay is not None:
            self._route_spokes_over_wan(self.wan_delay)
        self.generation += 1
        return old_plan, old_rendered

    def _route_spokes_over_wan(self, delay: float) -> None:
        """Each spoke's remote URLs point at its own delaying proxies; re-render its files
        (links of an earlier generation are kept)."""
        if self.wan is None:
            self.wan = Wan()
        for spoke in self.plan.spokes:
            targets = self.plan.group_servers(spoke.upstream)
            urls = []
            for target in targets:
                name = f"{spoke.name}->{target}"
                if name not in self.wan.links:
                    (port,) = self.reserve_ports(1)
                    self.wan.add(name, LOOPBACK, port, self.ports[target].leaf, delay)
                urls.append(leaf_url(LOOPBACK, self.wan.links[name].listen_port))
            addressing = replace(self.addressing, leaf_urls={**self.addressing.leaf_urls, spoke.upstream: tuple(urls)})
            self.rendered[spoke.name] = render_server(
                self.plan, spoke.name, addressing, self.files[spoke.name], self.auth, self.tls.get(spoke.name)
            )
            if spoke.wasmcloud_host and spoke.name not in self.registry_links:  # artifacts come over its WAN too
                (port,) = self.reserve_ports(1)
                self.wan.add(f"{spoke.name}->registry", LOOPBACK, port, self.registry_port, delay)
                self.registry_links[spoke.name] = port

    def reserve_ports(self, count: int) -> list[int]:
        """Loopback ports that no server of this lattice will take."""
        ports = free_ports(count, exclude=self.reserved_ports)
        self.reserved_ports.update(ports)
        return ports

    def wan_links(self, spoke: str) -> list[str]:
        """Names of the emulated links a spoke dials its upstream through (and, beside a
        host, the cloud registry)."""
        links = [f"{spoke}->{t}" for t in self.plan.group_servers(self.plan.spoke(spoke).upstream)]
        if spoke in self.registry_links:
            links.append(f"{spoke}->registry")
        return links

    def registry_url_from(self, spoke: str | None) -> str:
        """The cloud registry's URL as a site dials it (through its WAN link, if any);
        ``None``: from the cloud side."""
        port = self.registry_links.get(spoke, self.registry_port) if spoke else self.registry_port
        return f"https://{LOOPBACK}:{port}"

    # --- addresses -------------------------------------------------------------------------

    def client_url(self, server: str) -> str:
        return client_url(LOOPBACK, self.ports[server].client)

    def client_tls(self) -> ssl.SSLContext:
        """What a client of a hub needs: the hubs' client ports speak TLS only, with
        certificates from this lattice's CA."""
        context = ssl.create_default_context(cadata=self.ca.cert_pem)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def monitor_url(self, server: str) -> str:
        return monitor_url(LOOPBACK, self.ports[server].monitor)

    def monitors(self) -> dict[str, str]:
        return {s.name: self.monitor_url(s.name) for s in self.plan.servers}

    def hub_client_urls(self, hub: str) -> list[str]:
        return [self.client_url(s) for s in self.plan.hub(hub).servers]

    def connection(self, spoke: str) -> SpokeConnection:
        return spoke_connection(self.plan, spoke, self.ports[spoke].client, self.mirror(spoke))

    def mirror(self, spoke: str) -> OciMirror | None:
        """The pull-through mirror beside a spoke's host (sandbox.workloads starts it)."""
        if spoke not in self.mirror_ports:
            return None
        return OciMirror(host=f"{LOOPBACK}:{self.mirror_ports[spoke]}", ca_file=str(self.ca_file))

    # --- lifecycle -------------------------------------------------------------------------

    def write_files(self) -> None:
        self.write_service_files()
        for name in self.rendered:
            self.write_server(name)

    def write_service_files(self) -> None:
        """The CA and each lattice's service credentials, for the cloud-side clients."""
        for lattice, creds_path in self.lattice_service_creds.items():
            _write_private(creds_path, self.auth.lattice_service_creds[lattice])
        _write_private(self.ca_file, self.ca.cert_pem)

    def write_server(self, name: str) -> None:
        """One server's config and files, as this generation renders them (the included
        files first, so a reload never reads a config naming a file not yet written)."""
        rendered, files = self.rendered[name], self.files[name]
        Path(files.config_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        for path, text in rendered.secret_files.items():
            _write_private(Path(path), text)
        Path(files.config_file).write_text(rendered.config)

    def release(self, name: str) -> str:
        """The nats-server release a server runs: its Kubernetes image's tag where the
        stack names one for it, else the pinned one (what AWS nodes install)."""
        group = self.plan.server(name).group
        entries: list[HubSpec | SpokeSpec] = [*self.spec.hubs, *self.spec.spokes]
        entry = next((e for e in entries if e.name in (name, group)), None)
        if entry is not None and entry.platform == "kubernetes":
            named = binaries.image_release(entry.kubernetes.image)
            if named is not None:
                return named
        return binaries.nats_server_version()

    def start_server(self, name: str) -> None:
        binary = binaries.nats_server_release(self.release(name))
        self.running_release[name] = self.release(name)
        self.supervisor.start(name, [binary, "-c", self.files[name].config_file])

    def start_servers(self, progress: Progress = lambda _: None) -> None:
        self.write_files()
        for server in self.plan.servers:
            self.start_server(server.name)
            role = f"hub {server.group}" if server.role == "hub" else f"spoke -> {server.upstream}"
            progress(f"started {server.name:<14} {role:<22} client {self.client_url(server.name)}")

    def wait_converged(self, timeout: float = 60.0) -> Convergence:
        result = wait_converged(self.plan, self.monitors(), timeout, give_up=lambda: bool(self.supervisor.exited()))
        dead = self.supervisor.exited()
        if dead:
            details = "; ".join(f"{n} exited {rc}: {self.supervisor.log_tail(n, 2)}" for n, rc in dead.items())
            raise SandboxError(f"servers exited during start-up: {details}")
        return result

    def start_agents(self, progress: Progress = lambda _: None) -> list[str]:
        """The hub-stream agent of every region (nothing without ``hubStreams``), as each
        platform runs it (:mod:`sandbox.hubstreams`)."""
        started = hubstreams.start_agents(self)
        for name in started:
            progress(f"started {name} (keeps the stack's hub streams; every {hubstreams.INTERVAL_SECONDS:g} s)")
        return started

    def wait_hub_streams(self, timeout: float = 60.0, since: float = 0.0) -> dict[str, object]:
        """Until an agent's run (begun after ``since``) found every hub stream as declared."""
        return hubstreams.wait_synced(self, timeout, since)

    def start_hosts(self, progress: Progress = lambda _: None) -> list[str]:
        """A real wasmCloud host beside every spoke that asks for one, anonymous on localhost."""
        started = []
        for spoke in self.plan.spokes:
            if not spoke.wasmcloud_host:
                continue
            self.start_host(spoke.name)
            started.append(spoke.name)
            progress(f"started wasmCloud host beside {spoke.name} -> {self.client_url(spoke.name)}")
        return started

    def start_host(self, spoke: str) -> None:
        """The host beside ``spoke`` (again, after a stop: same home, same OCI cache)."""
        home = self.workdir / "hosts" / spoke
        home.mkdir(parents=True, exist_ok=True)
        # exactly the arguments the connection outputs hand to users, and the OCI cache
        args = [*self.connection(spoke)["washHostArgs"], "--oci-cache-dir", str(home / "oci-cache")]
        env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local")}
        self.supervisor.start(f"host-{spoke}", [binaries.wash(), "host", *args], env=env)

    def stop(self) -> None:
        if hasattr(self, "supervisor"):
            self.supervisor.stop_all()
        if self.wan is not None:
            self.wan.close()
            self.wan = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalLattice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
