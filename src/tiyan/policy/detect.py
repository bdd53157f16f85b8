"""Violation detectors: Ibis expressions over the canonical tables, as of a date.

A detector only decides once the deadline it depends on has passed: a violation *occurs* at
a time (a ship deadline, an upload + 24 h, the end of a local day or week) and is decided by
a run for ``as_of`` when that time falls in the ``lookback_days`` before the start of
``as_of`` (local midnight). Each violation's id is its rule, merchant and subject (an order,
a case, a day, a week), so detecting it again — the next day, or twice the same day —
finds the same id.

Every detector returns a relation with ``merchant_id``, ``subject``, ``order_id`` (or
null), ``occurred_at`` (naive UTC), ``amount`` (the order's paid amount, or null) and
evidence columns named ``e_*``. Nothing here names an engine.

Example::

    found = detect(store_tables(store), policy, as_of=date(2024, 7, 30))
    found["ship_timeout"].to_pyarrow()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

import ibis
from ibis import _

from tiyan.domain.metrics import CatalogConfig
from tiyan.metrics.facts import (
    Facts,
    evidence_complete,
    flag,
    left_unshipped,
    seconds_between,
    ship_due,
    ship_late,
)
from tiyan.policy.rules import (
    AfterSalesTimeout,
    FakeInventory,
    FakeShipment,
    FalsePromise,
    MaliciousNonShipment,
    PassiveService,
    PresaleOverrun,
    Rules,
    ServiceRequestTimeout,
    ShipTimeout,
)

_HOUR = 3600
_MERCHANT_CANCEL = ("unable_to_ship",)
_OUT_OF_STOCK = ("out_of_stock",)


class Window:
    """The UTC instants [lo, hi) a run decides: ``lookback_days`` local days before as_of."""

    def __init__(self, as_of: date, lookback_days: int, config: CatalogConfig) -> None:
        self.offset = timedelta(minutes=config.utc_offset_minutes)
        self.hi = datetime.combine(as_of, time()) - self.offset
        self.lo = self.hi - timedelta(days=lookback_days)
        self.as_of = as_of

    def decided(self, rel: Any, at: Any) -> Any:
        return rel.filter(at >= ibis.literal(self.lo), at < ibis.literal(self.hi))

    def before(self, **delta: float) -> Any:
        """The instant ``delta`` before the window's start, as a literal (records older
        than what a rule looks back over cannot make a violation decided in the window)."""
        return ibis.literal(self.lo - timedelta(**delta))


class Detectors:
    """The detectors over one store's tables (see the module docstring)."""

    def __init__(
        self,
        tables: Mapping[str, Any],
        rules: Rules,
        config: CatalogConfig,
        *,
        share: Callable[[Any], Any] | None = None,
    ) -> None:
        self.tables = tables
        self.rules = rules
        self.config = config
        self.facts = Facts(tables, config)
        self.share = share or (lambda rel: rel)

    def _local(self, ts: Any) -> Any:
        return self.facts.local(ts)

    def _from_local(self, day: Any) -> Any:
        """Local midnight of ``day`` (a date) as naive UTC."""
        return day.cast("timestamp") - ibis.interval(minutes=self.config.utc_offset_minutes)

    @cached_property
    def orders(self) -> Any:
        """``Facts.orders`` with each order's amount and consumer: what the order-level rules
        read, built once per run (``share`` may materialise it for all of them)."""
        o = self.facts.orders
        raw = self.tables["orders"].select(
            ro_id=_.order_id, amount=_.amount.cast("float64"), consumer_id=_.consumer_id
        )
        return self.share(o.join(raw, o.order_id == raw.ro_id).drop("ro_id"))

    # -- order-level rules -------------------------------------------------------------------

    def ship_timeout(self, w: Window, rule: ShipTimeout) -> Any:
        o = self.orders
        late = o.filter(~o.presale, ship_due(o), ship_late(o))
        late = w.decided(late, late.promised_ship_by)
        return late.select(
            merchant_id=_.merchant_id,
            subject=_.order_id,
            order_id=_.order_id,
            occurred_at=_.promised_ship_by,
            amount=_.amount,
            e_paid_at=_.paid_at,
            e_promised_ship_by=_.promised_ship_by,
            e_first_pickup_at=_.first_pickup_at,
        )

    def presale_overrun(self, w: Window, rule: PresaleOverrun) -> Any:
        o = self.orders.filter(_.presale, _.promised_ship_by.notnull())
        p = self.tables["products"].select(p_id=_.product_id, category=_.category)
        raw = self.tables["orders"].select(r_id=_.order_id, product_id=_.product_id)
        o = o.join(raw, o.order_id == raw.r_id).drop("r_id")
        o = o.left_join(p, o.product_id == p.p_id).drop("p_id")
        cap = ibis.literal(rule.cap_days)
        if rule.seasonal_cap_days:
            cap = ibis.cases(
                *[(o.category == c, days) for c, days in sorted(rule.seasonal_cap_days.items())],
                else_=rule.cap_days,
            )
        days = seconds_between(o.paid_at, o.promised_ship_by) / 86400
        over_cap = days > cap
        overdue = ship_due(o) & ship_late(o)
        # Over the cap: known at payment; overdue: at the deadline. One violation per order,
        # at the first of the two.
        at = ibis.ifelse(over_cap, o.paid_at, o.promised_ship_by)
        found = o.filter(over_cap | overdue).mutate(at=at)
        found = w.decided(found, found.at)
        return found.select(
            merchant_id=_.merchant_id,
            subject=_.order_id,
            order_id=_.order_id,
            occurred_at=_.at,
            amount=_.amount,
            e_presale_days=days.round(2).cast("float64"),
            e_over_cap=over_cap,
            e_overdue=overdue,
            e_promised_ship_by=_.promised_ship_by,
            e_first_pickup_at=_.first_pickup_at,
        )

    def fake_shipment(self, w: Window, rule: FakeShipment) -> Any:
        o = self.orders
        s = self.tables["shipments"]
        ev = self.tables["tracking_events"]
        # A violation decided in the window comes from an upload at most the longest wait
        # before it, plus the span that confirms timing evidence.
        longest = max(rule.scan_hours, rule.carrier_grace_hours, rule.stall_hours)
        since = w.before(hours=longest, days=rule.timing_window_days)
        recent = s.filter(s.shipped_at >= since)
        s = s.filter(s.tracking_no.isin(recent.tracking_no))  # every use of those numbers
        ev = ev.filter(ev.tracking_no.isin(recent.tracking_no))
        o = o.filter(o.first_shipped_at >= since)
        # Per tracking number: who used it first (the genuine order) and how many consumers.
        parcels = s.select("order_id", "tracking_no", "destination_region", "shipped_at")
        # (every order that used the number, however old: the first use is the genuine one)
        who = self.tables["orders"].select(po_id=_.order_id, consumer_id=_.consumer_id)
        parcels = parcels.join(who, parcels.order_id == who.po_id).drop("po_id")
        numbers = parcels.group_by("tracking_no").aggregate(
            consumers=parcels.consumer_id.nunique(),
            first_upload=parcels.shipped_at.truncate("s").min(),
        )
        reused = parcels.join(numbers, "tracking_no").filter(
            _.consumers > 1, _.shipped_at.truncate("s") > _.first_upload
        )
        reused = reused.group_by("order_id").aggregate(reused_no=reused.tracking_no.min())
        # Delivery scans away from the destination; tracking that stalls after its first event.
        signed = ev.filter(ev.status == "signed").select("tracking_no", signed_region=_.region)
        away = parcels.join(signed, "tracking_no").filter(
            _.destination_region.notnull(),
            _.signed_region.notnull(),
            _.destination_region != _.signed_region,
        )
        away = away.group_by("order_id").aggregate(away_region=away.signed_region.min())
        # Each number's first scan and the next one (the second smallest scan time: the
        # first again when two scans share it), as two aggregations rather than a ranking.
        # Only an order nobody signed for can stall: its parcels' numbers are the only ones
        # whose scans are ranked (the order's own sign-off and completion, and each parcel's,
        # are null; the order-level test below stays the authority).
        open_orders = self.tables["orders"].filter(_.signed_at.isnull(), _.completed_at.isnull())
        unsigned = s.filter(s.signed_at.isnull(), s.order_id.isin(open_orders.order_id))
        scans = ev.filter(ev.tracking_no.isin(unsigned.tracking_no))
        times = scans.select("tracking_no", t=scans.event_at.truncate("s"))
        firsts = times.group_by("tracking_no").aggregate(
            first_event=times.t.min(), events=times.t.count()
        )
        after = times.join(firsts, "tracking_no")
        first_two = after.group_by("tracking_no").aggregate(
            first_event=after.first_event.min(),
            events=after.events.min(),
            ties=flag(after.t == after.first_event).sum(),
            later=after.t.min(where=after.t > after.first_event),
        )
        first_two = first_two.mutate(
            second_event=ibis.ifelse(first_two.ties > 1, first_two.first_event, first_two.later)
        )
        stall = parcels.join(first_two, "tracking_no")
        stall = stall.group_by("order_id").aggregate(
            first_event=stall.first_event.min(),
            stalled=(
                (stall.events < 2)
                | (
                    seconds_between(stall.first_event, stall.second_event)
                    > rule.stall_hours * _HOUR
                )
            ).any(),
        )
        up = o.filter(o.first_shipped_at.notnull())
        up = up.left_join(reused, up.order_id == reused.order_id).drop("order_id_right")
        up = up.left_join(away, up.order_id == away.order_id).drop("order_id_right")
        up = up.left_join(stall, up.order_id == stall.order_id).drop("order_id_right")
        grace = up.first_shipped_at + ibis.interval(seconds=int(rule.carrier_grace_hours * _HOUR))
        # No scan within scan_hours and none before the (longer) carrier grace either: the
        # second condition implies the first.
        no_scan = up.first_pickup_at.isnull() | (up.first_pickup_at > grace)
        stall_at = up.first_event + ibis.interval(seconds=int(rule.stall_hours * _HOUR))
        stalled = up.stalled.fill_null(False) & up.signed_at.isnull()
        before_payment = up.first_shipped_at < up.paid_at
        strong = up.reused_no.notnull() | up.away_region.notnull() | before_payment
        # Timing evidence is an absence (no scan, no second event): it counts only where
        # the order's records are complete (a rejected scan may be the missing one).
        timing = (no_scan | stalled) & evidence_complete(up)
        at = ibis.least(
            ibis.ifelse(
                strong,
                up.first_shipped_at + ibis.interval(seconds=int(rule.scan_hours * _HOUR)),
                grace,
            ),
            ibis.ifelse(stalled & ~no_scan & ~strong, stall_at, grace),
        )
        cand = up.mutate(
            at=at,
            strong=strong,
            timing=timing,
            e_no_scan=no_scan,
            e_stalled=stalled,
            e_before_payment=before_payment,
        ).filter(_.strong | _.timing)
        # Timing evidence counts only when some span of timing_window_days holds enough such
        # orders of the merchant (carriers are late for everyone now and then): count them
        # over the span ending at each order, then confirm every order a qualifying span
        # covers (the best count among the spans ending in the days after it).
        # (Both windows run over every candidate, the orders without timing evidence
        # counting 0 and confirming nothing, so the candidates are computed once.)
        span = ibis.interval(days=rule.timing_window_days)
        trailing = ibis.range_window(
            preceding=span, following=0, group_by=cand.merchant_id, order_by=cand.at
        )
        cand = cand.mutate(trailing_count=flag(cand.timing).sum().over(trailing))
        ahead = ibis.range_window(
            preceding=0, following=span, group_by=cand.merchant_id, order_by=cand.at
        )
        best = ibis.ifelse(cand.timing, cand.trailing_count, ibis.null().cast("int64"))
        cand = cand.mutate(timing_orders=best.max().over(ahead))
        cand = cand.mutate(
            timing_orders=ibis.ifelse(cand.timing, cand.timing_orders, 0).cast("int64")
        )
        found = cand.filter(cand.strong | (cand.timing_orders >= rule.timing_min_orders))
        found = w.decided(found, found.at)
        return found.select(
            merchant_id=_.merchant_id,
            subject=_.order_id,
            order_id=_.order_id,
            occurred_at=_.at,
            amount=_.amount,
            e_shipped_at=_.first_shipped_at,
            e_paid_at=_.paid_at,
            e_first_pickup_at=_.first_pickup_at,
            e_reused_tracking_no=_.reused_no,
            e_signed_region=_.away_region,
            e_no_scan=_.e_no_scan,
            e_stalled=_.e_stalled,
            e_before_payment=_.e_before_payment,
            e_timing_orders_in_window=_.timing_orders,
        )

    def after_sales_timeout(self, w: Window, rule: AfterSalesTimeout) -> Any:
        c = self.facts.cases
        quarantined = self.facts.quarantined_cases
        if quarantined is not None:  # a rejected record of the case may be its answer
            c = c.filter(~c.case_id.isin(quarantined.q_case_id))
        deadline = c.requested_at + ibis.interval(seconds=int(rule.hours * _HOUR))
        c = c.mutate(deadline=deadline).filter(
            # closed before the deadline without an answer (withdrawn, decided): not a timeout
            _.merchant_responded_at.notnull()
            | _.resolved_at.isnull()
            | (_.resolved_at >= _.deadline),
            _.merchant_responded_at.isnull() | (_.merchant_responded_at > _.deadline),
        )
        c = w.decided(c, c.deadline)
        return c.select(
            merchant_id=_.merchant_id,
            subject=_.case_id,
            order_id=_.order_id,
            occurred_at=_.deadline,
            amount=ibis.null().cast("float64"),
            e_case_type=_.type,
            e_requested_at=_.requested_at,
            e_merchant_responded_at=_.merchant_responded_at,
        )

    def service_request_timeout(self, w: Window, rule: ServiceRequestTimeout) -> Any:
        r = self.facts.requests.filter(_.merchant_breached.fill_null(False))
        r = w.decided(r, r.merchant_due_at)
        return r.select(
            merchant_id=_.merchant_id,
            subject=_.request_id,
            order_id=_.order_id,
            occurred_at=_.merchant_due_at,
            amount=ibis.null().cast("float64"),
            e_request_type=_.type_id,
            e_merchant_due_at=_.merchant_due_at,
        )

    # -- merchant-level rules (bursts) -------------------------------------------------------

    def _day_end(self, ts: Any) -> Any:
        """End of the local day of ``ts`` (the next local midnight), naive UTC."""
        day = self._local(ts).date()
        return self._from_local(day) + ibis.interval(days=1)

    def _week_end(self, ts: Any) -> Any:
        """End of the local week (Monday to Sunday) of ``ts``, naive UTC."""
        monday = self._local(ts).truncate("W").date()
        return self._from_local(monday) + ibis.interval(days=7)

    def _known(self, found: Any, days: int, table: str, time_key: str) -> Any:
        """Merchant-periods of ``found`` (``merchant_id``, ``end``; ``days`` long) minus those
        a quarantined record of ``table`` of the merchant may fall in (a day either side: the
        raw time's zone is not known): a count over them is incomplete, never evidence."""
        q = self.facts.quarantined_days(table, time_key)
        if q is None:
            return found
        # one anti-join on the range (``found`` once: engines that inline it compute it once)
        return found.anti_join(
            q,
            (found.merchant_id == q.q_merchant_id)
            & (q.q_at > found.end - ibis.interval(days=days + 1))
            & (q.q_at < found.end + ibis.interval(days=1)),
        )

    def _paid_per(self, period_end: Callable[[Any], Any], since: Any) -> Any:
        o = self.tables["orders"]
        o = o.filter(o.paid_at >= since)
        return o.group_by(merchant_id=o.merchant_id, end=period_end(o.paid_at)).aggregate(
            paid=o.count()
        )

    def _periods(
        self, w: Window, found: Any, period: str, evidence: dict[str, Callable[[Any], Any]]
    ) -> Any:
        """Violations of merchant-periods ``found`` (``merchant_id``, ``end``: the period's
        end, naive UTC) decided in the window; the subject names the period's first day."""
        found = w.decided(found, found.end - ibis.interval(seconds=1))
        days = 1 if period == "day" else 7
        start_day = self._local(found.end - ibis.interval(days=days)).date()
        return found.select(
            merchant_id=found.merchant_id,
            subject=ibis.literal(f"{period}:") + start_day.cast("string"),
            order_id=ibis.null().cast("string"),
            occurred_at=found.end,
            amount=ibis.null().cast("float64"),
            **{f"e_{name}": value(found) for name, value in evidence.items()},
        )

    def _bursts(
        self,
        w: Window,
        events: Any,
        min_count: int,
        min_share: float,
        period_end: Callable[[Any], Any],
        period: str,
    ) -> Any:
        """Merchant-periods where ``events`` (merchant_id, order_id, at) reach the burst."""
        # A period ending in the window began at most 8 days (a week, a day of offset) before.
        events = events.filter(events.at >= w.before(days=8))
        grouped = events.group_by(merchant_id=events.merchant_id, end=period_end(events.at))
        counts = grouped.aggregate(
            orders=events.order_id.nunique(), first_order=events.order_id.min()
        )
        paid = self._paid_per(period_end, w.before(days=8))
        joined = counts.left_join(
            paid, (counts.merchant_id == paid.merchant_id) & (counts.end == paid.end)
        )
        share = joined.orders.cast("float64") / ibis.greatest(
            joined.paid.fill_null(0), joined.orders
        )
        found = joined.select(
            merchant_id=counts.merchant_id,
            end=counts.end,
            orders=joined.orders,
            paid=joined.paid.fill_null(0),
            share=share,
            first_order=joined.first_order,
        ).filter(_.orders >= min_count, _.share >= min_share)
        # the share's denominator counts the paid orders on record: not when one was rejected
        found = self._known(found, 1 if period == "day" else 7, "orders", "paid_at")
        return self._periods(
            w,
            found,
            period,
            {
                "period": lambda f: ibis.literal(period),
                "orders": lambda f: f.orders,
                "paid_orders": lambda f: f.paid,
                "share": lambda f: f.share.round(4).cast("float64"),
                "example_order": lambda f: f.first_order,
            },
        )

    def _non_shipped(self, rule: MaliciousNonShipment) -> Any:
        o = self.orders
        by_merchant = (o.cancelled_by == "merchant") & ~o.cancel_reason.isin(
            _OUT_OF_STOCK
        ).fill_null(False)
        cancelled = o.filter(
            o.cancelled_at.notnull(),
            by_merchant.fill_null(False) | o.cancel_reason.isin(_MERCHANT_CANCEL).fill_null(False),
        ).select("merchant_id", "order_id", at=_.cancelled_at)
        promise = seconds_between(o.paid_at, o.promised_ship_by)
        late_by = o.paid_at + ibis.interval(seconds=1) * (promise * rule.unshipped_factor).cast(
            "int64"
        )
        # Left unshipped: past the factor × the promise without a tracking upload or a pickup,
        # and still open and unshipped when the run looks (a fake upload is the fake-shipment
        # rule's; a late but real shipment is a ship timeout, not a refusal to ship).
        # (still open: an order the consumer gave up on and cancelled is a ship timeout; a
        # signed, completed or shipped order, or one whose records are incomplete, is not
        # open, whatever its parcels show)
        unshipped = o.filter(o.promised_ship_by.notnull(), left_unshipped(o)).select(
            "merchant_id", "order_id", at=late_by
        )
        return ibis.union(cancelled, unshipped, distinct=False)

    def malicious_non_shipment(self, w: Window, rule: MaliciousNonShipment) -> Any:
        events = self._non_shipped(rule)
        day = self._bursts(w, events, rule.day.min_count, rule.day.min_share, self._day_end, "day")
        week = self._bursts(
            w, events, rule.week.min_count, rule.week.min_share, self._week_end, "week"
        )
        return ibis.union(day, week, distinct=False)

    def fake_inventory(self, w: Window, rule: FakeInventory) -> Any:
        o = self.orders
        events = o.filter(
            o.cancelled_at.notnull(), o.cancel_reason.isin(_OUT_OF_STOCK).fill_null(False)
        ).select("merchant_id", "order_id", at=_.cancelled_at)
        return self._bursts(
            w, events, rule.week.min_count, rule.week.min_share, self._week_end, "week"
        )

    def passive_service(self, w: Window, rule: PassiveService) -> Any:
        s = self.facts.sessions.filter(_.in_hours)
        slow = s.first_response_at.isnull() | (
            seconds_between(s.started_at, s.first_response_at) > rule.reply_minutes * 60
        )
        per_day = s.group_by(merchant_id=s.merchant_id, end=self._day_end(s.started_at)).aggregate(
            sessions=s.count(), unanswered=ibis.ifelse(slow, 1, 0).sum()
        )
        found = per_day.mutate(share=per_day.unanswered.cast("float64") / per_day.sessions).filter(
            _.unanswered >= rule.day.min_count, _.share >= rule.day.min_share
        )
        found = self._known(found, 1, "cs_sessions", "started_at")
        return self._periods(
            w,
            found,
            "day",
            {
                "sessions": lambda f: f.sessions,
                "unanswered": lambda f: f.unanswered,
                "share": lambda f: f.share.round(4).cast("float64"),
            },
        )

    def false_promise(self, w: Window, rule: FalsePromise) -> Any:
        # The quantile is over the pickups on record: a span holding an order whose records
        # are incomplete (a rejected parcel, a delivery without a pickup) is not judged, as
        # the missing pickup may be any. Those orders count at their pickup, else payment.
        o = self.orders.filter(~_.presale, _.promised_ship_by.notnull())
        counted = o.first_pickup_at.notnull() & evidence_complete(o)
        o = o.mutate(
            at=ibis.coalesce(o.first_pickup_at, o.paid_at),
            counted=counted,
            gap=ibis.ifelse(evidence_complete(o), 0, 1),
            hours=ibis.ifelse(counted, seconds_between(o.paid_at, o.first_pickup_at) / 3600, None),
            promise=ibis.ifelse(
                counted, seconds_between(o.paid_at, o.promised_ship_by) / 3600, None
            ),
        )
        o = o.filter(o.at >= w.before(days=rule.window_days + 8))
        # Each week end looks back over window_days of pickups.
        shown = o.filter(o.counted)
        weeks = shown.select("merchant_id", end=self._week_end(shown.at)).distinct()
        # (only the weeks a run for as_of decides: the others would be dropped below)
        weeks = w.decided(weeks, weeks.end - ibis.interval(seconds=1))
        span = ibis.interval(days=rule.window_days)
        picks = o.select(m=_.merchant_id, at=_.at, hours=_.hours, promise=_.promise, gap=_.gap)
        joined = weeks.join(
            picks,
            (weeks.merchant_id == picks.m)
            & (picks.at < weeks.end)
            & (picks.at >= weeks.end - span),
        )
        stats = joined.group_by(["merchant_id", "end"]).aggregate(
            orders=joined.hours.count(),
            q=joined.hours.quantile(rule.quantile),
            promise=joined.promise.median(),
            gaps=joined.gap.sum(),
        )
        found = stats.filter(
            _.orders >= rule.min_orders, _.q > _.promise + rule.margin_hours, _.gaps == 0
        )
        found = self._known(found, rule.window_days, "orders", "paid_at")
        return self._periods(
            w,
            found,
            "week",
            {
                "orders": lambda f: f.orders,
                "pickup_hours_at_quantile": lambda f: f.q.round(2).cast("float64"),
                "promised_hours": lambda f: f.promise.round(2).cast("float64"),
            },
        )


