"""What scoring reads (each merchant's window sums) and writes (its ``scores`` rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.scoring.score import MerchantMetrics
from tiyan.store.base import Store


def load_merchant_metrics(store: Store, *, as_of: date, window: int) -> list[MerchantMetrics]:
    """Every merchant with its window sums from ``metric_values`` (merchant scope)."""
    sums: dict[str, dict[str, tuple[float, float]]] = {}
    for merchant_id, metric_id, num, den in store.query(
        "SELECT subject_id, metric_id, numerator, denominator FROM metric_values "
        "WHERE as_of = ? AND window_days = ? AND scope = 'merchant'",
        (as_of, window),
    ):
        sums.setdefault(merchant_id, {})[metric_id] = (float(num), float(den))
    out = []
    for merchant_id, category, store_type in store.query(
        "SELECT merchant_id, category, store_type FROM merchants"
    ):
        own = sums.get(merchant_id, {})
        valid = int(own.get("valid_orders", (0.0, 0.0))[0])
        out.append(MerchantMetrics(merchant_id, category, store_type, valid, own))
    return out


def write_scores(
    store: Store, rows: Sequence[tuple[Any, ...]], *, as_of: date, window: int
) -> None:
    """Replace the scores of ``as_of`` and ``window`` by ``rows`` (in the table's column
    order), in one transaction."""
    store.replace_rows(
        GOVERNANCE_TABLES["scores"], rows, f"as_of = DATE '{as_of}' AND window_days = {window}"
    )
