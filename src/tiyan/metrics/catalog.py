"""The metric catalog: every metric's definition next to the Ibis expression computing it.

A metric builds one or more *streams* from :class:`~tiyan.metrics.facts.Facts`: relations
with ``merchant_id``, ``at`` (the anchor time: the record counts on that local day), ``num``
and ``den``. A rate over one population is one stream (``num`` a 0/1 flag, ``den`` 1); a
ratio of two different things (complaints per paid order) is two streams, one feeding the
numerator and one the denominator. The runner sums streams per merchant and local day.

No engine is named here: the same expressions run on DuckDB, PostgreSQL and Spark.

Example::

    >>> from tiyan.metrics.catalog import CATALOG
    >>> CATALOG["ship_timeout_rate"].definition.zh
    '发货超时率'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
from ibis import _

from tiyan.domain.errors import UnknownNameError
from tiyan.domain.metrics import Dimension, Direction, MetricDef, Unit, WindowKind
from tiyan.metrics.facts import (
    Facts,
    evidence_complete,
    flag,
    seconds_between,
    ship_due,
    ship_late,
)

_DOUYIN_TABLE = "Douyin 商家体验分 indicator table (reference §1.2, blog.11467.com/b1474427.htm)"
_QUALITY_REASONS = ("quality", "not_as_described", "damaged", "logistics")
_MERCHANT_CANCEL_REASONS = ("out_of_stock", "unable_to_ship")
_DAY = 24 * 3600


@dataclass(frozen=True)
class Stream:
    """The records of ``rel``, each counting ``num`` over ``den`` for ``merchant`` on the
    local day of ``at`` (all three are columns of ``rel``)."""

    rel: Any
    at: Any
    num: Any
    den: Any
    merchant: Any

    @property
    def scan(self) -> tuple[Any, Any, Any]:
        """Streams with the same scan (relation, anchor, merchant) are summed in one pass."""
        return self.rel.op(), self.at.op(), self.merchant.op()


Build = Callable[[Facts], list[Stream]]


@dataclass(frozen=True)
class Metric:
    definition: MetricDef
    build: Build

    @property
    def id(self) -> str:
        return self.definition.id


def stream(rel: Any, at: Any, num: Any, den: Any = 1, merchant: Any = None) -> Stream:
    """One stream of ``rel``: each row counts ``num`` over ``den`` on the local day of
    ``at``."""
    return Stream(
        rel=rel,
        at=at,
        num=ibis.literal(num) if isinstance(num, int) else num,
        den=ibis.literal(den) if isinstance(den, int) else den,
        merchant=rel.merchant_id if merchant is None else merchant,
    )


def paid_orders(f: Facts) -> Stream:
    """Denominator stream: orders of the population, on the day they were paid."""
    o = f.population
    return stream(o, o.paid_at, 0, 1)


# -- logistics (物流体验) ------------------------------------------------------------------------


def _picked_up(f: Facts) -> Any:
    o = f.population
    return o.filter(~o.presale, o.first_pickup_at.notnull())


def _pickup_within(hours: int) -> Build:
    def build(f: Facts) -> list[Stream]:
        o = _picked_up(f)
        late = seconds_between(o.paid_at, o.first_pickup_at)
        return [stream(o, o.first_pickup_at, flag(late < hours * 3600))]

    return build


def _pickup_weighted(f: Facts) -> list[Stream]:
    o = _picked_up(f)
    secs = seconds_between(o.paid_at, o.first_pickup_at)
    # Weights in hundredths (scale 0.01) so that every engine sums integers exactly.
    weight = ibis.cases(
        (secs < 24 * 3600, 100),
        (secs < 36 * 3600, 60),
        (secs < 48 * 3600, 30),
        else_=0,
    )
    return [stream(o, o.first_pickup_at, weight)]


def _due(f: Facts) -> Any:
    """Orders whose ship deadline passed, decided at the deadline: orders cancelled before
    it never had to ship, and orders whose records are incomplete are unknown, not late."""
    o = f.population
    return o.filter(ship_due(o), evidence_complete(o))


def _late(due: Any) -> Any:
    return flag(ship_late(due))


def _ship_timeout(f: Facts) -> list[Stream]:
    due = _due(f)
    return [stream(due, due.promised_ship_by, _late(due))]


def _presale_timeout(f: Facts) -> list[Stream]:
    due = _due(f).filter(_.presale)
    return [stream(due, due.promised_ship_by, _late(due))]


def _pay_to_pickup(f: Facts) -> list[Stream]:
    o = _picked_up(f)
    return [stream(o, o.first_pickup_at, seconds_between(o.paid_at, o.first_pickup_at))]


def _fake_shipment(f: Facts) -> list[Stream]:
    o = f.population
    up = o.filter(o.first_shipped_at.notnull(), evidence_complete(o))
    deadline = up.first_shipped_at + ibis.interval(hours=24)
    no_scan = up.first_pickup_at.isnull() | (up.first_pickup_at > deadline)
    return [stream(up, deadline, flag(no_scan))]


def _delivery(f: Facts) -> list[Stream]:
    o = f.population
    done = o.filter(o.first_pickup_at.notnull(), o.signed_at >= o.first_pickup_at)
    return [stream(done, done.signed_at, seconds_between(done.first_pickup_at, done.signed_at))]


def _late_delivery(f: Facts) -> list[Stream]:
    o = f.population
    signed = o.filter(o.signed_at.notnull(), o.promised_delivery_by.notnull())
    return [stream(signed, signed.signed_at, flag(signed.signed_at > signed.promised_delivery_by))]


def _in_stock(f: Facts) -> list[Stream]:
    o = f.population
    return [stream(o, o.paid_at, flag(~o.presale))]


def _presale_share(f: Facts) -> list[Stream]:
    o = f.population
    return [stream(o, o.paid_at, flag(o.presale))]


def _presale_days(f: Facts) -> list[Stream]:
    o = f.population
    pre = o.filter(o.presale, o.promised_ship_by.notnull())
    return [stream(pre, pre.paid_at, seconds_between(pre.paid_at, pre.promised_ship_by))]


def _merchant_cancel(f: Facts) -> list[Stream]:
    o = f.population
    by_merchant = (o.cancelled_by == "merchant") | o.cancel_reason.isin(_MERCHANT_CANCEL_REASONS)
    cancelled = o.filter(o.cancelled_at.notnull(), by_merchant.fill_null(False))
    return [stream(cancelled, cancelled.cancelled_at, 1, 0), paid_orders(f)]


# -- product (商品体验) --------------------------------------------------------------------------


def _signed_orders(f: Facts) -> Stream:
    o = f.population.filter(_.signed_at.notnull())
    return stream(o, o.signed_at, 0, 1)


def _negative_reviews(f: Facts) -> list[Stream]:
    # Reviews of orders never signed off (cancelled, lost) are not counted: the rate stays
    # a share of signed orders.
    r = f.first_reviews.filter(_.rating <= 2)
    signed = f.orders.filter(_.signed_at.notnull()).select(signed_order_id=_.order_id)
    r = r.join(signed, r.order_id == signed.signed_order_id).drop("signed_order_id")
    return [stream(r, r.created_at, 1, 0), _signed_orders(f)]


def _first_refund(f: Facts, reasons: tuple[str, ...] | None) -> Stream:
    """Numerator stream: each order of the population refunded (for ``reasons``), once, on
    the day its first such refund completed."""
    c = f.cases.filter(
        _.in_population,
        _.resolution == "refunded",
        _.resolved_at.notnull(),
    )
    if reasons is not None:
        c = c.filter(c.reason.isin(reasons))
    first = c.group_by(["order_id", "merchant_id"]).aggregate(at=c.resolved_at.min())
    return stream(first, first.at, 1, 0)


def _quality_returns(f: Facts) -> list[Stream]:
    return [_first_refund(f, _QUALITY_REASONS), paid_orders(f)]


def _valid_complaints(f: Facts, types: tuple[str, ...] | None = None) -> Any:
    # 问题投诉: a complaint counts unless it was reviewed and found groundless.
    c = f.complaints.filter(_.upheld.fill_null(True))
    return c if types is None else c.filter(c.type.isin(types))


def _product_complaints(f: Facts) -> list[Stream]:
    c = _valid_complaints(f, ("quality", "false_marketing"))
    return [stream(c, c.created_at, 1, 0), paid_orders(f)]


# -- service (服务体验) --------------------------------------------------------------------------


def _business_sessions(f: Facts) -> Any:
    return f.sessions.filter(_.in_hours)


def _im_3min(f: Facts) -> list[Stream]:
    s = _business_sessions(f)
    answered = s.first_response_at.notnull() & (
        seconds_between(s.started_at, s.first_response_at) <= 180
    )
    return [stream(s, s.started_at, flag(answered))]


def _im_first_response(f: Facts) -> list[Stream]:
    s = _business_sessions(f).filter(_.first_response_at.notnull())
    return [stream(s, s.first_response_at, seconds_between(s.started_at, s.first_response_at))]


def _complaints(f: Facts) -> list[Stream]:
    c = _valid_complaints(f)
    return [stream(c, c.created_at, 1, 0), paid_orders(f)]


def _dispute_liability(f: Facts) -> list[Stream]:
    c = f.cases.filter(_.in_population, _.resolved_at.notnull())
    liable = c.platform_intervened & (c.liability == "merchant")
    return [stream(c, c.resolved_at, flag(liable))]


def _self_resolution(case_type: str) -> Build:
    def build(f: Facts) -> list[Stream]:
        c = f.cases.filter(
            _.in_population,
            _.type == case_type,
            _.resolved_by == "merchant",
            ~_.platform_intervened,
            _.resolved_at.notnull(),
        )
        return [stream(c, c.resolved_at, seconds_between(c.requested_at, c.resolved_at))]

    return build


def _after_sales_timeout(f: Facts) -> list[Stream]:
    c = f.cases.filter(_.in_population)
    deadline = c.requested_at + ibis.interval(hours=48)
    # A case closed before the deadline (withdrawn, or decided by the platform) without an
    # answer was not timed out; a case the system auto-approved at the deadline was.
    c = c.filter(
        c.merchant_responded_at.notnull() | c.resolved_at.isnull() | (c.resolved_at >= deadline)
    )
    deadline = c.requested_at + ibis.interval(hours=48)
    late = c.merchant_responded_at.isnull() | (c.merchant_responded_at > deadline)
    return [stream(c, deadline, flag(late))]


def _cs_dissatisfaction(f: Facts) -> list[Stream]:
    s = f.sessions.filter(_.rating.notnull())
    return [stream(s, s.rated_at, flag(s.rating <= 2))]


# -- the platform service desk (平台客服) ---------------------------------------------------------
#
# Over the desk's requests (docs/service-desk.md), each counted for the merchant it is about.
# The summary columns are what the request's trail says (tiyan.service_desk.history.summarize):
# a null means "not decided" (no clock, still running, not resolved) and is never counted.


def _desk_merchant_breach(f: Facts) -> list[Stream]:
    r = f.requests.filter(_.merchant_breached.notnull(), _.merchant_due_at.notnull())
    return [stream(r, r.merchant_due_at, flag(r.merchant_breached))]


def _desk_first_response(f: Facts) -> list[Stream]:
    r = f.requests.filter(_.platform_since.notnull(), _.first_platform_at.notnull())
    return [stream(r, r.first_platform_at, seconds_between(r.platform_since, r.first_platform_at))]


def _desk_resolved_in_time(f: Facts) -> list[Stream]:
    r = f.requests.filter(_.resolved_in_time.notnull(), _.resolved_at.notnull())
    return [stream(r, r.resolved_at, flag(r.resolved_in_time))]


def _desk_reopen(f: Facts) -> list[Stream]:
    r = f.requests.filter(_.resolved_at.notnull())
    return [stream(r, r.resolved_at, flag(r.reopens > 0))]


def _desk_callback_reach(f: Facts) -> list[Stream]:
    c = f.callbacks
    return [stream(c, c.ended_at, flag(c.reached))]


def _desk_attempts_to_reach(f: Facts) -> list[Stream]:
    c = f.callbacks.filter(_.reached)
    return [stream(c, c.ended_at, c.attempts)]


def _desk_satisfaction(f: Facts) -> list[Stream]:
    s = f.desk_surveys
    return [stream(s, s.answered_at, flag(s.score >= 4))]


# -- consumer level --------------------------------------------------------------------------


def _nps(f: Facts) -> list[Stream]:
    s = f.surveys
    vote = ibis.cases((s.score >= 9, 1), (s.score <= 6, -1), else_=0)
    return [stream(s, s.created_at, vote)]


def _ccr(f: Facts) -> list[Stream]:
    c = f.complaints
    return [stream(c, c.created_at, 1, 0), paid_orders(f)]


def _cpo(f: Facts) -> list[Stream]:
    p = f.contacts
    return [stream(p, p.created_at, 1, 0), paid_orders(f)]


def _refunds(f: Facts) -> list[Stream]:
    return [_first_refund(f, None), paid_orders(f)]


def _express_share(f: Facts) -> list[Stream]:
    c = f.cases.filter(_.in_population, _.resolution == "refunded", _.resolved_at.notnull())
    return [stream(c, c.resolved_at, flag(c.express))]


def _valid_orders(f: Facts) -> list[Stream]:
    o = f.population
    return [stream(o, o.paid_at, 1, 1)]


def _evidence_incomplete(f: Facts) -> list[Stream]:
    o = f.population
    return [stream(o, o.paid_at, flag(~evidence_complete(o)), 1)]


# -- the catalog -----------------------------------------------------------------------------

L, P, S, C, V = (
    Dimension.LOGISTICS,
    Dimension.PRODUCT,
    Dimension.SERVICE,
    Dimension.CONSUMER,
    Dimension.VOLUME,
)
LOW, HIGH = Direction.LOWER, Direction.HIGHER
POP = "orders of the score's population (paid ≥ min_amount, not gifts)"
PICKED = f"{POP}, not presale, picked up (never-shipped orders have no pickup)"
BIZ = "IM sessions started within business hours (08:00:00–22:59:59 local)"
DESK = "requests to the platform's service desk, unless about an order outside " + POP
_DESK_TYPES = "Douyin 平台客服服务单 deadlines by request type (reference §4.1)"

METRICS: tuple[Metric, ...] = (
    Metric(
        MetricDef(
            "pickup_24h_rate", "24小时揽收率", "Pickup within 24 h", L, HIGH, Unit.SHARE,
            numerator="orders whose first carrier scan came < 24 h after payment",
            denominator="picked-up orders", population=PICKED, anchor="first pickup",
            source=_DOUYIN_TABLE + " (揽收及时率, 24H)",
            records=("shipments",),
        ),
        _pickup_within(24),
    ),
    Metric(
        MetricDef(
            "pickup_48h_rate", "48小时揽收率", "Pickup within 48 h", L, HIGH, Unit.SHARE,
            numerator="orders whose first carrier scan came < 48 h after payment",
            denominator="picked-up orders", population=PICKED, anchor="first pickup",
            source=_DOUYIN_TABLE + " (揽收及时率, 48H)",
            records=("shipments",),
        ),
        _pickup_within(48),
    ),
    Metric(
        MetricDef(
            "pickup_timely_weighted", "揽收及时率(加权)", "On-time pickup (weighted)", L, HIGH,
            Unit.SHARE,
            numerator="Σ weight per order: 1 if picked up < 24 h after payment, 0.6 within "
            "24–36 h, 0.3 within 36–48 h, 0 later",
            denominator="picked-up orders", population=PICKED, anchor="first pickup",
            scale=0.01, scored=True,
            source=_DOUYIN_TABLE + " (24H/24–36H/36–48H combined by weight)",
            notes="The official weights are not published; 1 / 0.6 / 0.3 are tiyan's.",
            records=("shipments",),
        ),
        _pickup_weighted,
    ),
    Metric(
        MetricDef(
            "ship_timeout_rate", "发货超时率", "Ship-timeout rate", L, LOW, Unit.SHARE,
            numerator="orders not picked up by promised_ship_by (a tracking upload alone is "
            "not shipping)",
            denominator="orders whose ship deadline passed",
            population=f"{POP} with a promised_ship_by, not cancelled before it, with complete "
            "evidence; presale orders count against their presale deadline",
            anchor="promised_ship_by", scored=True,
            source="Douyin 发货超时 (reference §2.2: shipped only when pickup completes in time)",
            records=("shipments",),
        ),
        _ship_timeout,
    ),
    Metric(
        MetricDef(
            "presale_timeout_rate", "预售发货超时率", "Presale overdue rate", L, LOW,
            Unit.SHARE,
            numerator="presale orders not picked up by their presale ship deadline",
            denominator="presale orders whose deadline passed",
            population=f"{POP}, presale, with a deadline, not cancelled before it, with complete "
            "evidence",
            anchor="promised_ship_by (the presale deadline)", scored=True,
            source="Douyin 现货+预售: presale overdue is abuse that revokes presale permissions "
            "(reference §2.1)",
            notes="The ship-timeout rate restricted to presale orders: presale is a privilege, "
            "and its own deadline is the promise. Pickup timeliness leaves presale orders out.",
            records=("shipments",),
        ),
        _presale_timeout,
    ),
    Metric(
        MetricDef(
            "pay_to_pickup_hours", "平均揽收时长", "Mean payment → pickup time", L, LOW,
            Unit.HOURS, numerator="Σ seconds from payment to first pickup",
            denominator="picked-up orders", population=PICKED, anchor="first pickup",
            scale=1 / 3600, scored=True, min_volume=5,
            source="Douyin 平均揽收时长 (older score version, reference §1.1)",
            records=("shipments",),
        ),
        _pay_to_pickup,
    ),
    Metric(
        MetricDef(
            "fake_shipment_rate", "虚假发货率", "Fake-shipment rate", L, LOW, Unit.SHARE,
            numerator="orders with no carrier scan within 24 h of the first tracking upload",
            denominator="orders with a tracking number uploaded",
            population=f"{POP} with a tracking upload and complete evidence",
            anchor="first upload + 24 h",
            scored=True, source="Douyin 虚假发货 (reference §2.3)",
            records=("shipments",),
        ),
        _fake_shipment,
    ),
    Metric(
        MetricDef(
            "delivery_hours", "订单配送时长", "Delivery time (pickup → signed)", L, LOW,
            Unit.HOURS, numerator="Σ seconds from first pickup to sign-off",
            denominator="signed orders that were picked up", population=POP,
            anchor="sign-off", scale=1 / 3600, scored=True, min_volume=5,
            source=_DOUYIN_TABLE + " (订单配送时长)",
            notes="Sign-off is the order's signed_at, else its first parcel's, else the "
            "confirmed receipt (completed_at). An order signed off before its first pickup "
            "(inconsistent data) is left out rather than counted with a negative time.",
            records=("shipments",),
        ),
        _delivery,
    ),
    Metric(
        MetricDef(
            "late_delivery_rate", "延迟送达率", "Late-delivery rate", L, LOW, Unit.SHARE,
            numerator="signed orders signed off after their promised_delivery_by",
            denominator="signed orders with a promised_delivery_by",
            population=f"{POP}, signed off, with a promised delivery time",
            anchor="sign-off",
            source="Olist's headline figure (orders delivered after the estimated delivery "
            "date); the complement of Amazon's and Walmart's on-time delivery rate (global "
            "standards §1.2, §7)",
            notes="Sign-off as for the delivery time (the order's signed_at, else its first "
            "parcel's, else the confirmed receipt). Orders without a promised delivery time "
            "are left out, not on time; a store whose orders never carry one does not "
            "measure the metric. Not in the default score: the Douyin rules it follows "
            "judge the pickup, not the delivery promise.",
            fields=("orders.promised_delivery_by",),
        ),
        _late_delivery,
    ),
    Metric(
        MetricDef(
            "in_stock_share", "现货比例", "In-stock share", L, HIGH, Unit.SHARE,
            numerator="orders not sold on presale", denominator="paid orders",
            population=POP, anchor="payment",
            source="Douyin 阶梯发货 condition: ≥50% 现货 orders (reference §1.5)",
        ),
        _in_stock,
    ),
    Metric(
        MetricDef(
            "presale_share", "预售比例", "Presale share", L, LOW, Unit.SHARE,
            numerator="presale orders", denominator="paid orders", population=POP,
            anchor="payment", source="Douyin 现货+预售 mode (reference §2.1)",
        ),
        _presale_share,
    ),
    Metric(
        MetricDef(
            "presale_days_mean", "平均预售天数", "Mean presale days", L, LOW, Unit.DAYS,
            numerator="Σ days from payment to the presale ship deadline",
            denominator="presale orders with a deadline", population=f"{POP}, presale",
            anchor="payment", scale=1 / 86400,
            source="Douyin presale cap 15 days (reference §2.1)",
        ),
        _presale_days,
    ),
    Metric(
        MetricDef(
            "merchant_cancel_rate", "商家取消率", "Merchant cancellation rate", L, LOW,
            Unit.SHARE,
            numerator="orders cancelled after payment by the merchant, or for out of stock / "
            "unable to ship (on the day of cancellation)",
            denominator="paid orders (on the day of payment)", population=POP,
            anchor="cancellation / payment", scored=True,
            source="Douyin 缺货 / 虚设库存 (reference §2.4)",
            notes="Measured only where the data says who cancelled or why: a source without "
            "any cancelled_by or cancel_reason (Olist) has no value, rather than a rate of 0.",
            fields=("orders.cancelled_by", "orders.cancel_reason"),
        ),
        _merchant_cancel,
    ),
    Metric(
        MetricDef(
            "negative_review_rate", "商品差评率", "Negative-review rate", P, LOW, Unit.SHARE,
            numerator="first reviews rated 1–2 of orders that were signed off (on the day of "
            "the review)",
            denominator="signed orders (on the day of sign-off)", population=POP,
            anchor="review / sign-off", scored=True, source=_DOUYIN_TABLE + " (商品差评率)",
            notes="Only an order's first review counts, and only for an order signed off "
            "(a review of a cancelled or lost order is not a product defect on a delivered "
            "order). Numerator and denominator are flows over the same days, so a merchant "
            "whose sign-offs fall before the window and reviews inside it can, rarely, pass "
            "100%.",
            records=("reviews",),
        ),
        _negative_reviews,
    ),
    Metric(
        MetricDef(
            "quality_return_rate", "品质退货率", "Quality-return rate", P, LOW, Unit.SHARE,
            numerator="orders refunded (any case type resolved as refunded) for quality, not "
            "as described, damaged or logistics reasons, once per order, on the day the first "
            "such refund completed",
            denominator="paid orders", population=POP, anchor="refund / payment",
            window=WindowKind.LAGGED, scored=True,
            source=_DOUYIN_TABLE + " (品质退货率, 前15–104天)",
            records=("after_sales",),
        ),
        _quality_returns,
    ),
    Metric(
        MetricDef(
            "product_complaint_rate", "商品投诉率", "Product complaint rate", P, LOW,
            Unit.SHARE,
            numerator="complaints about quality or false marketing, unless found groundless",
            denominator="paid orders", population=f"{POP}; complaints about no order count",
            anchor="complaint / payment", scored=True,
            source="Douyin 综合负向反馈率 (reference §1.1)",
            records=("complaints",),
        ),
        _product_complaints,
    ),
    Metric(
        MetricDef(
            "im_3min_reply_rate", "IM 3分钟回复率", "IM 3-minute reply rate", S, HIGH,
            Unit.SHARE, numerator="sessions with a human reply within 3 minutes",
            denominator="sessions", population=BIZ, anchor="session start", scored=True,
            source=_DOUYIN_TABLE + " (IM 3分钟平均回复率, 08:00:00–22:59:59)",
            records=("cs_sessions",),
        ),
        _im_3min,
    ),
    Metric(
        MetricDef(
            "im_first_response_minutes", "IM平均首次响应时长", "Mean first-response time", S,
            LOW, Unit.MINUTES, numerator="Σ seconds from session start to first human reply",
            denominator="answered sessions", population=f"{BIZ}, answered",
            anchor="first reply", scale=1 / 60, min_volume=5,
            source="Douyin IM首次平均回复时长 (older score version, reference §1.1)",
            records=("cs_sessions",),
        ),
        _im_first_response,
    ),
    Metric(
        MetricDef(
            "complaint_rate", "投诉率", "Complaint rate", S, LOW, Unit.SHARE,
            numerator="complaints of any type, unless found groundless",
            denominator="paid orders", population=f"{POP}; complaints about no order count",
            anchor="complaint / payment", window=WindowKind.LAGGED, scored=True,
            source=_DOUYIN_TABLE + " (投诉率, 前15–104天)",
            records=("complaints",),
        ),
        _complaints,
    ),
    Metric(
        MetricDef(
            "dispute_liability_rate", "纠纷商责率", "Merchant-liable dispute rate", S, LOW,
            Unit.SHARE,
            numerator="cases arbitrated by the platform and judged merchant-liable",
            denominator="completed after-sales cases", population=f"cases of {POP}",
            anchor="case completion", scored=True, source=_DOUYIN_TABLE + " (纠纷商责率)",
            records=("after_sales",),
        ),
        _dispute_liability,
    ),
    Metric(
        MetricDef(
            "refund_only_hours", "仅退款自主完结时长", "Refund-only self-resolution time", S,
            LOW, Unit.HOURS, numerator="Σ seconds from request to completion",
            denominator="refund-only cases the merchant completed itself",
            population=f"cases of {POP} resolved by the merchant without platform arbitration",
            anchor="case completion", scale=1 / 3600, scored=True, min_volume=5,
            source="Douyin 仅退款自主完结时长 (reference §1.1)",
            records=("after_sales",),
        ),
        _self_resolution("refund_only"),
    ),
    Metric(
        MetricDef(
            "return_refund_hours", "退货退款自主完结时长", "Return + refund self-resolution time",
            S, LOW, Unit.HOURS, numerator="Σ seconds from request to completion",
            denominator="return + refund cases the merchant completed itself",
            population=f"cases of {POP} resolved by the merchant without platform arbitration",
            anchor="case completion", scale=1 / 3600, scored=True, min_volume=5,
            source="Douyin 退货退款自主完结时长 (reference §1.1)",
            records=("after_sales",),
        ),
        _self_resolution("return_refund"),
    ),
    Metric(
        MetricDef(
            "after_sales_timeout_rate", "售后超时率", "After-sales timeout rate", S, LOW,
            Unit.SHARE, numerator="cases without a merchant response within 48 h",
            denominator="cases still open at 48 h or answered",
            population=f"cases of {POP}; a case closed before 48 h without an answer "
            "(withdrawn, decided by the platform) is not counted",
            anchor="request + 48 h", scored=True,
            source="Douyin 售后处理超时率 (reference §1.2 UI names; auto-approval at 48 h, §2.6)",
            records=("after_sales",),
        ),
        _after_sales_timeout,
    ),
    Metric(
        MetricDef(
            "cs_dissatisfaction_rate", "客服不满意率", "CS dissatisfaction rate", S, LOW,
            Unit.SHARE, numerator="rated sessions rated 1–2", denominator="rated sessions",
            population="IM sessions with a rating (any hour)", anchor="session end",
            scored=True, source="Douyin IM不满意率 (reference §1.1)",
            records=("cs_sessions",),
        ),
        _cs_dissatisfaction,
    ),
    Metric(
        MetricDef(
            "desk_merchant_breach_rate", "平台客服服务单超时率", "Desk request breach rate", S,
            LOW, Unit.SHARE,
            numerator="requests whose merchant deadline passed unanswered, or was answered late",
            denominator="requests with a decided merchant clock (answered in time, or breached)",
            population=f"{DESK}; requests with no merchant clock (routed straight to the "
            "platform), still running, or taken over by the platform before the time ran out "
            "are not counted",
            anchor="the merchant's deadline", scored=True,
            source=f"{_DESK_TYPES}; a breach judged for the consumer (WeChat 小店, §4.4)",
            notes="The merchant's deadline runs in service hours of the request type "
            "(docs/service-desk.md). Its weight (policy scoring.dimensions.service) is tiyan's: "
            "no platform publishes one.",
            records=("service_requests",),
        ),
        _desk_merchant_breach,
    ),
    Metric(
        MetricDef(
            "desk_first_response_minutes", "平台客服首次响应时长", "Desk first-response time", S,
            LOW, Unit.MINUTES,
            numerator="Σ seconds from the request first waiting on the platform to the "
            "platform's first step after that",
            denominator="requests the platform took and answered", population=DESK,
            anchor="the platform's first response", scale=1 / 60, min_volume=5,
            source="tiyan: no platform publishes its desk's response time (the merchant's "
            "deadlines are §4.1's)",
            notes="Wall-clock time, not service hours: a request that reaches the platform at "
            "22:00 and is answered at 09:05 counts 11 h 5 min. It measures the platform's desk, "
            "counted for the merchant the request is about; not scored.",
            records=("service_requests",),
        ),
        _desk_first_response,
    ),
    Metric(
        MetricDef(
            "desk_resolved_in_time_rate", "平台客服按时完结率", "Desk resolved-in-time rate", S,
            HIGH, Unit.SHARE,
            numerator="resolved requests resolved within the platform's resolution hours",
            denominator="resolved requests that waited on the platform",
            population=f"{DESK}; resolved (or closed) as they stand",
            anchor="the last resolution",
            source="tiyan: the platform's own target (policy desk.resolve_hours, service hours, "
            "time waiting on the consumer not counted); none is published",
            notes="A reopened request counts once, by its last resolution. Not scored.",
            records=("service_requests",),
        ),
        _desk_resolved_in_time,
    ),
    Metric(
        MetricDef(
            "desk_callback_reach_rate", "回访触达率", "Callback reach rate", S, HIGH, Unit.SHARE,
            numerator="callback tasks that reached the consumer",
            denominator="callback tasks that ended (reached or exhausted)",
            population=f"callback tasks of {DESK}; pending tasks are not counted",
            anchor="the task's last attempt",
            source="tiyan: no marketplace publishes its callback outcomes (the schedule is "
            "tiyan's, docs/service-desk.md)",
            notes="Not scored: it measures the platform's desk (and the numbers consumers "
            "leave), not the merchant.",
            records=("request_callbacks", "callback_attempts"),
        ),
        _desk_callback_reach,
    ),
    Metric(
        MetricDef(
            "desk_attempts_to_reach", "平均回访触达次数", "Mean attempts to reach", S, LOW,
            Unit.MEAN,
            numerator="Σ attempts of the tasks that reached the consumer",
            denominator="callback tasks that reached the consumer",
            population=f"callback tasks of {DESK} that ended reached",
            anchor="the task's last attempt (the one that reached)",
            source="tiyan: none published",
            notes="A mean number of calls (1 = reached at the first call). The catalog has no "
            "unit of a plain mean yet: it is held as unit `nps`, which prints a plain number "
            "with one decimal. Not scored.",
            records=("request_callbacks", "callback_attempts"),
        ),
        _desk_attempts_to_reach,
    ),
    Metric(
        MetricDef(
            "desk_reopen_rate", "服务单重开率", "Desk reopen rate", S, LOW, Unit.SHARE,
            numerator="resolved requests that had been reopened at least once",
            denominator="resolved requests", population=f"{DESK}; resolved (or closed) as they "
            "stand (a reopened request still open counts when it is resolved again)",
            anchor="the last resolution",
            source="tiyan: none published (a reopen says the first resolution did not hold)",
            notes="Not scored.",
            records=("service_requests",),
        ),
        _desk_reopen,
    ),
    Metric(
        MetricDef(
            "desk_satisfaction", "平台客服满意率", "Desk satisfaction rate", S, HIGH,
            Unit.SHARE,
            numerator="survey answers of 4 or 5 (satisfied, very satisfied)",
            denominator="survey answers (1–5)",
            population=f"the consumer's survey of a resolved request of {DESK}",
            anchor="the answer",
            source="tiyan; satisfaction as a share, as Douyin's 精选联盟 gates CS satisfaction "
            "(≥65%, reference §7.1) and as the CS dissatisfaction rate counts 1–2 (§1.1)",
            notes="A share of satisfied answers (top two boxes) rather than a mean score: a "
            "1–5 scale is ordinal, a mean of 3 hides whether half were furious, and a share "
            "can be compared with the published gates. Not scored.",
            records=("request_surveys",),
        ),
        _desk_satisfaction,
    ),
    Metric(
        MetricDef(
            "nps", "净推荐值", "NPS", C, HIGH, Unit.NPS,
            numerator="promoters (9–10) minus detractors (0–6)", denominator="answers",
            population="survey answers about the merchant (platform: all answers)",
            anchor="answer", scale=100, source="Net Promoter Score (Bain)",
            records=("surveys",),
        ),
        _nps,
    ),
    Metric(
        MetricDef(
            "ccr", "客诉率", "CCR (complaints per order)", C, LOW, Unit.SHARE,
            numerator="complaints of any type and outcome", denominator="paid orders",
            population=f"{POP}; complaints about no order count", anchor="complaint / payment",
            source="Customer complaint rate, as in the seeds' experience report",
            records=("complaints",),
        ),
        _ccr,
    ),
    Metric(
        MetricDef(
            "cpo", "CPO(每百万单进线量)", "CPO (contacts per million orders)", C, LOW,
            Unit.PER_MILLION, numerator="platform customer-service contacts",
            denominator="paid orders",
            population=f"{POP}; contacts about no merchant count for the platform only",
            anchor="contact / payment", scale=1_000_000,
            source="Contacts per order (Amazon CPO), per million as in the seeds",
            records=("platform_contacts",),
        ),
        _cpo,
    ),
    Metric(
        MetricDef(
            "refund_rate", "退款率", "Refund rate", C, LOW, Unit.SHARE,
            numerator="orders refunded, once per order, on the day of the first refund",
            denominator="paid orders", population=POP, anchor="refund / payment",
            source="Platform refund rate",
            records=("after_sales",),
        ),
        _refunds,
    ),
    Metric(
        MetricDef(
            "express_refund_share", "极速退占比", "Express-refund share", C, HIGH, Unit.SHARE,
            numerator="refunds paid as express refunds (极速退)", denominator="refunded cases",
            population=f"refunded cases of {POP}", anchor="refund",
            source="Douyin 极速退款 (reference §2.6)",
            records=("after_sales",),
        ),
        _express_share,
    ),
    Metric(
        MetricDef(
            "valid_orders", "有效订单量", "Valid orders", V, HIGH, Unit.COUNT,
            numerator="paid orders", denominator="paid orders", population=POP,
            anchor="payment",
            source="Douyin: about 30 valid orders before a score appears (reference §1.4)",
            notes="The volume that decides whether a merchant is scored at all.",
        ),
        _valid_orders,
    ),
    Metric(
        MetricDef(
            "evidence_incomplete_orders", "证据不全订单量", "Evidence-incomplete orders", V, LOW,
            Unit.COUNT, numerator="paid orders whose evidence is incomplete (a record "
            "quarantined, a delivered or shipped order without a pickup, a cancellation "
            "without its time)", denominator="paid orders", population=POP, anchor="payment",
            source="tiyan: no punishment without evidence (issue 13; DESIGN principles)",
            notes="Counted apart, never punished: these orders are left out of the ship-timeout, "
            "presale-overdue and fake-shipment rates and yield no violation. A high count says "
            "the merchant's or the platform's data feed is broken, not that orders went unshipped.",
        ),
        _evidence_incomplete,
    ),
)  # fmt: skip

CATALOG: dict[str, Metric] = {m.id: m for m in METRICS}
DEFINITIONS: dict[str, MetricDef] = {m.id: m.definition for m in METRICS}


def get_metric(metric_id: str) -> Metric:
    """The metric ``metric_id``, or an error that suggests the closest id."""
    try:
        return CATALOG[metric_id]
    except KeyError:
        raise UnknownNameError("metric", metric_id, list(CATALOG)) from None
