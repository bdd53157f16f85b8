"""The consumer-experience report and the merchant scorecard, as self-contained HTML (and PDF).

``tiyan report --period 2024 --compare 2023 --lang zh --out report.html [--pdf]`` and
``tiyan report --merchant M000123 --out card.html`` call :func:`render_report` and
:func:`render_scorecard`; the web console serves the same HTML. The figures come from
:mod:`tiyan.reports.kpis` and :mod:`tiyan.reports.impact`; this module only lays them out.

Example::

    html = render_report(store, period=parse_period("2024-07"), lang="zh")
    Path("report.html").write_text(html, encoding="utf-8")
    write_pdf(html, Path("report.pdf"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jinja2

from tiyan import __version__
from tiyan.domain.errors import NotFoundError, UsageError
from tiyan.domain.metrics import SCORED_DIMENSIONS, Unit
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.runner import measured_metrics
from tiyan.policy.files import load_policy
from tiyan.policy.schema import LEVELS, Policy
from tiyan.reports import charts, kpis
from tiyan.reports.desk import DESK_METRICS, WORST_MIN_REQUESTS, DeskSection, desk_section
from tiyan.reports.impact import RuleImpact, estimate_impact
from tiyan.reports.text import (
    LEVEL_WORDS,
    MEASURE_WORDS,
    Words,
    fmt_change,
    fmt_number,
    fmt_relative,
)
from tiyan.store.base import Store
from tiyan.store.desk_stats import LIABILITIES
from tiyan.store.platform import Platform, platform_of, store_policy
from tiyan.store.record import merchant_record
from tiyan.store.scorecard import merchant_metrics, scorecard

#: Metrics drawn as trends, and the carrier chart's metrics.
TREND_METRICS = (
    "pickup_48h_rate", "ship_timeout_rate", "fake_shipment_rate", "negative_review_rate",
    "quality_return_rate", "complaint_rate",
)  # fmt: skip
CARRIER_CHART_METRICS = ("delivery_hours", "pickup_48h_rate")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("tiyan.reports", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class ReportData:
    """Everything the report shows, computed once (the console and the tests read it too)."""

    period: kpis.Period
    compare: kpis.Period | None
    coverage: tuple[date, date] | None
    orders: int
    merchants: int
    headline: list[kpis.Kpi]
    buckets: list[date]
    trends: dict[str, list[float | None]]
    compare_buckets: list[date]
    compare_trends: dict[str, list[float | None]]
    breakdowns: dict[str, kpis.Breakdown]
    scores: kpis.ScoreDistribution
    governance: kpis.Governance
    impact: list[RuleImpact]
    impact_days: int
    #: The store's time zone and currency (a mapping's; the default platform otherwise).
    platform: Platform = field(default_factory=Platform)
    #: The fixed offset the local days are counted at ("-03:00").
    utc_offset: str = "+08:00"
    #: The platform service desk's section (``has_data`` False: the store has no desk data).
    desk: DeskSection = field(default_factory=lambda: DeskSection(has_data=False))


def build_report(
    store: Store,
    *,
    period: kpis.Period,
    compare: kpis.Period | None = None,
    policy: Policy | None = None,
    impact_days: int = 30,
) -> ReportData:
    """The report's figures for ``period`` beside ``compare`` (None: no comparison), in the
    store's local days and currency."""
    policy = store_policy(store, policy or load_policy(as_of=period.end))
    config = policy.population.catalog_config()
    coverage = kpis.data_days(store)
    orders, merchants = kpis.volume(store, period)
    trend_ids = [m for m in TREND_METRICS if m in measured_metrics(store, TREND_METRICS)]
    buckets, trends = kpis.trend(store, period, trend_ids) if trend_ids else ([], {})
    compare_buckets: list[date] = []
    compare_trends: dict[str, list[float | None]] = {}
    if compare is not None and trend_ids:
        compare_buckets, compare_trends = kpis.trend(store, compare, trend_ids)
    # The impact of penalties is judged on penalties whose after-window ended by the end of
    # the period (or of the data, when that comes first).
    last = min(period.end, coverage[1]) if coverage else period.end
    impact = estimate_impact(store, as_of=last, days=impact_days) if coverage else []
    return ReportData(
        period=period,
        compare=compare,
        coverage=coverage,
        orders=orders,
        merchants=merchants,
        headline=kpis.headline(store, period, compare, config),
        buckets=buckets,
        trends=trends,
        compare_buckets=compare_buckets,
        compare_trends=compare_trends,
        breakdowns={d: kpis.breakdown(store, period, d, config) for d in kpis.BREAKDOWN_METRICS},
        scores=kpis.score_distribution(store, period),
        governance=kpis.governance(store, period, config),
        impact=impact,
        impact_days=impact_days,
        platform=platform_of(store),
        utc_offset=policy.population.utc_offset,
        desk=desk_section(store, period, policy),
    )


def _level_bounds(policy: Policy) -> list[tuple[str, float]]:
    return [(level, float(policy.scoring.levels[level])) for level in LEVELS]


def _helpers(lang: str, platform: Platform) -> dict[str, Any]:
    words = Words(lang, currency=platform.symbol)

    def unit_of(metric_id: str) -> Unit:
        return DEFINITIONS[metric_id].unit

    return {
        "w": words,
        "lang": lang,
        "version": __version__,
        "fmt": lambda v, unit: fmt_number(v, unit, lang),
        "fmt_change": lambda v, unit: fmt_change(v, unit, lang),
        "fmt_relative": fmt_relative,
        "unit_of": unit_of,
        "level_word": lambda level: words.of(LEVEL_WORDS, level),
        "measure_word": lambda m: words.of(MEASURE_WORDS, m),
        "level_colours": charts.LEVEL_COLOURS,
        "levels": LEVELS,
    }