#: One detector per rule id: the rule's settings type and the function deciding it. Every
#: rule of :class:`~tiyan.policy.rules.Rules` has exactly one (checked at import).
Detector = Callable[[Detectors, Window, Any], Any]
DETECTORS: dict[str, tuple[type, Detector]] = {
    "ship_timeout": (ShipTimeout, Detectors.ship_timeout),
    "fake_shipment": (FakeShipment, Detectors.fake_shipment),
    "malicious_non_shipment": (MaliciousNonShipment, Detectors.malicious_non_shipment),
    "fake_inventory": (FakeInventory, Detectors.fake_inventory),
    "false_promise": (FalsePromise, Detectors.false_promise),
    "presale_overrun": (PresaleOverrun, Detectors.presale_overrun),
    "after_sales_timeout": (AfterSalesTimeout, Detectors.after_sales_timeout),
    "passive_service": (PassiveService, Detectors.passive_service),
    "service_request_timeout": (ServiceRequestTimeout, Detectors.service_request_timeout),
}


def _check_table() -> None:
    fields = {
        name: f.annotation for name, f in Rules.model_fields.items() if name != "lookback_days"
    }
    if set(fields) != set(DETECTORS):
        raise RuntimeError(f"rules {sorted(fields)} and detectors {sorted(DETECTORS)} differ")
    for name, (kind, _fn) in DETECTORS.items():
        if fields[name] is not kind:
            raise RuntimeError(f"rule {name} is a {fields[name]}, its detector takes {kind}")


_check_table()


def detect(
    tables: Mapping[str, Any],
    rules: Rules,
    config: CatalogConfig,
    *,
    as_of: date,
    share: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Rule id -> the Ibis expression of its violations decided by a run for ``as_of``.

    ``share`` receives the relation every order-level rule reads (one row per order, the
    costliest part of each) and returns what they read instead: the caller may materialise
    it once in its engine (e.g. ``Table.cache``) rather than have each rule recompute it."""
    detectors = Detectors(tables, rules, config, share=share)
    window = Window(as_of, rules.lookback_days, config)
    return {
        rule_id: DETECTORS[rule_id][1](detectors, window, rule)
        for rule_id, rule in rules.enabled().items()
    }
