"""Throughput measured with a Go client (natscli's ``nats bench``), and the WAN emulator's own
ceiling, so the leaf figure says what the servers and the link carry, not what nats-py does.

Three paths, in alternating rounds so machine drift hits each alike (and for each, the CPU
time every process on the path spent per message: the servers, both clients, and this
process, which runs the WAN emulator):

- ``baseline``: publisher and subscriber on one bare nats-server (plaintext, no accounts);
- ``spoke_local``: both on one spoke (the lattice's config: its account, JetStream domain);
- ``leaf``: publisher on a spoke, subscriber at the hub node the spoke is attached to, so
  every message crosses the spoke's leaf link: TLS, compression, the WAN emulator.
"""

from __future__ import annotations

import resource
import socket
import statistics
import threading
import time
from pathlib import Path

from lattice.addressing import LOOPBACK, client_url, monitor_url
from sandbox import binaries
from sandbox.monitor import leaf_attachment
from sandbox.natscli import Endpoint, interest_at_client, interest_at_leaf, pub_sub
from sandbox.ports import free_ports
from sandbox.processes import Supervisor, cpu_seconds
from sandbox.topology import LocalLattice, SandboxError
from sandbox.wan import Wan

PATHS = ("baseline", "spoke_local", "leaf")


class BareServer:
    """One plain nats-server with a monitor port (the interest check reads ``/connz``)."""

    def __init__(self, workdir: Path):
        self.port, self.monitor_port = free_ports(2)
        self.supervisor = Supervisor(workdir)

    def __enter__(self) -> BareServer:
        argv = [binaries.nats_server(), "-a", LOOPBACK, "-p", str(self.port), "-m", str(self.monitor_port)]
        self.supervisor.start("bare", argv)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.supervisor.exited():
                    self.supervisor.stop_all()
                    raise SandboxError(f"bare nats-server did not start: {self.supervisor.log_tail('bare')}") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.supervisor.stop_all()

    @property
    def pid(self) -> int:
        return self.supervisor.pid("bare")

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint((client_url(LOOPBACK, self.port),))

    @property
    def monitor(self) -> str:
        return monitor_url(LOOPBACK, self.monitor_port)


async def go_throughput(
    lattice: LocalLattice, spoke: str, workdir: Path, messages: int, size: int, rounds: int
) -> dict[str, float]:
    """Median subscriber msg/s of each path over ``rounds`` alternating rounds, and ratios."""
    node = leaf_attachment(lattice.plan, lattice.monitors(), spoke)
    if node is None:
        raise SandboxError(f"{spoke} is not attached before the Go throughput test")
    at_spoke = Endpoint((lattice.client_url(spoke),))
    at_hub = Endpoint((lattice.client_url(node),), str(lattice.service_creds), str(lattice.ca_file))
    spoke_monitor = lattice.monitor_url(spoke)
    rates: dict[str, list[float]] = {path: [] for path in PATHS}
    cpu: dict[str, list[float]] = {path: [] for path in PATHS}
    with BareServer(workdir) as bare:
        servers = {
            "baseline": [bare.pid],
            "spoke_local": [lattice.supervisor.pid(spoke)],
            "leaf": [lattice.supervisor.pid(spoke), lattice.supervisor.pid(node)],
        }
        for n in range(rounds):
            order = PATHS if n % 2 == 0 else tuple(reversed(PATHS))
            for path in order:
                subject = f"bench.go.{path}.{n}"
                if path == "baseline":
                    pub, sub, ready = bare.endpoint, bare.endpoint, interest_at_client(bare.monitor, subject)
                elif path == "spoke_local":
                    pub, sub, ready = at_spoke, at_spoke, interest_at_client(spoke_monitor, subject)
                else:
                    pub, sub, ready = at_spoke, at_hub, interest_at_leaf(spoke_monitor, subject)
                before = _cpu(servers[path])
                rate = await pub_sub(workdir, f"{path}-{n}", pub, sub, subject, messages, size, ready)
                cpu[path].append((_cpu(servers[path]) - before) / messages * 1e6)
                rates[path].append(rate)
    metrics = {f"{path}_msgs_per_s_go": statistics.median(values) for path, values in rates.items()}
    metrics.update({f"{path}_cpu_us_per_msg_go": statistics.median(values) for path, values in cpu.items()})
    metrics["leaf_throughput_ratio_go"] = metrics["leaf_msgs_per_s_go"] / metrics["baseline_msgs_per_s_go"]
    metrics["spoke_local_ratio_go"] = metrics["spoke_local_msgs_per_s_go"] / metrics["baseline_msgs_per_s_go"]
    return metrics


def _cpu(server_pids: list[int]) -> float:
    """CPU seconds so far of the servers on a path, of the reaped children (the ``nats
    bench`` processes, once they exit) and of this process (the WAN emulator's thread)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (
        sum(cpu_seconds(pid) for pid in server_pids)
        + children.ru_utime
        + children.ru_stime
        + own.ru_utime
        + own.ru_stime
    )


def wan_proxy_ceiling(delay: float, messages: int, size: int) -> float:
    """Messages per second one emulated WAN link carries alone (no servers): a blocking
    sender and sink on threads (they wait in the kernel, leaving the proxy's thread the
    interpreter), each message framed as on a leaf link, ``messages`` of them."""
    frame = f"LMSG bench.go.wan {size}\r\n".encode() + b"x" * size + b"\r\n"
    total = len(frame) * messages
    wan = Wan()
    sink = socket.create_server((LOOPBACK, 0))
    try:
        port = free_ports(1)[0]
        wan.add("ceiling", LOOPBACK, port, sink.getsockname()[1], delay)
        finished: list[float] = []

        def drain() -> None:
            conn, _ = sink.accept()
            with conn:
                buf = bytearray(1 << 20)
                got = 0
                while got < total:
                    n = conn.recv_into(buf)
                    if not n:
                        break
                    got += n
                if got >= total:
                    finished.append(time.perf_counter())

        receiver = threading.Thread(target=drain, name="wan-ceiling-sink", daemon=True)
        receiver.start()
        chunk = frame * max(1, (1 << 20) // len(frame))
        with socket.create_connection((LOOPBACK, port), timeout=30) as sender:
            started = time.perf_counter()
            sent = 0
            while sent < total:
                part = chunk[: total - sent]
                sender.sendall(part)
                sent += len(part)
            receiver.join(60)
        if not finished:
            raise SandboxError("the WAN proxy did not deliver every byte within 60 s")
        # the first byte waited ``delay`` once: not part of the rate
        return messages / max(1e-9, finished[0] - started - delay)
    finally:
        sink.close()
        wan.close()
