"""The governance day as a pure pipeline: properties on plain data, in milliseconds.

Each example is a small market made of values — detector records, rates, scores, metric
values, an earlier ledger (points, penalties, privileges held) — run through
:func:`tiyan.policy.pipeline.evaluate_policy` with the shipped policy. No store is involved:
this is what moving the SQL behind the store (issue 13, item 5) makes possible.

* no merchant suspended or cleared holds a privilege after the day, and nobody who is not
  active is granted one;
* more violations never bring more privileges, a milder status or fewer points;
* fewer detector records (a record quarantined or missing) never bring a violation more;
* running the day again on what it recorded changes nothing;
* the order of the input rows changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiyan.policy.files import load_policy
from tiyan.policy.pipeline import STEPS, Outcome, Snapshot, evaluate_policy
from tiyan.policy.standing import STATUS_ORDER

POLICY = load_policy()
AS_OF = date(2024, 7, 30)
PRIVILEGES = sorted(POLICY.privileges)
RULES = sorted(POLICY.rules.enabled())
GATED = sorted(r for r, p in POLICY.consequences.points.items() if p.gated)
MEASURES = sorted(POLICY.score_measures)
METRICS = sorted(
    {m for p in POLICY.privileges.values() for c in (p.grant, p.keep) for m in c.metrics}
)


@st.composite
def records(draw: st.DrawFn, merchants: list[str], tag: str) -> dict[str, list[dict[str, Any]]]:
    """Rule id -> detector records (as the detectors return them) for ``merchants``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rule_id in draw(st.lists(st.sampled_from(RULES), unique=True, max_size=3)):
        rows = []
        for i in range(draw(st.integers(1, 8))):
            m = draw(st.sampled_from(merchants))
            ago = draw(st.integers(1, POLICY.rules.lookback_days))
            at = datetime.combine(AS_OF - timedelta(days=ago), datetime.min.time(), UTC)
            amount = draw(st.sampled_from([None, 2.0, 59.0, 480.0]))
            rows.append(
                {
                    "merchant_id": m,
                    "subject": f"{tag}{i}-{rule_id}",
                    "order_id": f"O{tag}{i}",
                    "occurred_at": at + timedelta(hours=draw(st.integers(0, 23))),
                    "amount": amount,
                    "e_late_hours": draw(st.sampled_from([None, 3.5])),
                    "e_quarantined": False,
                }
            )
        out[rule_id] = rows
    return out


def earlier_ledger(draw: st.DrawFn, merchants: list[str]) -> list[dict[str, Any]]:
    """Ledger rows of earlier days: score measures in force, a penalty (in force or over,
    sometimes lifted on appeal), privilege grants, points."""
    rows: list[dict[str, Any]] = []

    def row(kind: str, m: str, day: date, **fields: Any) -> dict[str, Any]:
        base = {"action_id": f"{kind}:{m}:{len(rows)}", "kind": kind, "merchant_id": m,
                "violation_id": None, "rule_id": None, "ledger": None, "points": None,
                "amount": None, "measure": None, "day": day, "as_of": day,
                "policy_version": "earlier", "detail": "{}"}  # fmt: skip
        return {**base, **fields}

    for m in merchants:
        for name in MEASURES:
            if draw(st.integers(0, 3)) == 0:
                day = AS_OF - timedelta(days=draw(st.integers(1, 60)))
                rows.append(row("measure_apply", m, day, measure=name,
                                action_id=f"measure_apply:{m}:{name}:{day}"))  # fmt: skip
        penalty = draw(st.sampled_from([None, None, None, "suspension", "warning", "clearance"]))
        if penalty is not None:
            day = AS_OF - timedelta(days=draw(st.integers(1, 45)))
            node = 12 if penalty == "clearance" else 4
            pid = f"penalty:{m}:B:{AS_OF.year}:{node}:{penalty}"
            rows.append(row("penalty", m, day, ledger="B", measure=penalty, action_id=pid,
                            detail=f'{{"node_points": {node}, "suspension_days": 7}}'))  # fmt: skip
            if draw(st.integers(0, 3)) == 0:  # lifted on appeal
                rows.append(row("reversal", m, day + timedelta(days=1), ledger="B",
                                measure=penalty, action_id=f"reversal:{pid}"))  # fmt: skip
        for name in PRIVILEGES:
            if draw(st.integers(0, 2)) == 0:
                day = AS_OF - timedelta(days=draw(st.integers(40, 150)))
                rows.append(row("privilege_grant", m, day, measure=name,
                                action_id=f"privilege_grant:{m}:{name}:{day}"))  # fmt: skip
        ledger = draw(st.sampled_from(["A", "B"]))
        points = draw(st.sampled_from([0.0, 1.0, 3.0, 7.0, 11.0]))
        if points:
            day = date(AS_OF.year, 1, 1) + timedelta(days=draw(st.integers(0, 205)))
            rows.append(row("points", m, day, ledger=ledger, points=points,
                            rule_id="malicious_non_shipment" if ledger == "B" else "ship_timeout",
                            action_id=f"points:earlier:{m}"))  # fmt: skip
    return rows


