"""The Merchant Experience Score (商家体验分): values in, scores out, no I/O.

For each scored metric of the policy, within a merchant's peer group (same category, or
same category and size band; groups smaller than ``min_peers`` use the whole platform):

1. **Shrink** the merchant's value toward the group's pooled value by its volume:
   ``shrunk = (n·value + k·prior) / (n + k)``. For rates ``k`` is fitted per group and metric
   (empirical-Bayes beta-binomial, method of moments: ``k = μ(1−μ)/τ² − 1`` where ``τ²`` is
   the between-merchant variance left after binomial noise), bounded by the policy; for
   durations ``k`` is the policy's ``mean_strength``. Below the metric's minimum volume
   ``n`` counts as 0, so the merchant sits exactly at its peers' value.
2. **Rank** the shrunk value among the group: percentile = (peers worse + ½ peers equal) /
   (peers), 0 = worst, 1 = best.
3. **Points** = 100 − (100 − floor) × loss, the loss mixing the rank and the severity:
   ``(1 − severity_share) × (1 − percentile ** curve) + severity_share × severity``, where
   the severity goes from 0 to 1 as the merchant's shrunk defect goes from
   ``severity_ratio[0]`` to ``severity_ratio[1]`` times the group's median defect (a ranking
   alone cannot tell a last place among close peers from ten times their defect rate).

Dimension scores are weighted means of their metrics' points (raised to a standard's floor
when the merchant meets it), the overall score the weighted mean of the dimensions. Every
merchant below ``min_valid_orders`` is ``insufficient_data`` (no score; a provisional score
by store type is reported for new merchants).

Example::

    >>> from tiyan.policy.files import load_policy
    >>> scoring = load_policy().scoring
    >>> merchants = [
    ...     MerchantMetrics(f"m{i}", "food", None, 100, {"ship_timeout_rate": (i, 100)})
    ...     for i in range(10)
    ... ]
    >>> scores = score_merchants(merchants, scoring)
    >>> scores[0].score > scores[9].score
    True
"""

from __future__ import annotations

import bisect
import functools
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from tiyan.domain.metrics import SCORED_DIMENSIONS, Direction, MetricDef, Unit, format_value
from tiyan.policy.schema import Scoring

INSUFFICIENT = "insufficient_data"
SCORED = "scored"
PLATFORM_GROUP = "platform"


def _definitions() -> dict[str, MetricDef]:
    from tiyan.metrics.catalog import DEFINITIONS

    return DEFINITIONS


@dataclass(frozen=True)
class MerchantMetrics:
    """One merchant's window: metric id -> (numerator, denominator)."""

    merchant_id: str
    category: str | None
    store_type: str | None
    valid_orders: int
    sums: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class MetricScore:
    metric_id: str
    dimension: str
    value: float | None
    numerator: float
    denominator: float
    shrunk: float | None = None
    peer_value: float | None = None
    peer_median: float | None = None
    percentile: float | None = None
    points: float | None = None
    #: Points of the overall score this metric loses against a perfect 100 (before floors).
    points_lost: float | None = None


@dataclass(frozen=True)
class Improvement:
    metric_id: str
    current: float
    target: float
    gain: float
    text: str
    text_zh: str


@dataclass(frozen=True)
class MerchantScore:
    merchant_id: str
    category: str | None
    status: str
    valid_orders: int
    score: float | None = None
    dimensions: dict[str, float | None] = field(default_factory=dict)
    display_score: float | None = None
    level: str | None = None
    peer_group: str | None = None
    metrics: tuple[MetricScore, ...] = ()
    improvements: tuple[Improvement, ...] = ()
    standards_met: tuple[str, ...] = ()
    provisional_score: float | None = None
    #: Metrics at severity_ratio[1] times the peer median or worse (their dimension capped).
    severe: tuple[str, ...] = ()
    #: The score before a violation cap, and the cap's reason ("b_in_window", "b_at_node").
    ranked_score: float | None = None
    capped_by: str | None = None


