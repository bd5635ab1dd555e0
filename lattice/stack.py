"""Reading a stack: the one entrance for a lattice spec, from a stack file or plain data.

Every problem is reported at once, each as ``<stack file>: <key path>: <what is wrong>``
(the models' own rules and :mod:`lattice.rules`' rules across entries), so a user fixes a
stack in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lattice.problems import LatticeSpecError, Problem
from lattice.rules import parsed_spec_problems, spec_problems
from lattice.spec import LatticeSpec

CONFIG_KEY = "wasmcloud-lattice:lattice"


def _loc_to_path(loc: Iterable[Any]) -> str:
    path = "lattice"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}"
    return path


def _pydantic_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors():
        loc = list(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "entry_rule":  # a model's own rule, at the key it names
            loc.append(err["ctx"]["key"])
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        # YAML gives lists; the models hold tuples only to stay immutable.
        message = message.replace("valid tuple", "valid list").replace("Tuple should", "List should")
        # Literal/union errors carry a nested loc piece naming the branch; drop it.
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("literal[", "function-")))]
        problems.append(Problem(_loc_to_path(loc), message))
    return problems


def parse_lattice(raw: Any, source: str) -> LatticeSpec:
    """Validate the raw config object; raise :class:`LatticeSpecError` with every problem."""
    if not isinstance(raw, Mapping):
        raise LatticeSpecError(source, [Problem("lattice", f"must be a mapping, got {type(raw).__name__}")])
    problems: list[Problem] = []
    spec: LatticeSpec | None = None
    try:
        spec = LatticeSpec.model_validate(_lists_to_tuples(raw))
    except ValidationError as err:
        problems.extend(_pydantic_problems(err))
    problems.extend(spec_problems(raw))
    if spec is not None and not problems:
        problems.extend(parsed_spec_problems(spec))
    if problems or spec is None:
        unique = list(dict.fromkeys(problems))
        raise LatticeSpecError(source, sorted(unique, key=lambda p: _sort_key(p.path)))
    return spec


def _sort_key(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[\[\].]+", path) if p]


def _lists_to_tuples(value: Any) -> Any:
    # Strict mode refuses lists for tuple fields; YAML gives lists.
    if isinstance(value, Mapping):
        return {k: _lists_to_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_lists_to_tuples(v) for v in value)
    return value


def from_wire(value: Any) -> Any:
    """Plain data as a stack file would hold it, from what the engine delivered. The engine carries every number as a
    double (protobuf ``Struct``), so ``nodes: 3`` written in YAML, TypeScript or Go arrives
    as ``3.0``; the spec takes integers, so whole numbers become ints again."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [from_wire(v) for v in value]
    return value


def stack_file_path(stack: str, stacks_dir: Path) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def load_stack_file(path: Path, label: str | None = None) -> LatticeSpec:
    """Read a ``Pulumi.<stack>.yaml`` and validate its lattice; errors name ``label``."""
    source = label or str(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise LatticeSpecError(source, [Problem("lattice", f"cannot read stack file: {err.strerror}")]) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LatticeSpecError(source, [Problem("lattice", f"not valid YAML{where}")]) from None
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping) or CONFIG_KEY not in config:
        raise LatticeSpecError(source, [Problem("lattice", f"missing config key {CONFIG_KEY!r}")])
    return parse_lattice(config[CONFIG_KEY], source)
