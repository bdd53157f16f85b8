"""Parcels: handover, pickup scan, transit, delivery — and the fake shipments among them.

A merchant uploads a tracking number when it hands a parcel over (``shipped_at``); the
carrier's first scan is the pickup (``pickup_at``, 揽收) that every ship deadline is
measured against. A fake shipper uploads a number that gets no scan (or one days later),
or reuses the number of another consumer's order, whose scans then describe someone
else's parcel: such shipments have no tracking events of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.domain.model import TRACKING_EVENTS
from tiyan.sim import geo
from tiyan.sim.arrow import digits, enum_array, id_array, make_table, string_array
from tiyan.sim.clock import DAY, HOUR, MINUTE, NEVER
from tiyan.sim.config import BEHAVIOURS
from tiyan.sim.rand import Draws
from tiyan.sim.response import reaction
from tiyan.sim.world import World

Arr = npt.NDArray[Any]

FAKE_NONE, FAKE_NO_SCAN, FAKE_LATE_SCAN, FAKE_REUSE = range(4)
#: How fake shippers fake: no scan ever, a scan days later, another order's number.
FAKE_KINDS = np.array([0.35, 0.25, 0.40])
EVENT_STATUSES: tuple[str, ...] = TRACKING_EVENTS.column("status").allowed or ()
PICKUP, IN_TRANSIT, ARRIVED, OUT_FOR_DELIVERY, SIGNED, EXCEPTION, RETURNED = (
    EVENT_STATUSES.index(s)
    for s in (
        "pickup",
        "in_transit",
        "arrived",
        "out_for_delivery",
        "signed",
        "exception",
        "returned",
    )
)
#: Event slots per parcel: pickup, up to three in-transit scans, arrival, delivery, the end.
SLOTS = 7
LOST, REFUSED = 0.0015, 0.003
#: Orders split into two parcels.
SPLIT_SINGLE, SPLIT_MULTI = 0.012, 0.06
#: Tracking numbers scramble a serial with bijections of [0, 10**13): two affine maps
#: (multipliers coprime with 10, small enough not to overflow uint64) around a rotation of
#: the digits, so that consecutive parcels do not get similar-looking numbers.
_TN_MULT, _TN_MULT2, _TN_MOD, _TN_ROTATE = 6_180_339_887, 1_234_567, 10**13, 10**6
#: Return parcels are numbered after every possible forward parcel.
RETURN_SERIAL_BASE = 2 * 10**9


def tracking_numbers(seed: int, serial: Arr, carrier: Arr) -> Arr:
    """Tracking numbers (carrier prefix + 13 digits) as a byte matrix, unique per serial."""
    mod, rot = np.uint64(_TN_MOD), np.uint64(_TN_ROTATE)
    x = (serial.astype(np.uint64) * np.uint64(_TN_MULT) + np.uint64(seed % _TN_MOD)) % mod
    x = (x % rot) * (mod // rot) + x // rot
    x = (x * np.uint64(_TN_MULT2) + np.uint64(7_777_777)) % mod
    return digits(geo.CARRIER_PREFIX[carrier], x.astype(np.int64), 13)


@dataclass(frozen=True)
class Plan:
    """When each order's first parcel is handed over, and whether that handover is fake."""

    handover: Arr
    fake: Arr


