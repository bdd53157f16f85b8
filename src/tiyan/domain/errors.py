"""The one exception tree of tiyan.

::

    TiyanError
    ├── UsageError (ValueError)          bad arguments: unknown table, engine, mapping, format
    │   ├── UnknownTableError
    │   ├── UnknownNameError
    │   ├── PolicyError                  a policy file that does not validate (file, line, key)
    │   ├── NotFoundError (LookupError)  no such merchant, order, appeal, ... (or not yours)
    │   └── ConflictError                the request contradicts what is stored (an appeal
    │                                    already open, a key already revoked)
    ├── AuthError                        no key, a wrong or revoked key, or a role that may not
    │                                    do this (the service answers 401 / 403)
    ├── SourceError (OSError)            input that cannot be read at all: missing file,
    │                                    unknown format, unreadable encoding, malformed mapping
    └── StoreError (RuntimeError)        the store cannot be opened, migrated or written

Rejected *rows* are not exceptions: they are quarantined with their reason and counted;
a load above --max-reject-rate is reported with status ``rejected``, not raised.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TiyanError(Exception):
    """Root of every error tiyan raises on purpose."""


class UsageError(TiyanError, ValueError):
    """The caller asked for something that does not exist or cannot be done."""


class UnknownNameError(UsageError):
    """A name (engine, mapping, format, ...) that is not known, with the closest suggestion."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = list(known)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")
        self.kind = kind
        self.name = name
        self.known = known


class UnknownTableError(UnknownNameError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__("table", name, known)


class NotFoundError(UsageError, LookupError):
    """Nothing of that id — or nothing the caller may see: another merchant's data gets the
    same answer as data that does not exist."""

    def __init__(self, kind: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"no {kind} {ident!r}")
        self.kind = kind
        self.ident = ident


class ConflictError(UsageError):
    """The request is well formed but contradicts the stored state."""


class AuthError(TiyanError):
    """Authentication or authorization failed; ``status`` is 401 (who are you?) or 403
    (you may not)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class SourceError(TiyanError, OSError):
    """A source that cannot be read at all (as opposed to rows that fail validation)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class StoreError(TiyanError, RuntimeError):
    """The store cannot be opened, upgraded or written."""


class PolicyError(UsageError):
    """A policy file that does not validate; names the file, the line and the key.

    ``problems`` lists every problem found, each as ``(line, key, message)``.
    """

    def __init__(self, path: str, problems: list[tuple[int | None, str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [
            f"{path}:{line if line is not None else '?'}: {key or '(top)'}: {message}"
            for line, key, message in problems
        ]
        super().__init__("invalid policy:\n  " + "\n  ".join(lines))