@dataclass(frozen=True)
class ViolationRecord:
    """What the violation caps look at (``Scoring.violation_caps``)."""

    #: B-class points (after reversals) on days of the scoring window.
    b_points: float = 0.0
    #: This year's B-class total has reached a ladder node.
    at_node: bool = False
    #: A-class points (after reversals, after the rate gates) on days of the scoring window.
    a_points: float = 0.0
    #: This year's A-class total has reached the A ladder's first node.
    a_at_node: bool = False


@dataclass
class _GroupMetric:
    """One metric within one peer group."""

    definition: MetricDef
    prior: float
    strength: float
    median: float
    min_volume: int
    shrunk: list[float]  # every member's shrunk value, sorted
    shrunk_median: float = 0.0  # their median (the defect is monotone in the shrunk value)

    def shrink(self, value: float | None, n: float) -> float:
        if value is None or n < self.min_volume:
            return self.prior
        k = self.strength
        return (n * value + k * self.prior) / (n + k)

    def percentile(self, own: float, candidate: float) -> float:
        """Share of the other members ``candidate`` beats (ties count half); ``own`` is the
        member's current shrunk value, taken out of the group first."""
        values = self.shrunk
        others = len(values) - 1
        if others <= 0:
            return 0.5
        below = bisect.bisect_left(values, candidate)
        above = len(values) - bisect.bisect_right(values, candidate)
        equal = len(values) - below - above
        # Remove the member itself from the counts.
        if own < candidate:
            below -= 1
        elif own > candidate:
            above -= 1
        else:
            equal -= 1
        worse = above if self.definition.direction is Direction.LOWER else below
        return (worse + 0.5 * equal) / others


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Ship-timeout rate" → "ship-timeout rate", but acronyms
    ("CS dissatisfaction rate", "IM 3-minute reply rate", "NPS") stay as they are."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[0].lower() + label[1:]


def _value(d: MetricDef, sums: tuple[float, float] | None) -> float | None:
    if sums is None:
        return None
    return d.value(*sums)


def _typical(points: list[tuple[float, float]]) -> float:
    """The peer group's prior: the mean of its merchants' values, each merchant counting
    once. (A volume-weighted mean would let a few big merchants set the prior: two sellers
    with most of a category's presale orders, half of them overdue, would pull every small
    merchant's presale record toward their 50%.)"""
    return sum(v for v, _ in points) / len(points)


def _fit_strength(d: MetricDef, points: list[tuple[float, float]], scoring: Scoring) -> float:
    """Pseudo-observations of the prior for a metric in a group (see module docstring)."""
    cfg = scoring.shrinkage
    if d.unit is not Unit.SHARE:
        return cfg.mean_strength
    if cfg.prior_strength is not None:
        return cfg.prior_strength
    total = sum(n for _, n in points)
    mu = _typical(points)
    if len(points) < 2 or mu <= 0 or mu >= 1:
        return cfg.max_strength
    observed = sum(n * (v - mu) ** 2 for v, n in points) / total
    noise = mu * (1 - mu) * len(points) / total
    between = observed - noise
    if between <= 0:
        return cfg.max_strength
    return min(cfg.max_strength, max(cfg.min_strength, mu * (1 - mu) / between - 1))


def _group_key(m: MerchantMetrics, scoring: Scoring) -> str:
    category = m.category or "(none)"
    if scoring.peer_group == "category":
        return category
    band = bisect.bisect_right(scoring.size_bands, m.valid_orders)
    return f"{category}/size{band}"


def _metric_weights(scoring: Scoring) -> dict[str, tuple[str, float]]:
    return {
        mid: (dim, w) for dim, cfg in scoring.dimensions.items() for mid, w in cfg.metrics.items()
    }


