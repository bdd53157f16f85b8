"""An independent, plain-Python reference for the daily partials of every catalog metric.

Written from the written definitions (each ``MetricDef``'s numerator, denominator,
population and anchor, and the docstrings of :mod:`tiyan.metrics.facts`), not from the Ibis
expressions: lists of dicts in, a dict of ``(metric_id, merchant_id, day) -> (num, den)``
out. Nothing here imports Ibis, DuckDB or pandas, so an agreement between the two is
evidence that both read the definitions the same way.

Conventions taken from the definitions:

* every timestamp is naive UTC, truncated to the whole second before any comparison or
  duration (``first`` review is decided on the untruncated time, then the review id);
* a record counts on the local day (UTC + ``config.utc_offset_minutes``) of its anchor time,
  and only days ``start``..``end`` (inclusive) are kept;
* a merchant-day has a partial as soon as one record of the metric fell on it, even when its
  numerator and denominator are both 0;
* the score's population: ``amount >= min_amount`` and, if ``exclude_gifts``, not a gift
  (a missing ``is_gift`` is not a gift, a missing ``presale`` is not presale);
* split shipments: an order's first upload, first pickup and first parcel sign-off are the
  earliest across its parcels; sign-off = the order's ``signed_at``, else its first parcel's,
  else ``completed_at`` (the confirmed receipt);
* reviews and complaints about an order outside the population are left out, those about no
  order stay; contacts and surveys about no merchant belong to merchant ``""``;
* evidence incomplete -> unknown, never late: an order signed or completed (a ``signed_at``
  on the order or a parcel, a ``completed_at``, or status ``signed`` / ``completed``), or
  with status ``shipped`` and no tracking upload, when no parcel shows a pickup; or with
  status ``cancelled`` and no ``cancelled_at``. Such an order is left out of the
  ship-timeout, presale-overdue and fake-shipment rates and counted in
  ``evidence_incomplete_orders``. (The quarantine, the rule's other source, is not among
  the tables these markets have.)

The service desk's metrics (docs/metrics.md, docs/service-desk.md "In the metrics, the score
and the report", the summary columns of ``service_requests`` in docs/data-model.md):

* every request, callback task and survey counts for the merchant its request is about
  (``service_requests.merchant_id``); a request about an order outside the population is left
  out with its tasks and survey, one about no order stays;
* they read the summary columns as stored, and a null one ("not decided") is never counted:
  the breach rate counts requests whose ``merchant_breached`` is true / not null, on
  ``merchant_due_at``; the first response is ``platform_since`` -> ``first_platform_at`` in
  wall-clock seconds, on the latter;
* "resolved (or closed) as they stand": the resolution metrics count a request whose state is
  ``resolved`` or ``closed`` (on its ``resolved_at``, the last resolution); a reopened request
  still open does not count, whatever its ``resolved_at`` still says;
* a callback task has ended when its status is ``reached`` or ``exhausted`` (``pending`` is
  not counted); it counts on its last attempt (the highest ``seq``), with its number of
  attempts;
* a survey counts on its ``answered_at``, satisfied at 4 or 5.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

Row = dict[str, Any]
Key = tuple[str, str, date]
Partials = dict[Key, tuple[float, float]]

NO_MERCHANT = ""
HOUR = 3600
DAY = 24 * HOUR

QUALITY_REASONS = frozenset({"quality", "not_as_described", "damaged", "logistics"})
MERCHANT_CANCEL_REASONS = frozenset({"out_of_stock", "unable_to_ship"})
PRODUCT_COMPLAINT_TYPES = frozenset({"quality", "false_marketing"})
#: A request resolved "as it stands": resolved, or resolved and then closed.
SETTLED_STATES = frozenset({"resolved", "closed"})
ENDED_TASKS = frozenset({"reached", "exhausted"})


def second(ts: datetime | None) -> datetime | None:
    """``ts`` truncated to the whole second."""
    return None if ts is None else ts.replace(microsecond=0)


def seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (both already truncated)."""
    delta = end - start
    return delta.days * DAY + delta.seconds


def earliest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


@dataclass
class Order:
    order_id: str
    merchant_id: str
    in_population: bool
    paid_at: datetime
    ship_by: datetime | None
    deliver_by: datetime | None
    presale: bool
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    signoff: datetime | None
    first_upload: datetime | None
    first_pickup: datetime | None
    evidence_incomplete: bool


