"""Enforcement as of a date: run the detectors, record new violations and their
consequences.

``run_enforcement(store, as_of=...)`` runs every enabled detector of the policy in force
over the store, and appends to ``violations`` those not recorded yet (ids are
deterministic, so running twice — or the next day over an overlapping lookback — adds
nothing). Then the consequences of the violations of the lookback — compensation, points,
penalty-ladder nodes (:mod:`tiyan.policy.ledger`) — are appended to ``actions``, again only
what is not there yet.

Example::

    with open_store("tiyan.duckdb") as store:
        summary = run_enforcement(store, as_of=date(2024, 7, 30))
        summary.new_by_rule  # {"ship_timeout": 1523, ...}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tiyan.domain.errors import UsageError
from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.metrics.runner import refresh_partials, store_tables
from tiyan.policy.detect import detect
from tiyan.policy.files import load_policy
from tiyan.policy.ledger import Violation, consequences
from tiyan.policy.privileges import MEASURE_KINDS
from tiyan.policy.schema import Policy
from tiyan.store.base import Store
from tiyan.store.governance import load_rule_rates, load_standings, record_privileges
from tiyan.store.rectification import record_rectification

Progress = Callable[[str], None]
VIOLATIONS = GOVERNANCE_TABLES["violations"]
ACTIONS = GOVERNANCE_TABLES["actions"]


@dataclass(frozen=True)
class EnforcementSummary:
    as_of: date
    policy_version: str
    #: Rule id -> violations the detectors found in the lookback (new or already recorded).
    found_by_rule: dict[str, int]
    #: Rule id -> violations recorded by this run.
    new_by_rule: dict[str, int]
    #: Merchants with a new B-class violation.
    merchants_with_new_b: int = 0
    ids: list[str] = field(default_factory=list, repr=False)
    #: New consequences: compensation (¥), points per ledger, (merchant, penalty measure).
    compensation: Decimal = Decimal("0.00")
    points: dict[str, float] = field(default_factory=dict)
    penalties: list[tuple[str, str]] = field(default_factory=list)
    #: Privilege changes (needs scores for as_of: run `tiyan score` first).
    privileges_granted: int = 0
    privileges_revoked: int = 0
    #: Penalties in force whose targeted metric is tracked in ``rectification``.
    rectification: int = 0
    #: Score-based measures applied and lifted.
    measures_applied: int = 0
    measures_lifted: int = 0

    @property
    def new(self) -> int:
        return sum(self.new_by_rule.values())


def _plain(value: Any) -> Any:
    """JSON-ready evidence values: times as ISO text, floats as they are."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def violation_rows(
    rule_id: str, ledger: str, records: list[dict[str, Any]], *, as_of: date, policy: Policy
) -> list[dict[str, Any]]:
    """``violations`` rows (as dicts) from a detector's records."""
    offset = timedelta(minutes=policy.population.catalog_config().utc_offset_minutes)
    rows = []
    for r in records:
        occurred: datetime = r["occurred_at"]
        # Evidence that holds: signals that did not fire (False) and absent values are left out.
        evidence = {
            k[2:]: _plain(v)
            for k, v in r.items()
            if k.startswith("e_") and v is not None and v is not False
        }
        # The local day of the deadline; a period ending at local midnight is its last day.
        day = (occurred + offset - timedelta(seconds=1)).date()
        rows.append(
            {
                "violation_id": f"{rule_id}:{r['merchant_id']}:{r['subject']}",
                "rule_id": rule_id,
                "ledger": ledger,
                "merchant_id": r["merchant_id"],
                "subject": r["subject"],
                "order_id": r["order_id"],
                "occurred_at": occurred,
                "day": day,
                "amount": None if r["amount"] is None else float(r["amount"]),
                "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
                "policy_version": policy.version,
                "detected_as_of": as_of,
            }
        )
    return rows


def _recorded(store: Store, ids: list[str]) -> set[str]:
    """Which of ``ids`` are already in ``violations``."""
    found: set[str] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        marks = ", ".join("?" for _ in chunk)
        found.update(
            r[0]
            for r in store.query(
                f"SELECT violation_id FROM violations WHERE violation_id IN ({marks})", chunk
            )
        )
    return found


