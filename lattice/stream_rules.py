"""Rules across ``hubStreams`` and the rest of a stack, read from the raw stack
(:class:`~lattice.raw_stack.RawStack`) like :mod:`lattice.rules`, whose ``SPEC_RULES`` runs
these too: every hub stream lives on a
hub of ours, names sites of the stack's own lattice, and takes subjects no other stream
and no shared allow-list takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lattice.limits import account_limits, hub_file_bytes, node_file_bytes
from lattice.problems import Problem
from lattice.profiles import PROFILES, subjects_of
from lattice.raw_stack import DEFAULT_NODES, RawStack, Rule
from lattice.spec import GIB, NODE_COUNTS, HubSpec, HubStreamSpec, LatticeSpec, LeafPermissions
from lattice.subjects import as_stream_subject, for_site, overlap

DEFAULT_PROFILE: str = LeafPermissions.model_fields["profile"].default
SITE_LISTS = (("publishers",), ("sources", "spokes"), ("mirrors", "spokes"))
"""Where a hub stream names spokes (key paths inside an entry)."""


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _get(entry: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = entry
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def default_hub(stack: RawStack) -> Mapping[str, Any] | None:
    """The first hub of ours (not external): where a hub stream goes unless it names one."""
    return next((h for _, h in stack.hubs if h.get("platform") != "external"), None)


def default_replicas(nodes: int) -> int:
    return 1 if nodes == 1 else 3


def hub_streams_are_unique(stack: RawStack) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, entry in stack.hub_streams:
        name = entry.get("name")
        if isinstance(name, str):
            if name in seen:
                yield Problem(f"lattice.hubStreams[{i}].name", f"duplicate name {name!r} (hubStreams[{seen[name]}])")
            seen.setdefault(name, i)


def hub_streams_live_on_our_hubs(stack: RawStack) -> Iterator[Problem]:
    hubs = stack.hubs_by_name
    for i, entry in stack.hub_streams:
        path = f"lattice.hubStreams[{i}]"
        named = entry.get("hub")
        if named is None:
            hub = default_hub(stack)
            if hub is None:
                yield Problem(path, "needs a hub of ours: an external hub's JetStream is its operator's")
                continue
            where = f"{path}.replicas" if "replicas" in entry else path
        elif named not in hubs:
            yield Problem(f"{path}.hub", f"no hub named {named!r}")
            continue
        else:
            hub = hubs[named]
            where = f"{path}.replicas" if "replicas" in entry else f"{path}.hub"
            if hub.get("platform") == "external":
                yield Problem(f"{path}.hub", f"{named!r} is external: its JetStream is its operator's")
                continue
        nodes = hub.get("nodes", DEFAULT_NODES)
        replicas = entry.get("replicas", default_replicas(nodes) if isinstance(nodes, int) else None)
        if isinstance(nodes, int) and nodes in NODE_COUNTS and isinstance(replicas, int) and replicas > nodes:
            yield Problem(where, f"{replicas} replicas do not fit hub {hub.get('name')!r} of {nodes} node(s)")


def _root_hub(spokes: Mapping[Any, Mapping[str, Any]], name: str) -> Any:
    seen: set[Any] = set()
    cur: Any = name
    while cur in spokes and cur not in seen:
        seen.add(cur)
        cur = spokes[cur].get("upstream")
    return cur


def hub_streams_name_sites_of_the_lattice(stack: RawStack) -> Iterator[Problem]:
    """Every spoke a hub stream names is a spoke of the stack's own lattice (the stream is in
    that lattice's account) and reaches a hub of ours; each at most once per list."""
    spokes = stack.spokes_by_name
    own = stack.raw.get("name")
    for i, entry in stack.hub_streams:
        for keys in SITE_LISTS:
            path = f"lattice.hubStreams[{i}].{'.'.join(keys)}"
            names = _strings(_get(entry, keys))
            for j, name in enumerate(names):
                if name not in spokes:
                    yield Problem(f"{path}[{j}]", f"no spoke named {name!r}")
                elif name in names[:j]:
                    yield Problem(f"{path}[{j}]", f"{name!r} is listed twice")
                elif spokes[name].get("lattice", own) != own:
                    other = spokes[name].get("lattice")
                    yield Problem(f"{path}[{j}]", f"{name!r} serves lattice {other!r}; hub streams are in {own!r}'s")
                elif _root_hub(spokes, name) in stack.external_hubs:
                    yield Problem(f"{path}[{j}]", f"{name!r} reaches the cloud through an external hub")


def _shared_up(stack: RawStack) -> list[tuple[str, str]]:
    """(subject, where it comes from) of what every site of the stack's lattice may send up:
    ``leafPermissions.subjects`` and its wasmCloud profile's up subjects."""
    raw = stack.raw
    permissions = raw.get("leafPermissions") if isinstance(raw.get("leafPermissions"), Mapping) else {}
    profile = permissions.get("profile", DEFAULT_PROFILE) if isinstance(permissions, Mapping) else DEFAULT_PROFILE
    out = [(s, f"leafPermissions.subjects {s!r}") for s in _strings(_get(raw, ("leafPermissions", "subjects")))]
    if profile in PROFILES and isinstance(raw.get("name"), str):
        out += [(s, f"the {profile} hosts' {s!r}") for s in subjects_of(profile, raw["name"]).up]
    return out