class _Scorer:
    def __init__(self, eligible: list[MerchantMetrics], scoring: Scoring) -> None:
        self.scoring = scoring
        self.definitions = _definitions()
        self.weights = _metric_weights(scoring)
        members: dict[str, list[MerchantMetrics]] = {}
        for m in eligible:
            members.setdefault(_group_key(m, scoring), []).append(m)
        self.group_of: dict[str, str] = {}
        for key, group in members.items():
            for m in group:
                self.group_of[m.merchant_id] = (
                    key if len(group) >= scoring.min_peers else PLATFORM_GROUP
                )
        groups: dict[str, list[MerchantMetrics]] = {}
        for m in eligible:
            groups.setdefault(self.group_of[m.merchant_id], []).append(m)
        self.stats = {key: self._stats(group) for key, group in groups.items()}
        # Looked up once per merchant and per improvement: prepared here.
        self.dim_metrics = {
            dim.value: list(scoring.dimensions[dim.value].metrics.items())
            for dim in SCORED_DIMENSIONS
        }
        self.standard_metrics = {mid for std in scoring.standards for mid in std.when}
        self.category_weights: dict[str | None, dict[str, float]] = {}

    @functools.cache  # noqa: B019 (one scorer per run: the cache goes with it)
    def _in_dim(self, key: str, dim: str) -> float:
        """Total weight of the metrics of ``dim`` scored in peer group ``key``."""
        return sum(w for mid, w in self.dim_metrics[dim] if mid in self.stats[key])

    def _weights_for(self, category: str | None) -> dict[str, float]:
        weights = self.category_weights.get(category)
        if weights is None:
            weights = self.category_weights[category] = self.scoring.weights_for(category)
        return weights

    def _stats(self, group: list[MerchantMetrics]) -> dict[str, _GroupMetric]:
        out = {}
        for mid in self.weights:
            d = self.definitions[mid]
            points = [
                (v, m.sums[mid][1])
                for m in group
                if (v := _value(d, m.sums.get(mid))) is not None and m.sums[mid][1] >= d.min_volume
            ]
            if not points:
                continue  # nobody in the group has this metric: it is not scored here
            gm = _GroupMetric(
                definition=d,
                prior=_typical(points),
                strength=_fit_strength(d, points, self.scoring),
                median=statistics.median(v for v, _ in points),
                min_volume=d.min_volume,
                shrunk=[],
            )
            gm.shrunk = sorted(
                gm.shrink(_value(d, m.sums.get(mid)), self._n(m, mid)) for m in group
            )
            gm.shrunk_median = statistics.median(gm.shrunk)
            out[mid] = gm
        return out

    @staticmethod
    def _n(m: MerchantMetrics, mid: str) -> float:
        return m.sums[mid][1] if mid in m.sums else 0.0

    def _severity(self, gm: _GroupMetric, shrunk: float) -> float:
        """0 up to ``severity_ratio[0]`` times the group's median defect, 1 from
        ``severity_ratio[1]`` times it (linear between)."""
        d = gm.definition
        lower = d.direction is Direction.LOWER
        middle = gm.shrunk_median
        if not (lower or d.unit is Unit.SHARE):
            return 0.0
        # defect: the value, or the shortfall from 100%
        defect, median = (shrunk, middle) if lower else (1 - shrunk, 1 - middle)
        start, full = self.scoring.severity_ratio
        if median <= 0:
            return 0.0
        return min(1.0, max(0.0, (defect / median - start) / (full - start)))

    def _points(self, pct: float, gm: _GroupMetric, shrunk: float) -> float:
        """100 minus a loss of up to ``100 − points_floor``, additive per metric: the share
        ``1 − severity_share`` follows the rank (``1 − pct ** points_curve``), the share
        ``severity_share`` the severity, 0 up to ``severity_ratio[0]`` times the group's median
        defect and 1 from ``severity_ratio[1]`` times it (linear between)."""
        cfg = self.scoring
        severity = self._severity(gm, shrunk)
        rank = 1 - pct**cfg.points_curve
        loss = (1 - cfg.severity_share) * rank + cfg.severity_share * severity
        return float(100 - (100 - cfg.points_floor) * loss)

    def _combine(
        self,
        m: MerchantMetrics,
        points: dict[str, float],
        values: dict[str, float | None],
        met: tuple[str, ...] | None = None,
        severe: frozenset[str] = frozenset(),
    ) -> tuple[float, dict[str, float | None], tuple[str, ...]]:
        """Overall score, dimension scores and standards met, from per-metric points
        (``met``: the standards already known to be met, when ``values`` did not change
        any metric a standard looks at)."""
        dims: dict[str, float | None] = {}
        for dim, members in self.dim_metrics.items():
            total = weighted = 0.0
            for mid, w in members:
                if mid in points:
                    total += w
                    weighted += points[mid] * w
            dims[dim] = weighted / total if total else None
            cap = self.scoring.severe_defect_cap
            if (
                cap is not None
                and dims[dim] is not None
                and any(mid in severe for mid, _ in members)
            ):
                # a metric at severity_ratio[1] times the peer median or worse: the
                # dimension cannot stay near full marks (its standard floor cannot lift it)
                dims[dim] = min(dims[dim] or 0.0, cap)
        if met is None:
            met = tuple(
                std.name
                for std in self.scoring.standards
                if (not std.categories or m.category in std.categories)
                and dims[std.dimension] is not None
                and all(
                    self._meets(m, mid, cond.min, cond.max, values)
                    for mid, cond in std.when.items()
                )
            )
        for std in self.scoring.standards:
            if std.name in met and not any(
                mid in severe for mid, _ in self.dim_metrics[std.dimension]
            ):
                dims[std.dimension] = max(dims[std.dimension] or 0.0, std.floor)
        weights = self._weights_for(m.category)
        total = overall = 0.0
        for dim, value in dims.items():
            if value is not None:
                total += weights[dim]
                overall += value * weights[dim]
        return (overall / total if total else 0.0), dims, met

    def _meets(
        self,
        m: MerchantMetrics,
        mid: str,
        low: float | None,
        high: float | None,
        values: dict[str, float | None],
    ) -> bool:
        d = self.definitions[mid]
        value = values.get(mid, _value(d, m.sums.get(mid)))
        if value is None or self._n(m, mid) < d.min_volume:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    def score(self, m: MerchantMetrics) -> MerchantScore:
        key = self.group_of[m.merchant_id]
        stats = self.stats[key]
        points: dict[str, float] = {}
        values: dict[str, float | None] = {}
        details = []
        severe: set[str] = set()
        weights = self._weights_for(m.category)
        for mid, gm in stats.items():
            d = gm.definition
            value = _value(d, m.sums.get(mid))
            values[mid] = value
            shrunk = gm.shrink(value, self._n(m, mid))
            pct = gm.percentile(shrunk, shrunk)
            points[mid] = self._points(pct, gm, shrunk)
            if self._severity(gm, shrunk) >= 1.0:
                severe.add(mid)
            details.append((mid, gm, value, shrunk, pct))
        overall, dims, met = self._combine(m, points, values, severe=frozenset(severe))
        present = {d: w for d, w in weights.items() if dims.get(d) is not None}
        dim_total = sum(present.values())
        metric_scores = []
        for mid, gm, value, shrunk, pct in details:
            dim, w = self.weights[mid]
            in_dim = self._in_dim(key, dim)
            share = (w / in_dim) * (present.get(dim, 0.0) / dim_total) if dim_total else 0.0
            num, den = m.sums.get(mid, (0.0, 0.0))
            metric_scores.append(
                MetricScore(
                    mid, dim, value, num, den, shrunk, gm.prior, gm.median, pct,
                    points[mid], (100 - points[mid]) * share,
                )
            )  # fmt: skip
        improvements = self._improvements(m, stats, points, values, overall, met, frozenset(severe))
        return MerchantScore(
            merchant_id=m.merchant_id,
            category=m.category,
            status=SCORED,
            valid_orders=m.valid_orders,
            score=overall,
            dimensions=dims,
            display_score=self.scoring.display_of(overall),
            level=self.scoring.level_of(overall),
            peer_group=key,
            metrics=tuple(metric_scores),
            improvements=improvements,
            standards_met=met,
            severe=tuple(sorted(severe)),
        )

    def _improvements(
        self,
        m: MerchantMetrics,
        stats: dict[str, _GroupMetric],
        points: dict[str, float],
        values: dict[str, float | None],
        overall: float,
        met: tuple[str, ...],
        severe: frozenset[str] = frozenset(),
    ) -> tuple[Improvement, ...]:
        """The three metric changes that raise the score most: each metric moved to the
        peer median, all else unchanged."""
        found: list[tuple[float, str, MetricDef, float, float]] = []
        for mid, gm in stats.items():
            d = gm.definition
            value = values[mid]
            n = self._n(m, mid)
            if value is None or n < d.min_volume:
                continue
            worse = value > gm.median if d.direction is Direction.LOWER else value < gm.median
            if not worse:
                continue
            own = gm.shrink(value, n)
            target = gm.shrink(gm.median, n)
            new_points = {**points, mid: self._points(gm.percentile(own, target), gm, target)}
            new_overall, _, _ = self._combine(
                m,
                new_points,
                {**values, mid: gm.median},
                None if mid in self.standard_metrics else met,
                severe - {mid},
            )
            gain = new_overall - overall
            if gain > 0.005:
                found.append((gain, mid, d, value, gm.median))
        found.sort(key=lambda f: (-f[0], f[1]))
        out = []
        for gain, mid, d, value, target in found[:3]:  # only the top three get words
            verb, verb_zh = (
                ("cut", "降至") if d.direction is Direction.LOWER else ("raise", "提升至")
            )
            now, goal = format_value(d, value), format_value(d, target)
            out.append(
                Improvement(
                    mid, value, target, gain,
                    f"{verb} {_in_sentence(d.en)} from {now} to the peer median "
                    f"{goal} → +{gain:.1f}",
                    f"{d.zh}从{now}{verb_zh}同行中位数{goal} → +{gain:.1f}",
                )
            )  # fmt: skip
        return tuple(out)


