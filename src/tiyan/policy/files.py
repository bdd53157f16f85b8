"""Reading policy files: YAML with the line of every key, so errors point at the line.

Example::

    >>> from tiyan.policy.files import load_policy
    >>> policy = load_policy()            # the default policy shipped with tiyan
    >>> policy.scoring.dimensions["product"].weight
    50.0
"""

from __future__ import annotations

import re
from datetime import date
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


def load_policy(path: str | Path | None = None, *, as_of: date | None = None) -> Policy:
    """Load and validate a policy; without ``path``, the default policy.

    ``path`` is a policy file, or a folder of them (``*.yaml``, ``*.yml``): several versions
    can coexist, and the one in force on ``as_of`` — the latest ``effective_from`` not after
    it — applies (without ``as_of``, the latest). Every file of a folder is validated, and
    two versions effective the same day are an error.
    """
    if path is None:
        text = (resources.files("tiyan") / "policies" / "default.yaml").read_text(encoding="utf-8")
        return parse_policy(text, DEFAULT_POLICY)
    where = Path(path)
    if where.is_dir():
        return _in_force(where, as_of)
    if not where.is_file():
        raise PolicyError(str(where), [(None, "", "no such policy file or folder")])
    return parse_policy(where.read_text(encoding="utf-8"), str(where))


def _in_force(folder: Path, as_of: date | None) -> Policy:
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise PolicyError(str(folder), [(None, "", "no policy files (*.yaml) in this folder")])
    versions = [(parse_policy(f.read_text(encoding="utf-8"), str(f)), f) for f in files]
    by_day: dict[date, Path] = {}
    for policy, f in versions:
        if policy.effective_from in by_day:
            raise PolicyError(
                str(f),
                [(None, "effective_from", f"{policy.effective_from} is also the effective "
                  f"date of {by_day[policy.effective_from].name}: which one applies?")],
            )  # fmt: skip
        by_day[policy.effective_from] = f
    eligible = [(p, f) for p, f in versions if as_of is None or p.effective_from <= as_of]
    if not eligible:
        first = min(p.effective_from for p, _ in versions)
        message = f"no policy in force on {as_of}: the first takes effect {first}"
        raise PolicyError(str(folder), [(None, "", message)])
    return max(eligible, key=lambda pf: pf[0].effective_from)[0]