def plan(world: World, d: Draws, paid: Arr, merchant: Arr, product: Arr, strained: Arr) -> Plan:
    """Handover times from the merchant's habits; computed before cancellations, because a
    consumer can only cancel an order that has not been handed over yet."""
    clock, b = world.clock, world.merchants.behaviour
    presale_days = world.products.presale_days[product]
    promise_h = world.products.promise_hours[product]
    # Merchants plan for their promise: a 24 h promise is prepared faster than a 72 h one.
    median = b["ready_hours"][merchant] * (promise_h / 48.0) ** 0.7 * np.where(strained, 1.6, 1.0)
    hours = d.lognormal("ready", median, 0.45)
    late = d.chance("presale_late?", b["presale_late"][merchant])
    fakes = d.chance("fake?", b["fake_ship"][merchant])
    if world.cfg.responses:
        # A penalised merchant mending its ways (config.Response): the same draws, faster.
        r = reaction(world.cfg, clock, d.start, paid, merchant)
        pace = np.minimum(1.0, BEHAVIOURS["good"].ready_hours / b["ready_hours"][merchant])
        hours = np.where(r.on_time, hours * pace, hours)
        late &= ~r.on_time
        fakes &= ~r.genuine
    presale_h = presale_days * 24.0
    presale_hours = np.where(
        late,
        presale_h + 1.0 + d.exponential("presale_overrun", 72.0),
        presale_h * d.uniform("presale_share", 0.35, 0.92),
    )
    hours = np.where(presale_days > 0, presale_hours, hours)
    handover = clock.working_hours(
        paid + (hours * HOUR).astype(np.int64), 9, 22, d.u("ready_open"), 2.0
    )
    # A fake shipper uploads a number well inside the promise so that no deadline is missed.
    fake = (presale_days == 0) & fakes
    kind = np.where(fake, d.choice("fake_kind", FAKE_KINDS) + 1, FAKE_NONE)
    fake_at = paid + clock.seconds(d.uniform("fake_at", 1.0, 0.8 * promise_h) * HOUR)
    return Plan(handover=np.where(fake, fake_at, handover), fake=kind.astype(np.int8))


@dataclass(frozen=True)
class Route:
    """Scans of parcels along their way: (parcels, SLOTS) times, statuses and regions."""

    times: Arr
    status: Arr
    region: Arr
    signed: Arr
    #: Exception (lost) or returned (refused) time; NEVER otherwise.
    failed_at: Arr
    lost: Arr
    refused: Arr


def route(
    world: World,
    d: Draws,
    prefix: str,
    carrier: Arr,
    origin: Arr,
    dest: Arr,
    pickup: Arr,
    strained: Arr,
    mishaps: bool,
) -> Route:
    """Scans from pickup to signing; lost (exception) and refused (returned) parcels when
    ``mishaps``. A parcel without pickup (``NEVER``) gets no scans at all."""
    clock, k = world.clock, len(pickup)

    def u(name: str) -> Arr:
        return d.u(prefix + name)

    def hours(name: str, low: float, high: float) -> Arr:
        return clock.seconds((low + (high - low) * u(name)) * HOUR)

    distance = geo.DISTANCE_CLASS[origin, dest]
    transit_h = geo.TRANSIT_HOURS[carrier, distance] * d.lognormal(prefix + "transit", 1.0, 0.25)
    transit_h = (
        transit_h * np.where(strained, 1.25, 1.0) + geo.REMOTE[dest] * geo.REMOTE_HOURS[carrier]
    )
    transit = (transit_h * HOUR).astype(np.int64)
    arrive = clock.seconds(pickup + transit)
    sign = clock.working_hours(arrive + hours("deliver", 1.0, 18.0), 9, 21, u("deliver_open"), 3.0)
    out = np.maximum(sign - hours("out", 0.5, 3.0), arrive + MINUTE)
    none = np.zeros(k, bool)
    lost = u("lost?") < LOST if mishaps else none
    refused = ~lost & (u("refused?") < REFUSED) if mishaps else none
    lost_at = clock.seconds(pickup + (transit * (0.3 + 0.5 * u("lost_at"))).astype(np.int64))
    out = np.where(refused, arrive + hours("refused_out", 1.0, 4.0), out)
    returned_at = out + hours("returned_at", 1.0, 6.0)

    # One in-transit scan on a short route, up to three on a long one.
    hops = np.minimum(3, distance + 1 + (u("extra_hop?") < 0.3))
    times = np.full((k, SLOTS), NEVER, np.int64)
    times[:, 0] = pickup
    for j in range(3):
        share = (j + 0.5 + 0.4 * (u(f"hop{j}") - 0.5)) / (hops + 1)
        times[:, 1 + j] = np.where(
            j < hops, clock.seconds(pickup + (transit * share).astype(np.int64)), NEVER
        )
    times[:, 4] = arrive
    times[:, 5] = out
    times[:, 6] = np.where(lost, lost_at, np.where(refused, returned_at, sign))
    # A lost parcel is scanned up to the exception and never again.
    times[:, 1:6] = np.where(
        lost[:, None] & (times[:, 1:6] >= lost_at[:, None]), NEVER, times[:, 1:6]
    )
    never = pickup >= NEVER
    times[never] = NEVER

    status = np.tile(np.array(_SLOT_STATUS, np.int8), (k, 1))
    status[:, 6] = np.where(lost, EXCEPTION, np.where(refused, RETURNED, SIGNED))
    hub = geo.HUB[origin, dest]
    region = np.empty((k, SLOTS), np.int8)
    region[:, 0] = origin
    region[:, 1] = origin
    region[:, 2] = np.where((hops == 3) | (distance == geo.FAR), hub, dest)
    region[:, 3] = dest
    region[:, 4:] = dest[:, None]
    region[:, 6] = np.where(lost, hub, dest)
    failed = np.where(lost, lost_at, np.where(refused, returned_at, NEVER))
    return Route(
        times=times,
        status=status,
        region=region,
        signed=np.where(lost | refused | never, NEVER, sign),
        failed_at=np.where(never, NEVER, failed),
        lost=lost & ~never,
        refused=refused & ~never,
    )