def _capped(s: MerchantScore, record: ViolationRecord | None, scoring: Scoring) -> MerchantScore:
    if record is None or s.score is None:
        return s
    cap = scoring.cap_for(record.b_points, record.at_node, record.a_points, record.a_at_node)
    if cap is None or s.score <= cap[0]:
        return s
    score = cap[0]
    return replace(
        s, score=score, level=scoring.level_of(score), display_score=scoring.display_of(score),
        ranked_score=s.score, capped_by=cap[1],
    )  # fmt: skip


def score_merchants(
    merchants: Iterable[MerchantMetrics],
    scoring: Scoring,
    records: Mapping[str, ViolationRecord] | None = None,
) -> list[MerchantScore]:
    """Score every merchant (see the module docstring); the result is sorted by merchant id
    and does not depend on the input's order. ``records``: each merchant's serious
    violations, which cap its score and level (``Scoring.violation_caps``)."""
    records = records or {}
    ordered = sorted(merchants, key=lambda m: m.merchant_id)
    eligible = [m for m in ordered if m.valid_orders >= scoring.min_valid_orders]
    scorer = _Scorer(eligible, scoring)
    definitions = _definitions()
    out = []
    for m in ordered:
        if m.valid_orders >= scoring.min_valid_orders:
            out.append(_capped(scorer.score(m), records.get(m.merchant_id), scoring))
            continue
        provisional = scoring.new_merchant_score.get(
            m.store_type or "", scoring.new_merchant_score.get("default")
        )
        shown = tuple(
            MetricScore(mid, dim, _value(definitions[mid], m.sums.get(mid)), *m.sums[mid])
            for mid, (dim, _w) in _metric_weights(scoring).items()
            if mid in m.sums
        )
        out.append(
            MerchantScore(
                merchant_id=m.merchant_id,
                category=m.category,
                status=INSUFFICIENT,
                valid_orders=m.valid_orders,
                metrics=shown,
                provisional_score=provisional,
            )
        )
    return out
