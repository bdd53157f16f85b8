"""Orders: who buys what from whom, when, and whether it is cancelled, shipped and signed.

One call of :func:`make_orders` builds a whole chunk with numpy (no loop per order): the
order attributes, the cancellation race between consumer, merchant and platform, then the
parcels (:mod:`tiyan.sim.shipping`). The resulting :class:`Orders` carries every per-order
fact the after-sales, service and review tables derive from (:mod:`tiyan.sim.aftermath`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.domain.model import CANCEL_REASONS, CANCELLED_BY, CHANNELS, ORDER_STATUSES
from tiyan.sim import catalog as cat
from tiyan.sim.arrow import bool_array, enum_array, id_array, int_array, make_table, money_array
from tiyan.sim.clock import DAY, HOUR, MINUTE, NEVER
from tiyan.sim.geo import DISTANCE_CLASS
from tiyan.sim.rand import Draws
from tiyan.sim.shipping import FAKE_NONE, Parcels, TrackingMemory, plan, ship
from tiyan.sim.world import World

Arr = npt.NDArray[Any]

BY_CONSUMER, BY_MERCHANT, BY_PLATFORM, BY_SYSTEM = (
    CANCELLED_BY.index(w) for w in ("consumer", "merchant", "platform", "system")
)
REASON = {r: CANCEL_REASONS.index(r) for r in CANCEL_REASONS}
STATUS = {s: ORDER_STATUSES.index(s) for s in ORDER_STATUSES}
#: Promised delivery: days after the ship deadline for a SAME, NEAR and FAR route.
ETA_DAYS = np.array([2, 3, 5])


@dataclass(frozen=True)
class Orders:
    """A chunk of orders as numpy arrays (local times; ``NEVER`` for what did not happen)."""

    index: Arr  # 0-based global order number
    merchant: Arr
    product: Arr
    consumer: Arr
    category: Arr
    tier: Arr
    channel: Arr
    creator: Arr  # -1 = sold without a creator
    quantity: Arr
    amount: Arr  # cents
    paid: Arr
    promise_ship: Arr
    promise_delivery: Arr
    presale: Arr
    gift: Arr
    strained: Arr
    cancel_at: Arr
    cancelled_by: Arr
    cancel_reason: Arr
    #: Has a quality problem the consumer discovers on opening the parcel.
    defect: Arr
    parcels: Parcels
    signed: Arr
    completed: Arr
    status: Arr

    @property
    def n(self) -> int:
        return len(self.index)


def _cancellation(
    world: World, d: Draws, paid: Arr, merchant: Arr, tier: Arr, promise: Arr, handover: Arr
) -> tuple[Arr, Arr, Arr, Arr]:
    """The earliest of the consumer's, merchant's and platform's cancellations.

    Returns (time, by, reason, never_ships). A consumer's cancellation only counts before the
    parcel is handed over, so slow shippers lose more orders to impatient consumers; merchant
    and platform cancellations are decisions, and such an order never ships.
    """
    clock, b = world.clock, world.merchants.behaviour
    promo = clock.in_promo(paid)
    soon = paid + MINUTE + (d.exponential("consumer.t", 2.0) * HOUR).astype(np.int64)
    impulse = np.where(d.chance("consumer.impulse?", np.where(promo, 0.05, 0.03)), soon, NEVER)
    # After the ship deadline passes, about half of the waiting consumers give up.
    wait = np.maximum(promise, paid + DAY) + (
        d.exponential("consumer.patience", 48.0) * HOUR
    ).astype(np.int64)
    impatient = np.where(d.chance("consumer.impatient?", 0.5), wait, NEVER)
    consumer = np.minimum(impulse, impatient)
    consumer = np.where(consumer < handover, consumer, NEVER)

    day = np.clip(clock.day_index(paid), 0, clock.days - 1)
    burst = world.merchants.burst[merchant, day] & d.chance("burst?", b["burst_cancel"][merchant])
    unable = d.chance("unable?", b["cancel_unable"][merchant])
    oos = d.chance("oos?", b["out_of_stock"][merchant] * np.where(promo, 2.5, 1.0))
    merchant_at = np.where(
        burst,
        paid + (d.uniform("burst.t", 0.5, 10.0) * HOUR).astype(np.int64),
        np.where(
            oos | unable,
            paid + (d.uniform("merchant.t", 0.5, 40.0) * HOUR).astype(np.int64),
            NEVER,
        ),
    )
    merchant_reason = np.where(
        (oos & ~burst) | (burst & b["burst_out_of_stock"][merchant]),
        REASON["out_of_stock"],
        np.where(
            d.chance("price_error?", 0.15) & ~burst, REASON["price_error"], REASON["unable_to_ship"]
        ),
    )
    risk = np.select([tier == cat.BLOCKED, tier == cat.WATCH], [0.6, 0.02], 0.001)
    platform_at = np.where(
        d.chance("risk?", risk),
        paid + (d.uniform("risk.t", 1.0, 120.0) * MINUTE).astype(np.int64),
        NEVER,
    )
    system_at = np.where(
        d.chance("system?", 0.0005),
        paid + (d.uniform("system.t", 24.0, 72.0) * HOUR).astype(np.int64),
        NEVER,
    )

    times = np.stack([consumer, merchant_at, platform_at, system_at])
    who = np.argmin(times, axis=0)
    at = times[who, np.arange(len(paid))]
    consumer_reason = np.where(
        d.chance("consumer.other?", 0.12), REASON["other"], REASON["consumer_request"]
    )
    reason = np.choose(
        who, [consumer_reason, merchant_reason, REASON["risk_control"], REASON["other"]]
    )
    by = np.choose(who, [BY_CONSUMER, BY_MERCHANT, BY_PLATFORM, BY_SYSTEM])
    never_ships = (merchant_at < NEVER) | (platform_at < NEVER) | (system_at < NEVER)
    return at, by, reason, never_ships


def make_orders(world: World, start: int, n: int, memory: TrackingMemory) -> Orders:
    """Orders ``start .. start + n`` of the market (0-based), with their parcels."""
    cfg, clock, p, m = world.cfg, world.clock, world.products, world.merchants
    d = Draws(cfg.seed, "orders", start, n)
    index = np.arange(start, start + n, dtype=np.int64)
    paid = clock.paid_times(index, d.u("paid"), cfg.orders)
    merchant = np.minimum(
        np.searchsorted(m.order_cdf, d.u("merchant"), side="right"), cfg.merchants - 1
    )
    # A malicious merchant's burst day draws a rush of orders (a price error, a flash sale)
    # which it then refuses to ship.
    day = np.clip(clock.day_index(paid), 0, clock.days - 1)
    joins = d.chance("surge?", m.surge.share[day])
    merchant = m.surge.reassign(day, joins, d.u("surge.merchant"), merchant)
    # Within a merchant the first listings sell most (a hit product and a long tail).
    product = p.first[merchant] + (p.count[merchant] * d.u("product") ** 2).astype(np.int64)
    # Repeat buyers: low consumer numbers buy far more often than high ones.
    consumer = (cfg.consumers * d.u("consumer") ** 1.7).astype(np.int64)
    tier = world.consumers.tier[consumer]
    channel = d.choice("channel", cat.CHANNEL_SHARE)
    via_creator = ((channel == cat.LIVE) | (channel == cat.VIDEO)) & d.chance("creator?", 0.55)
    creator = np.where(via_creator, (world.creators * d.u("creator") ** 1.5).astype(np.int64), -1)
    quantity = d.choice("quantity", cat.QUANTITY_SHARE) + 1
    promo = clock.in_promo(paid)
    discount = np.where(
        promo, d.uniform("promo_discount", 0.75, 0.95), d.uniform("discount", 0.9, 1.0)
    )
    amount = np.maximum(np.round(p.price[product] * quantity * discount), 1).astype(np.int64)
    # Lucky bags and gifts (福袋/赠品): a few orders for next to nothing.
    gift = d.chance("gift?", 0.004)
    amount = np.where(gift, (d.u("gift_amount") * 990).astype(np.int64), amount)
    presale = p.presale_days[product] > 0
    promise_ship = paid + p.promise_hours[product] * HOUR
    strained = clock.strained(paid)

    planned = plan(world, d, paid, merchant, product, strained)
    cancel_at, by, reason, never_ships = _cancellation(
        world, d, paid, merchant, tier, promise_ship, planned.handover
    )
    cancelled = cancel_at < clock.cut
    ships = ~cancelled & ~never_ships
    parcels = ship(
        world, d, index, paid, merchant, consumer, quantity, planned, strained, ships, memory
    )

    origin = m.region[merchant]
    dest = world.consumers.region[consumer]
    has_eta = d.chance("eta?", 0.5)
    eta = promise_ship + ETA_DAYS[DISTANCE_CLASS[origin, dest]] * DAY
    promise_delivery = np.where(has_eta, eta - eta % DAY + DAY - 1_000_000, NEVER)

    signed = parcels.order_signed(n)
    manual = d.chance("confirm_manual?", 0.45)
    confirm = np.where(
        manual,
        d.exponential("confirm", 36.0) * HOUR + 10 * MINUTE,
        7 * DAY + d.u("auto") * 2 * HOUR,
    )
    completed = np.where(signed < NEVER, signed + confirm.astype(np.int64), NEVER)
    cut = clock.cut
    status = np.select(
        [cancelled, completed < cut, signed < cut, parcels.first(n, parcels.handover) < cut],
        [STATUS["cancelled"], STATUS["completed"], STATUS["signed"], STATUS["shipped"]],
        STATUS["paid"],
    )
    defect = d.chance(
        "defect?", m.behaviour["defect"][merchant] * cat.DEFECT_FACTOR[p.category[product]]
    )
    return Orders(
        index=index,
        merchant=merchant,
        product=product,
        consumer=consumer,
        category=p.category[product],
        tier=tier,
        channel=channel,
        creator=creator,
        quantity=quantity,
        amount=amount,
        paid=paid,
        promise_ship=promise_ship,
        promise_delivery=promise_delivery,
        presale=presale,
        gift=gift,
        strained=strained,
        cancel_at=np.where(cancelled, cancel_at, NEVER),
        cancelled_by=by,
        cancel_reason=reason,
        defect=defect,
        parcels=parcels,
        signed=signed,
        completed=completed,
        status=status,
    )


def misconduct(world: World, o: Orders) -> dict[str, Arr]:
    """Per merchant, the misconduct among orders ``o`` (columns of ``sim_truth``).

    What a detector can find is what happened, not what the archetype intended: a small
    merchant may never fake a shipment, or its burst day may draw few orders.
    """
    n = world.cfg.merchants
    cancelled = o.cancel_at < NEVER
    by_merchant = cancelled & (o.cancelled_by == BY_MERCHANT)
    out_of_stock = o.cancel_reason == REASON["out_of_stock"]
    day = np.clip(world.clock.day_index(o.paid), 0, world.clock.days - 1)
    rows = {
        "burst_cancellations": by_merchant & ~out_of_stock & world.merchants.burst[o.merchant, day],
        "fake_shipments": o.parcels.fake != FAKE_NONE,
        "out_of_stock_cancellations": by_merchant & out_of_stock,
    }
    return {
        name: np.bincount(o.merchant[flag], minlength=n).astype(np.int64)
        for name, flag in rows.items()
    }


def orders_table(world: World, o: Orders) -> Any:
    clock = world.clock
    cancelled = o.cancel_at < NEVER
    return make_table(
        "orders",
        {
            "order_id": id_array("O", o.index + 1, 9),
            "merchant_id": id_array("M", o.merchant + 1, 6),
            "product_id": id_array("P", o.product + 1, 7),
            "consumer_id": id_array("C", o.consumer + 1, 8),
            "channel": enum_array(CHANNELS, o.channel),
            "quantity": int_array(o.quantity),
            "amount": money_array(o.amount),
            "paid_at": clock.column(o.paid),
            "promised_ship_by": clock.column(o.promise_ship, event=False),
            "promised_delivery_by": clock.column(
                o.promise_delivery, o.promise_delivery < NEVER, event=False
            ),
            "presale": bool_array(o.presale),
            "is_gift": bool_array(o.gift),
            "status": enum_array(ORDER_STATUSES, o.status),
            "cancelled_at": clock.column(o.cancel_at),
            "cancelled_by": enum_array(CANCELLED_BY, o.cancelled_by, cancelled),
            "cancel_reason": enum_array(CANCEL_REASONS, o.cancel_reason, cancelled),
            "signed_at": clock.column(o.signed),
            "completed_at": clock.column(o.completed),
            "creator_id": id_array("D", o.creator + 1, 6, o.creator >= 0),
        },
    )
