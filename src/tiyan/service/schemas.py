"""Request and answer bodies of the API (separate input and public shapes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from tiyan.decisions import ExpressRefundRequest, PresaleRequest, ShipPromiseRequest

#: Dates the service reasons about: the years of the data a store holds (ingestion refuses
#: timestamps outside 2000–2100 as out_of_range). A date beyond them is the request's 422,
#: not an overflow deep in a window computation.
SUPPORTED_FROM, SUPPORTED_UNTIL = date(2000, 1, 1), date(2099, 12, 31)
_RANGE = f"between {SUPPORTED_FROM} and {SUPPORTED_UNTIL}"


def supported_date(value: date | None) -> date | None:
    """``value`` if it is a supported date (ValueError, so a 422 naming the field, if not)."""
    if value is not None and not SUPPORTED_FROM <= value <= SUPPORTED_UNTIL:
        raise ValueError(f"the date {value} is outside the supported range: {_RANGE}")
    return value


def supported_datetime(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A wrap validator: the field's own parsing (and conversion to UTC), with an overflow
    (year 0 or 10000 after applying the offset) and a date outside the range both 422."""
    try:
        parsed = handler(value)
    except OverflowError:
        raise ValueError(f"the time {value!r} is outside the supported range: {_RANGE}") from None
    if isinstance(parsed, datetime) and not SUPPORTED_FROM <= parsed.date() <= SUPPORTED_UNTIL:
        raise ValueError(f"the time {parsed.isoformat()} is outside the supported range: {_RANGE}")
    return parsed


#: A date query parameter or field within the supported range.
SupportedDate = Annotated[date, AfterValidator(supported_date)]


class ExpressRefundIn(ExpressRefundRequest):
    __doc__ = ExpressRefundRequest.__doc__
    _supported = field_validator("requested_at", mode="wrap")(supported_datetime)


class PresaleIn(PresaleRequest):
    __doc__ = PresaleRequest.__doc__
    _supported = field_validator("as_of")(supported_date)


class ShipPromiseIn(ShipPromiseRequest):
    __doc__ = ShipPromiseRequest.__doc__
    _supported = field_validator("as_of")(supported_date)


_ORDER_PAID: dict[str, Any] = {
    "id": "evt-20240618-0001",
    "type": "order.paid",
    "data": {
        "order_id": "O1001",
        "merchant_id": "M000042",
        "consumer_id": "C0000007",
        "product_id": "P0000001",
        "channel": "live",
        "amount": "89.90",
        "paid_at": "2024-06-18T20:15:00+08:00",
        "promised_ship_by": "2024-06-20T20:15:00+08:00",
        "status": "paid",
    },
}
_PICKED_UP: dict[str, Any] = {
    "id": "evt-20240619-0042",
    "type": "shipment.picked_up",
    "data": {"shipment_id": "S1001", "pickup_at": "2024-06-19T09:30:00+08:00"},
}


_MERCHANT: dict[str, Any] = {
    "merchant_id": "M000042",
    "name": "Shop 42",
    "category": "apparel",
    "store_type": "individual",
    "region": "zhejiang",
    "as_of": "2024-07-30",
    "status": "scored",
    "score": 87.4,
    "level": "good",
    "display_score": 4.71,
    "violations": 3,
}
_METRIC: dict[str, Any] = {
    "metric_id": "ship_timeout_rate",
    "en": "Ship-timeout rate",
    "zh": "发货超时率",
    "dimension": "logistics",
    "numerator": 12,
    "denominator": 1500,
    "value": 0.008,
    "category_value": 0.021,
    "platform_value": 0.018,
}
_APPEAL: dict[str, Any] = {
    "appeal_id": "appeal:ship_timeout:M000042:O000000042:1",
    "violation_id": "ship_timeout:M000042:O000000042",
    "merchant_id": "M000042",
    "status": "open",
    "statement": "The carrier scanned late.",
    "evidence": "carrier-letter.pdf",
    "created_at": "2024-06-22T03:00:00",
    "decided_at": None,
    "decided_by": None,
    "reason": None,
}


