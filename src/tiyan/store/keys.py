"""The store's side of the service's keys and console sessions (``api_keys``,
``console_sessions``): the statements, nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tiyan.domain.model import API_KEYS, SERVICE_TABLES
from tiyan.store.base import Store

CONSOLE_SESSIONS = SERVICE_TABLES["console_sessions"]
_KEY_COLUMNS = "key_id, role, merchant_id, label, created_at, revoked_at"


def merchant_exists(store: Store, merchant_id: str) -> bool:
    return bool(store.query("SELECT 1 FROM merchants WHERE merchant_id = ?", (merchant_id,)))


def insert_key(store: Store, row: dict[str, Any]) -> None:
    store.insert_row(API_KEYS, [row[c] for c in API_KEYS.column_names])


def key_rows(store: Store) -> list[tuple[Any, ...]]:
    """Every key, as (key_id, role, merchant_id, label, created_at, revoked_at)."""
    return store.query(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id")


def key_row(store: Store, key_id: str) -> tuple[Any, ...] | None:
    """One key, as :func:`key_rows` gives them (None: no such key)."""
    rows = store.query(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
    return rows[0] if rows else None


def mark_revoked(store: Store, key_id: str, at: datetime) -> bool:
    """Set ``revoked_at`` of a key not yet revoked; False when there was none to revoke."""
    rows = store.query(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
        "RETURNING key_id",
        (at, key_id),
    )
    return bool(rows)


def key_for_check(store: Store, key_id: str) -> tuple[str, str, str | None, Any] | None:
    """(secret_hash, role, merchant_id, revoked_at) of a key, to check a presented secret."""
    rows = store.query(
        "SELECT secret_hash, role, merchant_id, revoked_at FROM api_keys WHERE key_id = ?",
        (key_id,),
    )
    return rows[0] if rows else None


def insert_session(
    store: Store, session_hash: str, key_id: str, created_at: datetime, expires_at: datetime
) -> None:
    store.insert_row(CONSOLE_SESSIONS, [session_hash, key_id, created_at, expires_at, None])


def session_key(
    store: Store, session_hash: str, now: datetime
) -> tuple[str, str, str | None] | None:
    """(key_id, role, merchant_id) of an open session whose key is not revoked (None: no
    such session, or it was ended, expired or its key revoked)."""
    rows = store.query(
        "SELECT k.key_id, k.role, k.merchant_id FROM console_sessions s "
        "JOIN api_keys k ON k.key_id = s.key_id "
        "WHERE s.session_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? "
        "AND k.revoked_at IS NULL",
        (session_hash, now),
    )
    return rows[0] if rows else None


def end_session(store: Store, session_hash: str, now: datetime) -> None:
    store.query(
        "UPDATE console_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL "
        "RETURNING session_hash",
        (now, session_hash),
    )
