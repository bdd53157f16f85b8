"""The policy file's ``rules`` section: which violations are detected, and how.

Every threshold of every detector (:mod:`tiyan.policy.detect`) lives here, with its default
and the reference section it comes from. A rule's ``class`` says which points ledger it
feeds: ``A`` general, ``B`` serious (reference §3.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Ledger = Literal["A", "B"]
RuleId = Literal[
    "ship_timeout",
    "fake_shipment",
    "malicious_non_shipment",
    "fake_inventory",
    "false_promise",
    "presale_overrun",
    "after_sales_timeout",
    "passive_service",
    "service_request_timeout",
]
Share = float


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Off: the detector does not run.
    enabled: bool = True
    #: The points ledger the rule feeds: A general, B serious (§3.1).
    ledger: Ledger = Field(default="A", alias="class")


class ShipTimeout(_Rule):
    """发货超时 (§2.2): an order not picked up by its promised_ship_by (a tracking upload alone
    is not shipping). Presale orders are judged by ``presale_overrun`` instead."""


class FakeShipment(_Rule):
    """虚假发货 (§2.3): a tracking number that does not describe a real shipment.

    Strong evidence makes a violation on its own: a number also used for another
    consumer's order, an upload before payment, a delivery scan in a region other than the
    order's destination. Timing evidence — no carrier scan within ``scan_hours`` of the upload
    and none before ``carrier_grace_hours`` either (a scan in between is the carrier's delay),
    or no second tracking event within ``stall_hours`` of the first — makes a violation when
    the merchant has at least ``timing_min_orders`` such orders in ``timing_window_days``:
    carriers are late now and then for everyone, a fake shipper is late by design.
    """

    ledger: Ledger = Field(default="B", alias="class")
    scan_hours: float = Field(default=24, gt=0)
    carrier_grace_hours: float = Field(default=72, gt=0)
    stall_hours: float = Field(default=24, gt=0)
    timing_min_orders: int = Field(default=3, ge=1)
    timing_window_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _grace_after_scan(self) -> FakeShipment:
        if self.carrier_grace_hours < self.scan_hours:
            raise ValueError("carrier_grace_hours must not be shorter than scan_hours")
        return self


class Burst(BaseModel):
    """A burst: at least ``min_count`` records (orders, sessions) and ``min_share`` of the
    merchant's records of the period (its paid orders, its sessions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int = Field(ge=1)
    min_share: Share = Field(ge=0, le=1)


class MaliciousNonShipment(_Rule):
    """恶意不发货 (§2.4): a merchant cancelling paid orders itself (or as unable to ship), or
    leaving them unshipped past ``unshipped_factor`` times the promise (and still unshipped
    when the run looks), in a burst within a local day or a week (Monday to Sunday)."""

    ledger: Ledger = Field(default="B", alias="class")
    unshipped_factor: float = Field(default=2.0, ge=1)
    day: Burst = Burst(min_count=3, min_share=0.3)
    week: Burst = Burst(min_count=3, min_share=0.1)


class FakeInventory(_Rule):
    """虚设库存 (§2.4): orders cancelled after payment as out of stock, in a burst within a
    week (Monday to Sunday). A single oversold order is a mishap; a pattern is a listing
    whose stock does not exist."""

    ledger: Ledger = Field(default="B", alias="class")
    week: Burst = Burst(min_count=3, min_share=0.05)


class FalsePromise(_Rule):
    """虚假承诺发货时效 (§2.1): over the ``window_days`` ending with each week, the merchant's
    ``quantile`` of hours from payment to pickup exceeds the promise it made on those
    orders (their median) by more than ``margin_hours``, on at least ``min_orders``."""

    quantile: float = Field(default=0.9, gt=0, lt=1)
    margin_hours: float = Field(default=12, ge=0)
    min_orders: int = Field(default=30, ge=1)
    window_days: int = Field(default=28, ge=7)


class PresaleOverrun(_Rule):
    """Presale (§2.1): a presale order picked up after its presale deadline, or sold with a
    presale period beyond the cap (15 days; longer for the seasonal categories listed)."""

    cap_days: float = Field(default=15, gt=0)
    #: Product category -> a longer cap (the 2022 apparel extension: 25 days).
    seasonal_cap_days: dict[str, float] = Field(default_factory=dict)


class AfterSalesTimeout(_Rule):
    """售后超时 (§2.6, §4.3): no merchant response within ``hours`` of the request (the case
    is auto-approved)."""

    hours: float = Field(default=48, gt=0)


class PassiveService(_Rule):
    """消极服务 (§3.2): in one local day, IM sessions started in business hours left without a
    human reply within ``reply_minutes`` (or never answered): at least ``min_sessions`` and
    ``min_share`` of the day's sessions."""

    reply_minutes: float = Field(default=30, gt=0)
    day: Burst = Burst(min_count=5, min_share=0.3)


class ServiceRequestTimeout(_Rule):
    """平台客服服务单超时 (reference §4.1, §4.4): a service-desk request whose merchant
    deadline (the request type's service hours) passed before the merchant's answer — the
    desk escalated it to the platform and judged it in the consumer's favour. Decided on the
    deadline; a request whose clock still runs, that never waited on the merchant, or that
    the platform took over before the time ran out is no violation (unknown is not late)."""


class Rules(BaseModel):
    """Every detector's settings (see the class of each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Violations decided up to this many days before as_of are (re)considered by each run:
    #: a late-loaded record can still reveal one; ids make re-detection a no-op.
    lookback_days: int = Field(default=30, ge=1, le=400)
    ship_timeout: ShipTimeout = ShipTimeout()
    fake_shipment: FakeShipment = FakeShipment()
    malicious_non_shipment: MaliciousNonShipment = MaliciousNonShipment()
    fake_inventory: FakeInventory = FakeInventory()
    false_promise: FalsePromise = FalsePromise()
    presale_overrun: PresaleOverrun = PresaleOverrun()
    after_sales_timeout: AfterSalesTimeout = AfterSalesTimeout()
    passive_service: PassiveService = PassiveService()
    service_request_timeout: ServiceRequestTimeout = ServiceRequestTimeout()

    def enabled(self) -> dict[str, _Rule]:
        """Rule id -> settings, for the rules that are on."""
        out: dict[str, _Rule] = {}
        for name in type(self).model_fields:
            rule = getattr(self, name)
            if isinstance(rule, _Rule) and rule.enabled:
                out[name] = rule
        return out


RULE_ZH = {
    "ship_timeout": "发货超时",
    "fake_shipment": "虚假发货",
    "malicious_non_shipment": "恶意不发货",
    "fake_inventory": "虚设库存",
    "false_promise": "虚假承诺发货时效",
    "presale_overrun": "预售超时/超期",
    "after_sales_timeout": "售后超时",
    "passive_service": "消极服务",
    "service_request_timeout": "平台客服服务单超时",
}


#: The metric each rule's violations move.
TARGET_METRIC = {
    "ship_timeout": "ship_timeout_rate",
    "fake_shipment": "fake_shipment_rate",
    "malicious_non_shipment": "merchant_cancel_rate",
    "fake_inventory": "merchant_cancel_rate",
    "false_promise": "pay_to_pickup_hours",
    "presale_overrun": "presale_timeout_rate",
    "after_sales_timeout": "after_sales_timeout_rate",
    "passive_service": "im_3min_reply_rate",
    "service_request_timeout": "desk_merchant_breach_rate",
}
