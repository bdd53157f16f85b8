"""The governance day as one pure function: ``evaluate_policy(snapshot, policy, *, as_of)``.

A :class:`Snapshot` holds what the day's steps need, read once from the store
(:func:`tiyan.store.governance.load_snapshot`): the records the detectors found, the
violations and ledger entries already recorded, the rates that gate points, the scores and
metric values the privilege conditions look at, and what each merchant holds. The steps are
functions of values, run in the order of :data:`STEPS`; each returns the :class:`Outcome`
with its part filled in:

1. ``detect`` — the detectors' records as violations; those not recorded yet are new;
2. ``compensate`` — one coupon per order per rule (:func:`tiyan.policy.ledger.compensation_rows`);
3. ``assign_points`` — points under the caps, gated by the merchant's own rate;
4. ``climb_ladder`` — the penalty-ladder nodes the yearly totals reach;
5. ``resolve_standing`` — each merchant's one status (:mod:`tiyan.policy.standing`);
6. ``review_privileges`` — grants and revocations, which the standing can forbid or force;
7. ``apply_measures`` — score-based measures applied and lifted;
8. ``settle`` — the standing after the day, with what the review changed.

One writer (:func:`tiyan.store.governance.write_outcome`) persists ``outcome.violations`` and
``outcome.actions`` in one transaction. Nothing here reads a store or a clock: the same
snapshot gives the same outcome, whatever the order of its rows, and
``snapshot.after(outcome)`` is the snapshot of the next run the same day (which finds
nothing more to do).

Example::

    outcome = evaluate_policy(load_snapshot(store, policy, as_of=day), policy, as_of=day)
    write_outcome(store, outcome)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tiyan.policy.ledger import (
    Violation,
    compensation_rows,
    ladder_rows,
    points_rows,
)
from tiyan.policy.privileges import (
    MEASURE_KINDS,
    PRIVILEGE_KINDS,
    Privilege,
    Standing,
    privilege_rows,
)
from tiyan.policy.schema import Policy
from tiyan.policy.standing import LedgerEntry, MerchantStanding
from tiyan.policy.standing import resolve_standing as standing_of

#: The ledger kinds the standing reads row by row (points are summed).
STANDING_KINDS = (
    "points",
    "reversal",
    "penalty",
    *PRIVILEGE_KINDS,
    *MEASURE_KINDS,
)


@dataclass(frozen=True)
class Snapshot:
    """What the day's steps read (module docstring). Mappings are keyed by merchant id
    unless said otherwise; rows are plain values."""

    #: Rule id -> the records its detector found in the lookback (``merchant_id``,
    #: ``subject``, ``order_id``, ``occurred_at``, ``amount``, ``e_*`` evidence).
    found: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    #: Violation ids already recorded (at least those among ``found``).
    recorded: frozenset[str] = frozenset()
    #: Recorded violations from the lookback (and the week before it) to the day before.
    violations: Sequence[Violation] = ()
    #: The day of the latest recorded B-class violation before the run's date.
    last_b: Mapping[str, date] = field(default_factory=dict)
    #: Action id -> recorded action (``kind``, ``merchant_id``, ``rule_id``, ``ledger``,
    #: ``points``, ``day``): penalties and reversals, and everything since the lookback.
    actions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: (merchant, ledger, year) -> points recorded (after reversals).
    prior_totals: Mapping[tuple[str, str, int], Decimal] = field(default_factory=dict)
    #: (merchant, rule) -> (numerator, denominator) of the rule's gating rate.
    rates: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    #: The ledger entries the standing reads, up to the run's date.
    ledger: Mapping[str, Sequence[LedgerEntry]] = field(default_factory=dict)
    #: Every merchant of the market.
    merchants: Sequence[str] = ()
    #: (score, level) of the latest scoring on or before the run's date.
    latest_scores: Mapping[str, tuple[float | None, str | None]] = field(default_factory=dict)
    #: The scoring of the run's date itself: score (None when not scored, e.g. too few
    #: orders); empty when scoring did not run for that date.
    scores: Mapping[str, float | None] = field(default_factory=dict)
    #: Metric id -> value, for the metrics the privilege and measure conditions name.
    values: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    #: (merchant, privilege) -> held; (merchant, measure) -> in force.
    held: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    measures_held: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    #: Review action ids (grants, revocations, measures) already recorded on the run's date.
    reviewed: frozenset[str] = frozenset()

    def after(self, outcome: Outcome) -> Snapshot:
        """This snapshot with ``outcome`` recorded: what a store that wrote it reads for
        the same date (the detectors' records unchanged)."""
        as_of = outcome.as_of
        since = consequence_window(outcome.policy_lookback, as_of)
        new_violations = [to_violation(r) for r in outcome.violations]
        last_b = dict(self.last_b)
        for v in new_violations:
            if v.ledger == "B" and v.day < as_of:
                last_b[v.merchant_id] = max(v.day, last_b.get(v.merchant_id, v.day))
        actions = dict(self.actions)
        totals: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal, self.prior_totals)
        ledger: dict[str, list[LedgerEntry]] = {m: list(e) for m, e in self.ledger.items()}
        held, measures_held = dict(self.held), dict(self.measures_held)
        reviewed = set(self.reviewed)
        for row in outcome.actions:
            if row["kind"] in ("penalty", "reversal") or row["day"] >= since:
                actions[row["action_id"]] = row
            if row["kind"] in ("points", "reversal") and row["points"] is not None:
                key = (row["merchant_id"], row["ledger"], row["day"].year)
                totals[key] += Decimal(str(row["points"]))
            if row["kind"] in STANDING_KINDS and row["day"] <= as_of:
                ledger.setdefault(row["merchant_id"], []).append(ledger_entry(row))
            if row["kind"] in PRIVILEGE_KINDS:
                held[(row["merchant_id"], row["measure"])] = row["kind"] == PRIVILEGE_KINDS[0]
            if row["kind"] in MEASURE_KINDS:
                measures_held[(row["merchant_id"], row["measure"])] = (
                    row["kind"] == MEASURE_KINDS[0]
                )
            if row["kind"] in (*PRIVILEGE_KINDS, *MEASURE_KINDS) and row["day"] == as_of:
                reviewed.add(row["action_id"])
        return replace(
            self,
            recorded=self.recorded | {r["violation_id"] for r in outcome.violations},
            violations=[*self.violations, *(v for v in new_violations if since <= v.day < as_of)],
            last_b=last_b,
            actions=actions,
            prior_totals=dict(totals),
            ledger=ledger,
            held=held,
            measures_held=measures_held,
            reviewed=frozenset(reviewed),
        )