def run_enforcement(
    store: Store,
    *,
    as_of: date,
    policy: Policy | None = None,
    progress: Progress | None = None,
) -> EnforcementSummary:
    """Detect violations decided by ``as_of`` and record the new ones (module docstring)."""
    policy = policy or load_policy()
    if policy.effective_from > as_of:
        raise UsageError(
            f"policy {policy.version} takes effect on {policy.effective_from}, after {as_of}"
        )
    say = progress or (lambda _msg: None)
    rules = policy.rules
    enabled = rules.enabled()
    found = detect(store_tables(store), rules, policy.population.catalog_config(), as_of=as_of)
    rows: list[dict[str, Any]] = []
    found_by_rule: dict[str, int] = {}
    for rule_id, expr in found.items():
        say(f"detecting {rule_id}")
        records = expr.to_pyarrow().to_pylist()
        found_by_rule[rule_id] = len(records)
        rows.extend(
            violation_rows(rule_id, enabled[rule_id].ledger, records, as_of=as_of, policy=policy)
        )
    known = _recorded(store, [r["violation_id"] for r in rows])
    new = sorted(
        (r for r in rows if r["violation_id"] not in known), key=lambda r: r["violation_id"]
    )
    columns = [c.name for c in VIOLATIONS.columns]
    say(f"recording {len(new):,} new violations")
    # Nothing matches the condition: the rows are only added, in one transaction.
    store.replace_rows(VIOLATIONS, [tuple(r[c] for c in columns) for r in new], "1 = 0")
    by_rule = Counter(r["rule_id"] for r in new)
    say("measuring the rates that gate points")
    # The rate-type rules' points need each merchant's own rate over the days before as_of:
    # the catalog's daily partials, brought up to date (a no-op after `tiyan score`).
    refresh_partials(store, policy.population.catalog_config(), as_of=as_of, restate_days=0)
    say("applying consequences")
    actions = record_consequences(store, policy, as_of=as_of)
    say("resolving standing")
    standings = load_standings(
        store, as_of=as_of, config=policy.standing, window=policy.scoring.window_days
    )
    say("reviewing privileges")
    changed = record_privileges(
        store, policy.privileges, as_of=as_of, window=policy.scoring.window_days,
        policy_version=policy.version, status=standings, config=policy.standing,
    )  # fmt: skip
    measures = record_privileges(
        store, {name: m.as_privilege() for name, m in policy.score_measures.items()},
        as_of=as_of, window=policy.scoring.window_days, policy_version=policy.version,
        kinds=MEASURE_KINDS,
    )  # fmt: skip
    say("measuring rectification")
    rectified = record_rectification(store, as_of=as_of)
    return EnforcementSummary(
        as_of=as_of,
        policy_version=policy.version,
        found_by_rule=found_by_rule,
        new_by_rule={rule: by_rule.get(rule, 0) for rule in found_by_rule},
        merchants_with_new_b=len({r["merchant_id"] for r in new if r["ledger"] == "B"}),
        ids=[r["violation_id"] for r in new],
        compensation=sum((r["amount"] for r in actions if r["kind"] == "compensation"),
                         Decimal("0.00")),
        points={ledger: round(sum(r["points"] for r in actions
                                  if r["kind"] == "points" and r["ledger"] == ledger), 2)
                for ledger in ("A", "B")},
        penalties=sorted({(r["merchant_id"], r["measure"]) for r in actions
                          if r["kind"] == "penalty"}),
        privileges_granted=sum(1 for r in changed if r["kind"] == "privilege_grant"),
        privileges_revoked=sum(1 for r in changed if r["kind"] == "privilege_revoke"),
        rectification=len(rectified),
        measures_applied=sum(1 for r in measures if r["kind"] == MEASURE_KINDS[0]),
        measures_lifted=sum(1 for r in measures if r["kind"] == MEASURE_KINDS[1]),
    )  # fmt: skip


def record_consequences(store: Store, policy: Policy, *, as_of: date) -> list[dict[str, Any]]:
    """Append the consequences of the violations of the lookback (and the week before it,
    for the weekly caps) to ``actions``; returns the new rows."""
    since = as_of - timedelta(days=policy.rules.lookback_days + 7)
    violations = [
        Violation(vid, rule, ledger, merchant, order, day,
                  None if amount is None else Decimal(str(amount)))
        for vid, rule, ledger, merchant, order, day, amount in store.query(
            "SELECT violation_id, rule_id, ledger, merchant_id, order_id, day, amount "
            "FROM violations WHERE day >= ? AND day < ?", (since, as_of))
    ]  # fmt: skip
    names = ["action_id", "kind", "merchant_id", "rule_id", "ledger", "points", "day"]
    recorded = {
        r[0]: dict(zip(names, r, strict=True))
        for r in store.query(
            f"SELECT {', '.join(names)} FROM actions "
            "WHERE kind IN ('penalty', 'reversal') OR day >= ?",
            (since,),
        )
    }
    prior = {
        (m, ledger, int(year)): Decimal(str(total))
        for m, ledger, year, total in store.query(
            "SELECT merchant_id, ledger, EXTRACT(YEAR FROM day), sum(points) FROM actions "
            "WHERE kind IN ('points', 'reversal') AND points IS NOT NULL GROUP BY 1, 2, 3"
        )
    }
    rates = load_rule_rates(store, policy.consequences, as_of=as_of)
    rows = consequences(
        violations, recorded, policy.consequences, as_of=as_of,
        policy_version=policy.version, prior_totals=prior, rates=rates,
    )  # fmt: skip
    columns = [c.name for c in ACTIONS.columns]
    store.replace_rows(ACTIONS, [tuple(r[c] for c in columns) for r in rows], "1 = 0")
    return rows
