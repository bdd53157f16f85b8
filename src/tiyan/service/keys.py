"""API keys: created once, stored hashed, checked on every request, revocable.

A key reads ``tiyan_<key id>_<secret>``. The key id (``tk_`` and 12 hex digits) is public —
logs and the decision log name callers by it; the secret is 32 random bytes, of which only
the SHA-256 is stored. A salted slow hash (bcrypt, argon2) protects *low-entropy passwords*
against guessing; a 256-bit random secret cannot be guessed, so one SHA-256 is enough and
keeps authentication off the latency budget of a decision.

Example::

    key = create_key(store, role="merchant", merchant_id="M000042", now=now)
    principal = authenticate(store, key.secret)   # Principal(key_id=..., role="merchant", ...)
    revoke_key(store, key.key_id, now=now)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from tiyan.domain.errors import AuthError, ConflictError, NotFoundError, UsageError
from tiyan.domain.model import API_KEYS
from tiyan.store.base import Store

ROLES = ("operator", "merchant", "service")
_PREFIX = "tiyan_"
_COLUMNS = [c.name for c in API_KEYS.columns]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its role, and for a merchant key its merchant."""

    key_id: str
    role: str
    merchant_id: str | None = None


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    role: str
    merchant_id: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is the whole key, shown this once and never stored."""

    info: KeyInfo
    secret: str

    @property
    def key_id(self) -> str:
        return self.info.key_id


def _digest(secret_part: str) -> str:
    return hashlib.sha256(secret_part.encode()).hexdigest()


def _naive(now: datetime) -> datetime:
    from datetime import UTC

    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def create_key(
    store: Store,
    *,
    role: str,
    now: datetime,
    merchant_id: str | None = None,
    label: str | None = None,
) -> NewKey:
    """Create a key for ``role`` (a merchant key names its merchant, which must exist)."""
    if role not in ROLES:
        from tiyan.domain.errors import UnknownNameError

        raise UnknownNameError("role", role, ROLES)
    if role == "merchant":
        if not merchant_id:
            raise UsageError("a merchant key needs --merchant")
        if not store.query("SELECT 1 FROM merchants WHERE merchant_id = ?", (merchant_id,)):
            raise NotFoundError("merchant", merchant_id)
    elif merchant_id:
        raise UsageError(f"only merchant keys name a merchant (role {role!r} does not)")
    key_id = "tk_" + secrets.token_hex(6)
    secret_part = secrets.token_urlsafe(32)
    info = KeyInfo(key_id, role, merchant_id, label, _naive(now), None)
    row = {**info.__dict__, "secret_hash": _digest(secret_part)}
    store.insert_row(API_KEYS, [row[c] for c in _COLUMNS])
    return NewKey(info=info, secret=f"{_PREFIX}{key_id}_{secret_part}")


def list_keys(store: Store) -> list[KeyInfo]:
    rows = store.query(
        "SELECT key_id, role, merchant_id, label, created_at, revoked_at FROM api_keys "
        "ORDER BY created_at, key_id"
    )
    return [KeyInfo(*r) for r in rows]


def revoke_key(store: Store, key_id: str, *, now: datetime) -> KeyInfo:
    """Mark ``key_id`` revoked from ``now`` on (kept in the table, never deleted)."""
    rows = store.query(
        "SELECT key_id, role, merchant_id, label, created_at, revoked_at, secret_hash "
        "FROM api_keys WHERE key_id = ?",
        (key_id,),
    )
    if not rows:
        raise NotFoundError("key", key_id)
    *fields, secret_hash = rows[0]
    info = KeyInfo(*fields)
    if info.revoked_at is not None:
        raise ConflictError(f"key {key_id} was already revoked at {info.revoked_at}")
    revoked = KeyInfo(**{**info.__dict__, "revoked_at": _naive(now)})
    row = {**revoked.__dict__, "secret_hash": secret_hash}
    store.replace_rows(
        API_KEYS, [tuple(row[c] for c in _COLUMNS)], f"key_id = '{key_id.replace(chr(39), '')}'"
    )
    return revoked


def authenticate(store: Store, key: str | None) -> Principal:
    """The principal of ``key``; AuthError (401) for a missing, malformed, unknown or revoked
    key — one message for all, so a caller cannot probe which key ids exist."""
    bad = AuthError("missing or invalid API key (send it as `Authorization: Bearer <key>`)")
    if not key or not key.startswith(_PREFIX):
        raise bad
    # the secret (URL-safe base64) may itself hold "_": the key id has a fixed length
    rest = key[len(_PREFIX) :]
    key_id, sep, secret_part = rest[:15], rest[15:16], rest[16:]
    if sep != "_" or not key_id.startswith("tk_") or not secret_part:
        raise bad
    rows = store.query(
        "SELECT secret_hash, role, merchant_id, revoked_at FROM api_keys WHERE key_id = ?",
        (key_id,),
    )
    if not rows:
        raise bad
    secret_hash, role, merchant_id, revoked_at = rows[0]
    if not hmac.compare_digest(secret_hash, _digest(secret_part)) or revoked_at is not None:
        raise bad
    return Principal(key_id=key_id, role=role, merchant_id=merchant_id)
