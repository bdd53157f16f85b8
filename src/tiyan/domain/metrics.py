"""What a metric *is*: its identity, labels and definition, without any engine.

The catalog itself (each definition next to the Ibis expression that computes it) lives in
:mod:`tiyan.metrics.catalog`; this module holds the pure types that the scoring and policy
stages, the docs generator and the policy validator need without importing Ibis.

Every metric is a ratio of two sums, ``value = scale * numerator / denominator``, computed
per merchant and per local day (the *daily partials*), so any window is a sum of days. A
mean is a ratio too (numerator: total seconds, denominator: count), NPS is one (numerator:
promoters minus detractors), and a count keeps its count in both.

Example::

    >>> from tiyan.domain.metrics import window_days
    >>> from datetime import date
    >>> window_days("trailing", 30, date(2024, 7, 1))
    (datetime.date(2024, 6, 1), datetime.date(2024, 6, 30))
    >>> window_days("lagged", 90, date(2024, 7, 1))
    (datetime.date(2024, 3, 19), datetime.date(2024, 6, 16))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Dimension(StrEnum):
    """The score's three dimensions, plus metrics reported but not scored."""

    PRODUCT = "product"  # 商品体验
    LOGISTICS = "logistics"  # 物流体验
    SERVICE = "service"  # 服务体验
    CONSUMER = "consumer"  # 消费者体验 (reported for merchant, category and platform)
    VOLUME = "volume"  # 订单量


DIMENSION_ZH: dict[Dimension, str] = {
    Dimension.PRODUCT: "商品体验",
    Dimension.LOGISTICS: "物流体验",
    Dimension.SERVICE: "服务体验",
    Dimension.CONSUMER: "消费者体验",
    Dimension.VOLUME: "订单量",
}

#: The dimensions that make up the Merchant Experience Score.
SCORED_DIMENSIONS = (Dimension.PRODUCT, Dimension.LOGISTICS, Dimension.SERVICE)


class Direction(StrEnum):
    LOWER = "lower"  # a lower value is better (defect rates, durations)
    HIGHER = "higher"  # a higher value is better (on-time rates, NPS)


class WindowKind(StrEnum):
    #: Days 1..N before as_of.
    TRAILING = "trailing"
    #: Days 15..N+14 before as_of (15–104 for N = 90): the outcome needs time to mature.
    LAGGED = "lagged"


#: How many days a lagged window is shifted back (前15–104天).
LAG_DAYS = 15


class Unit(StrEnum):
    SHARE = "share"  # a fraction, shown as a percentage
    HOURS = "hours"
    MINUTES = "minutes"
    DAYS = "days"
    PER_MILLION = "per_million"
    NPS = "nps"  # −100..100
    MEAN = "mean"  # a plain average of counts (e.g. calls per callback), one decimal
    COUNT = "count"


@dataclass(frozen=True)
class MetricDef:
    """The definition of one metric, as documented in ``docs/metrics.md``."""

    id: str
    zh: str
    en: str
    dimension: Dimension
    direction: Direction
    unit: Unit
    #: What is counted above and below the line, in words.
    numerator: str
    denominator: str
    #: Which records are eligible, and what is excluded.
    population: str
    #: The day a record counts on (the local day its outcome became known).
    anchor: str
    window: WindowKind = WindowKind.TRAILING
    #: value = scale * numerator / denominator (e.g. 1/3600 turns seconds into hours).
    scale: float = 1.0
    #: In the default policy's Merchant Experience Score (a policy may choose others of the
    #: three scored dimensions).
    scored: bool = False
    #: Below this denominator in the window the metric gets no points of its own: it counts
    #: at its peer group's level (see docs/scoring.md).
    min_volume: int = 1
    #: Where the definition comes from.
    source: str = ""
    notes: str = ""
    #: Canonical tables the metric's records come from. A store with no row at all in one of
    #: them (a data set without complaints, say) does not measure the metric: it has no value
    #: for anyone, rather than a rate of 0 over paid orders.
    records: tuple[str, ...] = ()
    #: Columns (``"table.column"``) the metric's outcome is read from, of which at least one
    #: must hold a value on some row: a source that never fills any of them (Olist records
    #: no cancellation party or reason) does not measure the metric, rather than a rate of 0.
    fields: tuple[str, ...] = ()

    @property
    def is_count(self) -> bool:
        return self.unit is Unit.COUNT

    def value(self, numerator: float | None, denominator: float | None) -> float | None:
        """The metric's value from its sums: ``None`` when the denominator is empty."""
        if numerator is None or denominator is None or denominator == 0:
            return None
        if self.is_count:
            return float(numerator)
        return self.scale * numerator / denominator


def window_days(kind: WindowKind | str, length: int, as_of: date) -> tuple[date, date]:
    """First and last local day (inclusive) of a window of ``length`` days ending before
    ``as_of``: ``as_of`` itself is never included, its data may still be arriving."""
    if length < 1:
        raise ValueError(f"a window has at least one day, not {length}")
    shift = LAG_DAYS - 1 if WindowKind(kind) is WindowKind.LAGGED else 0
    last = as_of - timedelta(days=1 + shift)
    return last - timedelta(days=length - 1), last


@dataclass(frozen=True)
class CatalogConfig:
    """Settings every metric shares; they come from the policy's ``population`` section.

    Partials computed under one configuration are never mixed with another's: the runner
    keys them by :meth:`fingerprint` and recomputes when it changes.
    """

    #: Platform time zone as a fixed offset from UTC, in minutes (Asia/Shanghai: +480).
    #: Days and business hours are local to it.
    utc_offset_minutes: int = 480
    #: Orders paid below this amount (¥) are not in the score's population (<2元).
    min_amount: float = 2.0
    #: Gift and lucky-bag orders (福袋/赠品) are not in the score's population.
    exclude_gifts: bool = True
    #: Local business hours for IM metrics: [start, end) in hours (08:00:00–22:59:59).
    business_hours: tuple[int, int] = (8, 23)

    def fingerprint(self) -> str:
        start, end = self.business_hours
        return (
            f"v1;tz={self.utc_offset_minutes};min_amount={self.min_amount:g};"
            f"gifts={'out' if self.exclude_gifts else 'in'};hours={start}-{end}"
        )


def format_value(definition: MetricDef, value: float | None) -> str:
    """A value as people read it: ``8.1%``, ``36.2 h``, ``1,250``; ``—`` for no value."""
    if value is None:
        return "—"
    unit = definition.unit
    if unit is Unit.SHARE:
        pct = value * 100
        return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"
    suffix = {Unit.HOURS: " h", Unit.MINUTES: " min", Unit.DAYS: " d"}.get(unit)
    if suffix is not None:
        return f"{value:.1f}{suffix}"
    if unit in (Unit.NPS, Unit.MEAN):
        return f"{value:.1f}"
    return f"{value:,.0f}"
