"""The platform whose data a store holds: its time zone and its currency.

A mapping names them (``timezone: America/Sao_Paulo``, ``currency: BRL``); a load through it
records them in ``tiyan_meta`` (keys ``platform.timezone`` and ``platform.currency``, the
later load's replacing an earlier one's). From then on the store's local days follow that
zone — the metrics' daily partials, the detectors, the report's periods — and its amounts
are printed in that currency. A store that records neither is the default platform: the
policy's ``population.utc_offset`` (Asia/Shanghai, +08:00) and CNY (¥).

Days are bucketed at a **fixed offset** per store, the zone's standard offset (America/
Sao_Paulo: -03:00), not zone-aware: a metric's daily partial is one interval added to every
time in the engine (DuckDB, PostgreSQL and Spark compute it alike, and a day is always 24
hours), and the policy's windows are whole days of that one clock. Stored times are exact
UTC all the same (ingestion reads naive times in the zone, summer time included), so every
duration is exact; only the day a record falls on can differ from the wall clock's, for the
records of the first local hour of a summer-time day (Sao Paulo until 2019: they count on
the day before). See docs/mappings.md.

Example::

    >>> Platform("America/Sao_Paulo", "BRL").utc_offset
    '-03:00'
    >>> Platform("America/Sao_Paulo", "BRL").money(1234.5)
    'R$1,234.50'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tiyan.domain.model import SYSTEM_TABLES, Table
from tiyan.store.base import Store

if TYPE_CHECKING:  # the ingest path records the platform without loading the policy code
    from tiyan.policy.schema import Policy

#: tiyan_meta keys.
TIMEZONE_KEY = "platform.timezone"
CURRENCY_KEY = "platform.currency"

DEFAULT_CURRENCY = "CNY"

#: How amounts are written, by ISO 4217 code; any other code is written before the amount.
CURRENCY_SYMBOLS = {
    "CNY": "¥",
    "BRL": "R$",
    "USD": "US$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "JP¥",
    "MXN": "MX$",
    "INR": "₹",
    "KRW": "₩",
    "IDR": "Rp",
}

#: The days the standard offset is read on (one in each half of the year, so that summer
#: time north or south of the equator is seen; a fixed year keeps the core clock-free).
_PROBES = (datetime(2024, 1, 15, 12), datetime(2024, 7, 15, 12))

META: Table = SYSTEM_TABLES["tiyan_meta"]


@dataclass(frozen=True)
class Platform:
    """The store's time zone (None: the policy's offset decides) and currency."""

    timezone: str | None = None
    currency: str = DEFAULT_CURRENCY

    @property
    def utc_offset(self) -> str | None:
        """The zone's standard offset as ``±HH:MM`` (the smaller of its winter and summer
        offsets), or None without a zone."""
        if self.timezone is None:
            return None
        zone = ZoneInfo(self.timezone)
        offsets = [zone.utcoffset(probe) for probe in _PROBES]
        minutes = min(int(o.total_seconds()) // 60 for o in offsets if o is not None)
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    @property
    def symbol(self) -> str:
        """``R$`` for BRL, ``¥`` for CNY; the code itself for a currency without a symbol."""
        return CURRENCY_SYMBOLS.get(self.currency, self.currency + " ")

    def money(self, amount: float | str | Decimal | None) -> str:
        """``amount`` written in the platform's currency (``R$1,234.50``); ``—`` for None."""
        if amount is None:
            return "—"
        return f"{self.symbol}{float(amount):,.2f}"

    def policy(self, policy: Policy) -> Policy:
        """``policy`` with its local days at the store's zone (itself without a zone)."""
        offset = self.utc_offset
        if offset is None or offset == policy.population.utc_offset:
            return policy
        population = policy.population.model_copy(update={"utc_offset": offset})
        return policy.model_copy(update={"population": population})


def platform_of(store: Store) -> Platform:
    """The platform recorded in ``store`` (the default platform when none is)."""
    rows = store.query(
        "SELECT key, value FROM tiyan_meta WHERE key IN (?, ?)", (TIMEZONE_KEY, CURRENCY_KEY)
    )
    meta = {str(k): str(v) for k, v in rows}
    return Platform(
        timezone=meta.get(TIMEZONE_KEY), currency=meta.get(CURRENCY_KEY, DEFAULT_CURRENCY)
    )


def store_policy(store: Store, policy: Policy) -> Policy:
    """``policy`` as it applies to ``store``: local days at the store's zone, if it records
    one (a mapping's ``timezone``), else at the policy's own ``utc_offset``."""
    return platform_of(store).policy(policy)


def platform_rows(timezone: str | None, currency: str | None) -> list[tuple[str, str]]:
    """The ``tiyan_meta`` rows a load records for a mapping's zone and currency."""
    rows = []
    if timezone is not None:
        rows.append((TIMEZONE_KEY, timezone))
    if currency is not None:
        rows.append((CURRENCY_KEY, currency))
    return rows
