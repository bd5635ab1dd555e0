"""A raw lattice config as the cross-entry rules read it (camelCase, as written), before
the models accept it: :mod:`lattice.rules` and :mod:`lattice.stream_rules` both read it
through :class:`RawStack`, so a hub stream's rule sees the hubs and spokes exactly as a
spoke's rule does."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lattice.problems import Problem
from lattice.spec import HubSpec

Entries = list[tuple[int, Mapping[str, Any]]]
DEFAULT_NODES: int = HubSpec.model_fields["nodes"].default


@dataclass(frozen=True)
class RawStack:
    """A raw lattice config, read tolerantly: entries that are not mappings are skipped
    (their type errors are reported by the models)."""

    raw: Mapping[str, Any]

    def _entries(self, key: str) -> Entries:
        value = self.raw.get(key)
        if not isinstance(value, list):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]

    @cached_property
    def hubs(self) -> Entries:
        return self._entries("hubs")

    @cached_property
    def spokes(self) -> Entries:
        return self._entries("spokes")

    @cached_property
    def hub_streams(self) -> Entries:
        return self._entries("hubStreams")

    @cached_property
    def hub_names(self) -> set[Any]:
        return {h.get("name") for _, h in self.hubs}

    @cached_property
    def spoke_names(self) -> set[Any]:
        return {s.get("name") for _, s in self.spokes}

    @cached_property
    def hubs_by_name(self) -> dict[Any, Mapping[str, Any]]:
        return {h.get("name"): h for _, h in self.hubs}

    @cached_property
    def spokes_by_name(self) -> dict[Any, Mapping[str, Any]]:
        return {s.get("name"): s for _, s in self.spokes}

    @cached_property
    def external_hubs(self) -> dict[Any, Mapping[str, Any]]:
        return {h.get("name"): h for _, h in self.hubs if h.get("platform") == "external"}

    @cached_property
    def lattice_names(self) -> list[Any]:
        extra = self.raw.get("lattices")
        return [self.raw.get("name"), *(extra if isinstance(extra, list) else [])]

    def retired(self) -> list[tuple[int, Any]]:
        value = self.raw.get("retiredSpokes")
        return list(enumerate(value)) if isinstance(value, list) else []


Rule = Callable[[RawStack], Iterator[Problem]]