def evidence_incomplete(
    status: str | None,
    signoff: datetime | None,
    cancelled_at: datetime | None,
    first_upload: datetime | None,
    first_pickup: datetime | None,
) -> bool:
    """The "Evidence incomplete" edge case of docs/metrics.md, without the quarantine.

    ``signoff`` is the order's sign-off (its ``signed_at``, else a parcel's, else its
    ``completed_at``): any of them present means a sign-off time exists."""
    delivered = signoff is not None or status in ("signed", "completed")
    shipped_unseen = status == "shipped" and first_upload is None
    if (delivered or shipped_unseen) and first_pickup is None:
        return True
    return status == "cancelled" and cancelled_at is None


@dataclass
class Case:
    order: Order
    type: str
    reason: str
    requested_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    resolved_by: str | None
    platform_intervened: bool
    liability: str | None
    express: bool


class Partial:
    """Sums ``(num, den)`` per metric, merchant and local day of the anchor."""

    def __init__(self, metric_id: str, offset_minutes: int, start: date, end: date) -> None:
        self.metric_id = metric_id
        self.offset = timedelta(minutes=offset_minutes)
        self.start = start
        self.end = end
        self.sums: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def local_day(self, at: datetime) -> date:
        return (at + self.offset).date()

    def add(self, merchant: str, at: datetime, num: float, den: float) -> None:
        day = self.local_day(at)
        if self.start <= day <= self.end:
            sums = self.sums[(self.metric_id, merchant, day)]
            sums[0] += num
            sums[1] += den


class Market:
    """The canonical rows, read once into the shapes the definitions talk about."""

    def __init__(self, rows: Mapping[str, list[Row]], config: Any) -> None:
        self.config = config
        parcels: dict[str, list[Row]] = defaultdict(list)
        for s in rows.get("shipments", []):
            parcels[s["order_id"]].append(s)
        self.orders: dict[str, Order] = {}
        for o in rows.get("orders", []):
            ps = parcels.get(o["order_id"], [])
            gift = bool(o.get("is_gift"))
            in_population = o["amount"] >= config.min_amount and not (config.exclude_gifts and gift)
            own_signed = second(o.get("signed_at"))
            parcel_signed = earliest(second(p.get("signed_at")) for p in ps)
            completed = second(o.get("completed_at"))
            signoff = next(
                (t for t in (own_signed, parcel_signed, completed) if t is not None), None
            )
            cancelled_at = second(o.get("cancelled_at"))
            first_upload = earliest(second(p.get("shipped_at")) for p in ps)
            first_pickup = earliest(second(p.get("pickup_at")) for p in ps)
            self.orders[o["order_id"]] = Order(
                order_id=o["order_id"],
                merchant_id=o["merchant_id"],
                in_population=in_population,
                paid_at=second(o["paid_at"]),  # type: ignore[arg-type]
                ship_by=second(o.get("promised_ship_by")),
                deliver_by=second(o.get("promised_delivery_by")),
                presale=bool(o.get("presale")),
                cancelled_at=cancelled_at,
                cancelled_by=o.get("cancelled_by"),
                cancel_reason=o.get("cancel_reason"),
                signoff=signoff,
                first_upload=first_upload,
                first_pickup=first_pickup,
                evidence_incomplete=evidence_incomplete(
                    o.get("status"), signoff, cancelled_at, first_upload, first_pickup
                ),
            )
        self.population = [o for o in self.orders.values() if o.in_population]
        # the population of the ship-timeout, presale-overdue and fake-shipment rates
        self.evidenced = [o for o in self.population if not o.evidence_incomplete]
        self.cases = [
            Case(
                order=self.orders[a["order_id"]],
                type=a["type"],
                reason=a["reason"],
                requested_at=second(a["requested_at"]),  # type: ignore[arg-type]
                responded_at=second(a.get("merchant_responded_at")),
                resolved_at=second(a.get("resolved_at")),
                resolution=a.get("resolution"),
                resolved_by=a.get("resolved_by"),
                platform_intervened=bool(a.get("platform_intervened")),
                liability=a.get("liability"),
                express=bool(a.get("express")),
            )
            for a in rows.get("after_sales", [])
            if a["order_id"] in self.orders
        ]
        # Cases of the score's population only: every case metric says "cases of POP".
        self.pop_cases = [c for c in self.cases if c.order.in_population]
        self.sessions = rows.get("cs_sessions", [])
        self.reviews = rows.get("reviews", [])
        self.complaints = [c for c in rows.get("complaints", []) if self.about_population(c)]
        self.contacts = rows.get("platform_contacts", [])
        self.surveys = rows.get("surveys", [])
        # the service desk: requests of the population, and their callback tasks and surveys
        self.requests = {
            r["request_id"]: r for r in rows.get("service_requests", []) if self.about_population(r)
        }
        attempts: dict[str, list[Row]] = defaultdict(list)
        for a in rows.get("callback_attempts", []):
            attempts[a["task_id"]].append(a)
        self.tasks = [
            (self.requests[t["request_id"]], t, sorted(attempts[t["task_id"]], key=seq))
            for t in rows.get("request_callbacks", [])
            if t["request_id"] in self.requests
        ]
        self.desk_surveys = [
            (self.requests[s["request_id"]], s)
            for s in rows.get("request_surveys", [])
            if s["request_id"] in self.requests
        ]

    def about_population(self, record: Row) -> bool:
        """A record about no order (or an unknown one) stays; one about an order outside
        the population does not."""
        order = self.orders.get(record.get("order_id") or "")
        return order is None or order.in_population

    def first_reviews(self) -> list[Row]:
        """The first review of each order (earliest, then lowest review id), if that order
        is in the population."""
        first: dict[str, Row] = {}
        for r in self.reviews:
            seen = first.get(r["order_id"])
            if seen is None or (r["created_at"], r["review_id"]) < (
                seen["created_at"],
                seen["review_id"],
            ):
                first[r["order_id"]] = r
        return [r for r in first.values() if self.about_population(r)]

    def in_business_hours(self, started: datetime) -> bool:
        local = started + timedelta(minutes=self.config.utc_offset_minutes)
        second_of_day = local.hour * HOUR + local.minute * 60 + local.second
        open_h, close_h = self.config.business_hours
        return open_h * HOUR <= second_of_day < close_h * HOUR


