"""Governance impact: the effect of a penalty on the metric it targets, measured against
comparable merchants that were not penalised (difference in differences), beside the naive
before/after.

A naive before/after on penalised merchants overstates the effect twice over: merchants are
penalised when their metric is at its worst (regression to the mean brings it back anyway),
and a penalty often follows a bad season (the 618 promotion week) that passes for everyone.
Both move the merchants that were *not* penalised too, so::

    effect = mean over treated i of [ (after_i - before_i) - mean over i's controls j of
                                      (after_j - before_j) ]

**Treated**: for each rule of :data:`~tiyan.policy.rules.TARGET_METRIC`, each
merchant's first penalty attributed to the rule (as :mod:`tiyan.store.rectification`
attributes it: the rule that gave most of the ledger's points that year up to the penalty;
a penalty lifted on appeal does not count), if its ``days`` after have all passed by
``as_of``. *Before* is the targeted metric over the ``days`` before the penalty day, *after*
over the ``days`` after it (the same sums as ``rectification``); a merchant with no volume on
either side is not measured.

**Controls**: merchants with no penalty at all (lifted or not, of any rule) up to the end of
the treated merchant's after-window — never penalised, or penalised only later ("not yet
treated") — with a value on both sides of the *same calendar windows*. The
``controls_per_treated`` nearest by their *before* value, from the treated merchant's category
(``merchants.category``) when it has that many, else from every category; ties go to the
lower merchant id. Matching on the before value is what removes regression to the mean (a
control that was as bad is as likely to get better by chance); the same calendar days remove
the season.

**Interval**: a normal-theory interval on the mean of the per-treated contrasts, with a
Student *t* quantile (n - 1 degrees of freedom) and the Abadie-Imbens term for controls
matched to several treated merchants (their noise is shared, so the contrasts are not
independent)::

    V = sum_i (c_i - effect)^2 / n^2  +  sum_j ((K_j/k)^2 - K_j/k^2) * s_j^2 / n^2

with ``c_i`` the contrasts, ``K_j`` how many treated merchants control ``j`` serves, and
``s_j^2`` the variance of the control differences within the matched sets ``j`` belongs to.
It is deterministic (no resampling). See ``docs/impact.md`` for the validation on simulated
markets with a known true effect, and the limits.

Example::

    with open_store("tiyan.duckdb") as store:
        for r in estimate_impact(store, as_of=date(2024, 8, 29)):
            print(r.rule_id, r.naive, r.effect, (r.ci_low, r.ci_high))
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.rules import TARGET_METRIC
from tiyan.store.base import Store
from tiyan.store.rectification import attributed_penalties

__all__ = ["CONTROL_VOLUME", "RuleImpact", "estimate_impact", "first_penalties"]

#: A control's before value must rest on at least this many records (or as many as the
#: treated merchant's, if fewer): one that looked as bad on a handful of orders was mostly
#: unlucky, regresses to its mean and makes the penalty look harmful.
CONTROL_VOLUME = 20
#: Controls of the treated merchant's own category are used when the farthest of them is
#: within this many standard deviations (of the before values of all candidates) of the
#: treated value; otherwise the nearest of every category (a fake shipper's peers in its
#: category are mostly honest shops, far from it).
CALIPER = 0.25


@dataclass(frozen=True)
class RuleImpact:
    """The measured effect of one rule's penalties on its targeted metric."""

    rule_id: str
    metric_id: str
    treated: int  # penalised merchants measured (before and after both have a value)
    controls: int  # distinct matched control merchants used
    before: float  # mean targeted metric of the treated over the days before
    after: float  # mean over the days after
    naive: float  # after - before (the seeds' before/after, metric units)
    naive_relative: float | None  # naive / before (None when before == 0)
    effect: float  # DiD estimate, metric units
    ci_low: float
    ci_high: float
    relative: float | None  # effect / before
    confidence: float  # e.g. 0.95


_Values = tuple[float, float, float]


