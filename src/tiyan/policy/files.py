"""Reading policy files: YAML with the line of every key, so errors point at the line.

Example::

    >>> from tiyan.policy.files import load_policy
    >>> policy = load_policy()            # the default policy shipped with tiyan
    >>> policy.scoring.dimensions["product"].weight
    50.0
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tiyan.domain.errors import PolicyError
from tiyan.policy.schema import Policy

Path_ = tuple[str | int, ...]

DEFAULT_POLICY = "<tiyan>/policies/default.yaml"


def _parse(text: str, where: str) -> tuple[Any, dict[Path_, int]]:
    """The YAML document and the line of each path (keys: their own line)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(where, [(line, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[int | None, str, str]] = []

    def walk(node: Any, path: Path_) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append((line, _dotted((*path, key)), "duplicate key"))
                seen.add(key)
                lines[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    if duplicates:
        raise PolicyError(where, duplicates)
    return data, lines


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(path: Path_, lines: dict[Path_, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _refine(path: Path_, message: str, lines: dict[Path_, int]) -> Path_:
    """A validator of a whole section reports at the section; when its message names a
    key inside the section, point at that key instead."""
    message = message.split(" Did you mean")[0].split(" Known:")[0]
    found: list[tuple[int, int, Path_]] = []
    for p in lines:
        if len(p) > len(path) and p[: len(path)] == path and isinstance(p[-1], str):
            hit = re.search(rf"(?<![\w.]){re.escape(p[-1])}(?![\w])", message)
            if hit:
                found.append((hit.start(), -len(p), p))
    # The key the message names first is its subject ("x is lower-is-better: ... a min").
    return min(found, key=lambda f: (f[0], f[1]))[2] if found else path


def parse_policy(text: str, where: str) -> Policy:
    """Validate policy YAML; every problem names ``where``, the line and the key."""
    data, lines = _parse(text, where)
    if not isinstance(data, dict):
        raise PolicyError(
            where, [(1, "", "a policy file is a YAML mapping (version, scoring, ...)")]
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path: Path_ = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            path = _refine(path, message, lines)
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append((_line_of(path, lines), _dotted(path), message))
        raise PolicyError(where, problems) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file; without ``path``, the default policy."""
    if path is None:
        text = (resources.files("tiyan") / "policies" / "default.yaml").read_text(encoding="utf-8")
        return parse_policy(text, DEFAULT_POLICY)
    file = Path(path)
    if not file.is_file():
        raise PolicyError(str(file), [(None, "", "no such policy file")])
    return parse_policy(file.read_text(encoding="utf-8"), str(file))
