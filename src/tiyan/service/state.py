"""What the routes share: the store (a connection for writes, taken in turns, and one per
thread for reads), the policy in force, the rate limiter, the metrics and the clock."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tiyan.domain.model import DECISIONS
from tiyan.policy.files import load_policy
from tiyan.policy.schema import Policy
from tiyan.service.control import remove_control, write_control
from tiyan.service.keys import (
    KeyInfo,
    Principal,
    authenticate,
    end_session,
    open_session,
    revoke_key,
    session_principal,
)
from tiyan.service.limits import RateLimiter
from tiyan.service.settings import Settings
from tiyan.service.telemetry import Metrics
from tiyan.store import Store, open_store

log = logging.getLogger("tiyan.service")


def utc_now() -> datetime:
    return datetime.now(UTC)


class DecisionLog:
    """Group commit for the decision log: decisions are queued and written together, every
    ``interval`` seconds and when the app stops, in one transaction (a commit costs ~5 ms
    of fsync on DuckDB: one per decision would bound a worker to ~200 decisions a second).
    A crash loses at most the last interval of the *log*; the answers were already given."""

    def __init__(self, state: AppState, interval: float) -> None:
        self.state = state
        self.interval = interval
        self._rows: list[list[Any]] = []
        self._guard = threading.Lock()
        # One flush at a time: a flush that finds the queue empty because another one has
        # just taken its rows must still wait for them to be written (read-your-writes).
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def append(self, row: list[Any]) -> None:
        with self._guard:
            self._rows.append(row)

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        """Write the queued rows; when it returns, every row queued before it was called is
        in the store (or, after a failed write, back in the queue)."""
        with self._flushing:
            with self._guard:
                rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                with self.state.store() as store:
                    store.replace_rows(DECISIONS, [tuple(r) for r in rows], "1 = 0")
            except Exception:  # the flusher thread must outlive a failed write: retry later
                log.exception("decision log: %d rows not written, kept for the next flush",
                              len(rows))  # fmt: skip
                with self._guard:
                    self._rows[:0] = rows

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()


#: The principal of the ``tiyan keys`` CLI on this machine, calling with the control token
#: (:mod:`tiyan.service.control`): it may manage keys, nothing else.
LOCAL_ADMIN = Principal(key_id="local-cli", role="admin")


class AppState:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        *,
        control_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.control_url = control_url
        #: the secret the local CLI presents to revoke keys while this server holds the
        #: store (None: no such channel; PostgreSQL needs none)
        self.control_token = secrets.token_urlsafe(32) if control_url else None
        self._control: Path | None = None
        self.metrics = Metrics()
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self._store: Store | None = None
        # Writes (events, appeals, the decision log) take turns on the store's connection;
        # reads use one connection per thread (`reading`). PostgreSQL deployments also
        # scale out with --workers.
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[Store] = []
        self._policies: dict[date, Policy] = {}
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._sessions: dict[str, tuple[float, Principal]] = {}
        self.decision_log = DecisionLog(self, settings.decision_log_flush_ms / 1000)
        # Fail at start, not on the first request, when the policy does not validate.
        self.policy()

    def open(self) -> None:
        with self._lock:
            self.open_unlocked()
        self.decision_log.start()
        if self.control_url and self.control_token:  # the store is ours now: say where we are
            self._control = write_control(self.settings.db, url=self.control_url,
                                          token=self.control_token)  # fmt: skip

    def open_unlocked(self) -> None:
        if self._store is None:
            self._store = open_store(self.settings.db)
            # the decisions and the key checks look rows up one by one
            start = time.monotonic()
            created = self._store.ensure_lookup_indexes()
            if created:  # the first start on a store: say why it took a while
                log.info(
                    "created lookup indexes",
                    extra={"fields": {"indexes": len(created),
                                      "seconds": round(time.monotonic() - start, 1)}},
                )  # fmt: skip

    @property
    def log_writer(self) -> Callable[[list[Any]], None] | None:
        """Where the routes send decision-log rows (None: written with each decision)."""
        return self.decision_log.append if self.decision_log.interval > 0 else None

    def close(self) -> None:
        if self._control is not None and self.control_token:
            remove_control(self._control, self.control_token)
            self._control = None
        self.decision_log.stop()
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._local = threading.local()
            if self._store is not None:
                self._store.close()
                self._store = None

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """A store for a request that only reads (and queues decision-log rows): each thread
        has its own connection, so reads run side by side and wait for no write."""
        reader: Store | None = getattr(self._local, "reader", None)
        if reader is None:
            with self._lock:
                if self._store is None:
                    self.open_unlocked()
                assert self._store is not None
                reader = self._store.reader()
                self._readers.append(reader)
            self._local.reader = reader
        yield reader

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The store, for this request alone while the block runs."""
        with self._lock:
            if self._store is None:
                self.open_unlocked()
            assert self._store is not None
            yield self._store

    def cached_principal(self, key: str | None) -> Principal | None:
        """The key's principal if it was checked less than ``auth_cache_seconds`` ago."""
        if key is None or self.settings.auth_cache_seconds <= 0:
            return None
        hit = self._principals.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.settings.auth_cache_seconds:
            return hit[1]
        return None

    def authenticate(self, key: str | None) -> Principal:
        """The key's principal, looked up at most every ``auth_cache_seconds`` (a hit is a
        dict lookup; the lookup is a query)."""
        ttl = self.settings.auth_cache_seconds
        now = time.monotonic()
        cached = self.cached_principal(key)
        if cached is not None:
            return cached
        with self.reading() as store:
            principal = authenticate(store, key)
        if key is not None and ttl > 0:
            if len(self._principals) > 10_000:  # bounded: forget everything, re-check
                self._principals.clear()
            self._principals[key] = (now, principal)
        return principal

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key in the store and forget it here at once (not after
        ``auth_cache_seconds``): requests and console sessions with it are refused from the
        next one on. Other workers forget it within ``auth_cache_seconds``."""
        with self.store() as store:
            info = revoke_key(store, key_id, now=self.clock())
        self.forget(key_id)
        return info

    def forget(self, key_id: str) -> None:
        """Drop the cached checks of ``key_id``'s key and of its console sessions."""
        for cache in (self._principals, self._sessions):
            for secret, (_, principal) in list(cache.items()):
                if principal.key_id == key_id:
                    cache.pop(secret, None)

    def open_session(self, principal: Principal, seconds: int) -> str:
        """A new console session for ``principal`` (its id, the cookie's value)."""
        with self.store() as store:
            return open_session(store, principal, now=self.clock(), seconds=seconds)

    def session(self, session_id: str | None) -> Principal:
        """The principal of a console session, looked up at most every
        ``auth_cache_seconds`` (AuthError when it ended)."""
        ttl = self.settings.auth_cache_seconds
        hit = self._sessions.get(session_id) if session_id and ttl > 0 else None
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        with self.reading() as store:
            principal = session_principal(store, session_id, now=self.clock())
        if session_id and ttl > 0:
            if len(self._sessions) > 10_000:  # bounded: forget everything, re-check
                self._sessions.clear()
            self._sessions[session_id] = (time.monotonic(), principal)
        return principal

    def end_session(self, session_id: str) -> None:
        """Logout: the session ends in the store and here (every worker refuses it within
        ``auth_cache_seconds``; this one at once)."""
        self._sessions.pop(session_id, None)
        with self.store() as store:
            end_session(store, session_id, now=self.clock())

    def policy(self, day: date | None = None) -> Policy:
        """The policy version in force on ``day`` (default: today, UTC), parsed once."""
        day = day or self.clock().date()
        if day not in self._policies:
            self._policies[day] = load_policy(self.settings.policy, as_of=day)
        return self._policies[day]