@st.composite
def markets(draw: st.DrawFn) -> tuple[Snapshot, dict[str, list[dict[str, Any]]]]:
    """A snapshot of a small market, and extra detector records to add to it."""
    merchants = [f"M{i}" for i in range(draw(st.integers(1, 4)))]
    found = draw(records(merchants, "a"))
    extra = draw(records(merchants, "b"))
    rates = {
        (m, rule): (float(num), float(num + draw(st.integers(0, 60))))
        for m in merchants
        for rule in GATED
        if draw(st.booleans())
        for num in [draw(st.integers(0, 30))]
    }
    scored = draw(st.booleans())
    scores = {
        m: draw(st.one_of(st.none(), st.floats(40, 100), st.floats(93, 100)))
        for m in merchants
        if scored
    }
    values = {
        m: {
            metric: draw(st.one_of(st.none(), st.floats(0, 0.3), st.floats(0, 0.05)))
            for metric in METRICS
        }
        for m in scores
    }
    earlier = earlier_ledger(draw, merchants)
    base = Snapshot(
        merchants=merchants,
        latest_scores={m: (s, None) for m, s in scores.items()},
        scores=scores,
        values=values,
        rates=rates,
        last_b={
            m: AS_OF - timedelta(days=draw(st.integers(31, 120)))
            for m in merchants
            if draw(st.booleans())
        },
    )
    # The earlier ledger goes in as a store would read it back.
    prior = Outcome(as_of=AS_OF, policy_version="earlier",
                    policy_lookback=POLICY.rules.lookback_days, points=earlier)  # fmt: skip
    base = base.after(prior)
    # Sometimes part of the records were there for a run earlier today (the rest arrived
    # late): they are recorded, with their consequences, and count against the caps.
    if draw(st.booleans()):
        early = {rule: rows[: draw(st.integers(0, len(rows)))] for rule, rows in found.items()}
        base = base.after(run(replace(base, found=early)))
    return replace(base, found=found), extra


def run(snapshot: Snapshot) -> Outcome:
    return evaluate_policy(snapshot, POLICY, as_of=AS_OF)


def rank(status: str) -> int:
    return STATUS_ORDER.index(status)  # type: ignore[arg-type]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_steps_are_the_day_in_order() -> None:
    assert [s.__name__ for s in STEPS] == [
        "detect", "compensate", "assign_points", "climb_ladder", "resolve_standing",
        "review_privileges", "apply_measures", "settle",
    ]  # fmt: skip


@SETTINGS
@given(markets())
def test_no_suspended_or_cleared_merchant_holds_a_privilege(
    market: tuple[Snapshot, Any],
) -> None:
    snapshot, _ = market
    outcome = run(snapshot)
    for m, s in outcome.standings.items():
        if s.status in ("suspended", "cleared"):
            assert s.privileges == (), (m, s)
    for r in outcome.privileges:
        if r["kind"] == "privilege_grant":
            assert outcome.standings[r["merchant_id"]].status == "active", r


@SETTINGS
@given(markets())
def test_more_violations_never_bring_more(market: tuple[Snapshot, Any]) -> None:
    """More violations: never more privileges, a milder status, fewer points or penalties;
    and fewer records (a record quarantined, or missing) never a violation more."""
    snapshot, extra = market
    more = {r: [*snapshot.found.get(r, []), *extra.get(r, [])] for r in {*snapshot.found, *extra}}
    less, worse = run(snapshot), run(replace(snapshot, found=more))
    assert {v["violation_id"] for v in less.violations} <= {
        v["violation_id"] for v in worse.violations
    }
    assert {p["action_id"] for p in less.penalties} <= {p["action_id"] for p in worse.penalties}
    for m, before in less.standings.items():
        after = worse.standings[m]
        assert set(after.privileges) <= set(before.privileges), m
        assert rank(after.status) >= rank(before.status), m
        for ledger in ("A", "B"):
            assert after.points[ledger] >= before.points[ledger] - 1e-9, (m, ledger)


@SETTINGS
@given(markets())
def test_enforcing_twice_changes_nothing(market: tuple[Snapshot, Any]) -> None:
    snapshot, _ = market
    first = run(snapshot)
    again = run(snapshot.after(first))
    assert again.violations == [] and again.actions == [], again
    assert again.found_by_rule == first.found_by_rule
    assert again.standings == first.standings


