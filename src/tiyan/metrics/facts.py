"""The relations metrics are written against, built once from the canonical tables.

Each is an Ibis expression (nothing runs here), shared by several metrics:

* ``orders``: one row per order with its first tracking upload, first pickup and sign-off
  across all its parcels (split shipments: the *first* pickup counts) and ``in_population``
  (the score's population: paid at least ``min_amount``, not a gift);
* ``cases``: after-sales cases with their order's merchant and population flag;
* ``sessions``: IM sessions with ``in_hours`` (started within local business hours);
* ``first_reviews``: the first review of each order;
* ``complaints``, ``contacts``, ``surveys``: with the merchant each is about.

Times are naive UTC, truncated to whole seconds so that every engine computes the same
durations.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import ibis
from ibis import _

from tiyan.domain.metrics import CatalogConfig

NO_MERCHANT = ""
"""``merchant_id`` of records that belong to no merchant (e.g. a platform contact about an
account): they count for the platform, never for a merchant."""


def seconds_between(start: Any, end: Any) -> Any:
    """Whole seconds from ``start`` to ``end`` (both truncated to the second)."""
    return (end.truncate("s").epoch_seconds() - start.truncate("s").epoch_seconds()).cast("int64")


def flag(condition: Any) -> Any:
    """1 where ``condition`` holds, else 0 (null counts as not holding)."""
    return ibis.ifelse(condition.fill_null(False), 1, 0)


class Facts:
    """Shared relations over the canonical ``tables`` (name -> Ibis table)."""

    def __init__(self, tables: Mapping[str, Any], config: CatalogConfig) -> None:
        self.tables = tables
        self.config = config

    def local(self, ts: Any) -> Any:
        """``ts`` (naive UTC) as naive local time of the platform."""
        return ts + ibis.interval(minutes=self.config.utc_offset_minutes)

    @cached_property
    def orders(self) -> Any:
        o = self.tables["orders"]
        s = self.tables["shipments"]
        first = s.group_by("order_id").aggregate(
            first_shipped_at=s.shipped_at.truncate("s").min(),
            first_pickup_at=s.pickup_at.truncate("s").min(),
            parcel_signed_at=s.signed_at.truncate("s").min(),
        )
        cfg = self.config
        in_population = o.amount >= cfg.min_amount
        if cfg.exclude_gifts:
            in_population = in_population & ~o.is_gift.fill_null(False)
        joined = o.left_join(first, o.order_id == first.order_id)
        return joined.select(
            order_id=o.order_id,
            merchant_id=o.merchant_id,
            paid_at=o.paid_at.truncate("s"),
            promised_ship_by=o.promised_ship_by.truncate("s"),
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
            in_population=in_population.fill_null(False),
        )

    @cached_property
    def population(self) -> Any:
        """Orders in the score's population."""
        return self.orders.filter(_.in_population)

    @cached_property
    def cases(self) -> Any:
        a = self.tables["after_sales"]
        o = self.orders
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
        started = c.started_at.truncate("s")
        local = self.local(started)
        second_of_day = local.hour() * 3600 + local.minute() * 60 + local.second()
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
        o = self.orders.select(pop_order_id=_.order_id, order_in_population=_.in_population)
        joined = rel.left_join(o, rel.order_id == o.pop_order_id)
        return joined.filter(joined.order_in_population.fill_null(True)).drop(
            "pop_order_id", "order_in_population"
        )

    @cached_property
    def first_reviews(self) -> Any:
        r = self.tables["reviews"]
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
        return p.select(
            merchant_id=p.merchant_id.fill_null(NO_MERCHANT),
            created_at=p.created_at.truncate("s"),
        )

    @cached_property
    def surveys(self) -> Any:
        s = self.tables["surveys"]
        return s.select(
            merchant_id=s.merchant_id.fill_null(NO_MERCHANT),
            score=s.score,
            created_at=s.created_at.truncate("s"),
        )
