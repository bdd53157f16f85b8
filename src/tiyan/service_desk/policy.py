"""The service desk's settings: its calendar, the request types and their deadlines, callbacks.

Every number cites where it comes from (reference §4.1: Douyin platform customer service;
§4.4: WeChat 小店), or says ``tiyan`` where no marketplace publishes one.

Example::

    desk = DeskPolicy()
    desk.types["refund"].hours         # 2.0 (reference §4.1)
    desk.hours_for("case_by_case", 6)  # the platform set 6 h (at least 2)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tiyan.service_desk.callbacks import CallbackPolicy
from tiyan.service_desk.clock import ServiceCalendar


class RequestType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Literal["after_sales", "complaint", "chase", "other"]
    label_zh: str
    #: The merchant's deadline in service hours; for ``case_by_case`` the least the
    #: platform may set.
    hours: float = Field(gt=0)
    source: str
    #: The platform sets the deadline per request (``hours`` is then the minimum).
    set_by_platform: bool = False


def _t(category: str, label: str, hours: float, source: str, **kw: bool) -> RequestType:
    return RequestType(category=category, label_zh=label, hours=hours, source=source, **kw)  # type: ignore[arg-type]


_S41 = "reference §4.1 (Douyin 平台客服服务单)"
#: Request type id -> its settings (reference §4.1's table, one row per type).
DEFAULT_TYPES: dict[str, RequestType] = {
    "exchange": _t("after_sales", "换货", 12, _S41),
    "product_issue": _t("after_sales", "商品相关", 12, _S41),
    "negotiated_refund": _t("after_sales", "协商退款", 12, _S41),
    "refund": _t("after_sales", "退款", 2, _S41),
    "order_operation": _t("after_sales", "订单操作", 2, _S41),
    "delivery_problem": _t("complaint", "快递问题", 12, _S41),
    "merchant_service": _t("complaint", "商家服务或违规", 12, _S41),
    "repeat_complaint": _t("complaint", "二次投诉", 2, _S41),
    "voucher_booking": _t("complaint", "卡券预约使用", 2, _S41),
    "risky_product": _t("complaint", "风险商品", 2, _S41),
    "courier_related": _t("complaint", "快递相关", 24, _S41),
    # WeChat 小店 creates a 催发货 ticket when a shipment is late and the consumer chases
    # (reference §4.4); no deadline is published for it: tiyan uses the delivery problem's.
    "shipping_chase": _t("chase", "催发货", 12, "reference §4.4 (type); hours: tiyan"),
    "case_by_case": _t("other", "协商约定", 2, _S41 + ": at least 2 h", set_by_platform=True),
}


class DeskPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: ServiceCalendar = Field(
        default=ServiceCalendar(),
        description="When the desk's clocks run: 09:00-21:00 local (reference §4.1).",
    )
    types: dict[str, RequestType] = Field(default_factory=lambda: dict(DEFAULT_TYPES))
    callbacks: CallbackPolicy = Field(default=CallbackPolicy())
    #: A merchant breach escalates to the platform and is judged in the consumer's favour
    #: (reference §4.4: "a merchant timeout leads to auto-judgement; a failed review defaults
    #: to the user's favour").
    breach_judged_for_consumer: bool = True
    #: The platform's own target: a request it takes is resolved within these service
    #: hours, the time waiting on the consumer not counted (tiyan: none published; 24 h,
    #: twice the longest merchant deadline of §4.1 but the courier's).
    resolve_hours: float = Field(default=24, gt=0)
    #: Warn before a breach: once this share of the merchant's time is left (tiyan: a
    #: quarter — 30 minutes of a 2-hour deadline, 3 hours of a 12-hour one).
    warn_share: float = Field(default=0.25, gt=0, lt=1)

    @model_validator(mode="after")
    def _types(self) -> DeskPolicy:
        if not self.types:
            raise ValueError("the desk needs at least one request type")
        return self

    def hours_for(self, type_id: str, set_hours: float | None = None) -> float:
        """The merchant's deadline for a request of ``type_id`` (``set_hours``: what the
        platform set, for a type it sets per request)."""
        kind = self.types.get(type_id)
        if kind is None:
            raise ValueError(f"unknown request type {type_id!r}: one of {sorted(self.types)}")
        if not kind.set_by_platform:
            if set_hours is not None:
                raise ValueError(f"{type_id} has a fixed deadline of {kind.hours:g} h")
            return kind.hours
        if set_hours is None:
            raise ValueError(
                f"{type_id}: the platform sets the deadline (at least {kind.hours:g} h)"
            )
        if set_hours < kind.hours:
            raise ValueError(f"{type_id}: at least {kind.hours:g} h, not {set_hours:g}")
        return set_hours
