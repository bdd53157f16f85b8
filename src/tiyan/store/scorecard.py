"""A merchant's scorecard as stored: the latest (or a given day's) score row, explained.

The CLI's ``tiyan merchant`` and the API's ``GET /v1/merchants/{id}/scorecard`` both read it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tiyan.store.base import Store
from tiyan.store.platform import platform_of

_COLUMNS = (
    "as_of", "window_days", "category", "status", "valid_orders", "score", "product",
    "logistics", "service", "display_score", "level", "provisional_score", "policy_version",
    "explanation",
)  # fmt: skip


def scorecard(
    store: Store, merchant_id: str, *, as_of: date | None = None, window: int | None = None
) -> dict[str, Any] | None:
    """The merchant's score row (newest first; ``as_of`` and ``window`` narrow it), with the
    explanation parsed, and the store's ``currency`` and ``timezone``; None when the merchant
    has no score."""
    where = "merchant_id = ?"
    params: list[Any] = [merchant_id]
    if as_of is not None:
        where += " AND as_of = ?"
        params.append(as_of)
    if window is not None:
        where += " AND window_days = ?"
        params.append(window)
    rows = store.query(
        f"SELECT {', '.join(_COLUMNS)} FROM scores WHERE {where} "
        "ORDER BY as_of DESC, window_days DESC LIMIT 1",
        params,
    )
    if not rows:
        return None
    card = dict(zip(_COLUMNS, rows[0], strict=True))
    card["merchant_id"] = merchant_id
    card["explanation"] = json.loads(card["explanation"]) if card["explanation"] else None
    # Orders whose records are incomplete are left out of the rates and never punished
    # (docs/metrics.md): counted apart, so a broken feed shows instead of hiding.
    count = store.query(
        "SELECT numerator FROM metric_values WHERE scope = 'merchant' AND subject_id = ? "
        "AND as_of = ? AND window_days = ? AND metric_id = 'evidence_incomplete_orders'",
        (merchant_id, card["as_of"], card["window_days"]),
    )
    card["evidence_incomplete_orders"] = int(count[0][0]) if count else 0
    # The platform's currency (amounts) and time zone (as_of and windows are its local days).
    platform = platform_of(store)
    card["currency"] = platform.currency
    card["timezone"] = platform.timezone
    return card


def merchant_metrics(
    store: Store, merchant_id: str, *, as_of: date, window: int
) -> list[dict[str, Any]]:
    """The merchant's metric values of one window beside its category's and the platform's."""
    rows = store.query(
        "SELECT m.metric_id, m.numerator, m.denominator, m.value, c.value, p.value "
        "FROM metric_values m JOIN merchants s ON s.merchant_id = m.subject_id "
        "LEFT JOIN metric_values c ON c.as_of = m.as_of AND c.window_days = m.window_days "
        "AND c.metric_id = m.metric_id AND c.scope = 'category' AND c.subject_id = s.category "
        "LEFT JOIN metric_values p ON p.as_of = m.as_of AND p.window_days = m.window_days "
        "AND p.metric_id = m.metric_id AND p.scope = 'platform' "
        "WHERE m.scope = 'merchant' AND m.subject_id = ? AND m.as_of = ? AND m.window_days = ? "
        "ORDER BY m.metric_id",
        (merchant_id, as_of, window),
    )
    keys = ("metric_id", "numerator", "denominator", "value", "category_value", "platform_value")
    return [dict(zip(keys, r, strict=True)) for r in rows]
