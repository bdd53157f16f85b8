"""What the decisions take (the request bodies of the HTTP API) and what they return."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DecisionKind = Literal["express_refund", "presale", "ship_promise"]


def naive_utc(value: datetime) -> datetime:
    """A timestamp as naive UTC (the store's convention); a naive one is taken as UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Reason:
    """Why: a stable snake_case ``code`` (for programs) and an English ``message`` (for
    people)."""

    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The pure part of a decision: outcome, reasons and details (no id, no clock)."""

    outcome: str
    reasons: tuple[Reason, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """One online decision, as recorded in the ``decisions`` log."""

    decision_id: str
    kind: DecisionKind
    subject: str
    merchant_id: str | None
    outcome: str
    reasons: tuple[Reason, ...]
    policy_version: str
    details: dict[str, Any]
    decided_at: datetime
    requested_by: str | None = None


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, dates and decimals as strings (ISO 8601, exact money)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    return value


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """The decision as a JSON-able dict (the HTTP answer).

    >>> d = Decision("ab12", "presale", "M1", "M1", "eligible",
    ...              (Reason("presale_allowed", "ok"),), "v1", {}, datetime(2024, 6, 1))
    >>> decision_to_dict(d)["reasons"]
    [{'code': 'presale_allowed', 'message': 'ok'}]
    """
    out: dict[str, Any] = jsonable(
        {
            "decision_id": decision.decision_id,
            "kind": decision.kind,
            "subject": decision.subject,
            "merchant_id": decision.merchant_id,
            "outcome": decision.outcome,
            "reasons": list(decision.reasons),
            "policy_version": decision.policy_version,
            "details": decision.details,
            "decided_at": decision.decided_at,
        }
    )
    return out


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpressRefundRequest(_Request):
    """May this refund be paid now (极速退)?"""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "order_id": "O100234",
                    "amount": "89.00",
                    "type": "refund_only",
                    "reason": "other",
                    "requested_at": "2024-06-01T12:30:00+08:00",
                },
                {
                    "order_id": "O100777",
                    "amount": "459.00",
                    "type": "return_refund",
                    "reason": "no_reason_7d",
                    "return_tracking_no": "SF1400000001",
                    "case_id": "AS-88120",
                },
            ]
        },
    )

    order_id: str = Field(min_length=1, max_length=200, description="The order refunded.")
    amount: Decimal = Field(
        gt=0, max_digits=18, decimal_places=2, description="The refund asked for (¥)."
    )
    type: Literal["refund_only", "return_refund", "exchange"] = Field(
        description="After-sales type: 仅退款, 退货退款 or 换货."
    )
    reason: Literal[
        "quality", "not_as_described", "damaged", "logistics", "no_reason_7d", "other"
    ] = Field(description="The consumer's reason (no_reason_7d: 7天无理由).")
    requested_at: datetime | None = Field(
        default=None,
        description="When the consumer asked (default: now). With an offset it is converted "
        "to UTC; without one it is taken as UTC.",
    )
    return_tracking_no: str | None = Field(
        default=None, max_length=200, description="Tracking number of the return parcel."
    )
    case_id: str | None = Field(
        default=None, max_length=200, description="The after-sales case, if one exists."
    )

    @field_validator("requested_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else naive_utc(value)


class PresaleRequest(_Request):
    """May this merchant sell on presale (预售), and for this many days?"""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"merchant_id": "M0001", "presale_days": 15},
                {"merchant_id": "M0001", "product_id": "P0042", "as_of": "2024-06-01"},
            ]
        },
    )

    merchant_id: str = Field(min_length=1, max_length=200, description="The merchant.")
    presale_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Presale days asked for (default: the product's, if a product is given).",
    )
    product_id: str | None = Field(
        default=None,
        max_length=200,
        description="A product of the merchant: its category may have a longer cap.",
    )
    as_of: date | None = Field(
        default=None, description="The local day to decide for (default: today)."
    )


class ShipPromiseRequest(_Request):
    """Is promising pickup within ``promise_hours`` of payment credible for this merchant?"""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"merchant_id": "M0001", "promise_hours": 48}]},
    )

    merchant_id: str = Field(min_length=1, max_length=200, description="The merchant.")
    promise_hours: int = Field(
        ge=1, le=720, description="Hours from payment to the first carrier scan (揽收)."
    )
    as_of: date | None = Field(
        default=None,
        description="The local day to decide for (default: today); the window ends the day before.",
    )
