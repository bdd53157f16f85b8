"""The numbers of the consumer-experience report, read from the store.

Every platform figure is a sum of the same daily partials the scores use (``metric_daily``,
one numerator and denominator per metric, merchant and local day): a KPI over a period is
Σ numerator ÷ Σ denominator over the period's days and all merchants, so a 30-day period
ending the day before a scoring run gives exactly that run's platform value in
``metric_values``. Breakdowns by category join the partials to the merchants; breakdowns by
channel, carrier and region slice the same metric definitions by an order attribute
(:func:`tiyan.metrics.daily.daily_partials` with ``by``). Governance figures count the
``violations``, ``actions`` and ``appeals`` tables on the local days of the period.

Example::

    period = parse_period("2024-07")
    kpis = headline(store, period, period.previous(), config)
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ibis import _

from tiyan.domain.errors import UsageError
from tiyan.domain.metrics import CatalogConfig, Direction, Unit
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.daily import daily_partials, utc_bounds
from tiyan.metrics.facts import Facts, seconds_between
from tiyan.metrics.runner import measured_metrics, store_tables
from tiyan.policy.schema import LEVELS
from tiyan.store.base import Store

# -- periods ---------------------------------------------------------------------------------

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Period:
    """Local days ``start``..``end`` (inclusive), named as the user wrote them."""

    label: str
    start: date
    end: date
    kind: str  # year, quarter, month or range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period before: the year, quarter or month before, or as many days before."""
        if self.kind == "year":
            return parse_period(str(self.start.year - 1))
        if self.kind == "quarter":
            q = (self.start.month - 1) // 3 + 1
            year, q = (self.start.year, q - 1) if q > 1 else (self.start.year - 1, 4)
            return parse_period(f"{year}-Q{q}")
        if self.kind == "month":
            last = self.start - timedelta(days=1)
            return parse_period(f"{last.year}-{last.month:02d}")
        end = self.start - timedelta(days=1)
        start = end - timedelta(days=self.days - 1)
        return Period(f"{start}..{end}", start, end, "range")


def parse_period(text: str) -> Period:
    """``2024`` (a year), ``2024-Q3``, ``2024-07`` or ``2024-05-01..2024-07-29``."""
    text = text.strip()
    if m := _YEAR.match(text):
        year = int(m[1])
        return Period(text, date(year, 1, 1), date(year, 12, 31), "year")
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        first = date(year, 3 * q - 2, 1)
        last_month = 3 * q
        end = date(year, last_month, calendar.monthrange(year, last_month)[1])
        return Period(f"{year}-Q{q}", first, end, "quarter")
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise UsageError(f"period {text!r}: month {month} is not 01-12")
        end = date(year, month, calendar.monthrange(year, month)[1])
        return Period(text, date(year, month, 1), end, "month")
    if m := _RANGE.match(text):
        try:
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        except ValueError as exc:
            raise UsageError(f"period {text!r}: {exc}") from None
        if end < start:
            raise UsageError(f"period {text!r}: it ends before it starts")
        return Period(text, start, end, "range")
    raise UsageError(
        f"period {text!r} is not a year (2024), a quarter (2024-Q3), a month (2024-07) "
        "or a range of days (2024-05-01..2024-07-29)"
    )


def data_days(store: Store) -> tuple[date, date] | None:
    """First and last day of ``metric_daily`` (None when no metrics were computed)."""
    first, last = store.query("SELECT min(day), max(day) FROM metric_daily")[0]
    return None if first is None else (first, last)


def choose_periods(
    store: Store, period: str | None, compare: str = "previous"
) -> tuple[Period, Period | None]:
    """The report's period (``None``: every day with data) and the one it is compared with:
    ``"previous"`` (the period before, or none when the store has no data before the
    period), ``"none"``, or a period in any form :func:`parse_period` takes."""
    span = data_days(store)
    if period is None:
        if span is None:
            raise UsageError("the store has no metrics yet: run `tiyan score --as-of DATE` first")
        chosen = parse_period(f"{span[0]}..{span[1]}")
    else:
        chosen = parse_period(period)
    if compare == "none":
        return chosen, None
    if compare != "previous":
        return chosen, parse_period(compare)
    before = chosen.previous()
    return chosen, (before if span is not None and before.end >= span[0] else None)


# -- headline KPIs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiDef:
    """One headline figure: a catalog metric, its complement, or a governance count."""

    id: str
    en: str
    zh: str
    unit: Unit
    #: Which way is better; None for counts that are neither (more fake shipments found can
    #: mean more misconduct or better detection).
    direction: Direction | None
    #: The catalog metric behind it (its value, or 1 - value when ``complement``).
    metric: str | None = None
    complement: bool = False


