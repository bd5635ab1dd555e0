"""Free loopback ports below the kernel's ephemeral range.

Outgoing connections take their source ports from the ephemeral range; picking listener
ports below it means a client socket can never steal a port we are about to listen on.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from contextlib import ExitStack
from pathlib import Path

LOW = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, host: str = "127.0.0.1", exclude: Collection[int] = ()) -> list[int]:
    """``count`` distinct ports that were bindable on ``host`` a moment ago, none in
    ``exclude`` (ports already handed out but not yet listened on)."""
    if count == 0:
        return []
    high = _ephemeral_low()
    ports: list[int] = []
    with ExitStack() as stack:
        for _ in range(count * 50):
            if len(ports) == count:
                return ports
            port = random.randrange(LOW, high)
            if port in ports or port in exclude:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(port)
    raise RuntimeError(f"could not find {count} free ports on {host}")
