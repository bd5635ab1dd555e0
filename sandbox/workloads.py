"""Real wasmCloud workloads on a running sandbox lattice, scheduled from the hub.

- the cloud's OCI registry (distribution, TLS from the lattice CA) with the edge-echo
  component built from this repository and pushed by ``wash oci push``;
- a pull-through mirror beside every spoke's host (:mod:`lattice.registry`), which the
  host pulls from by digest; with a WAN under the spokes, a mirror reaches the registry
  through its spoke's own link, so cutting a site cuts its artifacts too;
- a cloud-side wasmCloud host at the first hub region, beside a "cloud leaf" nats-server
  that joins the hub with a leaf user of the lattice account (``wash host`` takes no
  ``.creds``; the hubs admit only JWT users);
- the scheduler: a hub client with the lattice's service credentials driving each host
  through :class:`sandbox.hostctl.HostControl`.

Each edge workload subscribes ``svc.edge-echo.<spoke>`` in one queue group with the cloud
host's ``svc.edge-echo.*``: requests at a spoke are served by its own host while it runs
(a server prefers local queue members) and cross to the cloud host when it stops. The
reply is ``<spoke>/<hostId>/<workloadId> <request body>``: the component reads it from the
environment its host was given, so each answer names the host that served it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import nats
from nats.aio.client import Client

from lattice.addressing import LOOPBACK, host_port, leaf_url, monitor_url
from lattice.credentials import account_key, leaf_user_creds
from lattice.natsconf.blocks import remote_tls
from lattice.natsconf.files import ServerFiles
from lattice.natsconf.format import format_conf
from lattice.registry import mirrored_reference
from sandbox import binaries, component
from sandbox.checks import Check, connect_hub, connect_spoke
from sandbox.hostctl import (
    ComponentSpec,
    HostControl,
    HostControlError,
    MessagingHandler,
    WorkloadSpec,
    WorkloadStatus,
)
from sandbox.monitor import get_json
from sandbox.registry import LocalRegistry, push
from sandbox.topology import LocalLattice, SandboxError

Progress = Callable[[str], None]
SUBJECT_PREFIX = "svc.edge-echo"
NAMESPACE = "lattice"
WORKLOAD = "edge-echo"
CLOUD_HOST = "cloud"
"""The cloud-side host's name (``--host-name``) and the first token of its replies."""


def edge_subject(spoke: str) -> str:
    return f"{SUBJECT_PREFIX}.{spoke}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":  # noqa: S105 (a subject token, not a password)
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def carried(leaf_subjects: tuple[str, ...], subject: str) -> bool:
    """Whether a stack's ``leafPermissions.subjects`` let ``subject`` cross its leaf links."""
    return any(subject_matches(p, subject) for p in leaf_subjects)


@dataclass
class Placement:
    """One workload on one host, as the scheduler knows it."""

    spoke: str
    host_id: str
    workload_id: str
    subject: str
    image: str
    state: str = "WORKLOAD_STATE_UNSPECIFIED"
    message: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "hostId": self.host_id,
            "workloadId": self.workload_id,
            "subject": self.subject,
            "state": self.state,
            "image": self.image,
        }


@dataclass(frozen=True)
class Served:
    """How a run of requests at a spoke was answered."""

    sent: int
    local: int
    cloud: int
    failed: int
    first_reply: str = ""

    @property
    def local_share(self) -> float:
        return self.local / self.sent if self.sent else 0.0


@dataclass
class RestartResult:
    """A host restarted while every upstream link of its site is cut."""

    came_back: bool
    via_mirror: bool
    silent: bool
    serve_ms: float | None
    """Host process started -> first request answered by the new host."""
    state: str
    message: str
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class PartitionResult:
    silent: bool
    sent: int
    served_locally: int
    heal_ms: float | None
    """Links healed -> the hub gets the host's heartbeat and the workload's status again."""
    state_after: str
    hub_reached_during: bool
    """Whether the hub's heartbeat request got through while cut (it must not)."""

    @property
    def success(self) -> float:
        return self.served_locally / self.sent if self.sent else 0.0


