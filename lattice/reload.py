"""What a change to a server's rendered files takes: nothing, a reload (SIGHUP) or a restart.

Pure: text in, a decision out. The rules follow nats-server 2.15's own reload code
(``server/reload.go``, ``Server.diffOptions``): a change nats-server applies on SIGHUP is a
reload; a change it refuses (``config reload not supported for ...``; a refused reload
applies *nothing*) needs a restart. Where a field is accepted but not compared (key
material in files: certificates, ``.creds``) the file is re-read on reload or on the next
connection, so a change of its content is a reload.

The same module ships to cloud nodes next to ``nats-sync`` (standard library only, no
import from the rest of the package, Python 3.9 as on Amazon Linux 2023: no ``zip(strict=)``,
no ``match``), and the Kubernetes platform takes its restart-class
fingerprint from here: one source of truth for what restarts.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CONFIG_FILE = "nats-server.conf"
"""The entry point among a server's files (``lattice.natsconf.files.CONFIG_FILE``; repeated
here because this module ships alone to the nodes, and a test keeps the two equal)."""


class Action(enum.Enum):
    NONE = "none"
    RELOAD = "reload"
    RESTART = "restart"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Action.NONE: 0, Action.RELOAD: 1, Action.RESTART: 2}


@dataclass(frozen=True)
class ConfigChange:
    action: Action
    reasons: tuple[str, ...]
    """One line per changed key path, e.g. ``gateway.gateways: needs restart (...)``."""


class ConfError(ValueError):
    """Text that is not a nats-server config of the shape the renderer writes."""


# -- parsing ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<nl>\n)
  | (?P<punct>[{}\[\]:,=])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<word>[^\s{}\[\]:,="#]+)
    """,
    re.X,
)