@dataclass(frozen=True)
class Outcome:
    """What a day of governance decided: the rows to record, and each merchant's standing."""

    as_of: date
    policy_version: str
    policy_lookback: int
    #: Rule id -> violations the detectors found (new or already recorded).
    found_by_rule: Mapping[str, int] = field(default_factory=dict)
    #: New ``violations`` rows, by id.
    violations: Sequence[Mapping[str, Any]] = ()
    #: The violations the consequences look at: recorded and new, from the lookback (and the
    #: week before it, for the weekly caps) to the day before the run's date.
    window: Sequence[Violation] = ()
    #: New ``actions`` rows, in the order of the steps.
    compensation: Sequence[Mapping[str, Any]] = ()
    points: Sequence[Mapping[str, Any]] = ()
    penalties: Sequence[Mapping[str, Any]] = ()
    privileges: Sequence[Mapping[str, Any]] = ()
    measures: Sequence[Mapping[str, Any]] = ()
    #: Each merchant's standing: as the review saw it, then (after ``settle``) after the day.
    standings: Mapping[str, MerchantStanding] = field(default_factory=dict)

    @property
    def actions(self) -> list[Mapping[str, Any]]:
        return [*self.compensation, *self.points, *self.penalties, *self.privileges,
                *self.measures]  # fmt: skip


Step = Callable[[Snapshot, Policy, Outcome], Outcome]


def consequence_window(lookback_days: int, as_of: date) -> date:
    """The first day of the violations the consequences look at: the lookback, and the week
    before it for the weekly caps."""
    return as_of - timedelta(days=lookback_days + 7)