class EdgeWorkloads:
    """The registry, mirrors, cloud host and edge workloads of one sandbox lattice."""

    def __init__(self, lattice: LocalLattice, progress: Progress = lambda _: None):
        self.lattice = lattice
        self.plan = lattice.plan
        self.progress = progress
        self.root = lattice.workdir / "workloads"
        self.hub = self.plan.hubs[0].name
        self.spokes = [s.name for s in self.plan.spokes if s.wasmcloud_host]
        self.registry: LocalRegistry | None = None
        self.mirrors: dict[str, LocalRegistry] = {}
        self.digest = ""
        self.placements: dict[str, Placement] = {}
        self.cloud: Placement | None = None
        self._hub_clients: dict[str, Client] = {}
        self.cloud_leaf_ports: tuple[int, int] = (0, 0)

    # --- artifacts --------------------------------------------------------------------------

    @property
    def reference(self) -> str:
        """The component in the cloud registry, by digest."""
        assert self.registry is not None, "start_artifacts() first"
        return f"{self.registry.host}/{component.REPOSITORY}@{self.digest}"

    def reference_from(self, spoke: str | None, *, mirror: bool = True) -> str:
        """What a host pulls: through its site's mirror, or straight from the cloud registry
        (as the site reaches it)."""
        if spoke is not None and mirror:
            site_mirror = self.lattice.mirror(spoke)
            assert site_mirror is not None
            return mirrored_reference(self.reference, site_mirror.host)
        registry = self.lattice.registry_url_from(spoke).removeprefix("https://")
        return f"{registry}/{component.REPOSITORY}@{self.digest}"

    def start_artifacts(self) -> None:
        """Build the component, start the registry, push it, start every site's mirror."""
        lattice = self.lattice
        built = component.build(self.root / "build")
        cert = lattice.ca.issue("registry")
        self.registry = LocalRegistry(
            lattice.supervisor, "registry", self.root / "registry", lattice.registry_port, lattice.ca_file,
            cert.cert_pem, cert.key_pem,
        )  # fmt: skip
        self.registry.start()
        self.registry.wait_ready()
        tagged = f"{self.registry.host}/{component.REPOSITORY}:{component.TAG}"
        self.digest = push(built, tagged, lattice.ca_file, self.root / "push-home")
        self.progress(f"registry {self.registry.url}: pushed {tagged} ({built.stat().st_size} bytes) as {self.digest}")
        for spoke in self.spokes:
            site_mirror = lattice.mirror(spoke)
            assert site_mirror is not None
            port = int(site_mirror.host.rsplit(":", 1)[1])
            cert = lattice.ca.issue(f"mirror-{spoke}")
            mirror = LocalRegistry(
                lattice.supervisor, f"mirror-{spoke}", self.root / "mirrors" / spoke, port, lattice.ca_file,
                cert.cert_pem, cert.key_pem, upstream=lattice.registry_url_from(spoke),
            )  # fmt: skip
            mirror.start()
            self.mirrors[spoke] = mirror
        for mirror in self.mirrors.values():
            mirror.wait_ready()
        if self.mirrors:
            self.progress(f"pull-through mirrors up beside {', '.join(self.mirrors)}")

    # --- the cloud-side host -------------------------------------------------------------------

    def start_cloud_host(self) -> None:
        """A nats-server leaf at the first hub (a leaf user of the lattice account, TLS to the
        hub), and a wasmCloud host on it."""
        lattice, plan = self.lattice, self.plan
        directory = self.root / "cloud-leaf"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        creds = directory / "leaf.creds"
        account = lattice.entropy[account_key(plan.lattice)]
        fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(leaf_user_creds(f"{CLOUD_HOST}-host", account, os.urandom(32)))
        client, monitor = lattice.reserve_ports(2)
        self.cloud_leaf_ports = (client, monitor)
        files = ServerFiles(config_dir=str(directory), store_dir=str(directory / "jetstream"))
        tls = {**remote_tls(files, handshake_first=plan.tls_handshake_first), "ca_file": str(lattice.ca_file)}
        urls = [leaf_url(LOOPBACK, lattice.ports[s].leaf) for s in plan.hub(self.hub).servers]
        config = {
            "server_name": f"{CLOUD_HOST}-{self.hub}",
            "listen": host_port(LOOPBACK, client),
            "http": host_port(LOOPBACK, monitor),
            "leafnodes": {"reconnect": "1s", "remotes": [{"urls": urls, "credentials": str(creds), "tls": tls}]},
        }
        config_file = directory / "nats.conf"
        config_file.write_text(format_conf(config, "sandbox only: the cloud-side host's leaf at its hub region"))
        lattice.supervisor.start("cloud-leaf", [binaries.nats_server(), "-c", str(config_file)])
        home = self.root / "cloud-host"
        home.mkdir(parents=True, exist_ok=True)
        url = f"nats://{host_port(LOOPBACK, client)}"
        args = ["--scheduler-nats-url", url, "--data-nats-url", url, "--host-name", CLOUD_HOST]
        args += ["--oci-ca-path", str(lattice.ca_file), "--oci-cache-dir", str(home / "oci-cache")]
        args += ["--nats-connect-timeout", "30s"]
        env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local")}
        lattice.supervisor.start("host-cloud", [binaries.wash(), "host", *args], env=env)
        self.progress(f"cloud-side wasmCloud host at {self.hub}, on a leaf {url} -> {urls[0]}")

    def cloud_leaf_attached(self) -> bool:
        try:
            return bool(get_json(monitor_url(LOOPBACK, self.cloud_leaf_ports[1]) + "/leafz").get("leafnodes"))
        except (OSError, ValueError):
            return False

    # --- scheduling ------------------------------------------------------------------------------

    def spec(self, spoke: str | None, host_id: str, workload_id: str, *, mirror: bool = True) -> WorkloadSpec:
        served_by = f"{spoke or CLOUD_HOST}/{host_id}/{workload_id}"
        subject = edge_subject(spoke) if spoke else f"{SUBJECT_PREFIX}.*"
        return WorkloadSpec(
            namespace=NAMESPACE,
            name=WORKLOAD,
            components=(ComponentSpec(WORKLOAD, self.reference_from(spoke, mirror=mirror), {"SERVED_BY": served_by}),),
            messaging=MessagingHandler(subscriptions=(subject,)),
        )

    async def hub_client(self, lattice_name: str) -> Client:
        if lattice_name not in self._hub_clients:
            account = None if lattice_name == self.plan.lattice else lattice_name
            self._hub_clients[lattice_name] = await connect_hub(
                self.lattice, self.hub, f"scheduler-{lattice_name}", account
            )
        return self._hub_clients[lattice_name]

    async def control(self, spoke: str | None) -> HostControl:
        """The scheduler's hand on a host: a hub client in the host's lattice account."""
        lattice_name = self.plan.lattice_of(spoke) if spoke else self.plan.lattice
        return HostControl(await self.hub_client(lattice_name))

    async def deploy(self, host_ids: Mapping[str, str], timeout: float = 60.0) -> list[Check]:
        """Start edge-echo on every edge host and the cloud host from the hub; wait until each
        reports RUNNING."""
        checks: list[Check] = []
        wanted: list[str | None] = [*self.spokes, None]
        for spoke in wanted:
            name = spoke or CLOUD_HOST
            host_id = host_ids.get(name)
            check = f"workload-running:{name}"
            if host_id is None:
                checks.append(Check(check, False, f"no heartbeat from host {name!r} at the hub"))
                continue
            placement = Placement(
                spoke=name,
                host_id=host_id,
                workload_id=f"{WORKLOAD}-{name}",
                subject=edge_subject(spoke) if spoke else f"{SUBJECT_PREFIX}.*",
                image=self.reference_from(spoke),
            )
            if spoke:
                self.placements[spoke] = placement
            else:
                self.cloud = placement
            started = time.monotonic()
            try:
                status = await self.start_workload(spoke, placement)
                deadline = started + timeout
                while status.state == "WORKLOAD_STATE_STARTING" and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    status = await (await self.control(spoke)).status(host_id, placement.workload_id)
                placement.state, placement.message = status.state, status.message
            except HostControlError as err:
                placement.state, placement.message = "WORKLOAD_STATE_UNSPECIFIED", str(err)
            ms = (time.monotonic() - started) * 1000
            ok = placement.state == "WORKLOAD_STATE_RUNNING"
            detail = f"{placement.workload_id} on host {host_id}: {placement.state} in {ms:.0f} ms ({placement.image})"
            checks.append(Check(check, ok, detail if ok else f"{detail}: {placement.message}"))
        return checks

    async def start_workload(self, spoke: str | None, placement: Placement, *, mirror: bool = True) -> WorkloadStatus:
        control = await self.control(spoke)
        spec = self.spec(spoke, placement.host_id, placement.workload_id, mirror=mirror)
        return await control.start(placement.host_id, placement.workload_id, spec)

    async def stop_edge(self, spoke: str) -> str:
        placement = self.placements[spoke]
        status = await (await self.control(spoke)).stop(placement.host_id, placement.workload_id)
        placement.state = "WORKLOAD_STATE_NOT_FOUND"
        return status.state

    async def restart_edge(self, spoke: str) -> str:
        placement = self.placements[spoke]
        status = await self.start_workload(spoke, placement)
        placement.state = status.state
        return placement.state

    async def refresh(self) -> None:
        """Each placement's state as its host reports it now (for the JSON)."""
        for spoke, placement in [*self.placements.items(), *([(None, self.cloud)] if self.cloud else [])]:
            assert placement is not None
            try:
                status = await (await self.control(spoke)).status(placement.host_id, placement.workload_id)
                placement.state, placement.message = status.state, status.message
            except HostControlError as err:
                placement.message = str(err)

    # --- requests at a spoke ----------------------------------------------------------------------

    def who(self, reply: bytes) -> str:
        """``local``, ``cloud`` or the first token of a reply."""
        first = reply.decode(errors="replace").split(" ", 1)[0]
        return first.split("/", 1)[0]

    async def requests(self, spoke: str, count: int, *, retry: bool = False, timeout: float = 2.0) -> Served:
        """``count`` requests from a spoke's anonymous local client on its subject."""
        nc = await connect_spoke(self.lattice, spoke, f"edge-echo-client-{spoke}")
        try:
            return await self.requests_on(nc, spoke, count, retry=retry, timeout=timeout)
        finally:
            await nc.close()

    async def requests_on(
        self, nc: Client, spoke: str, count: int, *, retry: bool = False, timeout: float = 2.0
    ) -> Served:
        local = cloud = failed = 0
        first = ""
        placement = self.placements[spoke]
        for i in range(count):
            reply = None
            for _attempt in range(2 if retry else 1):
                try:
                    reply = await nc.request(edge_subject(spoke), f"request-{i}".encode(), timeout=timeout)
                    break
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    continue
            if reply is None:
                failed += 1
                continue
            text = reply.data.decode(errors="replace")
            first = first or text
            if text.startswith(f"{spoke}/{placement.host_id}/") and text.endswith(f" request-{i}"):
                local += 1
            elif text.startswith(f"{CLOUD_HOST}/") and text.endswith(f" request-{i}"):
                cloud += 1
            else:
                failed += 1
        return Served(count, local, cloud, failed, first)

    # --- checks ----------------------------------------------------------------------------------

    async def check_served_locally(self, count: int = 10) -> list[Check]:
        checks = []
        for spoke, placement in self.placements.items():
            name = f"workload-serves-locally:{spoke}"
            if placement.state != "WORKLOAD_STATE_RUNNING":
                checks.append(Check(name, False, f"not running: {placement.state} {placement.message}"))
                continue
            served = await self.requests(spoke, count, retry=True)
            ok = served.local == served.sent
            detail = f"{served.local}/{served.sent} answered by {spoke}'s own host; e.g. {served.first_reply!r}"
            checks.append(Check(name, ok, detail))
        return checks

    def can_fail_over(self, spoke: str) -> str | None:
        """Why a spoke's requests cannot reach the cloud host, or None."""
        if self.cloud is None or self.cloud.state != "WORKLOAD_STATE_RUNNING":
            return "no cloud-side workload running"
        if self.plan.lattice_of(spoke) != self.plan.lattice:
            return f"in lattice {self.plan.lattice_of(spoke)}; the cloud host serves {self.plan.lattice}"
        if not carried(self.plan.leaf_subjects, edge_subject(spoke)):
            return f"the stack's leafPermissions.subjects do not carry {edge_subject(spoke)} across leaf links"
        return None

    async def local_first_and_failover(self, spoke: str, count: int = 20) -> tuple[Served, Served, float, Served]:
        """Requests with the cloud host running too; then the edge workload is stopped from
        the hub (ms to the first cloud answer, at most one retry each); then started again."""
        nc = await connect_spoke(self.lattice, spoke, f"edge-echo-failover-{spoke}")
        try:
            before = await self.requests_on(nc, spoke, count, retry=True)
            await self.stop_edge(spoke)
            stopped = time.perf_counter()
            during = await self.requests_on(nc, spoke, 1, retry=True, timeout=1.0)
            failover_ms = (time.perf_counter() - stopped) * 1000
            rest = await self.requests_on(nc, spoke, max(1, count // 4), retry=True, timeout=1.0)
            during = Served(
                during.sent + rest.sent,
                during.local + rest.local,
                during.cloud + rest.cloud,
                during.failed + rest.failed,
                during.first_reply,
            )
            state = await self.restart_edge(spoke)
            if state != "WORKLOAD_STATE_RUNNING":
                raise SandboxError(f"{spoke}: edge workload did not restart: {state}")
            after = await self.requests_on(nc, spoke, count, retry=True)
            return before, during, failover_ms, after
        finally:
            await nc.close()

    async def check_local_first(self) -> list[Check]:
        checks = []
        for spoke in self.placements:
            name = f"workload-local-first:{spoke}"
            why_not = self.can_fail_over(spoke)
            if why_not is not None:
                checks.append(Check(name, True, f"failover not measured: {why_not}"))
                continue
            before, during, failover_ms, after = await self.local_first_and_failover(spoke)
            ok = before.local_share == 1.0 and during.cloud == during.sent and after.local_share == 1.0
            detail = (
                f"cloud host running: {before.local}/{before.sent} served by {spoke}'s host; edge workload stopped: "
                f"{during.cloud}/{during.sent} by the cloud host (first in {failover_ms:.0f} ms, <= 1 retry); "
                f"restarted: {after.local}/{after.sent} local again"
            )
            checks.append(Check(name, ok, detail))
        return checks

    async def check_partitions(self) -> list[Check]:
        """With WAN links: one site cut loudly, then silently; then its host restarted in a
        partition, straight from the cloud registry and through its mirror."""
        site = next((s for s in self.placements if self.plan.spoke(s).upstream_is_hub), None)
        if site is None or self.lattice.wan is None:
            return []
        checks = []
        for silent in (False, True):
            kind = "silent" if silent else "loud"
            result = await self.partition(site, silent=silent, count=50)
            ok = result.success == 1.0 and not result.hub_reached_during and result.state_after.endswith("RUNNING")
            heal = "never" if result.heal_ms is None else f"{result.heal_ms:.0f} ms after the heal"
            detail = (
                f"every upstream link cut ({kind}): {result.served_locally}/{result.sent} local requests served by "
                f"{site}'s host; hub reached the host during the cut: {result.hub_reached_during}; the hub saw its "
                f"heartbeat and {result.state_after} {heal}"
            )
            checks.append(Check(f"workload-partition-{kind}:{site}", ok, detail))
        direct = await self.restart_in_partition(site, via_mirror=False, silent=False)
        await self.restore(site)
        checks.append(
            Check(
                f"restart-in-partition-registry:{site}",
                not direct.came_back,
                f"host restarted with its site cut, pulling from the cloud registry (warm cache): came back "
                f"{'yes' if direct.came_back else 'no'}: {direct.state} {direct.message}",
            )
        )
        for silent in (False, True):
            mirrored = await self.restart_in_partition(site, via_mirror=True, silent=silent)
            await self.restore(site)
            kind = "silent" if silent else "loud"
            when = "" if mirrored.serve_ms is None else f", serving {mirrored.serve_ms:.0f} ms after the host started"
            checks.append(
                Check(
                    f"restart-in-partition-mirror-{kind}:{site}",
                    mirrored.came_back,
                    f"host restarted with its site cut ({kind}), pulling by digest from its mirror: came back "
                    f"{'yes' if mirrored.came_back else 'no'}: {mirrored.state}{when} {mirrored.message}".rstrip(),
                )
            )
        return checks

    # --- partitions --------------------------------------------------------------------------------

    def cut(self, spoke: str, *, silent: bool) -> None:
        wan = self.lattice.wan
        if wan is None:
            raise SandboxError("partitions need WAN links under the spokes (--wan-delay-ms)")
        for link in self.lattice.wan_links(spoke):
            wan.cut(link, silent=silent)

    def heal(self, spoke: str) -> None:
        assert self.lattice.wan is not None
        for link in self.lattice.wan_links(spoke):
            self.lattice.wan.heal(link)

    async def hub_sees(self, spoke: str, timeout: float = 60.0) -> tuple[float | None, str]:
        """Until the hub gets the host's heartbeat and the workload's status; ms and state."""
        placement = self.placements[spoke]
        control = HostControl(await self.hub_client(self.plan.lattice_of(spoke)), timeout=1.0)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                beat = await control.heartbeat(placement.host_id)
                status = await control.status(placement.host_id, placement.workload_id)
                if beat.get("id") == placement.host_id:
                    placement.state = status.state
                    return (time.monotonic() - started) * 1000, status.state
            except HostControlError:
                await asyncio.sleep(0.2)
        return None, "unanswered"

    async def hub_reaches(self, spoke: str) -> bool:
        """One heartbeat request from the hub to the site's host (1 s)."""
        control = HostControl(await self.hub_client(self.plan.lattice_of(spoke)), timeout=1.0)
        try:
            await control.heartbeat(self.placements[spoke].host_id)
        except HostControlError:
            return False
        return True

    async def partition(self, spoke: str, *, silent: bool, count: int = 50) -> PartitionResult:
        """Every upstream link of the site cut; local requests; heal; the hub sees it again."""
        nc = await connect_spoke(self.lattice, spoke, f"edge-echo-partition-{spoke}")
        try:
            self.cut(spoke, silent=silent)
            try:
                await asyncio.sleep(0.3)
                served = await self.requests_on(nc, spoke, count, timeout=2.0)
                reached = await self.hub_reaches(spoke)
            finally:
                self.heal(spoke)
                healed = time.monotonic()
            heal_ms, state = await self.hub_sees(spoke)
            if heal_ms is not None:
                heal_ms = (time.monotonic() - healed) * 1000
            return PartitionResult(silent, served.sent, served.local, heal_ms, state, reached)
        finally:
            await nc.close()

    async def _new_host_id(self, nc: Client, spoke: str, timeout: float = 30.0) -> str:
        """The restarted host's id, from its first heartbeat on the site's own NATS."""
        sub = await nc.subscribe("runtime.operator.heartbeat.*")
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msg = await sub.next_msg(timeout=max(0.1, deadline - time.monotonic()))
                except nats.errors.TimeoutError:
                    break
                beat = json.loads(msg.data)
                if beat.get("hostname") == spoke and beat.get("id") != self.placements[spoke].host_id:
                    return str(beat["id"])
        finally:
            await sub.unsubscribe()
        raise SandboxError(f"the restarted host beside {spoke} sent no heartbeat in {timeout:.0f} s")

    async def restart_in_partition(self, spoke: str, *, via_mirror: bool, silent: bool) -> RestartResult:
        """Cut the site, restart its host, and have the site's own agent (a local client: the
        hub is unreachable) replay the workload's last spec; does it come back?

        Without the mirror the spec names the cloud registry, which the host already pulled
        from (warm ``--oci-cache-dir``): it still asks the registry for the manifest."""
        placement = self.placements[spoke]
        nc = await connect_spoke(self.lattice, spoke, f"edge-echo-agent-{spoke}")
        local = HostControl(nc, start_timeout=45.0)
        host = f"host-{spoke}"
        try:
            if not via_mirror:  # warm the host's cache with the direct reference first
                warm = await local.start(
                    placement.host_id, "cache-warmer", self.spec(spoke, placement.host_id, "cache-warmer", mirror=False)
                )
                if not warm.running:
                    raise SandboxError(f"{spoke}: could not warm the cache from the registry: {warm.message}")
                await local.stop(placement.host_id, "cache-warmer")
            self.cut(spoke, silent=silent)
            try:
                await asyncio.sleep(0.3)
                self.lattice.supervisor.stop(host)
                started = time.monotonic()
                self.lattice.start_host(spoke)
                placement.host_id = await self._new_host_id(nc, spoke)
                spec = self.spec(spoke, placement.host_id, placement.workload_id, mirror=via_mirror)
                try:
                    status = await local.start(placement.host_id, placement.workload_id, spec)
                    state, message = status.state, status.message
                except HostControlError as err:
                    state, message = "WORKLOAD_STATE_UNSPECIFIED", str(err)
                serve_ms = None
                if state == "WORKLOAD_STATE_RUNNING":
                    served = await self.requests_on(nc, spoke, 1, retry=True)
                    if served.local == 1:
                        serve_ms = (time.monotonic() - started) * 1000
                placement.state = state
                return RestartResult(serve_ms is not None, via_mirror, silent, serve_ms, state, message)
            finally:
                self.heal(spoke)
        finally:
            await nc.close()

    async def restore(self, spoke: str) -> None:
        """After a restart experiment: the workload running again from the hub, via the mirror."""
        placement = self.placements[spoke]
        heal_ms, _ = await self.hub_sees(spoke)
        if heal_ms is None:
            raise SandboxError(f"the hub does not reach {spoke}'s host after the heal")
        if placement.state != "WORKLOAD_STATE_RUNNING":
            status = await self.start_workload(spoke, placement)
            placement.state = status.state

    # --- output -------------------------------------------------------------------------------------

    def registry_json(self) -> dict[str, str]:
        assert self.registry is not None
        return {"url": self.registry.url, "caFile": str(self.lattice.ca_file), "image": self.reference}

    def workloads_json(self, spoke: str) -> list[dict[str, str]]:
        placement = self.placements.get(spoke)
        return [placement.as_json()] if placement else []

    async def close(self) -> None:
        for nc in self._hub_clients.values():
            await nc.close()
        self._hub_clients.clear()


async def wait_for_hosts(seen: Mapping[str, str], names: list[str], timeout: float = 45.0) -> dict[str, str]:
    """Host ids by host name, from heartbeats a watch at the hub has seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(names) <= set(seen):
        await asyncio.sleep(0.2)
    return {n: seen[n] for n in names if n in seen}
