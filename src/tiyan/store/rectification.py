"""Rectification: for each penalised merchant, the metric its penalty targets, before and
after — the raw material of the report's impact analysis.

A penalty (a ladder node in force, not lifted on appeal) targets the metric of the rule that
gave the merchant most of that ledger's points that year up to the penalty. Its value over
the ``days`` before the penalty day and the ``days`` after it (from ``metric_daily``, the same
sums as every window) is written to ``rectification``; the "after" side stays empty until
its days have all passed. The table is derived data: each run rewrites it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.rules import TARGET_METRIC
from tiyan.store.base import Store

RECTIFICATION = GOVERNANCE_TABLES["rectification"]


class _Daily:
    """The daily partials of the penalised merchants' targeted metrics, fetched once."""

    def __init__(self, store: Store, keys: set[tuple[str, str]], first: date, last: date):
        self.sums: dict[tuple[str, str], list[tuple[date, float, float]]] = defaultdict(list)
        merchants = sorted({m for m, _ in keys})
        for start in range(0, len(merchants), 1000):
            chunk = merchants[start : start + 1000]
            marks = ", ".join("?" for _ in chunk)
            for merchant_id, metric_id, day, num, den in store.query(
                "SELECT merchant_id, metric_id, day, num, den FROM metric_daily WHERE "
                f"merchant_id IN ({marks}) AND day BETWEEN ? AND ?",
                (*chunk, first, last),
            ):
                if (merchant_id, metric_id) in keys:
                    self.sums[(merchant_id, metric_id)].append((day, num, den))

    def value(self, merchant_id: str, metric_id: str, first: date, last: date) -> Any:
        rows = [(n, d) for day, n, d in self.sums[(merchant_id, metric_id)] if first <= day <= last]
        return DEFINITIONS[metric_id].value(sum(n for n, _ in rows), sum(d for _, d in rows))


def lifted_penalties(store: Store) -> set[str]:
    """The ids of the penalty actions lifted on appeal (a reversal names the action)."""
    return {
        r[0][len("reversal:") :]
        for r in store.query("SELECT action_id FROM actions WHERE kind = 'reversal'")
    }


def attributed_penalties(store: Store, *, as_of: date) -> list[tuple[str, str, date, str, str]]:
    """(merchant, ledger, day, penalty id, rule) of every penalty in force by ``as_of`` (not
    lifted on appeal) whose ledger's points that year up to the penalty came mostly from a
    rule with a targeted metric; one per merchant, ledger and day (a node's several measures
    are one event), in that order."""
    lifted = lifted_penalties(store)
    events: dict[tuple[str, str, date], str] = {}
    for action_id, merchant_id, ledger, day in store.query(
        "SELECT action_id, merchant_id, ledger, day FROM actions WHERE kind = 'penalty' "
        "AND day <= ? ORDER BY action_id",
        (as_of,),
    ):
        if action_id not in lifted:
            events.setdefault((merchant_id, ledger, day), action_id)
    out = []
    for (merchant_id, ledger, day), action_id in sorted(events.items()):
        ranked = store.query(
            "SELECT rule_id, sum(points) FROM actions WHERE merchant_id = ? AND ledger = ? "
            "AND kind IN ('points', 'reversal') AND points IS NOT NULL AND rule_id IS NOT NULL "
            "AND day <= ? AND EXTRACT(YEAR FROM day) = ? GROUP BY 1 ORDER BY 2 DESC, 1",
            (merchant_id, ledger, day, day.year),
        )
        if ranked and ranked[0][0] in TARGET_METRIC:
            out.append((merchant_id, ledger, day, action_id, ranked[0][0]))
    return out


def record_rectification(store: Store, *, as_of: date, days: int = 30) -> list[dict[str, Any]]:
    """Rewrite ``rectification`` as of ``as_of`` (module docstring); returns its rows."""
    targets = [
        (merchant_id, ledger, day, action_id, rule_id, TARGET_METRIC[rule_id])
        for merchant_id, ledger, day, action_id, rule_id in attributed_penalties(store, as_of=as_of)
    ]
    if not targets:
        store.replace_rows(RECTIFICATION, [], "1 = 1")
        return []
    span = timedelta(days=days)
    first, last = min(t[2] for t in targets) - span, max(t[2] for t in targets) + span
    daily = _Daily(store, {(t[0], t[5]) for t in targets}, first, last)
    rows = []
    for merchant_id, ledger, day, action_id, rule_id, metric_id in targets:
        complete = day + span < as_of
        rows.append(
            {
                "penalty_id": action_id,
                "merchant_id": merchant_id,
                "ledger": ledger,
                "rule_id": rule_id,
                "metric_id": metric_id,
                "penalty_day": day,
                "days": days,
                "before": daily.value(merchant_id, metric_id, day - span, day - timedelta(days=1)),
                "after": daily.value(merchant_id, metric_id, day + timedelta(days=1), day + span)
                if complete else None,
                "measured_as_of": as_of,
            }
        )  # fmt: skip
    columns = [c.name for c in RECTIFICATION.columns]
    store.replace_rows(RECTIFICATION, [tuple(r[c] for c in columns) for r in rows], "1 = 1")
    return rows