def seq(attempt: Row) -> int:
    return int(attempt["seq"])


Metric = Callable[[Market, Callable[..., None]], None]
REFERENCE: dict[str, Metric] = {}


def metric(metric_id: str) -> Callable[[Metric], Metric]:
    def register(fn: Metric) -> Metric:
        REFERENCE[metric_id] = fn
        return fn

    return register


# -- shared populations ----------------------------------------------------------------------


def paid_orders(m: Market, add: Callable[..., None]) -> None:
    """Denominator: each order of the population, on the day it was paid."""
    for o in m.population:
        add(o.merchant_id, o.paid_at, 0, 1)


def picked_up(m: Market) -> list[Order]:
    """Orders of the population, not presale, with a first carrier scan."""
    return [o for o in m.population if not o.presale and o.first_pickup is not None]


def business_sessions(m: Market) -> list[Row]:
    return [s for s in m.sessions if m.in_business_hours(second(s["started_at"]))]  # type: ignore[arg-type]


def upheld_or_open(c: Row) -> bool:
    """A complaint counts unless it was reviewed and found groundless (upheld = False)."""
    return c.get("upheld") is not False


def refunded_orders(
    m: Market, *, types: frozenset[str] | None, reasons: frozenset[str] | None
) -> list[tuple[Order, datetime]]:
    """Each order of the population with a completed refund (of ``types``, for
    ``reasons``; ``None``: any), once, at its first such refund's completion."""
    first: dict[str, tuple[Order, datetime]] = {}
    for c in m.pop_cases:
        if c.resolution != "refunded" or c.resolved_at is None:
            continue
        if types is not None and c.type not in types:
            continue
        if reasons is not None and c.reason not in reasons:
            continue
        seen = first.get(c.order.order_id)
        if seen is None or c.resolved_at < seen[1]:
            first[c.order.order_id] = (c.order, c.resolved_at)
    return list(first.values())


# -- logistics -------------------------------------------------------------------------------


def pickup_within(limit_hours: int) -> Metric:
    def compute(m: Market, add: Callable[..., None]) -> None:
        for o in picked_up(m):
            assert o.first_pickup is not None
            on_time = seconds(o.paid_at, o.first_pickup) < limit_hours * HOUR
            add(o.merchant_id, o.first_pickup, int(on_time), 1)

    return compute


metric("pickup_24h_rate")(pickup_within(24))
metric("pickup_48h_rate")(pickup_within(48))


@metric("pickup_timely_weighted")
def _pickup_weighted(m: Market, add: Callable[..., None]) -> None:
    # Weights in hundredths (the metric's scale is 0.01): [0, 24 h) 1, [24, 36) 0.6,
    # [36, 48) 0.3, later 0.
    for o in picked_up(m):
        assert o.first_pickup is not None
        hours = seconds(o.paid_at, o.first_pickup) / HOUR
        weight = 100 if hours < 24 else 60 if hours < 36 else 30 if hours < 48 else 0
        add(o.merchant_id, o.first_pickup, weight, 1)


