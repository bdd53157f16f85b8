"""The report's platform service desk section (平台客服): what the desk handled and how well.

Over the report's period: requests by type (with the policy's Chinese labels), the merchants'
deadlines kept and the platform's resolutions in time, callbacks (reach rate, attempts to
reach), the liability split of the resolutions, satisfaction by week (by month over periods
longer than a quarter) and the merchants that breached their deadlines most.

The rates are the catalog's desk metrics, Σ numerator ÷ Σ denominator of their daily
partials over the period, as every other platform figure of the report; the counts come
from :mod:`tiyan.store.desk_stats`. A store without any desk request has no section, only
the line that says so (:attr:`DeskSection.has_data`).

Example::

    section = desk_section(store, parse_period("2024-06"), policy)
    section.value("desk_merchant_breach_rate")     # 0.083
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.daily import utc_bounds
from tiyan.policy.schema import Policy
from tiyan.reports.kpis import Period, metric_sums
from tiyan.store import desk_stats
from tiyan.store.base import Store

#: The desk's metrics the section shows, platform-wide, in the order shown.
DESK_METRICS = (
    "desk_merchant_breach_rate",
    "desk_resolved_in_time_rate",
    "desk_first_response_minutes",
    "desk_reopen_rate",
    "desk_callback_reach_rate",
    "desk_attempts_to_reach",
    "desk_satisfaction",
)
#: A merchant is listed among the worst only with this many requests of decided clock
#: (tiyan: one late answer out of one is not a pattern).
WORST_MIN_REQUESTS = 3
WORST_LIMIT = 10
#: Periods longer than this are shown by month, shorter ones by week.
_MONTHLY_FROM_DAYS = 92


@dataclass(frozen=True)
class WorstMerchant:
    merchant_id: str
    name: str | None
    breached: int
    decided: int

    @property
    def rate(self) -> float:
        return self.breached / self.decided


@dataclass
class DeskSection:
    """What the section shows (empty lists and ``has_data=False`` without desk data)."""

    has_data: bool
    #: Requests opened in the period: (type id, Chinese label, count), most first.
    by_type: list[tuple[str, str, int]] = field(default_factory=list)
    #: Metric id -> (Σ numerator, Σ denominator) over the period.
    sums: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Liability -> requests whose standing resolution was decided in the period.
    liability: dict[str, int] = field(default_factory=dict)
    #: "week" or "month"; each bucket's first day, satisfaction, answers.
    bucket: str = "week"
    satisfaction: list[tuple[date, float | None, int]] = field(default_factory=list)
    worst: list[WorstMerchant] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(n for _, _, n in self.by_type)

    def value(self, metric_id: str) -> float | None:
        if metric_id not in self.sums:
            return None
        return DEFINITIONS[metric_id].value(*self.sums[metric_id])

    def count(self, metric_id: str) -> tuple[int, int]:
        """The whole numerator and denominator of a share (``(0, 0)`` without records)."""
        num, den = self.sums.get(metric_id, (0.0, 0.0))
        return int(num), int(den)

    @property
    def deadlines_kept(self) -> float | None:
        """The share of merchant deadlines kept: 1 − the merchant breach rate."""
        breach = self.value("desk_merchant_breach_rate")
        return None if breach is None else 1.0 - breach

    @property
    def resolutions(self) -> int:
        return sum(self.liability.values())


def _bucket_start(day: date, bucket: str) -> date:
    if bucket == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())  # ISO weeks, from Monday


def desk_section(store: Store, period: Period, policy: Policy) -> DeskSection:
    """The section's figures over ``period`` (local days of the policy's population)."""
    if not desk_stats.has_desk_data(store):
        return DeskSection(has_data=False)
    config = policy.population.catalog_config()
    lo, hi = utc_bounds(period.start, period.end, config)
    labels = {type_id: t.label_zh for type_id, t in policy.desk.types.items()}
    by_type = [
        (type_id, labels.get(type_id, type_id), n)
        for type_id, n in desk_stats.requests_by_type(store, lo, hi)
    ]
    bucket = "month" if period.days > _MONTHLY_FROM_DAYS else "week"
    buckets: dict[date, list[float]] = {}
    for day, num, den in desk_stats.daily_sums(
        store, "desk_satisfaction", period.start, period.end
    ):
        sums = buckets.setdefault(_bucket_start(day, bucket), [0.0, 0.0])
        sums[0] += num
        sums[1] += den
    satisfaction = [
        (start, DEFINITIONS["desk_satisfaction"].value(num, den), int(den))
        for start, (num, den) in sorted(buckets.items())
    ]
    worst = [
        WorstMerchant(mid, name, int(num), int(den))
        for mid, name, num, den in desk_stats.merchant_sums(
            store,
            "desk_merchant_breach_rate",
            period.start,
            period.end,
            min_den=WORST_MIN_REQUESTS,
            limit=WORST_LIMIT,
        )
        if num > 0
    ]
    return DeskSection(
        has_data=True,
        by_type=by_type,
        sums=metric_sums(store, period.start, period.end, DESK_METRICS),
        liability=desk_stats.liability_split(store, lo, hi),
        bucket=bucket,
        satisfaction=satisfaction,
        worst=worst,
    )
