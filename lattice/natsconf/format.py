"""nats-server config text: top-level keys one per line, nested blocks indented two spaces.

Deterministic by construction: keys keep the order the blocks give them, strings are JSON
quoted, and ``include`` is written as nats-server's directive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot render {type(value).__name__}")


INCLUDE = "include"
"""A key rendered as the ``include "path"`` directive rather than a ``key: value`` pair."""


def _entry(pad: str, key: str, value: Any, indent: int) -> str:
    if key == INCLUDE:
        return f"{pad}include {_scalar(value)}"
    return f"{pad}{key}: {_format(value, indent)}"


def _format(value: Any, indent: int) -> str:
    pad = "  " * (indent + 1)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = [_entry(pad, key, val, indent + 1) for key, val in value.items()]
        return "{\n" + "\n".join(lines) + "\n" + "  " * indent + "}"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return "[" + ", ".join(_scalar(v) for v in value) + "]"
        items = [f"{pad}{_format(v, indent + 1)}" for v in value]
        return "[\n" + "\n".join(items) + "\n" + "  " * indent + "]"
    return _scalar(value)


def format_conf(blocks: Mapping[str, Any], header: str = "") -> str:
    """Top-level keys one per line; nested maps and lists indented two spaces."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [_entry("", key, value, 0) for key, value in blocks.items()]
    return "\n".join(lines) + "\n"