def render_report_data(data: ReportData, *, lang: str = "en", policy: Policy | None = None) -> str:
    policy = policy or load_policy(as_of=data.period.end)
    helpers = _helpers(lang, data.platform)

    def offsets(period: kpis.Period | None, buckets: list[date]) -> list[int]:
        return [(b - period.start).days for b in buckets] if period else []

    before_x = offsets(data.compare, data.compare_buckets)
    trend_svgs = {
        m: charts.trend_chart(
            f"trend-{m}",
            data.buckets,
            series,
            DEFINITIONS[m].unit,
            list(zip(before_x, data.compare_trends.get(m, []), strict=True)),
            origin=data.period.start,
        )
        for m, series in data.trends.items()
    }
    carriers = data.breakdowns["carrier"]
    known = [k for k in carriers.keys if k is not None]
    carrier_svgs = {
        m: charts.bar_chart(
            f"carrier-{m}", known, [carriers.value(k, m) for k in known], DEFINITIONS[m].unit
        )
        for m in CARRIER_CHART_METRICS
        if m in carriers.metrics and known
    }
    histogram = (
        charts.histogram_chart("scores", data.scores.scores, _level_bounds(policy))
        if data.scores.scores
        else ""
    )
    template = _ENV.get_template("report.html.j2")
    return template.render(
        d=data,
        desk_metrics=DESK_METRICS,
        liabilities=LIABILITIES,
        worst_min=WORST_MIN_REQUESTS,
        trend_svgs=trend_svgs,
        carrier_svgs=carrier_svgs,
        histogram=histogram,
        **helpers,
    )


def render_report(
    store: Store,
    *,
    period: kpis.Period,
    compare: kpis.Period | None = None,
    lang: str = "en",
    policy: Policy | None = None,
) -> str:
    """The consumer-experience report of ``period`` as one self-contained HTML page."""
    Words(lang)  # an unknown language fails before any work
    policy = policy or load_policy(as_of=period.end)
    data = build_report(store, period=period, compare=compare, policy=policy)
    return render_report_data(data, lang=lang, policy=policy)


# -- the merchant scorecard ------------------------------------------------------------------


def scorecard_data(
    store: Store, merchant_id: str, *, policy: Policy | None = None
) -> dict[str, Any]:
    """What the merchant's one-page scorecard shows (NotFoundError for an unknown merchant)."""
    found = store.query(
        "SELECT name, category, region FROM merchants WHERE merchant_id = ?", (merchant_id,)
    )
    if not found:
        raise NotFoundError("merchant", merchant_id)
    name, category, region = found[0]
    card = scorecard(store, merchant_id)
    history = [
        (as_of, float(score))
        for as_of, score in store.query(
            "SELECT as_of, score FROM scores WHERE merchant_id = ? AND status = 'scored' "
            "AND window_days = (SELECT max(window_days) FROM scores WHERE merchant_id = ?) "
            "ORDER BY as_of",
            (merchant_id, merchant_id),
        )
        if score is not None
    ]
    metrics: list[dict[str, Any]] = []
    if card is not None:
        peers = {
            m["metric_id"]: m
            for m in merchant_metrics(
                store, merchant_id, as_of=card["as_of"], window=card["window_days"]
            )
        }
        explained = {m["metric_id"]: m for m in (card["explanation"] or {}).get("metrics", [])}
        for metric_id, row in peers.items():
            if metric_id not in DEFINITIONS:
                continue
            extra = explained.get(metric_id, {})
            metrics.append(
                row
                | {
                    "dimension": str(DEFINITIONS[metric_id].dimension),
                    "percentile": extra.get("percentile"),
                    "points_lost": extra.get("points_lost"),
                    "scored": metric_id in explained,
                }
            )
        order = {str(d): i for i, d in enumerate(SCORED_DIMENSIONS)}
        metrics.sort(
            key=lambda m: (not m["scored"], order.get(m["dimension"], 9), -(m["points_lost"] or 0))
        )
    record = merchant_record(store, merchant_id, card["as_of"] if card else None)
    policy = policy or load_policy(as_of=card["as_of"] if card else None)
    return {
        "merchant_id": merchant_id,
        "name": name,
        "category": category,
        "region": region,
        "card": card,
        "history": history,
        "metrics": metrics,
        "record": record,
        "platform": platform_of(store),
        "names_zh": {k: v.zh for k, v in policy.privileges.items()}
        | {k: v.zh for k, v in policy.score_measures.items()},
    }


def render_scorecard(
    store: Store, merchant_id: str, *, lang: str = "en", policy: Policy | None = None
) -> str:
    """The merchant's scorecard as one self-contained HTML page."""
    data = scorecard_data(store, merchant_id, policy=policy)
    helpers = _helpers(lang, data["platform"])
    history = data["history"]
    trend = (
        charts.trend_chart(
            "score-trend", [d for d, _ in history], [s for _, s in history], Unit.COUNT
        )
        if len(history) > 1
        else ""
    )
    return _ENV.get_template("scorecard.html.j2").render(s=data, trend=trend, **helpers)


# -- PDF -------------------------------------------------------------------------------------


def write_pdf(html: str, path: Path) -> None:
    """Lay ``html`` out as a PDF at ``path`` (WeasyPrint; needs the system's Pango)."""
    try:
        import weasyprint
    except OSError as exc:  # the Python package is there, its system libraries are not
        raise UsageError(
            f"--pdf needs the Pango text library ({exc}); install it (Debian/Ubuntu: "
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0; macOS: brew install pango)"
        ) from None
    weasyprint.HTML(string=html).write_pdf(str(path))
