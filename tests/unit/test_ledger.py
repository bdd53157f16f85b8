"""Consequences of violations (pure): compensation brackets, capped points, the ladder."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tiyan.policy.ledger import (
    Bracket,
    Compensation,
    Consequences,
    Points,
    Promotion,
    Violation,
    consequences,
    strictest,
)

SHIP_TIMEOUT = Compensation(
    brackets=[
        Bracket(min_paid=3.01, fixed=3),
        Bracket(min_paid=300, rate=0.01, max=30),
    ]
)
FAKE_SHIPMENT = Compensation(brackets=[Bracket(min_paid=0, rate=0.3, min=10, max=100)])
CONFIG = Consequences(
    compensation={"ship_timeout": SHIP_TIMEOUT, "fake_shipment": FAKE_SHIPMENT},
    points={
        "ship_timeout": Points(each=0.1, daily_cap=2, weekly_cap=6),
        "fake_shipment": Points(each=0.1, daily_cap=1, weekly_cap=2),
        "malicious_non_shipment": Points(each=4),
    },
)
AS_OF = date(2024, 7, 1)


@pytest.mark.parametrize(
    ("paid", "coupon"),
    [("0.50", "0.00"), ("3.00", "0.00"), ("3.01", "3.00"), ("299.99", "3.00"),
     ("300.00", "3.00"), ("2999.00", "29.99"), ("5000.00", "30.00")],
)  # fmt: skip
def test_ship_timeout_compensation_brackets(paid: str, coupon: str) -> None:
    # reference §2.2: <= 3 none; 3 < x < 300 -> 3; >= 300 -> 1% capped at 30
    assert SHIP_TIMEOUT.amount(Decimal(paid)) == Decimal(coupon)


@pytest.mark.parametrize(
    ("paid", "coupon"), [("5.00", "10.00"), ("100.00", "30.00"), ("500.00", "100.00")]
)
def test_fake_shipment_compensation(paid: str, coupon: str) -> None:
    # reference §2.3: 30% of the paid amount, at least 10, at most 100
    assert FAKE_SHIPMENT.amount(Decimal(paid)) == Decimal(coupon)


def test_a_bracket_has_fixed_or_rate_and_brackets_are_ordered() -> None:
    with pytest.raises(ValueError, match="either fixed or rate"):
        Bracket(min_paid=0)
    with pytest.raises(ValueError, match="increasing min_paid"):
        Compensation(brackets=[Bracket(min_paid=5, fixed=1), Bracket(min_paid=1, fixed=2)])


def late(n: int, day: date, merchant: str = "M1", rule: str = "ship_timeout",
         ledger: str = "A") -> list[Violation]:  # fmt: skip
    return [
        Violation(
            f"{rule}:{merchant}:{day}-{i:03d}",
            rule,
            ledger,
            merchant,
            f"{day}-{i:03d}",
            day,
            Decimal("100.00"),
        )
        for i in range(n)
    ]


def run(violations: list[Violation], recorded: dict[str, dict[str, Any]] | None = None
        ) -> list[dict[str, Any]]:  # fmt: skip
    return consequences(violations, recorded or {}, CONFIG, as_of=AS_OF, policy_version="t")


def points_of(rows: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(r["points"])) for r in rows if r["kind"] == "points"), Decimal(0))


def test_points_are_capped_per_day_and_week() -> None:
    monday = date(2024, 6, 10)
    one_day = run(late(25, monday))
    assert points_of(one_day) == Decimal("2.0")  # 25 × 0.1 capped at 2 a day
    assert sum(1 for r in one_day if r["kind"] == "points" and r["points"] > 0) == 20
    week = run([v for d in range(7) for v in late(25, monday + timedelta(days=d))])
    assert points_of(week) == Decimal("6.0")  # capped at 6 a week
    # every violation still gets its compensation and a points row (0 once capped)
    assert sum(1 for r in week if r["kind"] == "compensation") == 175
    assert sum(1 for r in week if r["kind"] == "points") == 175


def test_recorded_awards_stand_and_late_violations_fill_what_is_left() -> None:
    day = date(2024, 6, 10)
    everything = late(25, day)
    first = run(everything[:15])
    recorded = {r["action_id"]: r for r in first}
    second = run(everything, recorded)
    assert not {r["action_id"] for r in second} & set(recorded)
    assert points_of(first) == Decimal("1.5")
    assert points_of(first) + points_of(second) == Decimal("2.0")
    assert run(everything, {**recorded, **{r["action_id"]: r for r in second}}) == []


def test_the_result_does_not_depend_on_input_order() -> None:
    day = date(2024, 6, 10)
    violations = late(30, day) + late(12, day, rule="fake_shipment", ledger="B")
    shuffled = list(violations)
    random.Random(4).shuffle(shuffled)
    assert run(violations) == run(shuffled)


def test_ladder_nodes_and_the_strictest_measure() -> None:
    # B class: malicious non-shipment weighs 4 points; nodes at 4 and 8, clearance at 12
    bursts = [
        Violation(f"m:{i}", "malicious_non_shipment", "B", "M1", None, date(2024, 6, 10 + i), None)
        for i in range(3)
    ]
    rows = run(bursts)
    penalties = [r for r in rows if r["kind"] == "penalty"]
    assert {(r["ledger"], r["measure"]) for r in penalties} >= {("B", "clearance")}
    assert sorted({r["action_id"].split(":")[4] for r in penalties}) == ["12", "4", "8"]
    assert strictest(r["measure"] for r in penalties) == "clearance"
    assert strictest(["rules_exam", "suspension", "deposit_deduction"]) == "suspension"
    assert strictest([]) is None


def test_a_class_nodes_every_12_points_and_points_reset_each_year() -> None:
    # 130 late orders a day for two weeks in December: capped at 6 a week -> 12 points
    start = date(2023, 12, 18)  # a Monday
    december = [v for d in range(14) for v in late(130, start + timedelta(days=d))]
    rows = run(december)
    assert points_of(rows) == Decimal("12.0")
    nodes = {r["action_id"] for r in rows if r["kind"] == "penalty"}
    assert nodes == {
        f"penalty:M1:A:2023:12:{m}" for m in ("deposit_deduction", "suspension", "rules_exam")
    }
    # the same in the new year starts from zero: no node yet at 6 points
    january = [v for d in range(7) for v in late(130, date(2024, 1, 1) + timedelta(days=d))]
    recorded = {r["action_id"]: r for r in rows}
    more = run(december + january, recorded)
    assert points_of(more) == Decimal("6.0")
    assert not [r for r in more if r["kind"] == "penalty"]


def test_a_promotion_weighs_its_rules_up() -> None:
    config = CONFIG.model_copy(
        update={
            "promotions": [
                Promotion(name="618", start=date(2024, 6, 14), end=date(2024, 6, 18), weight=2)
            ]
        }
    )
    day_in, day_out = date(2024, 6, 18), date(2024, 6, 19)
    bursts = [
        Violation(f"m:{d}", "malicious_non_shipment", "B", "M1", None, d, None)
        for d in (day_in, day_out)
    ]
    late_in = late(1, day_in)  # ship timeouts are not among the promotion's rules
    rows = consequences(bursts + late_in, {}, config, as_of=AS_OF, policy_version="t")
    points = {r["violation_id"]: r["points"] for r in rows if r["kind"] == "points"}
    assert points[f"m:{day_in}"] == 8.0  # 4 × 2
    assert points[f"m:{day_out}"] == 4.0
    assert points[late_in[0].violation_id] == 0.1
    with pytest.raises(ValueError, match="end is before start"):
        Promotion(name="x", start=date(2024, 6, 2), end=date(2024, 6, 1))
