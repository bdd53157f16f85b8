"""What the console's templates show that the core does not already give: the platform's
latest metric values with their trend, labels, and numbers formatted for reading.

Everything about a merchant — scorecard, metrics, record, violations, ledger, appeals —
comes from the same core functions the API routes call; only the platform KPI series and the
list of categories are read here, because no core function gives them yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

from tiyan.domain.metrics import Unit
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.rules import RULE_ZH
from tiyan.store.base import Store

HERE = Path(__file__).parent
#: Headline KPIs of the dashboard's tiles, in that order (every platform metric is in its table).
HEADLINE = (
    "pickup_48h_rate", "ship_timeout_rate", "fake_shipment_rate", "negative_review_rate",
    "im_3min_reply_rate", "complaint_rate", "nps", "refund_rate",
)  # fmt: skip
TREND_POINTS = 12

LEVEL_ZH = {"excellent": "优秀", "good": "良好", "fair": "一般", "poor": "较差",
            "critical": "极差"}  # fmt: skip
DIMENSION_ZH = {"product": "商品", "logistics": "物流", "service": "服务",
                "consumer": "消费者", "volume": "规模"}  # fmt: skip
KIND_LABEL = {
    "compensation": "compensation 赔付", "points": "points 扣分", "penalty": "penalty 处罚",
    "reversal": "reversal 撤销", "privilege_grant": "privilege granted 权益授予",
    "privilege_revoke": "privilege revoked 权益收回", "measure_apply": "measure applied",
    "measure_lift": "measure lifted",
}  # fmt: skip


@dataclass
class Kpi:
    metric_id: str
    en: str
    zh: str
    unit: str
    direction: str
    dimension: str
    as_of: date
    window_days: int
    value: float | None
    previous: float | None
    trend: list[tuple[date, float | None]] = field(default_factory=list)

    @property
    def change(self) -> str | None:
        """ "better", "worse" or "same" against the previous scoring day (None: no previous)."""
        if self.value is None or self.previous is None:
            return None
        if self.value == self.previous:
            return "same"
        up = self.value > self.previous
        return "better" if up == (self.direction == "higher") else "worse"


def platform_kpis(store: Store) -> list[Kpi]:
    """Every platform-scope metric of the longest window, its latest value, the one before
    and the last ``TREND_POINTS`` values (empty before the first scoring run)."""
    if "metric_values" not in store.existing_columns():
        return []
    latest = store.query("SELECT max(window_days) FROM metric_values WHERE scope = 'platform'")[0][
        0
    ]
    if latest is None:
        return []
    days = [
        r[0]
        for r in store.query(
            "SELECT DISTINCT as_of FROM metric_values WHERE scope = 'platform' "
            f"AND window_days = ? ORDER BY as_of DESC LIMIT {TREND_POINTS}",
            (latest,),
        )
    ][::-1]
    series: dict[str, dict[date, float | None]] = {}
    for metric_id, as_of, value in store.query(
        "SELECT metric_id, as_of, value FROM metric_values WHERE scope = 'platform' "
        "AND window_days = ? AND as_of >= ? ORDER BY metric_id, as_of",
        (latest, days[0]),
    ):
        series.setdefault(metric_id, {})[as_of] = None if value is None else float(value)
    order = {m: i for i, m in enumerate(DEFINITIONS)}
    out = []
    for metric_id in sorted(series, key=lambda m: (order.get(m, len(order)), m)):
        values = series[metric_id]
        d = DEFINITIONS.get(metric_id)
        trend = [(day, values.get(day)) for day in days]
        value = values.get(days[-1])
        earlier = [v for _, v in trend[:-1] if v is not None]
        out.append(
            Kpi(
                metric_id=metric_id,
                en=d.en if d else metric_id,
                zh=d.zh if d else "",
                unit=str(d.unit) if d else "count",
                direction=str(d.direction) if d else "higher",
                dimension=str(d.dimension) if d else "",
                as_of=days[-1],
                window_days=int(latest),
                value=value,
                previous=earlier[-1] if earlier and value is not None else None,
                trend=trend,
            )
        )
    return out


def categories(store: Store) -> list[str]:
    """The merchants' categories, for the merchant list's filter."""
    return [
        r[0]
        for r in store.query(
            "SELECT DISTINCT category FROM merchants WHERE category IS NOT NULL ORDER BY 1"
        )
    ]


# -- formatting ------------------------------------------------------------------------------


def metric_value(value: Any, metric_id: str | None = None, unit: str | None = None) -> str:
    """A metric value in its unit: 12.3% for a share, 40.1 h for hours, ..."""
    if value is None:
        return "—"
    v = float(value)
    if unit is None:
        d = DEFINITIONS.get(metric_id or "")
        unit = str(d.unit) if d else "count"
    if unit == Unit.SHARE:
        return f"{v * 100:.2f}%" if abs(v) < 0.1 else f"{v * 100:.1f}%"
    suffix = {Unit.HOURS: " h", Unit.MINUTES: " min", Unit.DAYS: " d"}.get(Unit(unit), "")
    if unit in (Unit.PER_MILLION, Unit.COUNT):
        return f"{v:,.0f}"
    return f"{v:,.1f}{suffix}"


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


def metric_label(metric_id: str) -> str:
    d = DEFINITIONS.get(metric_id)
    return d.en if d else metric_id


def metric_zh(metric_id: str) -> str:
    d = DEFINITIONS.get(metric_id)
    return d.zh if d else ""


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
    if len(points) == 1:  # one scoring day: a flat mark across
        level = points[0].split(",")[1]
        points = [f"{pad},{level}", f"{width - pad},{level}"]
    return " ".join(points)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
        lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(
        metric=metric_value, number=number, when=when, compact=compact,
        metric_label=metric_label, metric_zh=metric_zh, rule_of=rule_of, sparkline=sparkline,
    )  # fmt: skip
    env.globals.update(RULE_ZH=RULE_ZH, LEVEL_ZH=LEVEL_ZH, DIMENSION_ZH=DIMENSION_ZH,
                       KIND_LABEL=KIND_LABEL)  # fmt: skip
    return env