_SLOT_STATUS = (PICKUP, IN_TRANSIT, IN_TRANSIT, IN_TRANSIT, ARRIVED, OUT_FOR_DELIVERY, SIGNED)


class TrackingMemory:
    """Each merchant's last genuinely scanned parcel, carried from chunk to chunk.

    A reusing fake shipper takes the tracking number of its latest earlier order that was
    really shipped; carrying that across chunks keeps the choice independent of chunking.
    """

    def __init__(self, merchants: int) -> None:
        self.serial = np.full(merchants, -1, np.int64)
        self.carrier = np.zeros(merchants, np.int64)
        self.consumer = np.full(merchants, -1, np.int64)

    def partners(
        self, merchant: Arr, consumer: Arr, serial: Arr, carrier: Arr, genuine: Arr, want: Arr
    ) -> tuple[Arr, Arr, Arr]:
        """For rows ``want``: (serial, carrier, found) of the latest earlier genuine parcel
        of the same merchant that went to another consumer; then remember this chunk."""
        n = len(merchant)
        order = np.argsort(merchant, kind="stable")  # by merchant, then by order number
        ms = merchant[order]
        pos = np.arange(n)
        starts = np.flatnonzero(np.r_[True, ms[1:] != ms[:-1]])
        group_start = starts[np.searchsorted(starts, pos, side="right") - 1]
        last = np.maximum.accumulate(np.where(genuine[order], pos, -1))
        inside = last >= group_start
        partner = order[np.maximum(last, 0)]
        # The latest genuine parcel in this chunk, else the one remembered from earlier chunks.
        p_serial = np.where(inside, serial[partner], self.serial[ms])
        p_carrier = np.where(inside, carrier[partner], self.carrier[ms])
        p_consumer = np.where(inside, consumer[partner], self.consumer[ms])
        ends = np.r_[starts[1:], n] - 1
        keep = inside[ends]
        self.serial[ms[ends[keep]]] = p_serial[ends[keep]]
        self.carrier[ms[ends[keep]]] = p_carrier[ends[keep]]
        self.consumer[ms[ends[keep]]] = p_consumer[ends[keep]]
        back = np.empty(n, np.int64)
        back[order] = pos
        at = back[want]
        found = (p_serial[at] >= 0) & (p_consumer[at] != consumer[want])
        return p_serial[at], p_carrier[at], found


