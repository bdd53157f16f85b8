"""What consumers say: reviews, complaints, platform contacts and NPS surveys.

Each is driven by the same experience flags as the after-sales cases, so a merchant that
ships late or fakes shipments collects the negative reviews, complaints and platform
contacts that a governance engine would see.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.domain.model import COMPLAINT_TYPES, CONTACT_TOPICS
from tiyan.sim import catalog as cat
from tiyan.sim.aftermath import Cases, Experience
from tiyan.sim.arrow import bool_array, enum_array, id_array, int_array, make_table
from tiyan.sim.clock import DAY, HOUR, MINUTE, NEVER, SECOND
from tiyan.sim.orders import Orders
from tiyan.sim.rand import Draws
from tiyan.sim.world import World

Arr = npt.NDArray[Any]

C = {c: COMPLAINT_TYPES.index(c) for c in COMPLAINT_TYPES}
T = {t: CONTACT_TOPICS.index(t) for t in CONTACT_TOPICS}
#: Topics of a contact with no particular cause.
IDLE_TOPICS = np.array([0.35, 0.20, 0.10, 0.15, 0.0, 0.20])
REVIEW_WINDOW_DAYS = 15


def _hours(d: Draws, name: str, low: float, high: float) -> Arr:
    return (d.uniform(name, low, high) * HOUR).astype(np.int64) // SECOND * SECOND


def _first(times: list[Arr]) -> tuple[Arr, Arr]:
    """Index of the first of ``times`` (in priority order) that happens, and its time."""
    stacked = np.stack(times)
    first = np.argmax(stacked < NEVER, axis=0)
    return first, stacked[first, np.arange(stacked.shape[1])]


def reviews(world: World, o: Orders, x: Experience) -> Any:
    """About a third of signed orders get a review; bad experiences are reviewed more."""
    n, cut = o.n, world.clock.cut
    d = Draws(world.cfg.seed, "reviews", int(o.index[0]), n)
    p = 0.33 + 0.25 * x.defective + 0.15 * (x.late | x.late_scan)
    delay = np.minimum(d.exponential("delay", 30.0), REVIEW_WINDOW_DAYS * 24.0)
    created = x.signed + 5 * MINUTE + (delay * HOUR).astype(np.int64) // SECOND * SECOND
    rows = np.flatnonzero(d.chance("review?", p) & (x.signed < NEVER) & (created < cut))
    s = d.take(rows)
    mood = np.select(
        [x.defective[rows], x.late_scan[rows], x.late[rows]],
        [cat.DEFECTIVE, cat.FAKED, cat.LATE],
        cat.FINE,
    )
    stars = s.choice_rows("stars", cat.RATING_SHARE, mood) + 1
    pick = (stars - 1) * cat.TEXTS_PER_RATING + (s.u("text") * cat.TEXTS_PER_RATING).astype(int)
    texts = tuple(t for ts in cat.REVIEW_TEXTS for t in ts)
    return make_table(
        "reviews",
        {
            "review_id": id_array("R", o.index[rows] + 1, 9),
            "order_id": id_array("O", o.index[rows] + 1, 9),
            "merchant_id": id_array("M", o.merchant[rows] + 1, 6),
            "product_id": id_array("P", o.product[rows] + 1, 7),
            "rating": int_array(stars),
            "text": enum_array(texts, pick, s.chance("has_text?", 0.8)),
            "created_at": world.clock.column(created[rows]),
        },
    )


def complaints(world: World, o: Orders, x: Experience, cases: Cases, silent: Arr) -> Any:
    """At most one complaint per order, about the worst thing that happened."""
    n, cut = o.n, world.clock.cut
    d = Draws(world.cfg.seed, "complaints", int(o.index[0]), n)
    fake = o.parcels.fake > 0
    service = cases.timed_out | silent
    hype = world.products.hype[o.product]
    after = np.where(x.signed < NEVER, x.signed, o.paid)

    def when(name: str, cond: Arr, p: float, at: Arr) -> Arr:
        return np.where(cond & d.chance(name, p), at, NEVER)

    kinds = [C["fake_shipment"], C["shipping"], C["quality"], C["shipping"], C["service"]]
    kinds += [C["false_marketing"], C["other"]]
    first, created = _first(
        [
            when("fake?", fake, 0.3, x.handover + _hours(d, "fake.t", 24, 144)),
            when("cancel?", x.merchant_cancel, 0.12, o.cancel_at + _hours(d, "cancel.t", 1, 48)),
            when("defect?", x.defective, 0.06, x.signed + _hours(d, "defect.t", 24, 120)),
            when("late?", x.late, 0.05, o.promise_ship + _hours(d, "late.t", 6, 72)),
            when("service?", service, 0.08, o.paid + _hours(d, "service.t", 48, 192)),
            when("hype?", hype, 0.02, after + _hours(d, "hype.t", 24, 120)),
            when("other?", np.ones(n, bool), 0.001, o.paid + _hours(d, "other.t", 24, 240)),
        ]
    )
    rows = np.flatnonzero(created < cut)
    upheld_p = np.array([0.85, 0.7, 0.6, 0.7, 0.5, 0.6, 0.3])[first[rows]]
    s = d.take(rows)
    return make_table(
        "complaints",
        {
            "complaint_id": id_array("Q", o.index[rows] + 1, 9),
            "order_id": id_array("O", o.index[rows] + 1, 9),
            "merchant_id": id_array("M", o.merchant[rows] + 1, 6),
            "consumer_id": id_array("C", o.consumer[rows] + 1, 8),
            "type": enum_array(COMPLAINT_TYPES, np.array(kinds)[first[rows]]),
            "created_at": world.clock.column(created[rows]),
            "upheld": bool_array(s.chance("upheld?", upheld_p)),
        },
    )


def platform_contacts(world: World, o: Orders, x: Experience, cases: Cases) -> Any:
    """Contacts with platform service (the numerator of contacts per order, CPO).

    Up to two about an order (a second when the first did not settle it) and, rarely, one
    about the account with no order or merchant.
    """
    n, cut = o.n, world.clock.cut
    d = Draws(world.cfg.seed, "contacts", int(o.index[0]), n)
    has_case = cases.requested < NEVER

    def when(name: str, cond: Arr, p: float, at: Arr) -> Arr:
        return np.where(cond & d.chance(name, p), at, NEVER)

    fixed = [np.full(n, T[t]) for t in ("logistics", "refund", "quality", "logistics", "service")]
    topics = np.stack([*fixed, d.choice("topic", IDLE_TOPICS)])
    cause, at = _first(
        [
            when("nr?", x.not_received, 0.3, x.handover + _hours(d, "nr.t", 72, 192)),
            when("case?", has_case, 0.15, cases.requested + _hours(d, "case.t", 2, 72)),
            when("defect?", x.defective, 0.08, x.signed + _hours(d, "defect.t", 2, 72)),
            when("late?", x.late, 0.1, o.promise_ship + _hours(d, "late.t", 2, 72)),
            when("cancel?", x.merchant_cancel, 0.1, o.cancel_at + _hours(d, "cancel.t", 1, 24)),
            when("idle?", np.ones(n, bool), 0.012, o.paid + _hours(d, "idle.t", 1, 240)),
        ]
    )
    topic = topics[cause, np.arange(n)]
    again = (at < NEVER) & (cause < 5) & d.chance("again?", 0.3)
    second = np.where(again, at + _hours(d, "again.t", 24, 72), NEVER)
    account = np.where(d.chance("account?", 0.003), o.paid + _hours(d, "account.t", 1, 240), NEVER)
    times = np.stack([at, second, account], axis=1).ravel()
    keep = times < cut
    rows = np.repeat(np.arange(n), 3)[keep]
    seq = np.tile([1, 2, 3], n)[keep]
    about_order = seq < 3
    return make_table(
        "platform_contacts",
        {
            "contact_id": id_array("K", (o.index[rows] + 1) * 10 + seq, 10),
            "consumer_id": id_array("C", o.consumer[rows] + 1, 8),
            "order_id": id_array("O", o.index[rows] + 1, 9, about_order),
            "merchant_id": id_array("M", o.merchant[rows] + 1, 6, about_order),
            "topic": enum_array(CONTACT_TOPICS, np.where(about_order, topic[rows], T["account"])),
            "created_at": world.clock.column(times[keep]),
        },
    )


def surveys(world: World, o: Orders, x: Experience, cases: Cases, silent: Arr) -> Any:
    """NPS answers of a 3% sample, lower after a bad experience; a tenth about the platform."""
    n, cut = o.n, world.clock.cut
    d = Draws(world.cfg.seed, "surveys", int(o.index[0]), n)
    cancelled = o.cancel_at < NEVER
    settled = np.select(
        [x.signed < NEVER, cancelled, x.handover < NEVER],
        [x.signed, o.cancel_at, x.handover + 8 * DAY],
        o.paid + 5 * DAY,
    )
    created = settled + _hours(d, "t", 1, 72)
    rows = np.flatnonzero(d.chance("asked?", 0.03) & (created < cut))
    s = d.take(rows)
    penalty = (
        4.5 * (x.not_received | x.late_scan)
        + 2.0 * x.late
        + 4.0 * x.defective
        + 3.0 * x.merchant_cancel
        + 1.5 * (cases.timed_out | silent)
    )[rows]
    score = np.clip(np.round(8.6 + 1.5 * s.normal("score") - penalty), 0, 10).astype(np.int64)
    about_merchant = s.chance("merchant?", 0.9)
    return make_table(
        "surveys",
        {
            "response_id": id_array("N", o.index[rows] + 1, 9),
            "consumer_id": id_array("C", o.consumer[rows] + 1, 8),
            "merchant_id": id_array("M", o.merchant[rows] + 1, 6, about_merchant),
            "order_id": id_array("O", o.index[rows] + 1, 9, about_merchant),
            "score": int_array(score),
            "created_at": world.clock.column(created[rows]),
        },
    )
