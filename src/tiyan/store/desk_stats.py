"""What the consumer-experience report reads of the platform service desk (SQL).

The desk's rates (breaches, resolution in time, callbacks, satisfaction) are catalog metrics
(:mod:`tiyan.metrics.catalog`) and come from their daily partials in ``metric_daily``; the
queries here count what is not a metric — requests by type, the liability split of the
resolutions — and slice the partials by day and by merchant.

Times are naive UTC; a period is given as the UTC instants ``[lo, hi)`` of its local days
(:func:`tiyan.metrics.daily.utc_bounds`).

Example::

    lo, hi = utc_bounds(period.start, period.end, config)
    requests_by_type(store, lo, hi)      # [("refund", 12), ("exchange", 3), ...]
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tiyan.store.base import Store

#: The liability judgements of a resolution, in the order a report lists them.
LIABILITIES = ("merchant", "consumer", "carrier", "platform", "none")


def has_desk_data(store: Store) -> bool:
    """Whether the store holds any service-desk request at all."""
    return bool(store.query("SELECT 1 FROM service_requests LIMIT 1"))


def requests_by_type(store: Store, lo: datetime, hi: datetime) -> list[tuple[str, int]]:
    """Requests opened in ``[lo, hi)`` per request type, most first (then by type id)."""
    rows = store.query(
        "SELECT type_id, count(*) AS n FROM service_requests "
        "WHERE created_at >= ? AND created_at < ? GROUP BY type_id ORDER BY n DESC, type_id",
        (lo, hi),
    )
    return [(str(t), int(n)) for t, n in rows]


def liability_split(store: Store, lo: datetime, hi: datetime) -> dict[str, int]:
    """Requests whose last resolution was decided in ``[lo, hi)``, per liability judgement
    (a reopened request counts once, by the judgement that stands)."""
    rows = store.query(
        "SELECT r.liability, count(*) FROM request_resolutions r "
        "JOIN (SELECT request_id, max(seq) AS seq FROM request_resolutions GROUP BY request_id)"
        " AS last ON last.request_id = r.request_id AND last.seq = r.seq "
        "WHERE r.decided_at >= ? AND r.decided_at < ? GROUP BY r.liability",
        (lo, hi),
    )
    return {str(liability): int(n) for liability, n in rows}


def daily_sums(
    store: Store, metric_id: str, start: date, end: date
) -> list[tuple[date, float, float]]:
    """Σ numerator and Σ denominator of ``metric_id`` per local day ``start``..``end``, all
    merchants, days with records only."""
    rows = store.query(
        "SELECT day, sum(num), sum(den) FROM metric_daily "
        "WHERE metric_id = ? AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
        (metric_id, start, end),
    )
    return [(d, float(n), float(den)) for d, n, den in rows]


def merchant_sums(
    store: Store, metric_id: str, start: date, end: date, *, min_den: float, limit: int
) -> list[tuple[str, str | None, float, float]]:
    """The ``limit`` merchants with the highest ``metric_id`` (Σ num ÷ Σ den over local days
    ``start``..``end``) among those with a denominator of at least ``min_den``, ties broken
    by the larger numerator, then the merchant id: merchant id, name, Σ num, Σ den."""
    rows = store.query(
        "SELECT s.merchant_id, m.name, s.num, s.den FROM ("
        "SELECT merchant_id, sum(num) AS num, sum(den) AS den FROM metric_daily "
        "WHERE metric_id = ? AND day BETWEEN ? AND ? GROUP BY merchant_id) AS s "
        "LEFT JOIN merchants m ON m.merchant_id = s.merchant_id "
        "WHERE s.den >= ? AND s.den > 0 "
        "ORDER BY s.num / s.den DESC, s.num DESC, s.merchant_id LIMIT ?",
        (metric_id, start, end, min_den, limit),
    )
    return [(str(mid), None if name is None else str(name), float(n), float(d))
            for mid, name, n, d in rows]  # fmt: skip


def sla_by_type(store: Store, lo: datetime, hi: datetime) -> list[tuple[Any, ...]]:
    """Per request type, of the requests opened in ``[lo, hi)``: (type, requests, merchant
    clocks decided, breached, resolved, resolved in time, mean minutes to the platform's
    first response) — the SLA report of ``tiyan desk sla``."""
    return store.query(
        "SELECT type_id, count(*), count(merchant_breached), "
        "count(*) FILTER (WHERE merchant_breached), count(resolved_at), "
        "count(*) FILTER (WHERE resolved_in_time), "
        "avg(EXTRACT(EPOCH FROM (first_platform_at - platform_since)) / 60.0) "
        "FROM service_requests WHERE created_at >= ? AND created_at < ? "
        "GROUP BY type_id ORDER BY count(*) DESC, type_id",
        (lo, hi),
    )
