"""A merchant's governance record as of a date: what the scorecard (and later the API)
shows beside the score."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tiyan.policy.ledger import strictest
from tiyan.store.base import Store


def merchant_record(store: Store, merchant_id: str, as_of: date | None) -> dict[str, Any] | None:
    """Violations of the 90 days before ``as_of``, this year's points after reversals, the
    penalties in force, compensation paid, open appeals, and the privileges and score
    measures in force (None for a store without enforcement yet)."""
    if as_of is None or "actions" not in store.existing_columns():
        return None
    since = as_of - timedelta(days=90)
    violations = dict(
        store.query(
            "SELECT rule_id, count(*) FROM violations WHERE merchant_id = ? AND day >= ? "
            "AND day < ? GROUP BY 1 ORDER BY 1",
            (merchant_id, since, as_of),
        )
    )
    points = {
        ledger: round(float(total), 2)
        for ledger, total in store.query(
            "SELECT ledger, sum(points) FROM actions WHERE merchant_id = ? AND points IS NOT NULL "
            "AND kind IN ('points', 'reversal') AND EXTRACT(YEAR FROM day) = ? GROUP BY 1 "
            "ORDER BY 1",
            (merchant_id, as_of.year),
        )
    }
    lifted = {
        r[0][len("reversal:") :]
        for r in store.query(
            "SELECT action_id FROM actions WHERE merchant_id = ? AND kind = 'reversal'",
            (merchant_id,),
        )
    }
    penalties = sorted(
        (measure, action_id)
        for action_id, measure in store.query(
            "SELECT action_id, measure FROM actions WHERE merchant_id = ? AND kind = 'penalty'",
            (merchant_id,),
        )
        if action_id not in lifted
    )
    (coupons,) = store.query(
        "SELECT coalesce(sum(amount), 0) FROM actions WHERE merchant_id = ? "
        "AND kind IN ('compensation', 'reversal') AND amount IS NOT NULL",
        (merchant_id,),
    )[0]
    appeals = store.query(
        "SELECT count(*) FROM appeals WHERE merchant_id = ? AND status = 'open'", (merchant_id,)
    )[0][0]
    held: dict[str, bool] = {}
    for name, kind in store.query(
        "SELECT measure, kind FROM actions WHERE merchant_id = ? AND day <= ? AND kind IN "
        "('privilege_grant', 'privilege_revoke', 'measure_apply', 'measure_lift') "
        "ORDER BY day, action_id",
        (merchant_id, as_of),
    ):
        held[name] = kind in ("privilege_grant", "measure_apply")
    return {
        "violations_90d": violations,
        "points_this_year": points,
        "penalties": [p[1] for p in penalties],
        "penalty_in_force": strictest(p[0] for p in penalties),
        "compensation_paid": str(coupons),
        "open_appeals": int(appeals),
        # privileges held and score-based measures in force (one namespace in the policy)
        "privileges_and_measures": sorted(name for name, on in held.items() if on),
    }