def _metric_kpi(metric_id: str) -> KpiDef:
    d = DEFINITIONS[metric_id]
    return KpiDef(metric_id, d.en, d.zh, d.unit, d.direction, metric=metric_id)


#: The report's headline figures, in the order shown.
HEADLINE: tuple[KpiDef, ...] = (
    _metric_kpi("pickup_48h_rate"),
    _metric_kpi("pay_to_pickup_hours"),
    _metric_kpi("in_stock_share"),
    _metric_kpi("ship_timeout_rate"),
    _metric_kpi("late_delivery_rate"),
    KpiDef("fake_shipments_found", "Fake shipments found", "查处虚假发货", Unit.COUNT, None),
    KpiDef(
        "consumers_compensated",
        "Consumers compensated",
        "获赔消费者",
        Unit.COUNT,
        None,
    ),
    # {currency}: the store's currency symbol (a mapping's currency; ¥ by default)
    KpiDef(
        "compensation_paid",
        "Compensation paid ({currency})",
        "赔付金额({currency})",
        Unit.COUNT,
        None,
    ),
    _metric_kpi("quality_return_rate"),
    _metric_kpi("negative_review_rate"),
    _metric_kpi("refund_only_hours"),
    _metric_kpi("return_refund_hours"),
    KpiDef(
        "cs_satisfaction",
        "After-sales service satisfaction (1 − CS dissatisfaction)",
        "售后服务满意度(1−客服不满意率)",
        Unit.SHARE,
        Direction.HIGHER,
        metric="cs_dissatisfaction_rate",
        complement=True,
    ),
    _metric_kpi("nps"),
    _metric_kpi("ccr"),
    _metric_kpi("cpo"),
    _metric_kpi("express_refund_share"),
    KpiDef(
        "express_refund_hours",
        "Express refund: request → refund",
        "极速退款时长",
        Unit.HOURS,
        Direction.LOWER,
    ),
    # orders left out of the rates and never punished for want of records (docs/metrics.md)
    _metric_kpi("evidence_incomplete_orders"),
)


@dataclass(frozen=True)
class Kpi:
    definition: KpiDef
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def relative(self) -> float | None:
        change = self.change
        if change is None or not self.previous:
            return None
        return change / abs(self.previous)

    @property
    def better(self) -> bool | None:
        """Whether the change is an improvement (None when unchanged or unknown)."""
        change = self.change
        if not change or self.definition.direction is None:
            return None
        return (change < 0) == (self.definition.direction is Direction.LOWER)


