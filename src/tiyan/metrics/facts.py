"""The relations metrics are written against, built once from the canonical tables.

Each is an Ibis expression (nothing runs here), shared by several metrics:

* ``orders``: one row per order with its first tracking upload, first pickup and sign-off
  across all its parcels (split shipments: the *first* pickup counts) and ``in_population``
  (the score's population: paid at least ``min_amount``, not a gift);
* ``cases``: after-sales cases with their order's merchant and population flag;
* ``sessions``: IM sessions with ``in_hours`` (started within local business hours);
* ``first_reviews``: the first review of each order;
* ``complaints``, ``contacts``, ``surveys``: with the merchant each is about;
* the platform service desk's (docs/service-desk.md): ``requests`` (each request with the
  summary columns its trail gives), ``callbacks`` (callback tasks that ended, with their
  attempts) and ``desk_surveys`` (the consumer's 1–5 satisfaction), each with the merchant
  the request is about. Tables that are absent (a Parquet folder without the desk's files)
  are empty relations: the desk's metrics then have no records, on any engine.

Times are naive UTC, truncated to whole seconds so that every engine computes the same
durations.

With ``since`` (an incremental run), each relation keeps only the records that can count on
a day from ``since`` on: records with some anchor time at or after it, and for the relations
that pick one record per order (first pickup, first review, first refund) every record of an
order that has one. A stream's anchor is never earlier than the raw times these filters
test, so nothing that counts from ``since`` on is left out; the runner still filters every
stream on its anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import ibis
from ibis import _

from tiyan.domain.metrics import CatalogConfig
from tiyan.domain.model import DESK_TABLES, ColumnType

NO_MERCHANT = ""
"""``merchant_id`` of records that belong to no merchant (e.g. a platform contact about an
account): they count for the platform, never for a merchant."""


#: Ibis type of each logical column type (for the empty stand-in of an absent desk table).
_IBIS_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "string",
    ColumnType.INT: "int64",
    ColumnType.MONEY: "decimal(18, 2)",
    ColumnType.FLOAT: "float64",
    ColumnType.BOOL: "boolean",
    ColumnType.TIMESTAMP: "timestamp",
    ColumnType.DATE: "date",
}

#: Statuses of a callback task that has ended (``request_callbacks.status``).
CALLBACK_ENDED = ("reached", "exhausted")


def seconds_between(start: Any, end: Any) -> Any:
    """Whole seconds from ``start`` to ``end`` (both truncated to the second)."""
    return (end.truncate("s").epoch_seconds() - start.truncate("s").epoch_seconds()).cast("int64")


def flag(condition: Any) -> Any:
    """1 where ``condition`` holds, else 0 (null counts as not holding)."""
    return ibis.ifelse(condition.fill_null(False), 1, 0)


#: Statuses of an order that has reached its consumer.
DELIVERED_STATUSES = ("signed", "completed")

#: Why an order's evidence is incomplete (``Facts.orders.evidence``), in the order tested.
EVIDENCE_REASONS = {
    "quarantined": "a record of the order (the order, a parcel or its tracking) was rejected "
    "by validation and sits in the quarantine",
    "shipment_missing": "the order was delivered or marked shipped, but no parcel with a "
    "carrier pickup is on record",
    "cancellation_missing": "the order is cancelled, but no cancellation time is on record",
}


def json_string(raw: Any, key: str) -> Any:
    """The string value of ``key`` in ``raw`` (a JSON object as text), or null: a regular
    expression every engine runs the same way (quarantined rows keep their record as JSON)."""
    value = raw.re_extract(rf'"{key}"\s*:\s*"([^"]*)"', 1)
    return ibis.ifelse(value == "", ibis.null().cast("string"), value)


# -- shared predicates: what is due, late, open; what the evidence shows ---------------------
#
# Over ``Facts.orders`` (or a relation with its columns). A violation needs positive evidence:
# ``ship_late`` and ``left_unshipped`` hold only for orders whose evidence is complete
# (``evidence`` is null), and a null never counts as holding.


def evidence_complete(o: Any) -> Any:
    """The order's records are all there: nothing quarantined, nothing its status implies
    missing."""
    return o.evidence.isnull()


def ship_due(o: Any) -> Any:
    """The order had to ship by its deadline: it has one and was not cancelled before it."""
    return o.promised_ship_by.notnull() & (
        o.cancelled_at.isnull() | (o.cancelled_at >= o.promised_ship_by)
    )


def ship_late(o: Any) -> Any:
    """Positive evidence that a due order was not picked up by its deadline: a pickup after
    it, or none at all on an order whose records are complete (so not delivered, not marked
    shipped, not cancelled without a time, nothing quarantined). A tracking upload alone is
    not a pickup."""
    not_in_time = o.first_pickup_at.isnull() | (o.first_pickup_at > o.promised_ship_by)
    return (evidence_complete(o) & not_in_time).fill_null(False)


def left_unshipped(o: Any) -> Any:
    """Positive evidence that the order is still open and unshipped: status paid, nothing
    uploaded, picked up, signed, completed or cancelled, and its records complete."""
    return (
        (o.status == "paid")
        & o.first_shipped_at.isnull()
        & o.first_pickup_at.isnull()
        & o.signed_at.isnull()
        & o.cancelled_at.isnull()
        & evidence_complete(o)
    ).fill_null(False)


class Facts:
    """Shared relations over the canonical ``tables`` (name -> Ibis table)."""

    def __init__(
        self, tables: Mapping[str, Any], config: CatalogConfig, *, since: datetime | None = None
    ) -> None:
        self.tables = tables
        self.config = config
        self.since = since

    def _after(self, ts: Any, hours: int = 0) -> Any:
        """``ts`` (a raw time column) is at or after ``since`` minus ``hours``."""
        assert self.since is not None
        return ts >= ibis.literal(self.since - timedelta(hours=hours))

    @cached_property
    def order_population(self) -> Any:
        """Every order's merchant and population flag, straight from ``orders``."""
        o = self.tables["orders"]
        return o.select("order_id", "merchant_id", in_population=self._in_population(o))

    def _in_population(self, o: Any) -> Any:
        """Whether each order of ``o`` (the ``orders`` table) is in the score's population:
        paid at least ``min_amount``, and not a gift unless gifts count."""
        cfg = self.config
        keep = o.amount >= cfg.min_amount
        if cfg.exclude_gifts:
            keep = keep & ~o.is_gift.fill_null(False)
        return keep.fill_null(False)

    def local(self, ts: Any) -> Any:
        """``ts`` (naive UTC) as naive local time of the platform."""
        return ts + ibis.interval(minutes=self.config.utc_offset_minutes)

    @cached_property
    def orders(self) -> Any:
        o = self.tables["orders"]
        s = self.tables["shipments"]
        if self.since is not None:
            # Orders with an anchor from `since` on: paid, due, cancelled, signed off, or a
            # parcel uploaded (its scan deadline is 24 h later), picked up or signed; and
            # orders reviewed from `since` on.
            parcels = s.filter(
                self._after(s.shipped_at, 24) | self._after(s.pickup_at) | self._after(s.signed_at)
            )
            reviewed = self.tables["reviews"].filter(lambda r: self._after(r.created_at))
            o = o.filter(
                self._after(o.paid_at)
                | self._after(o.promised_ship_by)
                | self._after(o.cancelled_at)
                | self._after(o.signed_at)
                | self._after(o.completed_at)
                | o.order_id.isin(parcels.order_id)
                # reviewed: a review counts only for an order signed off (any time before)
                | o.order_id.isin(reviewed.order_id)
            )
            s = s.filter(s.order_id.isin(o.order_id))
        first = s.group_by("order_id").aggregate(
            first_shipped_at=s.shipped_at.truncate("s").min(),
            first_pickup_at=s.pickup_at.truncate("s").min(),
            parcel_signed_at=s.signed_at.truncate("s").min(),
        )
        joined = o.left_join(first, o.order_id == first.order_id)
        quarantined = self.quarantined_orders
        if quarantined is not None:
            joined = joined.left_join(quarantined, o.order_id == quarantined.q_order_id)
        delivered = (
            o.signed_at.notnull()
            | o.completed_at.notnull()
            | first.parcel_signed_at.notnull()
            | o.status.isin(DELIVERED_STATUSES)
        )
        reasons = [] if quarantined is None else [(quarantined.q_order_id.notnull(), "quarantined")]
        reasons += [
            (
                first.first_pickup_at.isnull()
                & (delivered | ((o.status == "shipped") & first.first_shipped_at.isnull())),
                "shipment_missing",
            ),
            ((o.status == "cancelled") & o.cancelled_at.isnull(), "cancellation_missing"),
        ]
        evidence = ibis.cases(*reasons, else_=ibis.null().cast("string"))
        return joined.select(
            order_id=o.order_id,
            merchant_id=o.merchant_id,
            paid_at=o.paid_at.truncate("s"),
            promised_ship_by=o.promised_ship_by.truncate("s"),
            promised_delivery_by=o.promised_delivery_by.truncate("s"),
            presale=o.presale.fill_null(False),
            cancelled_at=o.cancelled_at.truncate("s"),
            cancelled_by=o.cancelled_by,
            cancel_reason=o.cancel_reason,
            # Sign-off: the order's own time, else its first parcel's; with neither, the
            # confirmed receipt stands in (Douyin: 无签收数据的订单以确认收货为准).
            signed_at=ibis.coalesce(
                o.signed_at.truncate("s"),
                first.parcel_signed_at,
                o.completed_at.truncate("s"),
            ),
            first_shipped_at=first.first_shipped_at,
            first_pickup_at=first.first_pickup_at,
            status=o.status,
            # null when the records are complete, else why not (EVIDENCE_REASONS)
            evidence=evidence,
            in_population=self._in_population(o),
        )

    @cached_property
    def quarantined_orders(self) -> Any | None:
        """Orders (``q_order_id``) with a rejected record in the quarantine: the order row
        itself, one of its parcels, or a tracking event of one of its parcels; None when the
        tables include no quarantine. A record whose order cannot be read from it (a
        malformed line) names no order."""
        q = self.tables.get("quarantine")
        if q is None:
            return None
        direct = q.filter(q.table_name.isin(("orders", "shipments"))).select(
            q_order_id=json_string(q.raw, "order_id")
        )
        events = q.filter(q.table_name == "tracking_events").select(
            q_tracking_no=json_string(q.raw, "tracking_no")
        )
        s = self.tables["shipments"]
        via = events.join(s, events.q_tracking_no == s.tracking_no).select(q_order_id=s.order_id)
        both = ibis.union(direct, via, distinct=False)
        return both.filter(both.q_order_id.notnull()).distinct()

    def quarantined_days(self, table: str, time_key: str) -> Any | None:
        """Merchant-days (``q_merchant_id``, ``q_at``: local midnight of the day, naive UTC)
        of the records of ``table`` sitting in the quarantine, by the merchant and the date
        their raw record names under ``time_key`` (else the day they were quarantined): a
        count over that merchant's day is incomplete. None without a quarantine."""
        q = self.tables.get("quarantine")
        if q is None:
            return None
        q = q.filter(q.table_name == table)
        text = q.raw.re_extract(rf'"{time_key}"\s*:\s*"(\d{{4}}-\d{{2}}-\d{{2}})', 1)
        named = ibis.ifelse(text == "", ibis.null().cast("string"), text).cast("date")
        day = ibis.coalesce(named, self.local(q.quarantined_at).date())
        rel = q.select(
            q_merchant_id=json_string(q.raw, "merchant_id"),
            q_at=day.cast("timestamp") - ibis.interval(minutes=self.config.utc_offset_minutes),
        )
        return rel.filter(rel.q_merchant_id.notnull()).distinct()

    @cached_property
    def quarantined_cases(self) -> Any | None:
        """After-sales cases (``q_case_id``) with a rejected record in the quarantine."""
        q = self.tables.get("quarantine")
        if q is None:
            return None
        rel = q.filter(q.table_name == "after_sales").select(
            q_case_id=json_string(q.raw, "case_id")
        )
        return rel.filter(rel.q_case_id.notnull()).distinct()

    @cached_property
    def population(self) -> Any:
        """Orders in the score's population."""
        return self.orders.filter(_.in_population)

    @cached_property
    def cases(self) -> Any:
        a = self.tables["after_sales"]
        if self.since is not None:
            # Every case of an order with a case answered-by (requested + 48 h) or resolved
            # from `since` on: an order's first refund is chosen among all its cases.
            touched = a.filter(self._after(a.requested_at, 48) | self._after(a.resolved_at))
            a = a.filter(a.order_id.isin(touched.order_id))
        o = self.order_population
        joined = a.join(o, a.order_id == o.order_id)
        return joined.select(
            case_id=a.case_id,
            order_id=a.order_id,
            merchant_id=o.merchant_id,
            in_population=o.in_population,
            type=a.type,
            reason=a.reason,
            requested_at=a.requested_at.truncate("s"),
            merchant_responded_at=a.merchant_responded_at.truncate("s"),
            resolved_at=a.resolved_at.truncate("s"),
            resolution=a.resolution,
            resolved_by=a.resolved_by,
            platform_intervened=a.platform_intervened.fill_null(False),
            liability=a.liability,
            express=a.express.fill_null(False),
        )

    @cached_property
    def sessions(self) -> Any:
        c = self.tables["cs_sessions"]
        if self.since is not None:
            c = c.filter(
                self._after(c.started_at)
                | self._after(c.first_response_at)
                | self._after(c.ended_at)
            )
        started = c.started_at.truncate("s")
        # Seconds since local midnight, by arithmetic on the epoch (much cheaper than
        # extracting hour, minute and second; times are after 1970, so the modulo is).
        second_of_day = (self.local(started).epoch_seconds() % 86400).cast("int64")
        start_h, end_h = self.config.business_hours
        return c.select(
            session_id=c.session_id,
            merchant_id=c.merchant_id,
            started_at=started,
            first_response_at=c.first_response_at.truncate("s"),
            # A rating is given when the session ends.
            rated_at=ibis.coalesce(c.ended_at, c.started_at).truncate("s"),
            rating=c.rating,
            in_hours=(second_of_day >= start_h * 3600) & (second_of_day < end_h * 3600),
        )

    def _with_order_population(self, rel: Any) -> Any:
        """``rel`` (with a nullable ``order_id``) minus records about an order outside the
        score's population; records about no order stay."""
        o = self.order_population.select(
            pop_order_id=_.order_id, order_in_population=_.in_population
        )
        joined = rel.left_join(o, rel.order_id == o.pop_order_id)
        return joined.filter(joined.order_in_population.fill_null(True)).drop(
            "pop_order_id", "order_in_population"
        )

    @cached_property
    def first_reviews(self) -> Any:
        r = self.tables["reviews"]
        if self.since is not None:
            # Every review of an order reviewed from `since` on: its first one is chosen
            # among them all.
            r = r.filter(r.order_id.isin(r.filter(self._after(r.created_at)).order_id))
        ranked = r.mutate(
            rank=ibis.row_number().over(group_by=r.order_id, order_by=[r.created_at, r.review_id])
        )
        first = ranked.filter(ranked["rank"] == 0).select(
            "order_id", "merchant_id", "rating", created_at=_.created_at.truncate("s")
        )
        return self._with_order_population(first)

    @cached_property
    def complaints(self) -> Any:
        c = self.tables["complaints"]
        if self.since is not None:
            c = c.filter(self._after(c.created_at))
        rel = c.select(
            "complaint_id",
            "order_id",
            "merchant_id",
            "type",
            "upheld",
            created_at=c.created_at.truncate("s"),
        )
        return self._with_order_population(rel)

    @cached_property
    def contacts(self) -> Any:
        p = self.tables["platform_contacts"]
        if self.since is not None:
            p = p.filter(self._after(p.created_at))
        return p.select(
            merchant_id=p.merchant_id.fill_null(NO_MERCHANT),
            created_at=p.created_at.truncate("s"),
        )

    @cached_property
    def surveys(self) -> Any:
        s = self.tables["surveys"]
        if self.since is not None:
            s = s.filter(self._after(s.created_at))
        return s.select(
            merchant_id=s.merchant_id.fill_null(NO_MERCHANT),
            score=s.score,
            created_at=s.created_at.truncate("s"),
        )

    # -- the platform service desk ---------------------------------------------------------

    def _desk(self, name: str) -> Any:
        """The desk table ``name``; where the tables hold none (a Parquet folder without the
        desk's files), an empty relation with its columns, built on ``orders`` so that it
        belongs to the same backend."""
        table = self.tables.get(name)
        if table is not None:
            return table
        columns = {c.name: ibis.null().cast(_IBIS_TYPES[c.type]) for c in DESK_TABLES[name].columns}
        return self.tables["orders"].filter(ibis.literal(False)).select(**columns)

    @cached_property
    def request_owners(self) -> Any:
        """Each request (``owner_request_id``) with its merchant, minus requests about an
        order outside the score's population (a gift, an order below ``min_amount``)."""
        r = self._desk("service_requests")
        rel = self._with_order_population(r.select("request_id", "merchant_id", "order_id"))
        return rel.select(owner_request_id=rel.request_id, merchant_id=rel.merchant_id)

    @cached_property
    def requests(self) -> Any:
        """Requests (of the population, as :attr:`request_owners`) with the summary columns
        their trails give (``tiyan.service_desk.history.summarize``)."""
        r = self._desk("service_requests")
        if self.since is not None:
            r = r.filter(
                self._after(r.merchant_due_at)
                | self._after(r.first_platform_at)
                | self._after(r.resolved_at)
            )
        rel = r.select(
            request_id=r.request_id,
            type_id=r.type_id,
            merchant_id=r.merchant_id,
            order_id=r.order_id,
            merchant_due_at=r.merchant_due_at.truncate("s"),
            merchant_breached=r.merchant_breached,
            platform_since=r.platform_since.truncate("s"),
            first_platform_at=r.first_platform_at.truncate("s"),
            resolved_at=r.resolved_at.truncate("s"),
            resolved_in_time=r.resolved_in_time,
            reopens=r.reopens.fill_null(0),
        )
        return self._with_order_population(rel)

    @cached_property
    def callbacks(self) -> Any:
        """Callback tasks that ended (reached or exhausted) with the request's merchant, the
        number of attempts made and the time of the last one (when the task ended). A task
        that ended without any attempt on record has no end time and is left out."""
        t = self._desk("request_callbacks")
        a = self._desk("callback_attempts")
        if self.since is not None:
            # Every attempt of a task with one from `since` on: the count is over them all.
            a = a.filter(a.task_id.isin(a.filter(self._after(a.attempted_at)).task_id))
        per_task = a.group_by(attempt_task_id=a.task_id).aggregate(
            attempts=a.count(), ended_at=a.attempted_at.truncate("s").max()
        )
        t = t.filter(t.status.isin(CALLBACK_ENDED))
        joined = t.join(per_task, t.task_id == per_task.attempt_task_id)
        owners = self.request_owners
        joined = joined.join(owners, joined.request_id == owners.owner_request_id)
        return joined.select(
            task_id=joined.task_id,
            request_id=joined.request_id,
            merchant_id=joined.merchant_id,
            reached=joined.status == "reached",
            attempts=joined.attempts,
            ended_at=joined.ended_at,
        )

    @cached_property
    def desk_surveys(self) -> Any:
        """The consumer's satisfaction (1–5) with a resolved request, with its merchant."""
        s = self._desk("request_surveys")
        if self.since is not None:
            s = s.filter(self._after(s.answered_at))
        owners = self.request_owners
        joined = s.join(owners, s.request_id == owners.owner_request_id)
        return joined.select(
            request_id=joined.request_id,
            merchant_id=joined.merchant_id,
            score=joined.score,
            answered_at=joined.answered_at.truncate("s"),
        )