@metric("ship_timeout_rate")
def _ship_timeout(m: Market, add: Callable[..., None]) -> None:
    # orders with complete evidence only: an incomplete one is unknown, never late
    for o in m.evidenced:
        if o.ship_by is None:
            continue
        if o.cancelled_at is not None and o.cancelled_at < o.ship_by:
            continue  # cancelled before the deadline: never had to ship
        on_time = o.first_pickup is not None and o.first_pickup <= o.ship_by
        add(o.merchant_id, o.ship_by, int(not on_time), 1)


@metric("presale_timeout_rate")
def _presale_timeout(m: Market, add: Callable[..., None]) -> None:
    # the ship-timeout definition, on presale orders only (their deadline is the presale one)
    for o in m.evidenced:
        if not o.presale or o.ship_by is None:
            continue
        if o.cancelled_at is not None and o.cancelled_at < o.ship_by:
            continue
        on_time = o.first_pickup is not None and o.first_pickup <= o.ship_by
        add(o.merchant_id, o.ship_by, int(not on_time), 1)


@metric("pay_to_pickup_hours")
def _pay_to_pickup(m: Market, add: Callable[..., None]) -> None:
    for o in picked_up(m):
        assert o.first_pickup is not None
        add(o.merchant_id, o.first_pickup, seconds(o.paid_at, o.first_pickup), 1)


@metric("fake_shipment_rate")
def _fake_shipment(m: Market, add: Callable[..., None]) -> None:
    for o in m.evidenced:
        if o.first_upload is None:
            continue
        deadline = o.first_upload + timedelta(hours=24)
        scanned = o.first_pickup is not None and o.first_pickup <= deadline
        add(o.merchant_id, deadline, int(not scanned), 1)


@metric("delivery_hours")
def _delivery(m: Market, add: Callable[..., None]) -> None:
    # "signed orders that were picked up": Σ seconds first pickup -> sign-off.
    for o in m.population:
        if o.first_pickup is None or o.signoff is None or o.signoff < o.first_pickup:
            continue  # signed before the first pickup: inconsistent data, left out
        add(o.merchant_id, o.signoff, seconds(o.first_pickup, o.signoff), 1)


@metric("late_delivery_rate")
def _late_delivery(m: Market, add: Callable[..., None]) -> None:
    # "signed orders with a promised_delivery_by": late when signed off after the promise
    for o in m.population:
        if o.signoff is None or o.deliver_by is None:
            continue
        add(o.merchant_id, o.signoff, int(o.signoff > o.deliver_by), 1)


@metric("in_stock_share")
def _in_stock(m: Market, add: Callable[..., None]) -> None:
    for o in m.population:
        add(o.merchant_id, o.paid_at, int(not o.presale), 1)


@metric("presale_share")
def _presale_share(m: Market, add: Callable[..., None]) -> None:
    for o in m.population:
        add(o.merchant_id, o.paid_at, int(o.presale), 1)


@metric("presale_days_mean")
def _presale_days(m: Market, add: Callable[..., None]) -> None:
    for o in m.population:
        if o.presale and o.ship_by is not None:
            add(o.merchant_id, o.paid_at, seconds(o.paid_at, o.ship_by), 1)


@metric("merchant_cancel_rate")
def _merchant_cancel(m: Market, add: Callable[..., None]) -> None:
    for o in m.population:
        if o.cancelled_at is None:
            continue
        if o.cancelled_by == "merchant" or o.cancel_reason in MERCHANT_CANCEL_REASONS:
            add(o.merchant_id, o.cancelled_at, 1, 0)
    paid_orders(m, add)


# -- product ---------------------------------------------------------------------------------


@metric("negative_review_rate")
def _negative_reviews(m: Market, add: Callable[..., None]) -> None:
    for r in m.first_reviews():
        order = m.orders.get(r["order_id"])
        # only reviews of orders that were signed off
        if r["rating"] <= 2 and order is not None and order.signoff is not None:
            add(r["merchant_id"], second(r["created_at"]), 1, 0)
    for o in m.population:
        if o.signoff is not None:
            add(o.merchant_id, o.signoff, 0, 1)


