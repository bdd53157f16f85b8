"""Reading policy files: YAML with the line of every key, so errors point at the line.

Example::

    >>> from tiyan.policy.files import load_policy
    >>> policy = load_policy()            # the default policy shipped with tiyan
    >>> policy.scoring.dimensions["product"].weight
    50.0
    >>> shown = policy_text(as_of=date(2018, 10, 18))   # the version in force, as written
    >>> shown.policy.version == policy.version and shown.text.startswith("# tiyan")
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tiyan.domain.errors import PolicyError, UnknownNameError, UsageError
from tiyan.policy.schema import Policy

Path_ = tuple[str | int, ...]

DEFAULT_POLICY = "<tiyan>/policies/default.yaml"

#: How to get a policy for a date no version covers (said with every such error).
_EARLIER = (
    "give a policy in force on that date: `--policy FILE` (a copy of `tiyan policy show` "
    "with an earlier effective_from), or a folder holding an earlier version"
)


@dataclass(frozen=True)
class PolicyText:
    """A validated policy version and the YAML it was read from, unchanged."""

    policy: Policy
    text: str
    #: The file it was read from (``<tiyan>/policies/...`` for a shipped version).
    where: str


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
    """Load and validate a policy; without ``path``, the policy shipped with tiyan.

    ``path`` is a policy file, or a folder of them (``*.yaml``, ``*.yml``): several versions
    can coexist, and the one in force on ``as_of`` — the latest ``effective_from`` not after
    it — applies (without ``as_of``, the latest). Every file of a folder is validated, and
    two versions effective the same day are an error. The shipped versions are chosen the
    same way; the first of them applies to any earlier date (its ``effective_from`` is set
    before any data, docs/scoring.md).
    """
    return policy_text(path, as_of=as_of).policy


def policy_text(
    path: str | Path | None = None, *, as_of: date | None = None, version: str | None = None
) -> PolicyText:
    """The policy :func:`load_policy` would apply, with the YAML it was read from (for
    ``tiyan policy show``: a copy to edit); with ``version``, the version of that name
    instead of the one in force."""
    if path is None:
        folder = resources.files("tiyan") / "policies"
        texts = [
            (f"<tiyan>/policies/{f.name}", f.read_text(encoding="utf-8"))
            for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith((".yaml", ".yml"))
        ]
        return _choose(texts, "<tiyan>/policies", as_of, version)
    where = Path(path)
    if where.is_dir():
        files = sorted([*where.glob("*.yaml"), *where.glob("*.yml")])
        if not files:
            raise PolicyError(str(where), [(None, "", "no policy files (*.yaml) in this folder")])
        texts = [(str(f), f.read_text(encoding="utf-8")) for f in files]
        return _choose(texts, str(where), as_of, version)
    if not where.is_file():
        raise PolicyError(str(where), [(None, "", "no such policy file or folder")])
    # One file is the policy asked for, whatever its date: policy_in_force (and every job)
    # refuses it for a date before its effective_from.
    return _choose([(str(where), where.read_text(encoding="utf-8"))], str(where), None, version)


def _choose(
    texts: list[tuple[str, str]], folder: str, as_of: date | None, version: str | None
) -> PolicyText:
    """Of the versions in ``texts`` (file, YAML), the one named ``version``, else the one in
    force on ``as_of`` (the latest ``effective_from`` not after it; without ``as_of``, the
    latest)."""
    versions = [PolicyText(parse_policy(text, f), text, f) for f, text in texts]
    by_day: dict[date, str] = {}
    for v in versions:
        if v.policy.effective_from in by_day:
            raise PolicyError(
                v.where,
                [(None, "effective_from", f"{v.policy.effective_from} is also the effective "
                  f"date of {Path(by_day[v.policy.effective_from]).name}: which one applies?")],
            )  # fmt: skip
        by_day[v.policy.effective_from] = v.where
    if version is not None:
        named = [v for v in versions if v.policy.version == version]
        if not named:
            raise UnknownNameError(
                f"policy version (in {folder})", version, [v.policy.version for v in versions]
            )
        return named[0]
    eligible = [v for v in versions if as_of is None or v.policy.effective_from <= as_of]
    if not eligible:
        first = min(v.policy.effective_from for v in versions)
        message = f"no policy in force on {as_of}: the first takes effect {first}; {_EARLIER}"
        raise PolicyError(folder, [(None, "", message)])
    return max(eligible, key=lambda v: v.policy.effective_from)


def policy_in_force(path: str | Path | None = None, *, as_of: date) -> Policy:
    """:func:`load_policy` for a run on ``as_of``, refused — with the fix — when the policy
    takes effect later (a file of yours dated after ``as_of``)."""
    policy = load_policy(path, as_of=as_of)
    if (refused := not_in_force(policy, as_of)) is not None:
        raise UsageError(refused)
    return policy


def not_in_force(policy: Policy, as_of: date) -> str | None:
    """Why ``policy`` cannot be applied on ``as_of`` (it takes effect later), with the fix;
    None when it can."""
    if policy.effective_from <= as_of:
        return None
    return (
        f"policy {policy.version} takes effect on {policy.effective_from}, after {as_of}: "
        f"{_EARLIER}"
    )
