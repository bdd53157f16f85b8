"""API keys: created once, stored hashed, checked on every request, revocable.

A key reads ``tiyan_<key id>_<secret>``. The key id (``tk_`` and 12 hex digits) is public —
logs and the decision log name callers by it; the secret is 32 random bytes, of which only
the SHA-256 is stored. A salted slow hash (bcrypt, argon2) protects *low-entropy passwords*
against guessing; a 256-bit random secret cannot be guessed, so one SHA-256 is enough and
keeps authentication off the latency budget of a decision.

A console session is a random id (the cookie) mapped, in ``console_sessions``, to the key
that logged in; only its SHA-256 is stored. It ends at logout, at its expiry, and when its
key is revoked (the lookup joins ``api_keys``): the cookie is never the key itself.

Example::

    key = create_key(store, role="merchant", merchant_id="M000042", now=now)
    principal = authenticate(store, key.secret)   # Principal(key_id=..., role="merchant", ...)
    session = open_session(store, principal, now=now, seconds=12 * 3600)
    session_principal(store, session, now=now)    # the same principal
    revoke_key(store, key.key_id, now=now)        # the key and its sessions end
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tiyan.domain.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    UnknownNameError,
    UsageError,
)
from tiyan.store import keys as stored
from tiyan.store.base import Store

ROLES = ("operator", "merchant", "service", "agent")
_PREFIX = "tiyan_"


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
        raise UnknownNameError("role", role, ROLES)
    if role == "merchant":
        if not merchant_id:
            raise UsageError("a merchant key needs --merchant")
        if not stored.merchant_exists(store, merchant_id):
            raise NotFoundError("merchant", merchant_id)
    elif merchant_id:
        raise UsageError(f"only merchant keys name a merchant (role {role!r} does not)")
    key_id = "tk_" + secrets.token_hex(6)
    secret_part = secrets.token_urlsafe(32)
    info = KeyInfo(key_id, role, merchant_id, label, _naive(now), None)
    stored.insert_key(store, {**info.__dict__, "secret_hash": _digest(secret_part)})
    return NewKey(info=info, secret=f"{_PREFIX}{key_id}_{secret_part}")


def list_keys(store: Store) -> list[KeyInfo]:
    return [KeyInfo(*r) for r in stored.key_rows(store)]


def revoke_key(store: Store, key_id: str, *, now: datetime) -> KeyInfo:
    """Mark ``key_id`` revoked from ``now`` on (kept in the table, never deleted); its
    console sessions end with it."""
    if stored.key_row(store, key_id) is None:
        raise NotFoundError("key", key_id)
    if not stored.mark_revoked(store, key_id, _naive(now)):
        row = stored.key_row(store, key_id)
        raise ConflictError(f"key {key_id} was already revoked at {row[5] if row else '?'}")
    row = stored.key_row(store, key_id)
    assert row is not None
    return KeyInfo(*row)


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
    found = stored.key_for_check(store, key_id)
    if found is None:
        raise bad
    secret_hash, role, merchant_id, revoked_at = found
    if not hmac.compare_digest(secret_hash, _digest(secret_part)) or revoked_at is not None:
        raise bad
    return Principal(key_id=key_id, role=role, merchant_id=merchant_id)


def open_session(store: Store, principal: Principal, *, now: datetime, seconds: int) -> str:
    """A new console session of ``principal``'s key, valid ``seconds`` at most: its id (the
    cookie's value; 32 random bytes, only the SHA-256 is stored)."""
    session_id = secrets.token_urlsafe(32)
    start = _naive(now)
    stored.insert_session(store, _digest(session_id), principal.key_id, start,
                          start + timedelta(seconds=seconds))  # fmt: skip
    return session_id


def session_principal(store: Store, session_id: str | None, *, now: datetime) -> Principal:
    """The principal of an open session; AuthError (401) when there is no such session, or
    it was ended by logout, expired, or its key was revoked."""
    found = stored.session_key(store, _digest(session_id), _naive(now)) if session_id else None
    if found is None:
        raise AuthError("the console session ended (logged out, expired or key revoked)")
    key_id, role, merchant_id = found
    return Principal(key_id=key_id, role=role, merchant_id=merchant_id)


def end_session(store: Store, session_id: str, *, now: datetime) -> None:
    """End a console session (logout); ending one already ended changes nothing."""
    stored.end_session(store, _digest(session_id), _naive(now))