def _plain(value: Any) -> Any:
    """JSON-ready evidence values: times as ISO text, floats as they are."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def violation_rows(
    rule_id: str, ledger: str, records: Sequence[Mapping[str, Any]], *, as_of: date,
    policy: Policy,
) -> list[dict[str, Any]]:  # fmt: skip
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


def to_violation(row: Mapping[str, Any]) -> Violation:
    amount = row["amount"]
    return Violation(row["violation_id"], row["rule_id"], row["ledger"], row["merchant_id"],
                     row["order_id"], row["day"],
                     None if amount is None else Decimal(str(amount)))  # fmt: skip


def parse_detail(text: str | None) -> dict[str, Any]:
    """A ledger row's ``detail`` JSON as a dict (empty when absent or not an object)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def ledger_entry(row: Mapping[str, Any]) -> LedgerEntry:
    """The standing's view of an ``actions`` row (only a penalty's detail is kept)."""
    detail = parse_detail(row["detail"]) if row["kind"] == "penalty" else {}
    return LedgerEntry(row["action_id"], row["kind"], row["ledger"], row["points"],
                       row["measure"], row["day"], detail)  # fmt: skip


# --- the steps ------------------------------------------------------------------------------


def detect(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """The detectors' records as ``violations`` rows; the new ones are those not recorded."""
    enabled = policy.rules.enabled()
    rows: list[dict[str, Any]] = []
    found_by_rule: dict[str, int] = {}
    for rule_id in [r for r in enabled if r in snapshot.found]:  # the policy's order
        records = snapshot.found[rule_id]
        found_by_rule[rule_id] = len(records)
        rows.extend(
            violation_rows(
                rule_id, enabled[rule_id].ledger, records, as_of=outcome.as_of, policy=policy
            )
        )
    # One violation per id: should a detector return a subject twice, the earliest
    # occurrence (then the evidence) decides, whatever order the engine returned them in.
    new: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: (r["violation_id"], r["occurred_at"], r["evidence"])):
        if r["violation_id"] not in snapshot.recorded:
            new.setdefault(r["violation_id"], r)
    # The violations the consequences look at: recorded and new, in their window.
    since = consequence_window(outcome.policy_lookback, outcome.as_of)
    fresh = [to_violation(r) for r in new.values()]
    window = sorted(
        [*snapshot.violations, *(v for v in fresh if since <= v.day < outcome.as_of)],
        key=lambda v: (v.day, v.violation_id),
    )
    return replace(
        outcome, found_by_rule=found_by_rule, violations=list(new.values()), window=window
    )


