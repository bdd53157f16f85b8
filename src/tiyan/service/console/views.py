"""What the console's pages show beside the core's records: the platform's latest metric
values with their daily trend, and the filters that write values for reading.

The figures and the words are the report's: the platform's values come from
:func:`tiyan.reports.kpis.latest_platform_values`, their trend from
:func:`tiyan.reports.kpis.trend` (the daily partials of ``metric_daily``), a metric's value is
written by :func:`tiyan.reports.text.fmt_metric`, and metric, level and rule names come from
:mod:`tiyan.reports.text`, so the dashboard and the report never write a figure two ways.
Nothing here reads the store itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

from tiyan.domain.metrics import DIMENSION_ZH
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.reports.kpis import Kpi, Period, PlatformValues, data_days, latest_platform_values, trend
from tiyan.reports.text import LEVEL_WORDS, Words, fmt_metric
from tiyan.store.base import Store

HERE = Path(__file__).parent
#: The dashboard's tiles, in that order (every platform metric is in its table).
HEADLINE = (
    "pickup_48h_rate", "ship_timeout_rate", "fake_shipment_rate", "negative_review_rate",
    "im_3min_reply_rate", "complaint_rate", "nps", "refund_rate",
)  # fmt: skip
#: The sparklines: each metric per day over the store's last this many days of metrics.
TREND_DAYS = 30

KIND_LABEL = {
    "compensation": "compensation 赔付", "points": "points 扣分", "penalty": "penalty 处罚",
    "reversal": "reversal 撤销", "privilege_grant": "privilege granted 权益授予",
    "privilege_revoke": "privilege revoked 权益收回", "measure_apply": "measure applied",
    "measure_lift": "measure lifted",
}  # fmt: skip


@dataclass(frozen=True)
class PlatformKpi:
    """One platform metric on the dashboard: its latest value beside the scoring day before's
    (the report's :class:`~tiyan.reports.kpis.Kpi`), and its value day by day."""

    kpi: Kpi
    dimension: str
    trend: list[tuple[date, float | None]]

    @property
    def metric_id(self) -> str:
        return self.kpi.definition.id

    @property
    def change(self) -> str | None:
        """ "better", "worse" or "same" against the scoring day before (None: no value)."""
        if self.kpi.change is None:
            return None
        return {True: "better", False: "worse", None: "same"}[self.kpi.better]


@dataclass(frozen=True)
class Platform:
    """The dashboard's platform figures."""

    values: PlatformValues
    #: The days of the trend (None: no daily metrics).
    days: Period | None
    kpis: list[PlatformKpi]

    @property
    def headline(self) -> list[PlatformKpi]:
        """The tiles' metrics (:data:`HEADLINE`), those the store has."""
        by_id = {k.metric_id: k for k in self.kpis}
        return [by_id[m] for m in HEADLINE if m in by_id]


def recent_days(store: Store, days: int = TREND_DAYS) -> Period | None:
    """The store's last ``days`` days of metrics (fewer when it has fewer; None: none)."""
    span = data_days(store)
    if span is None:
        return None
    first, last = span
    start = max(first, last - timedelta(days=days - 1))
    return Period(f"{start}..{last}", start, last, "range")


def platform(store: Store) -> Platform | None:
    """Every platform metric's latest value, the one before, and its daily trend over
    :func:`recent_days` (None before the first scoring run)."""
    latest = latest_platform_values(store)
    if latest is None:
        return None
    days = recent_days(store)
    ids = [k.definition.id for k in latest.kpis]
    buckets, series = trend(store, days, ids) if days is not None and ids else ([], {})
    kpis = [
        PlatformKpi(
            kpi=k,
            dimension=str(DEFINITIONS[k.definition.id].dimension),
            trend=list(zip(buckets, series.get(k.definition.id, []), strict=True)),
        )
        for k in latest.kpis
    ]
    return Platform(latest, days, kpis)


# -- formatting ------------------------------------------------------------------------------


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}"


def when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def compact(value: Any) -> str:
    """A JSON detail or evidence object as ``key: value; ...`` for a table cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {compact(v) if isinstance(v, dict | list) else v}"
                         for k, v in value.items())  # fmt: skip
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "—"
    return str(value)


def rule_of(violation_id: str) -> str:
    """The rule of a violation id (``ship_timeout:M1:O1`` → ``ship_timeout``)."""
    return violation_id.split(":", 1)[0]


def sparkline(trend: list[tuple[date, float | None]], width: int = 120,
              height: int = 28) -> str:  # fmt: skip
    """``points`` of an SVG polyline through the known values of ``trend``."""
    known = [(i, v) for i, (_, v) in enumerate(trend) if v is not None]
    if not known:
        return ""
    low = min(v for _, v in known)
    high = max(v for _, v in known)
    span = (high - low) or 1.0
    steps = max(len(trend) - 1, 1)
    pad = 3
    points = []
    for i, v in known:
        x = pad + (width - 2 * pad) * (i / steps if len(trend) > 1 else 0.5)
        y = height - pad - (height - 2 * pad) * ((v - low) / span if high > low else 0.5)
        points.append(f"{x:.1f},{y:.1f}")
    if len(points) == 1:  # one day: a flat mark across
        level = points[0].split(",")[1]
        points = [f"{pad},{level}", f"{width - pad},{level}"]
    return " ".join(points)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
        lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(
        metric=fmt_metric, number=number, when=when, compact=compact, rule_of=rule_of,
        sparkline=sparkline,
    )  # fmt: skip
    env.globals.update(en=Words("en"), zh=Words("zh"), LEVEL_WORDS=LEVEL_WORDS,
                       DIMENSION_ZH=DIMENSION_ZH, KIND_LABEL=KIND_LABEL)  # fmt: skip
    return env