def shuffled(snapshot: Snapshot, seed: int) -> Snapshot:
    rnd = random.Random(seed)

    def mix(items: Any) -> list[Any]:
        items = list(items)
        rnd.shuffle(items)
        return items

    def mixed_map(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
        return dict(mix(mapping.items()))

    return replace(
        snapshot,
        found={rule: mix(rows) for rule, rows in mix(snapshot.found.items())},
        violations=mix(snapshot.violations),
        actions=mixed_map(snapshot.actions),
        prior_totals=mixed_map(snapshot.prior_totals),
        rates=mixed_map(snapshot.rates),
        ledger={m: mix(entries) for m, entries in mix(snapshot.ledger.items())},
        merchants=mix(snapshot.merchants),
        scores=mixed_map(snapshot.scores),
        latest_scores=mixed_map(snapshot.latest_scores),
        measures_held=mixed_map(snapshot.measures_held),
        values=mixed_map(snapshot.values),
        held=mixed_map(snapshot.held),
        last_b=mixed_map(snapshot.last_b),
    )


@SETTINGS
@given(markets(), st.integers(0, 10_000))
def test_the_order_of_the_rows_changes_nothing(market: tuple[Snapshot, Any], seed: int) -> None:
    snapshot, _ = market
    assert run(shuffled(snapshot, seed)) == run(snapshot)


def test_a_malicious_non_shipper_is_cleared_and_loses_its_privileges() -> None:
    """A worked example: six malicious non-shipments (2 B points each, no cap) reach the
    12-point node: clearance; the rebate held is revoked in the same run, citing it. A late
    shipment of the same merchant, at a late rate below the gate, earns no points and its
    consumer is still compensated (¥3 on a ¥100 order, reference §2.2)."""
    found = {
        "malicious_non_shipment": [
            {"merchant_id": "M1", "subject": f"O{i}", "order_id": f"O{i}", "amount": 100.0,
             "occurred_at": datetime(2024, 7, 10 + i, 12, tzinfo=UTC)}
            for i in range(6)
        ],
        "ship_timeout": [
            {"merchant_id": "M1", "subject": "O9", "order_id": "O9", "amount": 100.0,
             "occurred_at": datetime(2024, 7, 20, 12, tzinfo=UTC)}
        ],
    }  # fmt: skip
    snapshot = Snapshot(
        rates={("M1", "ship_timeout"): (2.0, 400.0)},
        found=found,
        merchants=["M1"],
        scores={"M1": 97.0},
        latest_scores={"M1": (97.0, "excellent")},
        values={"M1": {"ship_timeout_rate": 0.01, "presale_timeout_rate": 0.0}},
        held={("M1", "commission_rebate"): True},
        ledger={},
    )
    outcome = run(snapshot)
    assert len(outcome.violations) == 7
    assert sum(r["points"] for r in outcome.points if r["ledger"] == "B") == 12
    (late,) = [r for r in outcome.points if r["rule_id"] == "ship_timeout"]
    assert late["points"] == 0 and '"below_rate_gate": true' in late["detail"]
    assert {r["measure"] for r in outcome.penalties} >= {"clearance"}
    standing = outcome.standings["M1"]
    assert standing.status == "cleared" and standing.privileges == ()
    (revoked,) = [r for r in outcome.privileges if r["measure"] == "commission_rebate"]
    assert revoked["kind"] == "privilege_revoke" and '"standing": "cleared"' in revoked["detail"]
    assert not [r for r in outcome.privileges if r["kind"] == "privilege_grant"]
    assert [(r["violation_id"], r["amount"]) for r in outcome.compensation] == [
        ("ship_timeout:M1:O9", Decimal("3.00"))
    ]


def test_a_subject_found_twice_is_one_violation_whatever_the_order() -> None:
    """Should a detector return the same subject twice, the earliest occurrence decides,
    whatever order the engine returned the records in."""
    at = datetime(2024, 7, 20, 12, tzinfo=UTC)
    rows = [
        {"merchant_id": "M1", "subject": "O1", "order_id": "O1", "amount": 100.0,
         "occurred_at": at + timedelta(hours=h), "e_late_hours": h}
        for h in (5, 1)
    ]  # fmt: skip
    outcomes = [
        run(Snapshot(found={"ship_timeout": order}, merchants=["M1"]))
        for order in (rows, rows[::-1])
    ]
    assert outcomes[0] == outcomes[1]
    (v,) = outcomes[0].violations
    assert v["occurred_at"] == at + timedelta(hours=1)