def compensate(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """One coupon per order per rule, not paid before."""
    rows = compensation_rows(
        outcome.window, snapshot.actions, policy.consequences,
        as_of=outcome.as_of, policy_version=policy.version,
    )  # fmt: skip
    return replace(outcome, compensation=rows)


def assign_points(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """Points per violation under the caps, gated by the merchant's own rate."""
    rows = points_rows(
        outcome.window, snapshot.actions, policy.consequences,
        as_of=outcome.as_of, policy_version=policy.version, rates=snapshot.rates,
    )  # fmt: skip
    return replace(outcome, points=rows)


def climb_ladder(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """The ladder nodes the yearly totals reach with the new points."""
    rows = ladder_rows(
        outcome.points, snapshot.actions, policy.consequences, as_of=outcome.as_of,
        policy_version=policy.version, prior_totals=snapshot.prior_totals,
    )  # fmt: skip
    return replace(outcome, penalties=rows)


def _standings(
    snapshot: Snapshot, policy: Policy, outcome: Outcome, only: set[str] | None = None
) -> dict[str, MerchantStanding]:
    """Each merchant's standing (or only those of ``only``) from the snapshot's ledger and
    the day's new rows; the new points are summed per merchant and ledger, as the store
    sums this year's points."""
    as_of = outcome.as_of
    entries: dict[str, list[LedgerEntry]] = {
        m: list(e) for m, e in snapshot.ledger.items() if only is None or m in only
    }
    points: dict[tuple[str, str], float] = defaultdict(float)
    for row in outcome.actions:
        m = row["merchant_id"]
        if row["kind"] not in STANDING_KINDS or row["day"] > as_of or (only and m not in only):
            continue
        if row["kind"] == "points":
            if row["points"] and row["day"].year == as_of.year:
                points[(m, row["ledger"])] += float(row["points"])
        else:
            entries.setdefault(m, []).append(ledger_entry(row))
    for (m, ledger), total in points.items():
        entries.setdefault(m, []).append(
            LedgerEntry(f"points-new:{ledger}", "points", ledger, total, None,
                        date(as_of.year, 1, 1))
        )  # fmt: skip
    merchants = set(entries) | {m for m in snapshot.merchants if only is None or m in only}
    out = {}
    for m in sorted(merchants):
        score, level = snapshot.latest_scores.get(m, (None, None))
        out[m] = standing_of(m, entries.get(m, ()), as_of=as_of, config=policy.standing,
                             score=score, level=level)  # fmt: skip
    return out


def resolve_standing(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """Each merchant's one status, from the ledger with the day's penalties."""
    return replace(outcome, standings=_standings(snapshot, policy, outcome))


def _conditions_input(
    snapshot: Snapshot, outcome: Outcome, conditions: Mapping[str, Privilege]
) -> dict[str, Standing]:
    """What ``conditions`` look at, for every merchant scored on the run's date: the score,
    the values of the metrics they name (the rows cite those) and the last B-class
    violation, counting the day's new ones."""
    named = {m for p in conditions.values() for c in (p.grant, p.keep) for m in c.metrics}
    last_b = dict(snapshot.last_b)
    for r in outcome.violations:
        m, day = r["merchant_id"], r["day"]
        if r["ledger"] == "B" and day < outcome.as_of and (m not in last_b or day > last_b[m]):
            last_b[m] = day
    return {
        m: Standing(
            score,
            {k: v for k, v in snapshot.values.get(m, {}).items() if k in named},
            last_b.get(m),
        )
        for m, score in snapshot.scores.items()
    }


def review_privileges(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """Grants and revocations with hysteresis; a standing that is not active grants nothing,
    and suspension or clearance revokes everything held, citing the penalty."""
    if not policy.privileges or (not snapshot.scores and not outcome.standings):
        return outcome
    rows = privilege_rows(
        policy.privileges, _conditions_input(snapshot, outcome, policy.privileges),
        snapshot.held,
        as_of=outcome.as_of, policy_version=policy.version, kinds=PRIVILEGE_KINDS,
        status=outcome.standings, config=policy.standing,
    )  # fmt: skip
    return replace(outcome, privileges=[r for r in rows if r["action_id"] not in snapshot.reviewed])


def apply_measures(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """Score-based measures applied and lifted (the same hysteresis as privileges)."""
    measures = {name: m.as_privilege() for name, m in policy.score_measures.items()}
    if not measures or not snapshot.scores:
        return outcome
    rows = privilege_rows(
        measures, _conditions_input(snapshot, outcome, measures), snapshot.measures_held,
        as_of=outcome.as_of, policy_version=policy.version, kinds=MEASURE_KINDS,
    )  # fmt: skip
    return replace(outcome, measures=[r for r in rows if r["action_id"] not in snapshot.reviewed])


def settle(snapshot: Snapshot, policy: Policy, outcome: Outcome) -> Outcome:
    """Each merchant's standing after the day: its privileges and measures as reviewed
    (only the merchants the review changed need resolving again)."""
    changed = {r["merchant_id"] for r in (*outcome.privileges, *outcome.measures)}
    if not changed:
        return outcome
    return replace(
        outcome,
        standings={**outcome.standings, **_standings(snapshot, policy, outcome, only=changed)},
    )


STEPS: tuple[Step, ...] = (
    detect,
    compensate,
    assign_points,
    climb_ladder,
    resolve_standing,
    review_privileges,
    apply_measures,
    settle,
)


def evaluate_policy(
    snapshot: Snapshot,
    policy: Policy,
    *,
    as_of: date,
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Run :data:`STEPS` over ``snapshot`` for ``as_of`` (module docstring). Pure."""
    say = progress or (lambda _msg: None)
    outcome = Outcome(as_of=as_of, policy_version=policy.version,
                      policy_lookback=policy.rules.lookback_days)  # fmt: skip
    for step in STEPS:
        say(step.__name__.replace("_", " "))
        outcome = step(snapshot, policy, outcome)
    return outcome