@dataclass(frozen=True)
class Parcels:
    """All parcels of a chunk, ordered by order then sequence (1, or 2 for a split order)."""

    row: Arr  # order row in the chunk
    seq: Arr
    carrier: Arr
    serial: Arr  # behind the tracking number; a reused number has its source's serial
    handover: Arr  # shipped_at: tracking number uploaded
    pickup: Arr
    signed: Arr
    dest: Arr
    route: Route
    #: Parcels whose scans are their own (a reused number's scans belong to another order).
    scanned: Arr
    #: Per order of the chunk: fake kind, and the first parcel's loss or refusal.
    fake: Arr
    lost: Arr
    refused: Arr
    failed_at: Arr

    def first(self, n: int, values: Arr, fill: int = NEVER) -> Arr:
        """Per order: ``values`` of its first parcel (``fill`` for an order without one)."""
        out = np.full(n, fill, np.int64)
        one = self.seq == 1
        out[self.row[one]] = values[one]
        return out

    def order_signed(self, n: int) -> Arr:
        """Per order: when its last parcel was signed for; NEVER while any is not."""
        out = self.first(n, self.signed)
        two = self.seq == 2
        out[self.row[two]] = np.maximum(out[self.row[two]], self.signed[two])
        return out


def _select(r: Route, rows: Arr) -> Route:
    return Route(*(getattr(r, f)[rows] for f in Route.__dataclass_fields__))


def _stack(a: Route, b: Route, order: Arr) -> Route:
    return Route(
        *(np.concatenate([getattr(a, f), getattr(b, f)])[order] for f in Route.__dataclass_fields__)
    )


def ship(
    world: World,
    d: Draws,
    index: Arr,
    paid: Arr,
    merchant: Arr,
    consumer: Arr,
    quantity: Arr,
    planned: Plan,
    strained: Arr,
    ships: Arr,
    memory: TrackingMemory,
) -> Parcels:
    """Parcels of the orders that ``ships``: the first always, a second for split orders."""
    clock = world.clock
    origin = world.merchants.region[merchant]
    dest = world.consumers.region[consumer]
    own_carrier = world.merchants.main_carrier[merchant]
    other = d.choice("carrier", geo.CARRIER_SHARE)
    carrier = np.where(d.chance("main_carrier?", 0.75), own_carrier, other)
    strain = np.where(strained, 1.5, 1.0)
    lag = d.lognormal("pickup_lag", geo.PICKUP_HOURS[carrier] * strain, 0.6)
    handover = planned.handover
    pickup = clock.working_hours(
        handover + (lag * HOUR).astype(np.int64), 8, 21, d.u("pickup_open"), 3.0
    )
    fake = np.where(ships, planned.fake, FAKE_NONE).astype(np.int8)
    days_later = clock.seconds(d.uniform("late_scan", 3.0, 8.0) * DAY)
    late_scan = clock.working_hours(handover + days_later, 8, 21, d.u("late_open"), 3.0)
    no_scan = (fake == FAKE_NO_SCAN) | (fake == FAKE_REUSE)
    pickup = np.select([no_scan, fake == FAKE_LATE_SCAN], [NEVER, late_scan], pickup)
    pickup = np.where(ships, pickup, NEVER)
    serial = index * 2

    genuine = ships & (fake == FAKE_NONE) & (pickup < clock.cut)
    want = np.flatnonzero(fake == FAKE_REUSE)
    p_serial, p_carrier, found = memory.partners(merchant, consumer, serial, carrier, genuine, want)
    serial[want[found]] = p_serial[found]
    carrier[want[found]] = p_carrier[found]
    fake[want[~found]] = FAKE_NO_SCAN  # nobody to copy from: a number that never scans
    r1 = route(world, d, "p1.", carrier, origin, dest, pickup, strained, True)

    split = d.chance("split?", np.where(quantity > 1, SPLIT_MULTI, SPLIT_SINGLE))
    rows2 = np.flatnonzero(ships & (fake == FAKE_NONE) & split)
    d2 = d.take(rows2)
    same = d2.chance("p2.same_carrier?", 0.7)
    carrier2 = np.where(same, carrier[rows2], d2.choice("p2.carrier", geo.CARRIER_SHARE))
    later = clock.seconds(d2.uniform("p2.handover", 2.0, 48.0) * HOUR)
    handover2 = clock.working_hours(handover[rows2] + later, 9, 22, d2.u("p2.open"), 2.0)
    lag2 = d2.lognormal("p2.lag", geo.PICKUP_HOURS[carrier2] * strain[rows2], 0.6)
    pickup2 = clock.working_hours(
        handover2 + (lag2 * HOUR).astype(np.int64), 8, 21, d2.u("p2.pickup_open"), 3.0
    )
    args2 = (carrier2, origin[rows2], dest[rows2], pickup2, strained[rows2])
    r2 = route(world, d2, "p2.", *args2, False)

    rows1 = np.flatnonzero(ships)
    row = np.concatenate([rows1, rows2])
    seq = np.concatenate([np.ones(len(rows1), np.int64), np.full(len(rows2), 2, np.int64)])
    order = np.argsort(row * 2 + seq, kind="stable")

    def both(first: Arr, second: Arr) -> Arr:
        return np.concatenate([first[rows1], second])[order]

    r = _stack(_select(r1, rows1), r2, order)
    return Parcels(
        row=row[order],
        seq=seq[order],
        carrier=both(carrier, carrier2),
        serial=both(serial, index[rows2] * 2 + 1),
        handover=both(handover, handover2),
        pickup=both(pickup, pickup2),
        signed=r.signed,
        dest=both(dest, dest[rows2]),
        route=r,
        scanned=both(fake != FAKE_REUSE, np.ones(len(rows2), bool)),
        fake=fake,
        lost=r1.lost,
        refused=r1.refused,
        failed_at=r1.failed_at,
    )


