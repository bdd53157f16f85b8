"""The desk's request types carry reference §4.1's deadlines, and their rules hold."""

from __future__ import annotations

import pytest

from tiyan.service_desk.policy import DeskPolicy

DESK = DeskPolicy()


@pytest.mark.parametrize(
    ("type_id", "hours"),
    [
        ("exchange", 12),
        ("product_issue", 12),
        ("negotiated_refund", 12),
        ("refund", 2),
        ("order_operation", 2),
        ("delivery_problem", 12),
        ("merchant_service", 12),
        ("repeat_complaint", 2),
        ("voucher_booking", 2),
        ("risky_product", 2),
        ("courier_related", 24),
    ],
)
def test_reference_deadlines(type_id: str, hours: float) -> None:
    assert DESK.hours_for(type_id) == hours
    assert "§4.1" in DESK.types[type_id].source


def test_every_type_cites_its_source() -> None:
    assert all(t.source for t in DESK.types.values())
    assert DESK.calendar.opens.hour == 9 and DESK.calendar.closes.hour == 21


def test_case_by_case_needs_at_least_two_hours() -> None:
    assert DESK.hours_for("case_by_case", 6) == 6
    with pytest.raises(ValueError, match="at least 2 h"):
        DESK.hours_for("case_by_case", 1)
    with pytest.raises(ValueError, match="platform sets"):
        DESK.hours_for("case_by_case")
    with pytest.raises(ValueError, match="fixed deadline"):
        DESK.hours_for("refund", 5)
    with pytest.raises(ValueError, match="unknown request type"):
        DESK.hours_for("teleport")


def test_the_shipped_policy_carries_the_same_deadlines() -> None:
    from tiyan.policy.files import load_policy

    shipped = load_policy().desk
    assert {k: (t.category, t.hours, t.set_by_platform) for k, t in shipped.types.items()} == {
        k: (t.category, t.hours, t.set_by_platform) for k, t in DESK.types.items()
    }
    assert shipped.calendar == DESK.calendar