@metric("quality_return_rate")
def _quality_returns(m: Market, add: Callable[..., None]) -> None:
    # "any case type resolved as refunded" for a quality reason, once per order
    for o, at in refunded_orders(m, types=None, reasons=QUALITY_REASONS):
        add(o.merchant_id, at, 1, 0)
    paid_orders(m, add)


@metric("product_complaint_rate")
def _product_complaints(m: Market, add: Callable[..., None]) -> None:
    for c in m.complaints:
        if c["type"] in PRODUCT_COMPLAINT_TYPES and upheld_or_open(c):
            add(c["merchant_id"], second(c["created_at"]), 1, 0)
    paid_orders(m, add)


# -- service ---------------------------------------------------------------------------------


@metric("im_3min_reply_rate")
def _im_3min(m: Market, add: Callable[..., None]) -> None:
    for s in business_sessions(m):
        started, reply = second(s["started_at"]), second(s.get("first_response_at"))
        assert started is not None
        answered = reply is not None and seconds(started, reply) <= 180
        add(s["merchant_id"], started, int(answered), 1)


@metric("im_first_response_minutes")
def _im_first_response(m: Market, add: Callable[..., None]) -> None:
    for s in business_sessions(m):
        started, reply = second(s["started_at"]), second(s.get("first_response_at"))
        assert started is not None
        if reply is not None:
            add(s["merchant_id"], reply, seconds(started, reply), 1)


@metric("complaint_rate")
def _complaints(m: Market, add: Callable[..., None]) -> None:
    for c in m.complaints:
        if upheld_or_open(c):
            add(c["merchant_id"], second(c["created_at"]), 1, 0)
    paid_orders(m, add)


@metric("dispute_liability_rate")
def _dispute_liability(m: Market, add: Callable[..., None]) -> None:
    for c in m.pop_cases:
        if c.resolved_at is None:
            continue
        liable = c.platform_intervened and c.liability == "merchant"
        add(c.order.merchant_id, c.resolved_at, int(liable), 1)


def self_resolution(case_type: str) -> Metric:
    def compute(m: Market, add: Callable[..., None]) -> None:
        for c in m.pop_cases:
            if (
                c.type == case_type
                and c.resolved_by == "merchant"
                and not c.platform_intervened
                and c.resolved_at is not None
            ):
                add(c.order.merchant_id, c.resolved_at, seconds(c.requested_at, c.resolved_at), 1)

    return compute


metric("refund_only_hours")(self_resolution("refund_only"))
metric("return_refund_hours")(self_resolution("return_refund"))


@metric("after_sales_timeout_rate")
def _after_sales_timeout(m: Market, add: Callable[..., None]) -> None:
    # Denominator: cases answered, or still open at request + 48 h (closed at or after the
    # deadline, or not closed). A case closed before 48 h without an answer is not counted.
    for c in m.pop_cases:
        deadline = c.requested_at + timedelta(hours=48)
        answered = c.responded_at is not None
        open_at_deadline = c.resolved_at is None or c.resolved_at >= deadline
        if not (answered or open_at_deadline):
            continue
        in_time = c.responded_at is not None and c.responded_at <= deadline
        add(c.order.merchant_id, deadline, int(not in_time), 1)


@metric("cs_dissatisfaction_rate")
def _cs_dissatisfaction(m: Market, add: Callable[..., None]) -> None:
    for s in m.sessions:
        if s.get("rating") is None:
            continue
        # Anchored on the session end; a session without an end time is taken to end when
        # it started.
        ended = second(s.get("ended_at") or s["started_at"])
        add(s["merchant_id"], ended, int(s["rating"] <= 2), 1)


# -- the platform's service desk ------------------------------------------------------------


def settled_requests(m: Market) -> list[Row]:
    """Requests resolved or closed as they stand, with their last resolution's time."""
    return [
        r
        for r in m.requests.values()
        if r.get("state") in SETTLED_STATES and r.get("resolved_at") is not None
    ]


@metric("desk_merchant_breach_rate")
def _desk_breach(m: Market, add: Callable[..., None]) -> None:
    # decided merchant clocks only: no clock, still running or taken over first is null
    for r in m.requests.values():
        breached, due = r.get("merchant_breached"), second(r.get("merchant_due_at"))
        if breached is None or due is None:
            continue
        add(r["merchant_id"], due, int(breached), 1)


@metric("desk_first_response_minutes")
def _desk_first_response(m: Market, add: Callable[..., None]) -> None:
    # wall-clock seconds (the scale makes minutes), requests the platform took and answered
    for r in m.requests.values():
        since, first = second(r.get("platform_since")), second(r.get("first_platform_at"))
        if since is None or first is None:
            continue
        add(r["merchant_id"], first, seconds(since, first), 1)