def shipments_table(world: World, index: Arr, p: Parcels) -> Any:
    """One row per parcel handed over before the data cut."""
    clock = world.clock
    keep = p.handover < clock.cut
    rows = p.row[keep]
    seq = p.seq[keep]
    return make_table(
        "shipments",
        {
            "shipment_id": id_array("S", (index[rows] + 1) * 10 + seq, 10),
            "order_id": id_array("O", index[rows] + 1, 9),
            "carrier": enum_array(geo.CARRIER_CODES, p.carrier[keep]),
            "tracking_no": string_array(
                tracking_numbers(world.cfg.seed, p.serial[keep], p.carrier[keep])
            ),
            "shipped_at": clock.column(p.handover[keep]),
            "pickup_at": clock.column(p.pickup[keep]),
            "signed_at": clock.column(p.signed[keep]),
            "destination_region": enum_array(geo.REGION_NAMES, p.dest[keep]),
        },
    )


def tracking_table(world: World, p: Parcels) -> Any:
    """Every scan before the data cut of parcels that have scans of their own."""
    r = p.route
    ok = (r.times < world.clock.cut) & p.scanned[:, None]
    flat = np.flatnonzero(ok.ravel())
    parcel = flat // SLOTS
    numbers = tracking_numbers(world.cfg.seed, p.serial, p.carrier)
    return make_table(
        "tracking_events",
        {
            "tracking_no": string_array(numbers[parcel]),
            "carrier": enum_array(geo.CARRIER_CODES, p.carrier[parcel]),
            "event_at": world.clock.column(r.times.ravel()[flat]),
            "status": enum_array(EVENT_STATUSES, r.status.ravel()[flat]),
            "region": enum_array(geo.REGION_NAMES, r.region.ravel()[flat]),
        },
    )
