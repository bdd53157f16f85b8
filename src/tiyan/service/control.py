"""The local CLI's channel to a running server, for a DuckDB store.

DuckDB lets one process open a store file for writing: while ``tiyan serve`` runs, ``tiyan
keys revoke`` cannot open the store, yet a leaked key must stop working *now*, not at the
next restart. So ``tiyan serve`` on a DuckDB file writes, next to it, ``<db>.serve``: the
server's loopback URL and a random control token, readable by the file's owner only (mode
0600) and removed when the server stops. The CLI, finding the store locked, reads it and
calls ``POST /v1/keys/{key_id}/revoke`` with the token; the server revokes the key in the
store and forgets its cached checks and console sessions at once.

Whoever can read that file is the owner of the store's folder, who could as well revoke
the key by stopping the server and editing the store: the token grants nothing more (only
the keys routes accept it). A PostgreSQL store needs no channel: every process opens it.

Example::

    path = write_control("tiyan.duckdb", url="http://127.0.0.1:8000", token=token)
    revoke_through_server("tiyan.duckdb", "tk_0123456789ab")   # {'key_id': ..., ...}
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tiyan.domain.errors import ConflictError, NotFoundError, StoreError, TiyanError


def control_path(db: str) -> Path:
    """Where a server running on the DuckDB file ``db`` leaves its channel."""
    return Path(f"{db}.serve")


def loopback_url(host: str, port: int) -> str:
    """The URL a process on this machine reaches a server listening on ``host`` at."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - we connect to it, not listen on it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_control(db: str, *, url: str, token: str) -> Path:
    """Write the channel file (owner-only), replacing one a killed server left."""
    path = control_path(db)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, fh)
    return path


def remove_control(path: Path, token: str) -> None:
    """Remove the channel file if it is still this server's (another may have started)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("token") == token:
            path.unlink()


def read_control(db: str) -> dict[str, Any] | None:
    try:
        found = json.loads(control_path(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and {"url", "token"} <= set(found) else None


def revoke_through_server(db: str, key_id: str, *, timeout: float = 10) -> dict[str, Any]:
    """Ask the server that holds ``db`` to revoke ``key_id``: the key as it answers.
    StoreError when no server holds it (no channel file, or nobody answers there);
    NotFoundError / ConflictError as ``revoke_key`` raises them."""
    control = read_control(db)
    if control is None:
        raise StoreError(
            f"{db} is in use by another process, and no `tiyan serve` on it left "
            f"{control_path(db)}: stop that process and try again"
        )
    url = f"{control['url']}/v1/keys/{quote(key_id, safe='')}/revoke"
    request = urllib.request.Request(  # noqa: S310 - our own server's http(s) URL
        url, method="POST", headers={"Authorization": f"Bearer {control['token']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            body: dict[str, Any] = json.loads(answer.read())
            return body
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        error: type[TiyanError] = {404: NotFoundError, 409: ConflictError}.get(exc.code, StoreError)
        if error is NotFoundError:
            raise NotFoundError("key", key_id) from None
        raise error(f"the server at {control['url']} refused: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StoreError(
            f"{db} is in use, and the server named in {control_path(db)} "
            f"({control['url']}) does not answer ({exc}): is it still running?"
        ) from None
