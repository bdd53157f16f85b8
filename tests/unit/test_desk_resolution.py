"""A request's resolution becomes the complaints, after-sales liability and ledger rows the
governance engine counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tiyan.domain.model import GOVERNANCE_TABLES, TABLES
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.resolution import RequestFacts, Resolution, governance_records

SH = ZoneInfo("Asia/Shanghai")
DESK = DeskPolicy()
OPENED = datetime(2024, 6, 3, 20, 30, tzinfo=SH)
DECIDED = datetime(2024, 6, 4, 23, 30, tzinfo=SH)  # local day 2024-06-04, UTC 15:30


def facts(type_id: str, **kw: str) -> RequestFacts:
    return RequestFacts(
        request_id="SR1", type_id=type_id, merchant_id="M1", order_id="O1",
        consumer_id="C1", created_at=OPENED, **kw,
    )  # fmt: skip


def record(request: RequestFacts, resolution: Resolution, **kw: object) -> dict[str, list[dict]]:
    return governance_records(
        request, resolution, DESK, as_of=date(2024, 6, 5), policy_version="v1", **kw
    )  # type: ignore[arg-type]


def columns(table: str) -> set[str]:
    found = TABLES.get(table) or GOVERNANCE_TABLES[table]
    return {c.name for c in found.columns}


def test_the_seed_story_merchant_liable_with_a_compensation() -> None:
    """A product that caused an allergy: the platform mediated a compensation the merchant
    pays. The complaint is upheld, the ledger shows the compensation on the decision's day."""
    out = record(
        facts("risky_product"),
        Resolution(outcome="compensation", liability="merchant", decided_at=DECIDED,
                   amount=Decimal("200.00"), paid_by="merchant"),
    )  # fmt: skip
    (complaint,) = out["complaints"]
    assert complaint == {
        "complaint_id": "desk:SR1", "order_id": "O1", "merchant_id": "M1", "consumer_id": "C1",
        "type": "quality", "created_at": OPENED.astimezone(UTC), "upheld": True,
    }  # fmt: skip
    assert set(complaint) == columns("complaints")
    (entry,) = out["actions"]
    assert set(entry) == columns("actions")
    assert (entry["kind"], entry["amount"], entry["day"]) == (
        "compensation",
        Decimal("200.00"),
        date(2024, 6, 4),
    )
    assert entry["action_id"] == "compensation:desk:SR1"
    assert out["after_sales"] == []


def test_an_after_sales_request_records_the_platforms_judgement_on_its_case() -> None:
    case = {c: None for c in columns("after_sales")} | {
        "case_id": "AS1", "order_id": "O1", "type": "refund_only", "reason": "quality",
        "requested_at": datetime(2024, 6, 3, 10, tzinfo=UTC),
    }  # fmt: skip
    out = record(
        facts("refund", case_id="AS1"),
        Resolution(outcome="merchant_refunds", liability="merchant", decided_at=DECIDED,
                   amount=Decimal("59.90")),
        case=case,
    )  # fmt: skip
    (row,) = out["after_sales"]
    assert set(row) == columns("after_sales")
    assert row["platform_intervened"] is True and row["liability"] == "merchant"
    assert (row["resolved_by"], row["resolution"]) == ("platform", "refunded")
    assert row["resolved_at"] == DECIDED.astimezone(UTC)
    assert out["complaints"] == [] and out["actions"] == []
    with pytest.raises(ValueError, match="case AS1 is needed"):
        record(facts("refund", case_id="AS1"), Resolution(
            outcome="consumer_withdraws", liability="none", decided_at=DECIDED))  # fmt: skip


def test_an_after_sales_request_without_a_case_files_the_complaint() -> None:
    out = record(
        facts("product_issue"),
        Resolution(outcome="compensation", liability="merchant", decided_at=DECIDED,
                   amount=Decimal("20.00"), paid_by="merchant"),
    )  # fmt: skip
    (complaint,) = out["complaints"]
    assert (complaint["complaint_id"], complaint["type"], complaint["upheld"]) == (
        "desk:SR1", "quality", True)  # fmt: skip
    assert out["after_sales"] == []
    other = record(facts("refund"), Resolution(outcome="consumer_withdraws", liability="none",
                                               decided_at=DECIDED))  # fmt: skip
    assert [(c["type"], c["upheld"]) for c in other["complaints"]] == [("other", False)]


def test_a_complaint_filed_elsewhere_is_judged_not_filed_again() -> None:
    stored = {"complaint_id": "Q9", "order_id": "O1", "merchant_id": "M1", "consumer_id": "C1",
              "type": "quality", "created_at": OPENED.astimezone(UTC), "upheld": None}  # fmt: skip
    out = record(facts("risky_product", complaint_id="Q9"),
                 Resolution(outcome="no_fault", liability="none", decided_at=DECIDED),
                 complaint=stored)  # fmt: skip
    assert out["complaints"] == [{**stored, "upheld": False}]
    with pytest.raises(ValueError, match="complaint Q9 is needed"):
        record(facts("risky_product", complaint_id="Q9"),
               Resolution(outcome="no_fault", liability="none", decided_at=DECIDED))  # fmt: skip


def test_a_carrier_fault_is_no_upheld_complaint_and_costs_the_merchant_nothing() -> None:
    out = record(
        facts("courier_related"),
        Resolution(outcome="compensation", liability="carrier", decided_at=DECIDED,
                   amount=Decimal("10.00"), paid_by="carrier"),
    )  # fmt: skip
    assert out["complaints"][0]["upheld"] is False
    assert out["actions"] == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "compensation", "liability": "merchant"}, "needs the amount"),
        ({"outcome": "compensation", "liability": "merchant", "amount": "5"}, "who pays"),
        ({"outcome": "no_fault", "liability": "merchant"}, "which is it"),
        ({"outcome": "no_fault", "liability": "none", "amount": "5"}, "pays nothing"),
        (
            {
                "outcome": "compensation",
                "liability": "carrier",
                "amount": "5",
                "paid_by": "merchant",
            },
            "only where it is liable",
        ),
        (
            {
                "outcome": "merchant_refunds",
                "liability": "merchant",
                "amount": "5",
                "paid_by": "platform",
            },
            "only a compensation",
        ),
    ],
)
def test_resolutions_that_contradict_themselves_are_refused(
    fields: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Resolution(decided_at=DECIDED, **fields)  # type: ignore[arg-type]