class EventBatch(BaseModel):
    """A batch of events. Each item is ``{id, type, data}`` (``type: record`` also names its
    ``table``); items are checked one by one, so one bad item never fails the batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [_ORDER_PAID, _PICKED_UP]}]},
    )

    items: list[Any] = Field(
        min_length=1,
        description="The events: {id (your id, for retries), type (record, order.paid, "
        "order.shipped, shipment.picked_up, tracking.event, shipment.signed, order.signed, "
        "order.completed, order.cancelled, after_sale.opened, after_sale.responded, "
        "after_sale.resolved, cs_session, review, complaint, platform_contact, survey), "
        "table (with type record), data (the fields)}.",
    )


class Problem(BaseModel):
    field: str | None = Field(
        default=None, description="Path of the field, e.g. items[3].data.paid_at."
    )
    code: str
    message: str


class ItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 1,
                    "id": "evt-2",
                    "status": "rejected",
                    "table": "orders",
                    "key": "O1002",
                    "problems": [
                        {
                            "field": "items[1].data.paid_at",
                            "code": "bad_type",
                            "message": "paid_at 'yesterday' is not a timestamp",
                        }
                    ],
                }
            ]
        }
    )

    index: int
    id: str | None
    status: str = Field(
        description="accepted; duplicate (this id was accepted before with the same content: "
        "nothing changes); conflict (this id was accepted before with other content: HTTP 409 "
        "for this item, one problem per field that differs, nothing written); rejected."
    )
    table: str | None = None
    key: str | None = Field(default=None, description="Primary key of the row written.")
    problems: list[Problem] = Field(default_factory=list)


class EventsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "duplicate": 0,
                    "conflict": 0,
                    "rejected": 1,
                    "load_id": "6ef4884cf5df4d39aac053c196bf32c1",
                    "items": [
                        {
                            "index": 0,
                            "id": "evt-1",
                            "status": "accepted",
                            "table": "orders",
                            "key": "O1001",
                            "problems": [],
                        }
                    ],
                }
            ]
        }
    )

    accepted: int
    duplicate: int
    conflict: int = Field(description="Items whose id was accepted before with other content.")
    rejected: int
    load_id: str | None = Field(
        default=None, description="The load in ingest_log (none: no write)."
    )
    items: list[ItemOut]


class MerchantSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MERCHANT]})

    merchant_id: str
    name: str | None
    category: str | None
    store_type: str | None = None
    region: str | None = None
    as_of: date | None = None
    status: str | None = Field(default=None, description="scored or insufficient_data.")
    score: float | None = None
    level: str | None = None
    display_score: float | None = None
    violations: int = Field(default=0, description="Violations recorded in all.")


class MerchantPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"total": 1, "items": [_MERCHANT]}]})

    total: int
    items: list[MerchantSummary]


class Scorecard(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "merchant_id": "M000042",
                    "as_of": "2024-07-30",
                    "window_days": 90,
                    "category": "apparel",
                    "status": "scored",
                    "valid_orders": 1520,
                    "score": 87.4,
                    "product": 90.1,
                    "logistics": 82.3,
                    "service": 91.0,
                    "display_score": 4.71,
                    "level": "good",
                    "provisional_score": None,
                    "policy_version": "2026.12-2",
                    "explanation": {"peer_group": "apparel", "metrics": [], "improvements": []},
                    "evidence_incomplete_orders": 0,
                    "record": {
                        "violations_90d": {"ship_timeout": 3},
                        "points_this_year": {"A": 0.3},
                        "penalties": [],
                        "penalty_in_force": None,
                        "compensation_paid": "9.00",
                        "open_appeals": 0,
                        "privileges_and_measures": ["express_refund"],
                    },
                }
            ]
        }
    )

    merchant_id: str
    as_of: date
    window_days: int
    category: str | None
    status: str
    valid_orders: int | None
    score: float | None
    product: float | None
    logistics: float | None
    service: float | None
    display_score: float | None
    level: str | None
    provisional_score: float | None
    policy_version: str
    explanation: dict[str, Any] | None
    evidence_incomplete_orders: int = Field(
        0,
        description="Orders of the window whose records are incomplete (quarantined, delivered "
        "without a pickup, cancelled without a time): left out of the rates, never punished.",
    )
    record: dict[str, Any] | None = Field(
        None, description="Violations, points, penalties, privileges (after enforcement)."
    )


class MetricOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_METRIC]})

    metric_id: str
    en: str
    zh: str
    dimension: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    category_value: float | None = Field(
        default=None, description="The merchant's category, pooled."
    )
    platform_value: float | None = Field(default=None, description="The whole platform, pooled.")


class MetricsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "merchant_id": "M000042",
                    "as_of": "2024-07-30",
                    "window_days": 90,
                    "metrics": [_METRIC],
                }
            ]
        }
    )

    merchant_id: str
    as_of: date
    window_days: int
    metrics: list[MetricOut]


class ViolationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "violation_id": "ship_timeout:M000042:O000000042",
                    "rule_id": "ship_timeout",
                    "ledger": "A",
                    "merchant_id": "M000042",
                    "order_id": "O000000042",
                    "occurred_at": "2024-06-20T12:15:00",
                    "day": "2024-06-20",
                    "amount": 59.9,
                    "evidence": {"promised_ship_by": "2024-06-20 12:15:00", "pickup_at": None},
                    "policy_version": "2026.12-2",
                    "detected_as_of": "2024-06-21",
                }
            ]
        }
    )

    violation_id: str
    rule_id: str
    ledger: str
    merchant_id: str
    order_id: str | None
    occurred_at: datetime
    day: date
    amount: float | None
    evidence: dict[str, Any]
    policy_version: str
    detected_as_of: date


class ActionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "action_id": "points:ship_timeout:M000042:O000000042",
                    "kind": "points",
                    "merchant_id": "M000042",
                    "violation_id": "ship_timeout:M000042:O000000042",
                    "rule_id": "ship_timeout",
                    "ledger": "A",
                    "points": 0.1,
                    "amount": None,
                    "measure": None,
                    "day": "2024-06-20",
                    "as_of": "2024-06-21",
                    "policy_version": "2026.12-2",
                    "detail": {"each": 0.1},
                }
            ]
        }
    )

    action_id: str
    kind: str
    merchant_id: str
    violation_id: str | None
    rule_id: str | None
    ledger: str | None
    points: float | None
    amount: Decimal | None
    measure: str | None
    day: date
    as_of: date
    policy_version: str
    detail: dict[str, Any]


class PrivilegesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"merchant_id": "M000042", "held": ["express_refund", "presale"], "history": []}
            ]
        }
    )

    merchant_id: str
    held: list[str] = Field(description="Privileges held and score measures in force.")
    history: list[ActionOut] = Field(description="Grants, revocations, measures applied/lifted.")


class StandingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "merchant_id": "M000042", "as_of": "2024-07-30", "status": "suspended",
                    "until": "2024-08-06", "cause": "penalty:M000042:B:2024:4:suspension",
                    "score": 79.99, "level": "fair", "privileges": [],
                    "measures": ["deposit_deduction", "rules_exam", "suspension"],
                    "points": {"A": 0.3, "B": 4.0}, "node": "B:4",
                    "penalties": ["penalty:M000042:B:2024:4:suspension"],
                }
            ]
        }
    )  # fmt: skip

    merchant_id: str
    as_of: date
    status: Literal["active", "rectifying", "suspended", "cleared"] = Field(
        description="One status: active, rectifying (warned, until a deadline), suspended "
        "(停业整顿, until a date) or cleared (清退, for the policy year)."
    )
    until: date | None = Field(description="When the status ends (none: open-ended).")
    cause: str | None = Field(description="The penalty (action id) behind the status.")
    score: float | None
    level: str | None
    privileges: list[str] = Field(description="Privileges held.")
    measures: list[str] = Field(description="Penalty and score-based measures in force.")
    points: dict[str, float] = Field(description="This year's points per ledger (A, B).")
    node: str | None = Field(description="The highest ladder node reached this year.")
    penalties: list[str] = Field(description="Penalties in force (action ids).")


def _not_blank(value: str) -> str:
    """Blank as Python's ``str.strip`` sees it (the schema's pattern ``\\S`` lets control
    separators such as U+001C through): refused as a validation error (422), not later."""
    if not value.strip():
        raise ValueError("must contain a character that is not blank")
    return value


class AppealCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "violation_id": "ship_timeout:M000042:O1001",
                    "statement": "The carrier scanned the parcel a day late; see its letter.",
                    "evidence": "carrier-letter-2024-06-20.pdf",
                }
            ]
        },
    )

    violation_id: str = Field(min_length=1, max_length=300)
    statement: str = Field(min_length=1, max_length=5000, pattern=r"\S")
    evidence: str | None = Field(default=None, max_length=5000)

    _statement_not_blank = field_validator("statement")(lambda v: _not_blank(v))


class AppealDecision(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"accept": True, "reason": "carrier delay confirmed"}]},
    )

    accept: bool
    reason: str = Field(min_length=1, max_length=5000, pattern=r"\S")

    _reason_not_blank = field_validator("reason")(lambda v: _not_blank(v))


class AppealOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_APPEAL]})

    appeal_id: str
    violation_id: str
    merchant_id: str
    status: str
    statement: str
    evidence: str | None
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class AppealDecided(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "appeal": {
                        **_APPEAL,
                        "status": "accepted",
                        "evidence": None,
                        "decided_at": "2024-06-23T02:00:00",
                        "decided_by": "tk_3f2a9c0d1b4e",
                        "reason": "carrier delay confirmed",
                    },
                    "reversals": [],
                }
            ]
        }
    )

    appeal: AppealOut
    reversals: list[ActionOut]


class ReasonOut(BaseModel):
    code: str
    message: str


class DecisionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "634b712ce4ff499fa3253e576622a70d",
                    "kind": "express_refund",
                    "subject": "O000000042",
                    "merchant_id": "M000042",
                    "outcome": "refund_now",
                    "reasons": [
                        {
                            "code": "unshipped_express",
                            "message": "not shipped, asked 1.5 h after payment, under ¥300",
                        }
                    ],
                    "policy_version": "2026.12-2",
                    "details": {},
                }
            ]
        }
    )

    decision_id: str
    kind: str
    subject: str
    merchant_id: str | None
    outcome: str
    reasons: list[ReasonOut]
    policy_version: str
    details: dict[str, Any] = Field(default_factory=dict)


class KeyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key_id": "tk_0123456789ab",
                    "role": "merchant",
                    "merchant_id": "M000042",
                    "label": "shop 42's ERP",
                    "created_at": "2024-06-01T08:00:00Z",
                    "revoked_at": "2024-06-22T09:30:00Z",
                }
            ]
        }
    )

    key_id: str
    role: str
    merchant_id: str | None
    label: str | None
    created_at: datetime = Field(description="When it was created (UTC).")
    revoked_at: datetime | None = Field(description="When it was revoked (UTC; none: valid).")

    @field_validator("created_at", "revoked_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # the store keeps naive UTC: say so, as an RFC 3339 date-time must
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "store": "tiyan.duckdb", "schema_version": 1}]
        }
    )

    status: str
    store: str
    schema_version: int


# -- the service desk ----------------------------------------------------------------------


def _storable(value: str | None) -> str | None:
    """Text every store can keep: no lone surrogate, no NUL (a 422 naming the field)."""
    from tiyan.ingest.events import bad_text

    if value is not None and (why := bad_text(value)) is not None:
        raise ValueError(f"the text {why}")
    return value


_DESK_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class ServiceRequestCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "SR-20240603-0001",
                    "type_id": "risky_product",
                    "merchant_id": "M000042",
                    "order_id": "O000001001",
                    "consumer_id": "C000777",
                    "merchant_online": False,
                    "note": "用了三天起了红疹, 照片已上传",
                }
            ]
        },
    )

    request_id: str = Field(
        pattern=_DESK_ID,
        description="The caller's id for it: a retry with the same id is a conflict, never "
        "a second request.",
    )
    type_id: str = Field(min_length=1, max_length=60, description="A type of policy desk.types.")
    merchant_id: str = Field(pattern=_DESK_ID)
    order_id: str | None = Field(default=None, pattern=_DESK_ID)
    consumer_id: str | None = Field(default=None, pattern=_DESK_ID)
    case_id: str | None = Field(default=None, pattern=_DESK_ID)
    complaint_id: str | None = Field(
        default=None, pattern=_DESK_ID,
        description="A complaint filed elsewhere that the desk is to judge (upheld or not).",
    )  # fmt: skip
    language: str = Field(default="zh", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    set_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    merchant_online: bool = Field(
        description="Whether the merchant's agents are reachable now; if not, the request "
        "goes to the platform desk (离线留言)."
    )
    note: str | None = Field(default=None, max_length=5000, description="The consumer's words.")

    _note_storable = field_validator("note")(lambda v: _storable(v))


class ServiceStepCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "answer", "note": "已同意退款, 请查收"}]},
    )

    action: str = Field(min_length=1, max_length=40, description="docs/service-desk.md.")
    note: str | None = Field(default=None, max_length=5000)

    _note_storable = field_validator("note")(lambda v: _storable(v))

    @field_validator("action")
    @classmethod
    def _known_action(cls, action: str) -> str:
        from tiyan.service_desk.requests import ACTIONS

        known = sorted(ACTIONS - {"create"})
        if action not in known:
            raise ValueError(f"unknown action {action!r}: one of {', '.join(known)}")
        return action


class ServiceStepOut(BaseModel):
    at: datetime
    actor: str
    action: str
    note: str | None = None


class ServiceRequestOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "SR-20240603-0001",
                    "type_id": "refund",
                    "merchant_id": "M000042",
                    "order_id": "O000001001",
                    "state": "waiting_merchant",
                    "created_at": "2024-06-03T02:00:00Z",
                    "updated_at": "2024-06-03T02:00:00Z",
                    "due": "2024-06-03T04:00:00Z",
                    "seconds_left": 5400,
                    "breached": False,
                }
            ]
        }
    )

    request_id: str
    type_id: str
    merchant_id: str
    order_id: str | None = None
    case_id: str | None = None
    complaint_id: str | None = None
    language: str = "zh"
    state: str
    created_at: datetime
    updated_at: datetime
    #: The merchant's deadline (None: the request never waited on the merchant, or waits
    #: on someone else for good).
    due: datetime | None = None
    #: Service time the merchant has left, seconds (negative: over).
    seconds_left: float | None = None
    breached: bool = False
    #: Not breached yet, but at most the policy's warn share of the merchant's time is left.
    warning: bool = False
    #: The platform agent holding it (by skill and load), if any.
    assigned_to: str | None = None


class ServiceRequestDetail(ServiceRequestOut):
    trail: list[ServiceStepOut]
    #: The last resolution's liability judgement, and every resolution in order.
    liability: str | None = None
    resolutions: list[ResolutionOut] = []
    attachments: list[AttachmentOut] = []
    #: The consumer's survey score (1–5), once answered.
    satisfaction: int | None = None


class ResolutionCreate(BaseModel):
    """The platform agent's resolution of a request (docs/service-desk.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"outcome": "compensation", "liability": "merchant", "amount": "30.00",
                 "paid_by": "merchant", "note": "商家承担过敏赔付"}
            ]
        },
    )  # fmt: skip

    outcome: Literal["merchant_refunds", "compensation", "consumer_withdraws", "no_fault"]
    liability: Literal["merchant", "consumer", "carrier", "platform", "none"]
    amount: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    paid_by: Literal["merchant", "platform", "carrier"] | None = None
    note: str | None = Field(default=None, max_length=5000)

    _note_storable = field_validator("note")(lambda v: _storable(v))