def hub_stream_subjects_are_their_own(stack: RawStack) -> Iterator[Problem]:
    """No two hub streams take one subject (JetStream refuses it), and none takes a subject
    every site may send up (``leafPermissions.subjects``, the wasmCloud hosts' own): then any
    site could write into it."""
    shared = _shared_up(stack)
    taken: list[tuple[str, str]] = []
    for i, entry in stack.hub_streams:
        for j, subject in enumerate(_strings(entry.get("subjects"))):
            path = f"lattice.hubStreams[{i}].subjects[{j}]"
            mine = as_stream_subject(subject)
            clash = next((where for s, where in shared if overlap(s, mine)), None)
            if clash is not None:
                yield Problem(
                    path,
                    f"{subject!r} overlaps {clash}, which every site may publish: give the stream subjects of its "
                    "own (and take them out of leafPermissions.subjects) and name the sites under publishers",
                )
            other = next((where for where, s in taken if overlap(s, mine)), None)
            if other is not None:
                yield Problem(path, f"{subject!r} overlaps {other}: two streams cannot take one subject")
            taken.append((f"hubStreams[{i}].subjects[{j}]", mine))


def site_streams_are_their_own(stack: RawStack) -> Iterator[Problem]:
    """At each site, one stream per name, and no two of its streams take one subject."""
    names: dict[tuple[str, str], str] = {}
    subjects: dict[str, list[tuple[str, str]]] = {}
    for i, entry in stack.hub_streams:
        for keys, default in ((("sources",), None), (("mirrors",), entry.get("name"))):
            part = _get(entry, keys)
            if not isinstance(part, Mapping):
                continue
            stream = part.get("stream", default)
            path = f"lattice.hubStreams[{i}].{keys[0]}.stream"
            for spoke in _strings(part.get("spokes")):
                if not isinstance(stream, str):
                    continue
                first = names.setdefault((spoke, stream), path)
                if first != path:
                    yield Problem(
                        path, f"{spoke!r} already keeps a stream {stream!r} ({first.removeprefix('lattice.')})"
                    )
                for j, subject in enumerate(_strings(part.get("subjects"))):
                    mine = for_site(subject, spoke)
                    where = f"lattice.hubStreams[{i}].sources.subjects[{j}]"
                    clash = next((w for w, s in subjects.get(spoke, []) if w != where and overlap(s, mine)), None)
                    if clash is not None:
                        yield Problem(where, f"at {spoke!r}, {mine!r} overlaps {clash.removeprefix('lattice.')}")
                    subjects.setdefault(spoke, []).append((where, mine))


STREAM_RULES: tuple[Rule, ...] = (
    hub_streams_are_unique,
    hub_streams_live_on_our_hubs,
    hub_streams_name_sites_of_the_lattice,
    hub_stream_subjects_are_their_own,
    site_streams_are_their_own,
)
"""Among :data:`lattice.rules.SPEC_RULES`: they run with the other spec rules."""


def hub_storage_holds_the_streams(spec: LatticeSpec) -> Iterator[Problem]:
    """The declared hub streams fit the account's JetStream storage, replicas counted, and
    each fits its own region (every replica on another node of it), or the hubs would
    refuse to create them. On a valid spec (the default storage follows from the volumes)."""
    if not spec.hub_streams:
        return
    placed: dict[str, int] = {}
    for i, stream in enumerate(spec.hub_streams):
        hub = stream_hub(spec, stream)
        node, region = node_file_bytes(hub), hub_file_bytes(hub)
        if stream.max_bytes > node:
            yield Problem(
                f"lattice.hubStreams[{i}].maxBytes",
                f"{stream.max_bytes / GIB:.2f} GiB does not fit a node of hub {hub.name!r} ({node / GIB:.2f} GiB of "
                "JetStream storage each): lower it or give the hub bigger volumes",
            )
            continue
        placed[hub.name] = placed.get(hub.name, 0) + stream.max_bytes * stream_replicas(spec, stream)
        if placed[hub.name] > region:
            yield Problem(
                f"lattice.hubStreams[{i}].maxBytes",
                f"hub {hub.name!r}'s streams reserve {placed[hub.name] / GIB:.2f} GiB with this one (maxBytes x "
                f"replicas) but its nodes hold {region / GIB:.2f} GiB of JetStream storage",
            )
    limits = account_limits(spec)
    needed = sum(s.max_bytes * stream_replicas(spec, s) for s in spec.hub_streams)
    if limits.file_bytes is not None and needed > limits.file_bytes:
        key = "limits.hubFileStorageGib" if spec.limits.hub_file_storage_gib is not None else "hubStreams"
        yield Problem(
            f"lattice.{key}",
            f"the hub streams reserve {needed / GIB:.2f} GiB (maxBytes x replicas) but the lattice's account may "
            f"store {limits.file_bytes / GIB:.2f} GiB at the hubs: lower maxBytes or raise limits.hubFileStorageGib "
            "(the hubs' volumes bound it)",
        )


def stream_hub(spec: LatticeSpec, stream: HubStreamSpec) -> HubSpec:
    """The hub region whose cluster holds ``stream`` (a valid spec has one)."""
    name = stream.hub or next(h.name for h in spec.hubs if h.platform != "external")
    hub = spec.hub(name)
    assert hub is not None, name
    return hub


def stream_replicas(spec: LatticeSpec, stream: HubStreamSpec) -> int:
    return stream.replicas or default_replicas(stream_hub(spec, stream).nodes)


PARSED_RULES = (hub_storage_holds_the_streams,)
"""Rules that need the parsed spec (its defaults): run once the models accept a stack."""