@metric("desk_resolved_in_time_rate")
def _desk_resolved_in_time(m: Market, add: Callable[..., None]) -> None:
    for r in settled_requests(m):
        in_time = r.get("resolved_in_time")
        if in_time is None or r.get("platform_since") is None:
            continue  # not decided, or never waited on the platform
        add(r["merchant_id"], second(r["resolved_at"]), int(in_time), 1)


@metric("desk_reopen_rate")
def _desk_reopens(m: Market, add: Callable[..., None]) -> None:
    for r in settled_requests(m):
        reopens = r.get("reopens")
        if reopens is None:
            continue
        add(r["merchant_id"], second(r["resolved_at"]), int(reopens > 0), 1)


@metric("desk_callback_reach_rate")
def _desk_reach(m: Market, add: Callable[..., None]) -> None:
    for r, task, attempts in m.tasks:
        if task["status"] not in ENDED_TASKS or not attempts:
            continue
        last = second(attempts[-1]["attempted_at"])
        add(r["merchant_id"], last, int(task["status"] == "reached"), 1)


@metric("desk_attempts_to_reach")
def _desk_attempts(m: Market, add: Callable[..., None]) -> None:
    for r, task, attempts in m.tasks:
        if task["status"] != "reached" or not attempts:
            continue
        add(r["merchant_id"], second(attempts[-1]["attempted_at"]), len(attempts), 1)


@metric("desk_satisfaction")
def _desk_satisfaction(m: Market, add: Callable[..., None]) -> None:
    for r, s in m.desk_surveys:
        add(r["merchant_id"], second(s["answered_at"]), int(s["score"] >= 4), 1)


# -- consumer level --------------------------------------------------------------------------


@metric("nps")
def _nps(m: Market, add: Callable[..., None]) -> None:
    for s in m.surveys:
        score = s["score"]
        vote = 1 if score >= 9 else -1 if score <= 6 else 0
        add(s.get("merchant_id") or NO_MERCHANT, second(s["created_at"]), vote, 1)


@metric("ccr")
def _ccr(m: Market, add: Callable[..., None]) -> None:
    for c in m.complaints:
        add(c["merchant_id"], second(c["created_at"]), 1, 0)
    paid_orders(m, add)


@metric("cpo")
def _cpo(m: Market, add: Callable[..., None]) -> None:
    # Every platform contact counts (the facts define no order filter for contacts).
    for p in m.contacts:
        add(p.get("merchant_id") or NO_MERCHANT, second(p["created_at"]), 1, 0)
    paid_orders(m, add)


@metric("refund_rate")
def _refunds(m: Market, add: Callable[..., None]) -> None:
    # "orders refunded, once per order": any completed refund, whatever the case type.
    for o, at in refunded_orders(m, types=None, reasons=None):
        add(o.merchant_id, at, 1, 0)
    paid_orders(m, add)


@metric("express_refund_share")
def _express_share(m: Market, add: Callable[..., None]) -> None:
    for c in m.pop_cases:
        if c.resolution == "refunded" and c.resolved_at is not None:
            add(c.order.merchant_id, c.resolved_at, int(c.express), 1)


@metric("valid_orders")
def _valid_orders(m: Market, add: Callable[..., None]) -> None:
    for o in m.population:
        add(o.merchant_id, o.paid_at, 1, 1)


@metric("evidence_incomplete_orders")
def _evidence_incomplete(m: Market, add: Callable[..., None]) -> None:
    # numerator: paid orders whose evidence is incomplete; denominator: paid orders
    for o in m.population:
        add(o.merchant_id, o.paid_at, int(o.evidence_incomplete), 1)


# -- entry point -----------------------------------------------------------------------------


def reference_partials(
    rows: Mapping[str, list[Row]],
    config: Any,
    start: date,
    end: date,
    metrics: Iterable[str] | None = None,
) -> Partials:
    """``(metric_id, merchant_id, local day) -> (num, den)`` for days ``start``..``end``."""
    market = Market(rows, config)
    out: Partials = {}
    for metric_id in REFERENCE if metrics is None else metrics:
        acc = Partial(metric_id, config.utc_offset_minutes, start, end)
        REFERENCE[metric_id](market, acc.add)
        out.update({key: (float(n), float(d)) for key, (n, d) in acc.sums.items()})
    return out