class ResolutionOut(BaseModel):
    seq: int
    decided_at: datetime
    outcome: str
    liability: str
    amount: Decimal | None = None
    paid_by: str | None = None
    note: str | None = None
    policy_version: str


class ContactIn(BaseModel):
    """A number to call back, as the caller's contact system refers to it: a token (never
    the digits) and the masked form agents see."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=_DESK_ID, description="The contact system's reference.")
    masked: str = Field(min_length=3, max_length=32, examples=["138****5678"])


class CallbackCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"task_id": "CB-1", "contacts": [
                    {"token": "ct-9f2c", "masked": "139****0021"},
                    {"token": "ct-77aa", "masked": "186****4410"}]}
            ]
        },
    )  # fmt: skip

    task_id: str = Field(pattern=_DESK_ID)
    contacts: list[ContactIn] = Field(min_length=1, max_length=5)


class AttemptCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"token": "ct-9f2c", "outcome": "no_answer"}]},
    )

    token: str = Field(pattern=_DESK_ID)
    outcome: Literal["no_answer", "busy", "reached", "wrong_person"]


class AttemptOut(BaseModel):
    at: datetime
    masked: str
    token: str
    outcome: str


class CallbackOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"task_id": "CB-1", "request_id": "SR-20240603-0001",
                 "opened": "2024-06-04T01:00:00Z",
                 "contacts": [{"token": "ct-9f2c", "masked": "139****0021"},
                              {"token": "ct-77aa", "masked": "186****4410"}],
                 "attempts": [{"at": "2024-06-04T01:00:00Z", "masked": "139****0021",
                               "token": "ct-9f2c", "outcome": "no_answer"}],
                 "status": "pending", "next_at": "2024-06-04T01:30:00Z",
                 "next_token": "ct-9f2c", "next_masked": "139****0021",
                 "reason": "attempt 2 on this number"}
            ]
        }
    )  # fmt: skip

    task_id: str
    request_id: str
    opened: datetime
    contacts: list[ContactIn]
    attempts: list[AttemptOut]
    status: str
    next_at: datetime | None = None
    next_token: str | None = None
    next_masked: str | None = None
    reason: str = ""


class AttachmentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                 "name": "rash.jpg", "content_type": "image/jpeg", "size": 183021,
                 "added_at": "2024-06-03T14:05:00Z", "actor": "consumer"}
            ]
        }
    )  # fmt: skip

    sha256: str
    name: str
    content_type: str
    size: int
    added_at: datetime
    actor: str


class SurveyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 5, "comment": "客服很耐心"}]}
    )

    score: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied).")
    comment: str | None = Field(default=None, max_length=2000)

    _comment_storable = field_validator("comment")(lambda v: _storable(v))


ServiceRequestDetail.model_rebuild()