def _tokens(text: str, source: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConfError(f"{source}:{line}: cannot read {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "nl":
            out.append(("nl", value, line))
            line += 1
        elif kind not in ("ws", "comment"):
            out.append((kind, value, line))
        pos = match.end()
    out.append(("eof", "", line))
    return out


_INCLUDE = "include"


class _Parser:
    """Recursive descent over nats-server's config syntax as ``lattice.natsconf.format``
    writes it (``key: value``, ``key {...}``, ``[...]``, ``include "file"``); includes
    are resolved from ``files`` by file name and merged into the enclosing map, with the
    included file remembered for every key it brought."""

    def __init__(self, files: Mapping[str, str], depth: int = 0) -> None:
        self.files = files
        self.depth = depth
        self.sources: dict[tuple[str, ...], str] = {}

    def parse(self, name: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
        if name not in self.files:
            raise ConfError(f"{name}: included but not among the server's files ({', '.join(sorted(self.files))})")
        if self.depth > 8:
            raise ConfError(f"{name}: includes nested too deep")
        self.toks = _tokens(self.files[name], name)
        self.i = 0
        self.source = name
        out = self._entries(prefix, closing="eof")
        return out

    def _peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def _next(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _skip_nl(self) -> None:
        while self._peek()[0] == "nl" or self._peek()[1] == ",":
            self.i += 1

    def _error(self, what: str) -> ConfError:
        kind, value, line = self._peek()
        return ConfError(f"{self.source}:{line}: {what}, found {value or kind!r}")

    def _entries(self, prefix: tuple[str, ...], closing: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            self._skip_nl()
            kind, value, _ = self._peek()
            if (closing == "eof" and kind == "eof") or (closing == "}" and value == "}"):
                self.i += 1
                return out
            if kind not in ("word", "string"):
                raise self._error("expected a key")
            self.i += 1
            key = json.loads(value) if kind == "string" else value
            if key == _INCLUDE and self._peek()[0] in ("string", "word"):
                included = self._next()[1]
                name = json.loads(included) if included.startswith('"') else included
                self._include(name.rsplit("/", 1)[-1], prefix, out)
                continue
            if self._peek()[1] in (":", "="):
                self.i += 1
            out[key] = self._value((*prefix, key))
            self.sources.setdefault((*prefix, key), self.source)

    def _include(self, name: str, prefix: tuple[str, ...], into: dict[str, Any]) -> None:
        child = _Parser(self.files, self.depth + 1)
        values = child.parse(name, prefix)
        for path, source in child.sources.items():
            self.sources[path] = source
        for key, value in values.items():
            into[key] = value

    def _value(self, path: tuple[str, ...]) -> Any:
        kind, value, _ = self._next()
        if value == "{":
            return self._entries(path, closing="}")
        if value == "[":
            items: list[Any] = []
            while True:
                self._skip_nl()
                if self._peek()[1] == "]":
                    self.i += 1
                    return items
                items.append(self._value(path))
        if kind == "string":
            return json.loads(value)
        if kind == "word":
            if value in ("true", "false"):
                return value == "true"
            if re.fullmatch(r"-?\d+", value):
                return int(value)
            return value
        raise ConfError(f"{self.source}:{self.toks[self.i - 1][2]}: expected a value, found {value or kind!r}")


def _by_name(files: Mapping[str, str]) -> dict[str, str]:
    """File name -> text; keys may be names or paths on the server (the renderer's)."""
    return {path.rsplit("/", 1)[-1]: text for path, text in files.items()}


def parse_server(files: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The server's config with its includes resolved, and which file each key came from."""
    named = _by_name(files)
    parser = _Parser(named)
    tree = parser.parse(CONFIG_FILE)
    return tree, parser.sources


# -- diffing ------------------------------------------------------------------------------

Path = tuple[str, ...]


@dataclass(frozen=True)
class _Diff:
    path: Path
    """Key path; a list element appears as ``[]`` (rules never depend on its index)."""
    detail: str
    """``changed``, ``added``, ``removed``, or ``<file> changed`` for a referenced file."""


def _remote_identity(remote: Mapping[str, Any]) -> str:
    """nats-server matches leaf remotes across a reload by their URLs, local account and
    credentials file (``RemoteLeafOpts.name()``): a remote whose identity changes is
    removed and added, which 2.14+ reloads."""
    return json.dumps([remote.get("urls"), remote.get("account"), remote.get("credentials")], sort_keys=True)


_KEYED_LISTS: dict[Path, Callable[[Mapping[str, Any]], str]] = {
    ("leafnodes", "remotes"): _remote_identity,
    ("gateway", "gateways"): lambda g: str(g.get("name")),
    ("leafnodes", "authorization", "users"): lambda u: str(u.get("user")),
    ("accounts", "*", "users"): lambda u: str(u.get("user")),
}
"""Lists of maps nats-server compares by a key, not by position (``imposeOrder``,
``usersHaveChanged``, ``getRemoteLeafOpts``)."""

_UNORDERED: set[Path] = {("cluster", "routes")}
"""Lists nats-server sorts before comparing (``imposeOrder``: ``[]*url.URL``)."""


def _pattern(path: Path) -> Path:
    return tuple(p for p in path if p != "[]")


def _matches(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(pattern[i] in ("*", path[i]) for i in range(len(path)))


def _list_key(path: Path) -> Callable[[Mapping[str, Any]], str] | None:
    bare = _pattern(path)
    for pattern, key in _KEYED_LISTS.items():
        if _matches(pattern, bare):
            return key
    return None


def _diff(before: Any, after: Any, path: Path) -> Iterator[_Diff]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *[k for k in after if k not in before]]:
            if key not in after:
                yield _Diff((*path, key), "removed")
            elif key not in before:
                yield _Diff((*path, key), "added")
            else:
                yield from _diff(before[key], after[key], (*path, key))
        return
    if isinstance(before, list) and isinstance(after, list):
        key = _list_key(path)
        if key is not None and all(isinstance(v, dict) for v in (*before, *after)):
            old = {key(v): v for v in before}
            new = {key(v): v for v in after}
            for k in old:
                if k not in new:
                    yield _Diff((*path, "[]"), "removed")
                else:
                    yield from _diff(old[k], new[k], (*path, "[]"))
            for k in new:
                if k not in old:
                    yield _Diff((*path, "[]"), "added")
            return
        if _pattern(path) in _UNORDERED:
            if sorted(map(json.dumps, before)) != sorted(map(json.dumps, after)):
                yield _Diff(path, "changed")
            return
        if len(before) == len(after) and all(isinstance(v, dict) for v in (*before, *after)):
            for index, old_item in enumerate(before):
                yield from _diff(old_item, after[index], (*path, "[]"))
            return
    if before != after:
        yield _Diff(path, "changed")


def _referenced_files(tree: Any, path: Path, names: set[str]) -> Iterator[tuple[Path, str]]:
    """Every key whose value names one of the server's files (a certificate, ``.creds``)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _referenced_files(value, (*path, key), names)
    elif isinstance(tree, list):
        for value in tree:
            yield from _referenced_files(value, (*path, "[]"), names)
    elif isinstance(tree, str):
        name = tree.rsplit("/", 1)[-1]
        if name in names:
            yield path, name


# -- the rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    pattern: str
    """Dotted key path; ``*`` is any one key. It covers every key beneath it, unless it ends
    in ``=`` (that key only). ``#file`` after it: a change of the content of the file the
    key names (its value, a path, unchanged)."""
    action: Action
    why: str
    inert: bool = False
    """nats-server accepts the change on reload but the running server does not act on it
    (so it is a restart all the same)."""

    def matches(self, path: Path, file_change: bool) -> bool:
        pattern, _, marker = self.pattern.partition("#")
        if marker and not file_change:
            return False
        exact = pattern.endswith("=")
        want = tuple(pattern.rstrip("=").split("."))
        if len(path) < len(want) or (exact and len(path) != len(want)):
            return False
        return _matches(want, path[: len(want)])


RELOAD, RESTART = Action.RELOAD, Action.RESTART

RULES: tuple[Rule, ...] = (
    # top level
    Rule("server_name", RESTART, "ServerName is not in diffOptions' switch: the default case refuses it"),
    Rule("listen", RESTART, 'Host/Port: "config reload not supported for Port" (the port case falls through)'),
    Rule("http", RESTART, "HTTPHost/HTTPPort are not in diffOptions' switch"),
    Rule("ping_interval", RELOAD, "diffOptions: pinginterval -> pingIntervalOption"),
    Rule("ping_max", RELOAD, "diffOptions: maxpingsout -> maxPingsOutOption"),
    Rule("pid_file", RELOAD, "diffOptions: pidfile -> pidFileOption"),
    Rule("lame_duck_duration", RESTART, "LameDuckDuration is not in diffOptions' switch"),
    Rule("lame_duck_grace_period", RESTART, "LameDuckGracePeriod is not in diffOptions' switch"),
    Rule("tls.*#file", RELOAD, "diffOptions: tlsconfig -> tlsOption (the files are re-read)"),
    Rule("tls.min_version", RELOAD, "diffOptions: tlsconfig -> tlsOption"),
    Rule("tls.timeout", RELOAD, "diffOptions: tlstimeout -> tlsTimeoutOption"),
    Rule("tls.handshake_first", RELOAD, "diffOptions: tlshandshakefirst -> tlsHandshakeFirst"),
    # operator mode (a hub's trust.conf)
    Rule("operator", RESTART, "TrustedOperators is not in diffOptions' switch"),
    Rule("system_account", RESTART, 'diffOptions: systemaccount -> "config reload not supported"'),
    Rule("resolver", RELOAD, "diffOptions: resolver -> accountsOption (the same kind of resolver)"),
    Rule("resolver_preload", RELOAD, "preloads are re-applied by reloadAuthorization (checkResolvePreloads)"),
    # config mode (a spoke)
    Rule("accounts", RELOAD, "diffOptions: accounts -> accountsOption"),
    Rule("no_auth_user", RESTART, 'diffOptions: noauthuser -> "config reload not supported"'),
    # jetstream
    Rule("jetstream.domain", RESTART, "JetStreamDomain is not in diffOptions' switch"),
    Rule("jetstream.store_dir", RESTART, 'diffOptions: storedir -> "not supported for jetstream storage directory"'),
    Rule("jetstream.max_memory_store", RESTART, "diffOptions: jetstreammaxmemory: only raising a set limit reloads"),
    Rule("jetstream.max_file_store", RESTART, "diffOptions: jetstreammaxstore: only raising a set limit reloads"),
    # cluster: validateClusterOpts refuses only host and port
    Rule("cluster.listen", RESTART, 'validateClusterOpts: "config reload not supported for cluster host/port"'),
    Rule("cluster.routes", RELOAD, "diffOptions: routes -> routesOption (adds and removes routes)"),
    Rule("cluster", RELOAD, "diffOptions: cluster -> clusterOption (all but host and port)"),
    # gateway: only its TLS config may change
    Rule("gateway.tls.*#file", RELOAD, "diffOptions: gateway: TLSConfig is left out of the comparison"),
    Rule("gateway.tls.min_version", RELOAD, "diffOptions: gateway: TLSConfig is left out of the comparison"),
    Rule("gateway", RESTART, 'diffOptions: gateway: any other change -> "config reload not supported for Gateway"'),
    # leafnodes: getLeafNodeOptionsChanges
    Rule("leafnodes.remotes=", RELOAD, "getLeafNodeOptionsChanges: remotes are added and removed (2.14+)"),
    Rule(
        "leafnodes.remotes.credentials#file",
        RESTART,
        "a reload accepts it, but the .creds are read only when the link connects: the running link keeps"
        " its old JWT (its key, its permissions) until it redials",
        inert=True,
    ),
    Rule("leafnodes.remotes.tls.*#file", RELOAD, "getLeafNodeOptionsChanges: a remote's TLSConfig is re-applied"),
    Rule("leafnodes.remotes.tls.ca_file", RELOAD, "getLeafNodeOptionsChanges: a remote's TLSConfig is re-applied"),
    Rule("leafnodes.remotes.tls.handshake_first", RELOAD, "getLeafNodeOptionsChanges: TLSHandshakeFirst reloads"),
    Rule("leafnodes.remotes", RESTART, "checkConfigsEqual(RemoteLeafOpts): any other field of a remote"),
    Rule("leafnodes.tls.*#file", RELOAD, "checkConfigsEqual(LeafNodeOpts) ignores TLSConfig: re-read"),
    Rule("leafnodes.tls.min_version", RELOAD, "checkConfigsEqual(LeafNodeOpts) ignores TLSConfig"),
    Rule("leafnodes.tls.handshake_first", RELOAD, "checkConfigsEqual(LeafNodeOpts) ignores TLSHandshakeFirst"),
    Rule("leafnodes.authorization.users", RESTART, 'usersHaveChanged: "config reload not supported for LeafNode"'),
    Rule("leafnodes", RESTART, "checkConfigsEqual(LeafNodeOpts): listener fields other than TLS"),
    # websocket: like the gateway
    Rule("websocket.tls.*#file", RELOAD, "diffOptions: websocket: TLSConfig is left out of the comparison"),
    Rule("websocket.tls.min_version", RELOAD, "diffOptions: websocket: TLSConfig is left out of the comparison"),
    Rule("websocket", RESTART, 'diffOptions: websocket: any other change -> "config reload not supported"'),
)
"""Ordered: the first rule matching a changed key path decides. A path no rule names
needs a restart: diffOptions' default case refuses every field it does not know."""


def rule_for(path: Path, *, file_change: bool = False) -> Rule:
    """The rule deciding a change at ``path`` (list elements left out of the path)."""
    for rule in RULES:
        if rule.matches(path, file_change):
            return rule
    return Rule(".".join(path), RESTART, "not in diffOptions' switch: its default case refuses it")


def _jetstream_limit(before: Any, after: Any) -> Action | None:
    """A JetStream limit may rise on reload, nothing else (``jetstreammaxmemory`` case)."""
    if isinstance(before, int) and isinstance(after, int) and after > before:
        return RELOAD
    return None


def _label(path: Path, sources: Mapping[Path, str], detail: str) -> str:
    bare = _pattern(path)
    shown = ".".join(bare)
    for cut in range(len(bare), 0, -1):
        source = sources.get(bare[:cut])
        if source and source != CONFIG_FILE:
            shown = f"{shown} ({source})"
            break
    return shown if detail == "changed" else f"{shown} {detail}"


def _get(tree: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


@dataclass(frozen=True)
class Decision:
    """One changed key path and the rule that decided it."""

    path: Path
    rule: Rule
    action: Action
    reason: str


def decide(before: Mapping[str, str], after: Mapping[str, str]) -> list[Decision]:
    """Every changed key path between two renderings of a server, with its rule."""
    old_tree, old_sources = parse_server(before)
    new_tree, new_sources = parse_server(after)
    sources = {**old_sources, **new_sources}
    out: list[Decision] = []

    def add(path: Path, rule: Rule, action: Action, label: str) -> None:
        verb = "reloadable" if action is RELOAD else "needs restart"
        out.append(Decision(path, rule, action, f"{label}: {verb} ({rule.why})"))

    for diff in _diff(old_tree, new_tree, ()):
        bare = _pattern(diff.path)
        rule = rule_for(bare)
        action = rule.action
        if bare[0] == "jetstream" and bare[-1] in ("max_memory_store", "max_file_store"):
            action = _jetstream_limit(_get(old_tree, bare), _get(new_tree, bare)) or action
        add(bare, rule, action, _label(diff.path, sources, diff.detail))
    # a file the config names (not includes) changed while the key naming it did not
    old_files, new_files = _by_name(before), _by_name(after)
    names = set(old_files) | set(new_files)
    included = set(old_sources.values()) | set(new_sources.values())
    seen: set[tuple[Path, str]] = set()
    for path, name in _referenced_files(new_tree, (), names - included):
        if (path, name) in seen or old_files.get(name) == new_files.get(name):
            continue
        seen.add((path, name))
        if _get_value_paths(old_tree, path) != _get_value_paths(new_tree, path):
            continue  # the key itself changed: decided above
        rule = rule_for(_pattern(path), file_change=True)
        add(_pattern(path), rule, rule.action, f"{'.'.join(_pattern(path))} ({name} changed)")
    return out


def classify(before: Mapping[str, str], after: Mapping[str, str]) -> ConfigChange:
    """What moving a running server from ``before`` to ``after`` takes. Both map a file
    name (or its path on the server) to its text: ``nats-server.conf`` and the files it
    includes or names (``trust.conf``, ``leaf.creds``, certificates, ...)."""
    decisions = decide(before, after)
    if not decisions:
        return ConfigChange(Action.NONE, ())
    action = max((d.action for d in decisions), key=lambda a: a.rank)
    return ConfigChange(action, tuple(dict.fromkeys(d.reason for d in decisions)))


def _get_value_paths(tree: Any, path: Path) -> list[Any]:
    """The values at ``path``, list elements expanded (a path with ``[]`` may name many)."""
    nodes: list[Any] = [tree]
    for key in path:
        nxt: list[Any] = []
        for node in nodes:
            if key == "[]" and isinstance(node, list):
                nxt.extend(node)
            elif isinstance(node, dict) and key in node:
                nxt.append(node[key])
        nodes = nxt
    return nodes


def restart_fingerprint(files: Mapping[str, str]) -> str:
    """A digest of the parts of a server's files whose change needs a restart, by the
    rules above: equal fingerprints mean no restart is needed (a reload, at most). It
    may differ for a change that would reload (a JetStream limit raised: the rules know
    the direction, a digest cannot), never the other way round."""
    tree, sources = parse_server(files)
    kept: list[tuple[str, Any]] = []

    def walk(node: Any, path: Path, key_path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key), (*key_path, key))
            return
        if isinstance(node, list):
            key = _list_key(path)
            if key is not None and all(isinstance(v, dict) for v in node):
                for item in node:
                    walk(item, path, (*key_path, f"[{key(item)}]"))
                return
            if rule_for(_pattern(path)).action is RESTART:
                kept.append(
                    (".".join(key_path), sorted(map(json.dumps, node)) if _pattern(path) in _UNORDERED else node)
                )
            return
        if rule_for(_pattern(path)).action is RESTART:
            kept.append((".".join(key_path), node))

    walk(tree, (), ())
    named = _by_name(files)
    for path, name in _referenced_files(tree, (), set(named) - set(sources.values())):
        if rule_for(_pattern(path), file_change=True).action is RESTART:
            kept.append((f"{'.'.join(path)}#{name}", hashlib.sha256(named[name].encode()).hexdigest()))
    return hashlib.sha256(json.dumps(sorted(kept, key=lambda kv: kv[0])).encode()).hexdigest()