@dataclass(frozen=True)
class _Unit:
    """One merchant's targeted metric over the days before and after one penalty day."""

    merchant_id: str
    category: str | None
    before: float
    after: float
    #: The denominator behind ``before`` (orders, sessions...): how reliable it is.
    volume: float

    @property
    def diff(self) -> float:
        return self.after - self.before


def _penalty_events(
    store: Store, as_of: date
) -> tuple[list[tuple[str, str, date]], dict[str, date]]:
    """(rule, merchant, day) of every penalty in force attributed to a targeted rule, and each
    merchant's first penalty day of any kind (lifted or not)."""
    first_any: dict[str, date] = {}
    for merchant_id, day in store.query(
        "SELECT merchant_id, min(day) FROM actions WHERE kind = 'penalty' AND day <= ? "
        "GROUP BY merchant_id",
        (as_of,),
    ):
        first_any[merchant_id] = day
    events = [
        (rule_id, merchant_id, day)
        for merchant_id, _ledger, day, _id, rule_id in attributed_penalties(store, as_of=as_of)
    ]
    return events, first_any


def first_penalties(store: Store, *, as_of: date, days: int = 30) -> dict[str, dict[str, date]]:
    """Rule -> merchant -> the day of the merchant's first penalty attributed to the rule,
    for the merchants whose first such penalty has its ``days`` after all passed by ``as_of``
    (the treated of :func:`estimate_impact`, before the check that both sides have a value).
    """
    return _first(_penalty_events(store, as_of)[0], as_of, days)


def _first(
    events: list[tuple[str, str, date]], as_of: date, days: int
) -> dict[str, dict[str, date]]:
    first: dict[str, dict[str, date]] = defaultdict(dict)
    for rule_id, merchant_id, day in sorted(events, key=lambda e: e[2]):
        first[rule_id].setdefault(merchant_id, day)
    span = timedelta(days=days)
    return {
        rule_id: {m: d for m, d in sorted(chosen.items()) if d + span < as_of}
        for rule_id, chosen in sorted(first.items())
    }


def _windows(store: Store, metric_id: str, day: date, days: int) -> dict[str, _Values]:
    """Merchant -> (before, after, before's denominator) of ``metric_id`` around ``day``,
    for every merchant with a value on both sides."""
    span = timedelta(days=days)
    one = timedelta(days=1)
    b0, b1, a0, a1 = day - span, day - one, day + one, day + span
    rows = store.query(
        "SELECT merchant_id, "
        "sum(CASE WHEN day <= ? THEN num END), sum(CASE WHEN day <= ? THEN den END), "
        "sum(CASE WHEN day >= ? THEN num END), sum(CASE WHEN day >= ? THEN den END) "
        "FROM metric_daily WHERE metric_id = ? AND day BETWEEN ? AND ? AND day <> ? "
        "GROUP BY merchant_id",
        (b1, b1, a0, a0, metric_id, b0, a1, day),
    )
    definition = DEFINITIONS[metric_id]
    out = {}
    for merchant_id, bn, bd, an, ad in rows:
        if bd is None or ad is None or bd < definition.min_volume or ad < definition.min_volume:
            continue
        before, after = definition.value(bn, bd), definition.value(an, ad)
        if before is not None and after is not None:
            out[merchant_id] = (float(before), float(after), float(bd))
    return out


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _t_quantile(p: float, df: int) -> float:
    """Student t quantile by its Cornish-Fisher expansion around the normal (0.975: within
    0.01 at 3 degrees of freedom, 0.001 from 6 on; the standard library has no t)."""
    z = NormalDist().inv_cdf(p)
    v = float(max(df, 1))
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def _match(treated: _Unit, pool: list[_Unit], k: int, caliper: float) -> list[_Unit]:
    """The ``k`` units of ``pool`` nearest ``treated`` by before value, among those measured
    on enough volume (:data:`CONTROL_VOLUME`): from its category when it has ``k`` within
    ``caliper`` of the treated value, else from every category."""
    floor = min(CONTROL_VOLUME, treated.volume)
    pool = [u for u in pool if u.volume >= floor]

    def nearest(units: list[_Unit]) -> list[_Unit]:
        return sorted(units, key=lambda u: (abs(u.before - treated.before), u.merchant_id))[:k]

    same = nearest([u for u in pool if u.category == treated.category])
    if len(same) == k and abs(same[-1].before - treated.before) <= caliper:
        return same
    return nearest(pool)


