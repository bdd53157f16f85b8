"""What the routes share: the store (one connection per worker, used by one request at a
time), the policy in force, the rate limiter, the metrics and the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from tiyan.policy.files import load_policy
from tiyan.policy.schema import Policy
from tiyan.service.limits import RateLimiter
from tiyan.service.settings import Settings
from tiyan.service.telemetry import Metrics
from tiyan.store import Store, open_store


def utc_now() -> datetime:
    return datetime.now(UTC)


class AppState:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self._store: Store | None = None
        # A DuckDB connection (and a psycopg one) serves one statement at a time: requests
        # of a worker take turns; PostgreSQL deployments scale out with --workers.
        self._lock = threading.Lock()
        self._policies: dict[date, Policy] = {}
        # Fail at start, not on the first request, when the policy does not validate.
        self.policy()

    def open(self) -> None:
        if self._store is None:
            self._store = open_store(self.settings.db)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The store, for this request alone while the block runs."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings.db)
            yield self._store

    def policy(self, day: date | None = None) -> Policy:
        """The policy version in force on ``day`` (default: today, UTC), parsed once."""
        day = day or self.clock().date()
        if day not in self._policies:
            self._policies[day] = load_policy(self.settings.policy, as_of=day)
        return self._policies[day]
