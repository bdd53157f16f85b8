"""Daily partial aggregates: merchant × local day × metric → (numerator, denominator).

Every record counts on the local day its outcome became known (its *anchor*: a pickup, a
ship deadline, a review...), so a day's partials depend on that day's records only. A window
is then a sum of days, and a new day costs one day of data.

Example (any Ibis backend; here the store's)::

    expr = daily_partials(tables, CatalogConfig(), start=date(2024, 6, 1), end=date(2024, 6, 30))
    expr.to_pyarrow()  # metric_id, merchant_id, day, num, den
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import ibis

from tiyan.domain.metrics import CatalogConfig
from tiyan.metrics.catalog import METRICS, Metric, Stream, get_metric
from tiyan.metrics.facts import Facts

#: Columns of a partials relation, in order.
PARTIAL_COLUMNS = ("metric_id", "merchant_id", "day", "num", "den")


def utc_bounds(start: date, end: date, config: CatalogConfig) -> tuple[datetime, datetime]:
    """The UTC instants [lo, hi) covering local days ``start``..``end`` (inclusive)."""
    offset = timedelta(minutes=config.utc_offset_minutes)
    lo = datetime.combine(start, time()) - offset
    hi = datetime.combine(end + timedelta(days=1), time()) - offset
    return lo, hi


def select_metrics(ids: Iterable[str] | None) -> list[Metric]:
    return list(METRICS) if ids is None else [get_metric(i) for i in ids]


def daily_partials(
    tables: Mapping[str, Any],
    config: CatalogConfig,
    *,
    start: date,
    end: date,
    metrics: Iterable[str] | None = None,
    restrict: bool = True,
    by: Any | None = None,
) -> Any:
    """The partials of local days ``start``..``end`` (inclusive) as one Ibis expression.

    ``tables`` maps canonical table names to Ibis tables of one backend. Rows with a zero
    numerator and denominator are kept (a merchant that had orders but no defect has a
    partial of 0 / n; a day without records has no row at all).

    With ``restrict`` (the default) the facts are first narrowed to the records that can
    count from ``start`` on (see :mod:`tiyan.metrics.facts`), so a few recent days cost a
    few days of data; ``restrict=False`` reads all history (the same rows, a check).

    ``by`` slices the same sums by an order attribute instead of by merchant: an Ibis table
    of the same backend with columns ``order_id`` and ``key`` (an order's carrier, channel
    or region, say). The result then has a ``key`` column in place of ``merchant_id``
    (null for records whose order has no key). Only metrics whose records all belong to an
    order can be sliced so; another raises ``ValueError``.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    lo, hi = utc_bounds(start, end, config)
    facts = Facts(tables, config, since=lo if restrict else None)
    lo_lit, hi_lit = ibis.literal(lo), ibis.literal(hi)
    chosen = select_metrics(metrics)
    # Streams over the same relation and anchor (the paid orders behind ten metrics, the
    # picked-up orders behind four) are summed in one aggregation with a column pair each.
    scans: dict[tuple[Any, Any, Any], list[tuple[str, Stream]]] = {}
    for metric in chosen:
        for s in metric.build(facts):
            scans.setdefault(s.scan, []).append((metric.id, s))
    parts: dict[str, list[Any]] = {}
    for members in scans.values():
        first = members[0][1]
        columns = {"merchant_id": first.merchant.cast("string"), "at": first.at}
        if by is not None:
            if "order_id" not in first.rel.columns:
                raise ValueError(
                    f"{', '.join(sorted({m for m, _ in members}))}: records without an order "
                    "cannot be sliced by an order attribute"
                )
            columns["merchant_id"] = first.rel.order_id.cast("string")
        for j, (_mid, s) in enumerate(members):
            columns[f"n{j}"] = s.num.cast("float64")
            columns[f"d{j}"] = s.den.cast("float64")
        rel = first.rel.select(**columns)
        rel = rel.filter(rel.at >= lo_lit, rel.at < hi_lit)
        if by is not None:  # the group is the order's key (merchant_id holds the order here)
            keyed = rel.left_join(by, rel.merchant_id == by.order_id)
            rel = keyed.select(*(c for c in columns if c != "merchant_id"), merchant_id=by.key)
        sums = rel.group_by(merchant_id=rel.merchant_id, day=facts.local(rel.at).date()).aggregate(
            **{name: rel[name].sum() for name in columns if name not in ("merchant_id", "at")}
        )
        for j, (mid, _s) in enumerate(members):
            parts.setdefault(mid, []).append(
                sums.select("merchant_id", "day", num=sums[f"n{j}"], den=sums[f"d{j}"])
            )
    out = []
    for metric in chosen:
        own = parts[metric.id]
        if len(own) > 1:  # a numerator and a denominator from different records
            union = ibis.union(*own, distinct=False)
            own = [
                union.group_by(["merchant_id", "day"]).aggregate(
                    num=union.num.sum(), den=union.den.sum()
                )
            ]
        rel = own[0]
        out.append(
            rel.select(
                metric_id=ibis.literal(metric.id),
                **{"merchant_id" if by is None else "key": rel.merchant_id},
                day=rel.day,
                num=rel.num,
                den=rel.den,
            )
        )
    return ibis.union(*out, distinct=False) if len(out) > 1 else out[0]