def _interval(
    sets: list[tuple[_Unit, list[_Unit]]], confidence: float
) -> tuple[float, float, float]:
    """(effect, low, high) from the treated units and their matched controls."""
    n = len(sets)
    contrasts = [t.diff - sum(c.diff for c in cs) / len(cs) for t, cs in sets]
    effect = sum(contrasts) / n
    if n < 2:
        return effect, -math.inf, math.inf
    variance = sum((c - effect) ** 2 for c in contrasts) / (n * (n - 1))
    # Controls serving several treated merchants: their noise counts once per use.
    uses: dict[str, int] = defaultdict(int)
    within: dict[str, list[float]] = defaultdict(list)
    for _, cs in sets:
        diffs = [c.diff for c in cs]
        mean = sum(diffs) / len(diffs)
        spread = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) if len(diffs) > 1 else 0.0
        for c in cs:
            uses[c.merchant_id] += 1
            within[c.merchant_id].append(spread)
    k = len(sets[0][1])
    for merchant_id, used in uses.items():
        s2 = sum(within[merchant_id]) / len(within[merchant_id])
        variance += ((used / k) ** 2 - used / k**2) * s2 / n**2
    half = _t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(variance)
    return effect, effect - half, effect + half


def estimate_impact(
    store: Store,
    *,
    as_of: date,
    days: int = 30,
    controls_per_treated: int = 5,
    confidence: float = 0.95,
) -> list[RuleImpact]:
    """For every rule with measured penalties, the DiD effect on its targeted metric and the
    naive before/after (module docstring); rules in ``TARGET_METRIC`` order."""
    if days < 1 or controls_per_treated < 1 or not 0 < confidence < 1:
        raise ValueError("days and controls_per_treated must be positive, confidence in (0, 1)")
    events, first_any = _penalty_events(store, as_of)
    treated_days = _first(events, as_of, days)
    category = dict(store.query("SELECT merchant_id, category FROM merchants"))
    out = []
    for rule_id, metric_id in TARGET_METRIC.items():
        chosen = treated_days.get(rule_id, {})
        sets: list[tuple[_Unit, list[_Unit]]] = []
        for day in sorted(set(chosen.values())):
            values = _windows(store, metric_id, day, days)
            end = day + timedelta(days=days)
            pool = [
                _Unit(m, category.get(m), *v)
                for m, v in sorted(values.items())
                if m not in first_any or first_any[m] > end
            ]
            caliper = CALIPER * _sd([u.before for u in pool])
            for merchant_id in sorted(m for m, d in chosen.items() if d == day):
                if merchant_id in values:
                    unit = _Unit(merchant_id, category.get(merchant_id), *values[merchant_id])
                    matched = _match(unit, pool, controls_per_treated, caliper)
                    if len(matched) == controls_per_treated:
                        sets.append((unit, matched))
        if not sets:
            continue
        n = len(sets)
        before = sum(t.before for t, _ in sets) / n
        after = sum(t.after for t, _ in sets) / n
        effect, low, high = _interval(sets, confidence)
        out.append(
            RuleImpact(
                rule_id=rule_id,
                metric_id=metric_id,
                treated=n,
                controls=len({c.merchant_id for _, cs in sets for c in cs}),
                before=before,
                after=after,
                naive=after - before,
                naive_relative=(after - before) / before if before else None,
                effect=effect,
                ci_low=low,
                ci_high=high,
                relative=effect / before if before else None,
                confidence=confidence,
            )
        )
    return out