def metric_sums(
    store: Store, start: date, end: date, metric_ids: Iterable[str]
) -> dict[str, tuple[float, float]]:
    """Σ numerator and Σ denominator of each metric over local days ``start``..``end``, all
    merchants (records about no merchant included, as in the platform's values)."""
    ids = sorted(set(metric_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = store.query(
        "SELECT metric_id, sum(num), sum(den) FROM metric_daily "
        f"WHERE day BETWEEN ? AND ? AND metric_id IN ({marks}) GROUP BY metric_id",
        (start, end, *ids),
    )
    return {str(m): (float(n), float(d)) for m, n, d in rows}


def metric_value(
    metric_id: str, sums: dict[str, tuple[float, float]], complement: bool = False
) -> float | None:
    if metric_id not in sums:
        return None
    value = DEFINITIONS[metric_id].value(*sums[metric_id])
    return None if value is None else (1.0 - value if complement else value)


def _governance_counts(store: Store, period: Period) -> dict[str, float]:
    ((found,),) = store.query(
        "SELECT count(*) FROM violations WHERE rule_id = 'fake_shipment' AND day BETWEEN ? AND ?",
        (period.start, period.end),
    )
    ((paid, amount),) = store.query(
        "SELECT count(*), coalesce(sum(amount), 0) FROM actions WHERE kind = 'compensation' "
        "AND day BETWEEN ? AND ?",
        (period.start, period.end),
    )
    return {
        "fake_shipments_found": float(found),
        "consumers_compensated": float(paid),
        "compensation_paid": float(amount),
    }


def express_refund_hours(
    store: Store, period: Period, config: CatalogConfig, tables: dict[str, Any] | None = None
) -> float | None:
    """Mean hours from request to refund of the express refunds completed in the period
    (cases of the score's population, like every after-sales metric)."""
    tables = tables if tables is not None else store_tables(store)
    if "after_sales" not in tables:
        return None
    lo, hi = utc_bounds(period.start, period.end, config)
    c = Facts(tables, config).cases
    c = c.filter(
        _.in_population,
        _.express,
        _.resolution == "refunded",
        _.resolved_at >= lo,
        _.resolved_at < hi,
    )
    row = c.aggregate(n=c.count(), secs=seconds_between(c.requested_at, c.resolved_at).sum())
    n, secs = row.to_pyarrow().to_pylist()[0].values()
    return None if not n else float(secs) / n / 3600.0


def headline(
    store: Store, period: Period, compare: Period | None, config: CatalogConfig
) -> list[Kpi]:
    """The headline KPIs over ``period``, beside ``compare`` (None: no comparison)."""
    measured = set(measured_metrics(store, [k.metric for k in HEADLINE if k.metric]))
    tables = store_tables(store)

    def figures(p: Period) -> dict[str, float | None]:
        sums = metric_sums(store, p.start, p.end, measured)
        out: dict[str, float | None] = {
            k.id: metric_value(k.metric, sums, k.complement)
            for k in HEADLINE
            if k.metric is not None
        }
        out.update(_governance_counts(store, p))
        out["express_refund_hours"] = express_refund_hours(store, p, config, tables)
        return out

    now = figures(period)
    before = figures(compare) if compare is not None else {}
    return [Kpi(k, now.get(k.id), before.get(k.id)) for k in HEADLINE]


def volume(store: Store, period: Period) -> tuple[int, int]:
    """Valid orders in the period, and merchants with at least one."""
    ((orders, merchants),) = store.query(
        "SELECT coalesce(sum(den), 0), count(DISTINCT CASE WHEN den > 0 THEN merchant_id END) "
        "FROM metric_daily WHERE metric_id = 'valid_orders' AND day BETWEEN ? AND ?",
        (period.start, period.end),
    )
    return int(orders), int(merchants)


# -- the platform's scored values ------------------------------------------------------------


@dataclass(frozen=True)
class PlatformValues:
    """The platform's value of every catalog metric on the latest scoring day (its longest
    window, as stored in ``metric_values``), each beside the scoring day before's."""

    as_of: date
    window_days: int
    #: The scoring day before ``as_of`` (None: only one scoring day so far).
    previous_as_of: date | None
    #: One per metric, in the catalog's order; ``previous`` is the value of ``previous_as_of``.
    kpis: list[Kpi]


def latest_platform_values(store: Store) -> PlatformValues | None:
    """The platform's values of the latest scoring run (None before the first one).

    Example::

        latest = latest_platform_values(store)
        pickup = next(k for k in latest.kpis if k.definition.id == "pickup_48h_rate")
        pickup.value, pickup.previous, pickup.better
    """
    if "metric_values" not in store.existing_columns():
        return None
    ((window,),) = store.query(
        "SELECT max(window_days) FROM metric_values WHERE scope = 'platform'"
    )
    if window is None:
        return None
    days = [
        d
        for (d,) in store.query(
            "SELECT DISTINCT as_of FROM metric_values WHERE scope = 'platform' "
            "AND window_days = ? ORDER BY as_of DESC LIMIT 2",
            (window,),
        )
    ]
    values: dict[date, dict[str, float | None]] = {d: {} for d in days}
    for metric_id, as_of, value in store.query(
        "SELECT metric_id, as_of, value FROM metric_values WHERE scope = 'platform' "
        f"AND window_days = ? AND as_of IN ({', '.join('?' for day in days)})",
        (window, *days),
    ):
        values[as_of][str(metric_id)] = None if value is None else float(value)
    latest = values[days[0]]
    before = values[days[1]] if len(days) > 1 else {}
    # a metric no longer in the catalog has no definition to show it by: left out
    return PlatformValues(
        as_of=days[0],
        window_days=int(window),
        previous_as_of=days[1] if len(days) > 1 else None,
        kpis=[Kpi(_metric_kpi(m), latest[m], before.get(m)) for m in DEFINITIONS if m in latest],
    )


# -- trends ----------------------------------------------------------------------------------


def trend(
    store: Store, period: Period, metric_ids: Sequence[str]
) -> tuple[list[date], dict[str, list[float | None]]]:
    """Each metric per day (periods up to 92 days) or per ISO week (Monday's date) of the
    period: the buckets' first days, and one value per bucket and metric."""
    weekly = period.days > 92
    marks = ", ".join("?" for _ in metric_ids)
    rows = store.query(
        "SELECT metric_id, day, sum(num), sum(den) FROM metric_daily "
        f"WHERE day BETWEEN ? AND ? AND metric_id IN ({marks}) GROUP BY metric_id, day",
        (period.start, period.end, *metric_ids),
    )
    sums: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for metric_id, day, num, den in rows:
        bucket = day - timedelta(days=day.weekday()) if weekly else day
        acc = sums[(metric_id, bucket)]
        acc[0] += float(num)
        acc[1] += float(den)
    buckets = sorted({b for _, b in sums})
    series = {
        m: [DEFINITIONS[m].value(*sums[(m, b)]) if (m, b) in sums else None for b in buckets]
        for m in metric_ids
    }
    return buckets, series


# -- breakdowns ------------------------------------------------------------------------------

#: Breakdown dimensions and the metrics each shows.
BREAKDOWN_METRICS: dict[str, tuple[str, ...]] = {
    "category": (
        "valid_orders", "pickup_48h_rate", "ship_timeout_rate", "fake_shipment_rate",
        "quality_return_rate", "negative_review_rate", "complaint_rate", "im_3min_reply_rate",
    ),
    "channel": (
        "pickup_48h_rate", "ship_timeout_rate", "merchant_cancel_rate", "quality_return_rate",
        "negative_review_rate",
    ),
    "carrier": (
        "pickup_48h_rate", "pay_to_pickup_hours", "delivery_hours", "fake_shipment_rate",
        "negative_review_rate",
    ),
    "region": (
        "pickup_48h_rate", "ship_timeout_rate", "delivery_hours", "quality_return_rate",
        "negative_review_rate",
    ),
}  # fmt: skip


@dataclass
class Breakdown:
    """Metric values per key (a category, channel, carrier or region) over a period."""

    dimension: str
    metrics: tuple[str, ...]
    #: key -> metric -> (num, den); keys sorted by volume, the unknown key (None) last.
    sums: dict[str | None, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def value(self, key: str | None, metric_id: str) -> float | None:
        pair = self.sums.get(key, {}).get(metric_id)
        return None if pair is None else DEFINITIONS[metric_id].value(*pair)

    @property
    def keys(self) -> list[str | None]:
        return list(self.sums)


def _order_keys(tables: dict[str, Any], dimension: str) -> Any:
    """order_id -> key for a slice by an order attribute."""
    o = tables["orders"]
    if dimension == "channel":
        return o.select("order_id", key=o.channel)
    if dimension == "carrier":  # the carrier of the order's first parcel picked up
        s = tables["shipments"]
        first = s.pickup_at.fill_null(s.shipped_at)
        return s.group_by("order_id").aggregate(key=s.carrier.argmin(first))
    if dimension == "region":  # the consumer's province
        c = tables["consumers"]
        j = o.left_join(c, o.consumer_id == c.consumer_id)
        return j.select(order_id=o.order_id, key=c.region)
    raise UsageError(f"unknown breakdown {dimension!r}")


def breakdown(store: Store, period: Period, dimension: str, config: CatalogConfig) -> Breakdown:
    """The metrics of :data:`BREAKDOWN_METRICS` for ``dimension`` over ``period``."""
    chosen = tuple(measured_metrics(store, BREAKDOWN_METRICS[dimension]))
    out = Breakdown(dimension, chosen)
    if not chosen:
        return out
    raw: dict[str | None, dict[str, tuple[float, float]]] = defaultdict(dict)
    if dimension == "category":
        marks = ", ".join("?" for _ in chosen)
        rows = store.query(
            "SELECT m.category, d.metric_id, sum(d.num), sum(d.den) FROM metric_daily d "
            "JOIN merchants m ON m.merchant_id = d.merchant_id "
            f"WHERE d.day BETWEEN ? AND ? AND d.metric_id IN ({marks}) GROUP BY 1, 2",
            (period.start, period.end, *chosen),
        )
    else:
        tables = store_tables(store)
        expr = daily_partials(
            tables,
            config,
            start=period.start,
            end=period.end,
            metrics=chosen,
            by=_order_keys(tables, dimension),
        )
        g = expr.group_by(["key", "metric_id"]).aggregate(num=expr.num.sum(), den=expr.den.sum())
        rows = [tuple(r.values()) for r in g.to_pyarrow().to_pylist()]
    for key, metric_id, num, den in rows:
        raw[key][str(metric_id)] = (float(num or 0), float(den or 0))

    def size(key: str | None) -> float:
        return max((d for _, d in raw[key].values()), default=0.0)

    ordered = sorted(raw, key=lambda k: (k is None, -size(k), k or ""))
    out.sums = {k: raw[k] for k in ordered}
    return out


# -- scores ----------------------------------------------------------------------------------


@dataclass
class ScoreDistribution:
    as_of: date | None
    scored: int = 0
    insufficient: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)

    def share(self, level: str) -> float | None:
        return self.by_level.get(level, 0) / self.scored if self.scored else None


def score_distribution(store: Store, period: Period) -> ScoreDistribution:
    """The scores of the last scoring run in the period (as_of from its first day to the day
    after its last, which scores the period's last day)."""
    ((as_of,),) = store.query(
        "SELECT max(as_of) FROM scores WHERE as_of BETWEEN ? AND ?",
        (period.start, period.end + timedelta(days=1)),
    )
    out = ScoreDistribution(as_of)
    if as_of is None:
        return out
    window = store.query("SELECT min(window_days) FROM scores WHERE as_of = ?", (as_of,))[0][0]
    rows = store.query(
        "SELECT status, level, score FROM scores WHERE as_of = ? AND window_days = ?",
        (as_of, window),
    )
    counts: dict[str, int] = dict.fromkeys(LEVELS, 0)
    for status, level, score in rows:
        if status == "scored" and score is not None:
            out.scored += 1
            counts[level] = counts.get(level, 0) + 1
            out.scores.append(float(score))
        else:
            out.insufficient += 1
    out.by_level = counts
    return out


# -- governance ------------------------------------------------------------------------------

MEASURES = ("warning", "rules_exam", "deposit_deduction", "suspension", "clearance")


@dataclass
class Governance:
    #: rule -> (ledger, violations, merchants, points awarded)
    violations: dict[str, tuple[str, int, int, float]] = field(default_factory=dict)
    #: (ledger, node points) -> (merchants reaching that ladder step in the period and not
    #: lifted on appeal, the node's measures)
    ladder: dict[tuple[str, float], tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    #: rule -> (compensations, amount)
    compensation: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: status -> appeals filed in the period
    appeals: dict[str, int] = field(default_factory=dict)
    cleared: int = 0
    lifted_on_appeal: int = 0


def governance(store: Store, period: Period, config: CatalogConfig) -> Governance:
    span = (period.start, period.end)
    out = Governance()
    cleared: set[str] = set()
    points = {
        str(r): float(p or 0)
        for r, p in store.query(
            "SELECT rule_id, sum(points) FROM actions WHERE kind = 'points' "
            "AND day BETWEEN ? AND ? GROUP BY rule_id",
            span,
        )
    }
    for rule_id, ledger, n, merchants in store.query(
        "SELECT rule_id, min(ledger), count(*), count(DISTINCT merchant_id) FROM violations "
        "WHERE day BETWEEN ? AND ? GROUP BY rule_id ORDER BY 3 DESC, 1",
        span,
    ):
        out.violations[str(rule_id)] = (str(ledger), int(n), int(merchants), points.get(rule_id, 0))
    lifted = "SELECT substr(action_id, 10) FROM actions WHERE kind = 'reversal'"
    # penalty:<merchant>:<ledger>:<year>:<node points>:<measure> — one node, several measures
    nodes: dict[tuple[str, float], tuple[set[str], set[str]]] = {}
    for action_id, merchant_id, measure in store.query(
        "SELECT action_id, merchant_id, measure FROM actions WHERE kind = 'penalty' "
        f"AND day BETWEEN ? AND ? AND action_id NOT IN ({lifted})",
        span,
    ):
        parts = str(action_id).split(":")
        merchants, measures = nodes.setdefault((parts[2], float(parts[4])), (set(), set()))
        merchants.add(str(merchant_id))
        measures.add(str(measure))
        if measure == "clearance":
            cleared.add(str(merchant_id))
    out.ladder = {
        key: (len(m), tuple(x for x in MEASURES if x in ms))
        for key, (m, ms) in sorted(nodes.items())
    }
    out.cleared = len(cleared)
    ((out.lifted_on_appeal,),) = store.query(
        "SELECT count(DISTINCT p.merchant_id) FROM actions p WHERE p.kind = 'penalty' "
        f"AND p.day BETWEEN ? AND ? AND p.action_id IN ({lifted})",
        span,
    )
    for rule_id, n, amount in store.query(
        "SELECT rule_id, count(*), coalesce(sum(amount), 0) FROM actions "
        "WHERE kind = 'compensation' AND day BETWEEN ? AND ? GROUP BY rule_id ORDER BY 3 DESC",
        span,
    ):
        out.compensation[str(rule_id)] = (int(n), float(amount))
    lo, hi = utc_bounds(period.start, period.end, config)
    out.appeals = {
        s: 0 for s in ("open", "accepted", "rejected")
    } | {
        str(s): int(n)
        for s, n in store.query(
            "SELECT status, count(*) FROM appeals WHERE created_at >= ? AND created_at < ? "
            "GROUP BY status",
            (lo, hi),
        )
    }  # fmt: skip
    return out
