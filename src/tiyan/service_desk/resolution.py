"""How a request ends: the agent's resolution and liability, and what governance gets of it.

The platform agent records the outcome (the merchant refunds, a compensation and who pays it,
the consumer withdraws, no fault) and a liability judgement (merchant, consumer, carrier,
platform or none). A merchant-liable outcome is what the governance engine counts: so the
desk's resolutions become the same records that today arrive from outside —

* a ``complaints`` row for a complaint or a chase, or an after-sales request with no case of
  its own (upheld when the merchant is liable), so the complaint rate and the upheld-complaint
  metrics come from the desk; a request about a complaint filed elsewhere restates it;
* for an after-sales request about a case, that ``after_sales`` case as the platform decided
  it (``platform_intervened``, ``liability``, ``resolved_by`` = platform), so 纠纷商责率 (the
  merchant-liable dispute rate) comes from the desk;
* a compensation the merchant pays, as an ``actions`` ledger entry like any other.

:func:`governance_records` is pure: the rows go through the ingest pipeline and the ledger
writer like every other row. Ids are the request's, so recording a resolution twice adds
nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tiyan.policy.ledger import action_row
from tiyan.service_desk.policy import DeskPolicy

Liability = Literal["merchant", "consumer", "carrier", "platform", "none"]

#: Request type -> the complaint type it is filed as (``complaints.type``).
COMPLAINT_TYPE = {
    "delivery_problem": "shipping",
    "courier_related": "shipping",
    "shipping_chase": "shipping",
    "merchant_service": "service",
    "repeat_complaint": "service",
    "voucher_booking": "service",
    "risky_product": "quality",
    # after-sales requests with no case of their own to restate (below)
    "product_issue": "quality",
    "exchange": "quality",
}
#: Outcome -> the after-sales case's resolution (``after_sales.resolution``).
CASE_RESOLUTION = {
    "merchant_refunds": "refunded",
    "compensation": "refunded",
    "consumer_withdraws": "withdrawn",
    "no_fault": "rejected",
}


class RequestFacts(BaseModel):
    """What a resolution needs to know of its request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1)
    type_id: str
    merchant_id: str = Field(min_length=1)
    order_id: str | None = None
    consumer_id: str | None = None
    case_id: str | None = None
    complaint_id: str | None = None
    created_at: datetime


class Resolution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["merchant_refunds", "compensation", "consumer_withdraws", "no_fault"]
    liability: Liability
    decided_at: datetime
    amount: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    paid_by: Literal["merchant", "platform", "carrier"] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Resolution:
        if self.decided_at.tzinfo is None:
            raise ValueError("decided_at has no time zone")
        if self.paid_by is not None and self.outcome != "compensation":
            raise ValueError("only a compensation has a payer (paid_by)")
        if self.outcome in ("merchant_refunds", "compensation") and self.amount is None:
            raise ValueError(f"{self.outcome} needs the amount")
        if self.outcome == "compensation" and self.paid_by is None:
            raise ValueError("a compensation names who pays it (paid_by)")
        if self.outcome in ("consumer_withdraws", "no_fault") and self.amount is not None:
            raise ValueError(f"{self.outcome} pays nothing: no amount")
        if self.outcome == "no_fault" and self.liability == "merchant":
            raise ValueError("no fault, yet the merchant liable: which is it?")
        if self.paid_by == "merchant" and self.liability != "merchant":
            raise ValueError("the merchant pays only where it is liable")
        return self


def governance_records(
    request: RequestFacts,
    resolution: Resolution,
    desk: DeskPolicy,
    *,
    case: dict[str, Any] | None = None,
    complaint: dict[str, Any] | None = None,
    as_of: date,
    policy_version: str,
    number: int = 1,
) -> dict[str, list[dict[str, Any]]]:
    """Table -> the rows the resolution gives governance (module docstring). ``case``: the
    stored ``after_sales`` row of ``request.case_id`` (an after-sales request about it);
    ``complaint``: the stored ``complaints`` row of ``request.complaint_id`` (a complaint
    filed elsewhere that the desk judges: restated upheld or not, no second complaint).
    ``number``: which resolution of the request this is (a reopened request is resolved
    again: its complaint and case are restated, a further compensation is its own entry)."""
    kind = desk.types.get(request.type_id)
    if kind is None:
        raise ValueError(f"unknown request type {request.type_id!r}")
    merchant_liable = resolution.liability == "merchant"
    out: dict[str, list[dict[str, Any]]] = {"complaints": [], "after_sales": [], "actions": []}
    if request.complaint_id is not None:
        if complaint is None or complaint.get("complaint_id") != request.complaint_id:
            raise ValueError(f"the complaint {request.complaint_id} is needed to record it")
        out["complaints"].append({**complaint, "upheld": merchant_liable})
    elif kind.category in ("complaint", "chase") or (
        kind.category == "after_sales" and request.case_id is None
    ):  # (an after-sales request with no case: the consumer's complaint is the record)
        out["complaints"].append(
            {
                "complaint_id": f"desk:{request.request_id}",
                "order_id": request.order_id,
                "merchant_id": request.merchant_id,
                "consumer_id": request.consumer_id,
                "type": COMPLAINT_TYPE.get(request.type_id, "other"),
                "created_at": request.created_at.astimezone(UTC),
                "upheld": merchant_liable,
            }
        )
    if kind.category == "after_sales" and request.case_id is not None:
        if case is None or case.get("case_id") != request.case_id:
            raise ValueError(f"the after-sales case {request.case_id} is needed to record it")
        out["after_sales"].append(
            {
                **case,
                "platform_intervened": True,
                "liability": resolution.liability,
                "resolved_by": "platform",
                "resolution": CASE_RESOLUTION[resolution.outcome],
                "resolved_at": resolution.decided_at.astimezone(UTC),
            }
        )
    if resolution.outcome == "compensation" and resolution.paid_by == "merchant":
        zone = ZoneInfo(desk.calendar.zone)
        out["actions"].append(
            action_row(
                f"compensation:desk:{request.request_id}" + ("" if number == 1 else f":{number}"),
                "compensation",
                as_of=as_of,
                policy_version=policy_version,
                merchant_id=request.merchant_id,
                amount=resolution.amount,
                day=resolution.decided_at.astimezone(zone).date(),
                order_id=request.order_id,
                request_id=request.request_id,
                liability=resolution.liability,
            )
        )
    return out
