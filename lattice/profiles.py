"""The wasmCloud subjects a leaf link carries, by wasmCloud version and direction: what its
hosts say to the cloud (up) and what the cloud says to them (down). The leaf allow-lists
are made from them (:mod:`lattice.permissions`), and no hub stream may take a subject a
site may send up this way (:mod:`lattice.stream_rules`), or any site could write into it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """A wasmCloud version's subjects by direction (``{lattice}``: the lattice name)."""

    up: tuple[str, ...]
    down: tuple[str, ...]


PROFILES: dict[str, Profile] = {
    # wasmCloud v2: hosts publish heartbeats (runtime.operator.heartbeat.<id>) and take
    # commands on runtime.host.<id>.{workload.start,workload.stop,workload.status,heartbeat}.
    "wasmcloud-v2": Profile(
        up=("runtime.operator.heartbeat.*", "_INBOX.>"),
        down=("runtime.host.*.>", "_INBOX.>"),
    ),
    # wasmCloud v1: hosts publish lattice events (wasmbus.evt.<lattice>[.<type>], heartbeats
    # among them) and take the control interface (wasmbus.ctl.v1.<lattice>.>); wRPC between
    # components runs under <lattice>.> both ways. wadm's API (wadm.api.<lattice>.>) deploys
    # to every site's hosts, so it stays cloud-side.
    "wasmcloud-v1": Profile(
        up=("wasmbus.evt.{lattice}", "wasmbus.evt.{lattice}.>", "{lattice}.>", "_INBOX.>"),
        down=("wasmbus.ctl.v1.{lattice}.>", "{lattice}.>", "_INBOX.>"),
    ),
}


def subjects_of(profile: str, lattice: str) -> Profile:
    """A profile's subjects for ``lattice`` (its ``{lattice}`` filled in)."""
    found = PROFILES[profile]
    return Profile(
        up=tuple(s.format(lattice=lattice) for s in found.up),
        down=tuple(s.format(lattice=lattice) for s in found.down),
    )
