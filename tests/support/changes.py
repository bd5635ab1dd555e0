"""The change kinds of a running lattice, as edits of the dev stack, and what each does to
every server by the reload classifier: the README's "What a change touches" table is
computed here (and a test keeps the README equal to it); the live test starts real servers
from the same renderings.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lattice.addressing import Addressing
from lattice.natsconf import CONFIG_FILE
from lattice.plan import LatticePlan, plan_lattice
from lattice.reload import Action, ConfigChange, classify
from lattice.stack import CONFIG_KEY
from tests.support.helpers import ROOT, render_plan, retire_spoke, spec_from

Raw = dict[str, Any]
ServerFilesText = dict[str, str]
"""File name -> text: ``nats-server.conf`` and the files beside it."""


def base_raw() -> Raw:
    """The dev stack's lattice object (two regions, a mid-tier store with a device)."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    return copy.deepcopy(doc["config"][CONFIG_KEY])


def _add_spoke(raw: Raw) -> Raw:
    raw["spokes"].append({"name": "store-99", "upstream": "use1", "platform": "aws", "region": "us-east-2"})
    return raw


def _add_child(raw: Raw) -> Raw:
    raw["spokes"].append({"name": "device-8", "upstream": "store-12", "platform": "aws", "region": "us-west-2"})
    return raw


def _retire(raw: Raw) -> Raw:
    retire_spoke(raw, "store-14")
    return raw


def _rotate(raw: Raw) -> Raw:
    next(s for s in raw["spokes"] if s["name"] == "store-14")["keyRotation"] = 1
    return raw


def _rotate_child(raw: Raw) -> Raw:
    next(s for s in raw["spokes"] if s["name"] == "device-7")["keyRotation"] = 1
    return raw


def _permissions(raw: Raw) -> Raw:
    raw["leafPermissions"]["subjects"] = [*raw["leafPermissions"]["subjects"], "billing.>"]
    return raw


def _add_hub_stream(raw: Raw) -> Raw:
    raw["hubStreams"].append(
        {"name": "ORDERS", "maxBytes": 2**26, "subjects": ["returns.{spoke}.>"], "publishers": ["store-14"]}
    )
    return raw


def _revision(raw: Raw) -> Raw:
    raw["leafPermissions"]["revision"] = 1
    return raw


def _add_region(raw: Raw) -> Raw:
    raw["hubs"].append({"name": "apse1", "platform": "aws", "region": "ap-southeast-1", "nodes": 3})
    return raw


def _handshake_first(raw: Raw) -> Raw:
    raw["tls"] = {"handshakeFirst": True}
    return raw


@dataclass(frozen=True)
class ChangeKind:
    name: str
    edit: Callable[[Raw], Raw]


CHANGE_KINDS: tuple[ChangeKind, ...] = (
    ChangeKind("add a spoke", _add_spoke),
    ChangeKind("add a spoke under a mid-tier spoke", _add_child),
    ChangeKind("retire a spoke", _retire),
    ChangeKind("rotate a spoke's key", _rotate),
    ChangeKind("rotate the key of a spoke under a mid-tier spoke", _rotate_child),
    ChangeKind("change `leafPermissions`", _permissions),
    ChangeKind("add a hub stream a spoke publishes into", _add_hub_stream),
    ChangeKind("raise `leafPermissions.revision`", _revision),
    ChangeKind("add a hub region", _add_region),
    ChangeKind("turn on `tls.handshakeFirst`", _handshake_first),
)


def variant(kind: ChangeKind) -> Raw:
    return kind.edit(base_raw())


def server_files(raw: Raw, addressing: Callable[[LatticePlan], Addressing] | None = None) -> dict[str, ServerFilesText]:
    """Every server's files for a lattice object, keys from its names (stable across
    variants: the same name always gives the same key and certificate)."""
    plan = plan_lattice(spec_from(raw))
    _, rendered = render_plan(plan, addressing=addressing(plan) if addressing else None)
    return {
        n: {CONFIG_FILE: r.config, **{Path(p).name: t for p, t in r.secret_files.items()}} for n, r in rendered.items()
    }


Outcome = ConfigChange | str
"""A server's classified change, or ``"starts"`` / ``"stops"`` (new or gone)."""


def outcomes(before: Mapping[str, ServerFilesText], after: Mapping[str, ServerFilesText]) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    for name in [*before, *[n for n in after if n not in before]]:
        if name not in after:
            out[name] = "stops"
        elif name not in before:
            out[name] = "starts"
        else:
            out[name] = classify(before[name], after[name])
    return out


@functools.cache
def symbolic_outcomes() -> dict[str, dict[str, Outcome]]:
    """Change kind -> server -> outcome, on cloud-like addressing."""
    base = server_files(base_raw())
    return {k.name: outcomes(base, server_files(variant(k))) for k in CHANGE_KINDS}


_NKEY = re.compile(r"^[A-Z2-7]{56}$")


def _keys(change: ConfigChange, action: Action) -> list[str]:
    """The key paths behind ``action`` (an account's public key left out), with the file
    they sit in: ``resolver_preload (trust.conf)``."""
    keys = []
    verdict_of = "reloadable" if action is Action.RELOAD else "needs restart"
    for reason in change.reasons:
        label, _, verdict = reason.partition(": ")
        if not verdict.startswith(verdict_of):
            continue
        label = label.removesuffix(" added").removesuffix(" removed")
        path, _, where = label.partition(" (")
        shown = ".".join(p for p in path.split(".") if not _NKEY.match(p))
        keys.append(f"{shown} ({where}" if where else shown)
    return list(dict.fromkeys(keys))


def _who(names: list[str], plan: LatticePlan, existing: set[str] | None = None) -> str:
    """``every hub node`` (of those that ran before the change), a count, and spoke names."""
    hubs = [n for n in names if plan.server(n).role == "hub"]
    spokes = [n for n in names if plan.server(n).role == "spoke"]
    parts = []
    if hubs:
        all_hubs = [s.name for s in plan.servers if s.role == "hub" and (existing is None or s.name in existing)]
        parts.append("every hub node" if hubs == all_hubs else f"{len(hubs)} hub nodes")
    parts += spokes
    return ", ".join(parts)


def readme_table() -> str:
    """The README's table: for each change kind, which servers reload, restart, start, stop."""
    lines = [
        "| change (on the dev stack) | reload (SIGHUP, no restart) | restart (one at a time, lame duck first) |"
        " starts / stops |",
        "| --- | --- | --- | --- |",
    ]
    for kind in CHANGE_KINDS:
        found = symbolic_outcomes()[kind.name]
        plan = plan_lattice(spec_from(variant(kind)))
        old_plan = plan_lattice(spec_from(base_raw()))
        cells = []
        for action in (Action.RELOAD, Action.RESTART):
            names = [n for n, o in found.items() if isinstance(o, ConfigChange) and o.action is action]
            keys = sorted({k for n in names for k in _keys(found[n], action)})  # type: ignore[arg-type]
            who = _who(names, plan, existing={s.name for s in old_plan.servers})
            cells.append(f"{who}: {', '.join(f'`{k}`' for k in keys)}" if names else "none")
        started = [n for n, o in found.items() if o == "starts"]
        stopped = [n for n, o in found.items() if o == "stops"]
        moves = [f"{_who(started, plan)} start"] if started else []
        moves += [f"{_who(stopped, old_plan)} stop"] if stopped else []
        cells.append("; ".join(moves) or "none")
        lines.append(f"| {kind.name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
