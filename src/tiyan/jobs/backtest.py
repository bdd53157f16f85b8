"""Backtest: what a candidate policy would have done over a stretch of history, beside the
policy in force, without touching the ledger.

Both policies detect the violations decided from ``start`` to ``end`` (one run whose lookback
spans the period) and turn them into consequences from an empty ledger, in memory. The
result compares them per merchant — violations, points per ledger, compensation, penalty
measures — and sums the differences: merchants newly penalised or spared, points and
compensation cost gained or saved.

Example::

    result = backtest(store, load_policy("strict.yaml"), start=date(2024, 6, 1),
                      end=date(2024, 6, 30))
    result.summary["newly_penalised"]
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tiyan.domain.errors import UsageError
from tiyan.metrics.runner import refresh_partials
from tiyan.policy.ledger import strictest
from tiyan.policy.pipeline import Snapshot, evaluate_policy
from tiyan.policy.schema import Policy
from tiyan.store.base import Store
from tiyan.store.governance import load_detections, load_rule_rates, write_shadow_outcomes
from tiyan.store.platform import store_policy


@dataclass
class Outcome:
    """What one policy does to one merchant over the period."""

    violations: int = 0
    points: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    compensation: Decimal = Decimal("0.00")
    measures: set[str] = field(default_factory=set)

    @property
    def penalty(self) -> str | None:
        return strictest(self.measures)


@dataclass(frozen=True)
class BacktestResult:
    start: date
    end: date
    current_version: str
    candidate_version: str
    #: Merchant -> (outcome under the current policy, under the candidate).
    merchants: dict[str, tuple[Outcome, Outcome]]
    summary: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        """One row per merchant that either policy touched (for a CSV or Parquet file)."""
        out = []
        for merchant_id, (cur, cand) in sorted(self.merchants.items()):
            out.append(
                {
                    "merchant_id": merchant_id,
                    "violations_current": cur.violations,
                    "violations_candidate": cand.violations,
                    "points_a_current": float(cur.points["A"]),
                    "points_a_candidate": float(cand.points["A"]),
                    "points_b_current": float(cur.points["B"]),
                    "points_b_candidate": float(cand.points["B"]),
                    "compensation_current": float(cur.compensation),
                    "compensation_candidate": float(cand.compensation),
                    "penalty_current": cur.penalty,
                    "penalty_candidate": cand.penalty,
                }
            )
        return out


def _outcomes(store: Store, policy: Policy, start: date, end: date) -> dict[str, Outcome]:
    """Per merchant, what ``policy`` does with the violations decided from ``start`` to
    ``end``, as if none were recorded: the pure pipeline over a snapshot of the detectors'
    records and the rates alone (nothing of the ledger is read or touched)."""
    as_of = end + timedelta(days=1)
    span = (end - start).days + 1
    policy = store_policy(store, policy)  # local days at the store's time zone
    spanned = policy.model_copy(
        update={"rules": policy.rules.model_copy(update={"lookback_days": span})}
    )
    found = load_detections(store, spanned, as_of=as_of)
    # The rate-type rules' points are gated by the merchant's rate over the days before the
    # period's end (derived partials, not the ledger).
    refresh_partials(store, policy.population.catalog_config(), as_of=as_of, restate_days=0)
    rates = load_rule_rates(store, policy.consequences, as_of=as_of)
    day = evaluate_policy(Snapshot(found=found, rates=rates), spanned, as_of=as_of)
    violations, actions = day.violations, day.actions
    out: dict[str, Outcome] = defaultdict(Outcome)
    for v in violations:
        out[v["merchant_id"]].violations += 1
    for a in actions:
        o = out[a["merchant_id"]]
        if a["kind"] == "points":
            o.points[a["ledger"]] += Decimal(str(a["points"]))
        elif a["kind"] == "compensation":
            o.compensation += a["amount"]
        elif a["kind"] == "penalty":
            o.measures.add(a["measure"])
    return dict(out)


def backtest(store: Store, candidate: Policy, *, start: date, end: date,
             current: Policy | None = None) -> BacktestResult:  # fmt: skip
    """Compare ``candidate`` with ``current`` (the shipped policy by default) over the
    violations decided from ``start`` to ``end`` (module docstring)."""
    if end < start:
        raise UsageError(f"--to {end} is before --from {start}")
    if current is None:
        from tiyan.policy.files import load_policy

        current = load_policy()
    now = _outcomes(store, current, start, end)
    then = _outcomes(store, candidate, start, end)
    merchants = {m: (now.get(m, Outcome()), then.get(m, Outcome())) for m in sorted({*now, *then})}
    penalised_now = {m for m, (c, _) in merchants.items() if c.measures}
    penalised_then = {m for m, (_, k) in merchants.items() if k.measures}

    def total(which: int, fn: Any) -> Decimal:
        return sum((Decimal(fn(pair[which])) for pair in merchants.values()), Decimal(0))

    def both(fn: Any) -> dict[str, float]:
        return {"current": float(total(0, fn)), "candidate": float(total(1, fn))}

    summary = {
        "merchants_with_violations": both(lambda o: 1 if o.violations else 0),
        "violations": both(lambda o: o.violations),
        "points_a": both(lambda o: o.points["A"]),
        "points_b": both(lambda o: o.points["B"]),
        "compensation": both(lambda o: o.compensation),
        "penalised": {"current": len(penalised_now), "candidate": len(penalised_then)},
        "newly_penalised": sorted(penalised_then - penalised_now),
        "spared": sorted(penalised_now - penalised_then),
    }
    return BacktestResult(start, end, current.version, candidate.version, merchants, summary)


def summary_json(result: BacktestResult) -> str:
    return json.dumps(
        {"from": result.start, "to": result.end, "current": result.current_version,
         "candidate": result.candidate_version, **result.summary},
        default=str, ensure_ascii=False,
    )  # fmt: skip


def record_shadow(store: Store, candidate: Policy, live: Policy, *, as_of: date) -> BacktestResult:
    """Shadow mode: what ``candidate`` would have done over the live run's lookback (the
    ``lookback_days`` before ``as_of``), beside ``live``, stored in ``shadow_outcomes`` for
    that date and candidate version (a rerun replaces them). Nothing of it is enforced."""
    end = as_of - timedelta(days=1)
    start = as_of - timedelta(days=live.rules.lookback_days)
    result = backtest(store, candidate, start=start, end=end, current=live)
    rows = []
    for r in result.rows():
        rows.append(
            {
                "as_of": as_of,
                "policy_version": candidate.version,
                "live_version": live.version,
                **{k.replace("_current", "_live").replace("_candidate", "_shadow"): v
                   for k, v in r.items()},
            }
        )  # fmt: skip
    write_shadow_outcomes(store, rows, as_of=as_of, policy_version=candidate.version)
    return result
