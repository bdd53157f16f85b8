"""What follows an order: after-sales cases and IM sessions with the merchant's service.

Consequences correlate as in life: a parcel that never arrives brings a refund request and
a chat, a defective product a return, and a passive merchant leaves both unanswered until
the platform's 48-hour timeout refunds the consumer. :class:`Experience` condenses each
order into the few facts these consequences (and :mod:`tiyan.sim.feedback`) depend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.domain.model import (
    AFTER_SALE_REASONS,
    AFTER_SALE_TYPES,
    LIABILITIES,
    MERCHANT_DECISIONS,
    RESOLUTIONS,
    RESOLVED_BY,
)
from tiyan.sim import catalog as cat
from tiyan.sim import geo
from tiyan.sim.arrow import (
    bool_array,
    enum_array,
    id_array,
    int_array,
    make_table,
    money_array,
    string_array,
)
from tiyan.sim.clock import DAY, HOUR, MINUTE, NEVER, SECOND
from tiyan.sim.orders import BY_MERCHANT, Orders
from tiyan.sim.rand import Draws
from tiyan.sim.shipping import (
    FAKE_LATE_SCAN,
    FAKE_NO_SCAN,
    FAKE_REUSE,
    RETURN_SERIAL_BASE,
    tracking_numbers,
)
from tiyan.sim.world import World

Arr = npt.NDArray[Any]

REFUND_ONLY, RETURN_REFUND, EXCHANGE = range(3)
R = {r: AFTER_SALE_REASONS.index(r) for r in AFTER_SALE_REASONS}
L = {x: LIABILITIES.index(x) for x in LIABILITIES}
APPROVE, REJECT = (MERCHANT_DECISIONS.index(x) for x in ("approve", "reject"))
REFUNDED, EXCHANGED, REJECTED, WITHDRAWN = (
    RESOLUTIONS.index(x) for x in ("refunded", "exchanged", "rejected", "withdrawn")
)
BY = {x: RESOLVED_BY.index(x) for x in RESOLVED_BY}
#: What starts a case, in priority order (the first that happens to an order makes its case).
NOT_RECEIVED, REFUSED, DEFECT, DAMAGED, LATE, NO_REASON, OTHER = range(7)
#: Per trigger: the reason the consumer gives (a defect is split into quality and
#: not-as-described below) and who is liable unless arbitration says otherwise.
TRIGGER_REASON = np.array(
    [
        R[r]
        for r in ("logistics", "other", "quality", "damaged", "logistics", "no_reason_7d", "other")
    ]
)
TRIGGER_LIABILITY = np.array(
    [L[x] for x in ("merchant", "consumer", "merchant", "carrier", "merchant", "none", "none")]
)
#: Cases are left to the platform's automatic refund after this many hours.
TIMEOUT_HOURS = 48
#: Express refunds (极速退) go to small amounts only.
EXPRESS_MAX_CENTS = 20_000
IM_SLOW_SECONDS = 180


@dataclass(frozen=True)
class Experience:
    """Per order: what the consumer went through (local times, ``NEVER`` if not)."""

    handover: Arr
    pickup: Arr
    signed: Arr
    #: Shipped but nothing real on the way: a fake number, or lost.
    not_received: Arr
    #: First pickup after the ship deadline (or still none when it passed).
    late: Arr
    #: A fake number that got its first scan days later.
    late_scan: Arr
    #: A defect noticed on opening the parcel.
    defective: Arr
    merchant_cancel: Arr

    @staticmethod
    def of(world: World, o: Orders) -> Experience:
        n, p, cut = o.n, o.parcels, world.clock.cut
        handover = p.first(n, p.handover)
        pickup = p.first(n, p.pickup)
        fake = p.fake
        not_cancelled = o.cancel_at >= NEVER
        return Experience(
            handover=handover,
            pickup=pickup,
            signed=o.signed,
            not_received=(handover < NEVER)
            & ((fake == FAKE_NO_SCAN) | (fake == FAKE_REUSE) | p.lost),
            late=not_cancelled & (pickup > o.promise_ship) & (o.promise_ship < cut),
            late_scan=fake == FAKE_LATE_SCAN,
            defective=o.defect & (o.signed < NEVER),
            merchant_cancel=~not_cancelled & (o.cancelled_by == BY_MERCHANT),
        )


@dataclass(frozen=True)
class Cases:
    """Per order: its after-sales case, if any (for the feedback tables)."""

    requested: Arr  # NEVER = no case
    timed_out: Arr
    rejected: Arr


def _hours(d: Draws, name: str, low: float, high: float) -> Arr:
    return (d.uniform(name, low, high) * HOUR).astype(np.int64) // SECOND * SECOND


def _triggers(o: Orders, x: Experience, d: Draws) -> tuple[Arr, Arr]:
    """Per order: which trigger makes its case (see ``NOT_RECEIVED``...) and when (or NEVER)."""
    signed = x.signed < NEVER
    p = o.parcels
    tier_factor = np.select([o.tier == cat.WATCH, o.tier == cat.BLOCKED], [2.0, 3.0], 1.0)
    no_reason_p = cat.NO_REASON_RETURNS[o.category] * tier_factor
    lost_wait = p.failed_at + _hours(d, "lost_wait", 24, 72)

    def when(name: str, cond: Arr, p_: float | Arr, at: Arr) -> Arr:
        return np.where(cond & d.chance(name, p_), at, NEVER)

    # Triggers in priority order; the first that happens makes the case.
    triggers = np.stack(
        [
            when(
                "nr?",
                x.not_received,
                0.8,
                np.where(p.lost, lost_wait, x.handover + _hours(d, "nr.t", 72, 216)),
            ),
            when("refused?", p.refused, 0.9, p.failed_at + _hours(d, "refused.t", 2, 48)),
            when("defect?", x.defective, 0.6, x.signed + 10 * MINUTE + _exp_h(d, "defect.t", 36)),
            when("damaged?", signed, 0.004, x.signed + 5 * MINUTE + _exp_h(d, "damaged.t", 12)),
            when(
                "late?",
                signed & (x.late | x.late_scan),
                0.1,
                x.signed + 5 * MINUTE + _exp_h(d, "late.t", 24),
            ),
            when("no_reason?", signed, no_reason_p, x.signed + _hours(d, "no_reason.t", 0.1, 168)),
            when("other?", signed, 0.004, x.signed + _hours(d, "other.t", 1, 240)),
        ]
    )
    first = np.argmax(triggers < NEVER, axis=0)
    return first, triggers[first, np.arange(o.n)]


def after_sales(world: World, o: Orders, x: Experience) -> tuple[Any, Cases]:
    """At most one after-sales case per order, from the first of its triggers."""
    n, cut, b = o.n, world.clock.cut, world.merchants.behaviour
    d = Draws(world.cfg.seed, "after_sales", int(o.index[0]), n)
    first, requested = _triggers(o, x, d)
    p = o.parcels
    rows = np.flatnonzero(requested < cut)
    trig, req = first[rows], requested[rows]
    s = d.take(rows)
    m = o.merchant[rows]
    ro, rr, ex = REFUND_ONLY, RETURN_REFUND, EXCHANGE
    type_defect = s.choice("type.defect", np.array([0.30, 0.55, 0.15]))
    type_damaged = np.where(s.chance("type.damaged", 0.5), ro, rr)
    type_no_reason = np.where(s.chance("type.no_reason", 0.9), rr, ex)
    kind = np.choose(trig, [ro, ro, type_defect, type_damaged, ro, type_no_reason, ro])
    described = (trig == DEFECT) & s.chance("not_as_described?", 0.35)
    reason = np.where(described, R["not_as_described"], TRIGGER_REASON[trig])
    amount = o.amount[rows]
    # Late delivery is compensated in part (a few yuan to a fifth of the price).
    partial = np.round(amount * s.uniform("partial", 0.05, 0.2)).astype(np.int64)
    amount = np.where(trig == LATE, partial, amount)
    # A lost parcel is the carrier's fault; a fake shipment the merchant's.
    base = np.where((trig == NOT_RECEIVED) & p.lost[rows], L["carrier"], TRIGGER_LIABILITY[trig])
    # A complaint against the merchant or the carrier usually holds up in arbitration.
    founded = (base == L["merchant"]) | (base == L["carrier"])

    tier = o.tier[rows]
    small = (kind != ex) & (amount <= EXPRESS_MAX_CENTS) & (tier <= cat.ORDINARY)
    express = small & s.chance("express?", np.where(tier == cat.PREMIUM, 0.8, 0.5))
    express_at = (
        req + (s.uniform("express.t", 0.5, 20.0) * MINUTE).astype(np.int64) // SECOND * SECOND
    )
    strain = np.where(o.strained[rows], 1.5, 1.0)
    resp_h = s.lognormal("response", b["after_sale_hours"][m] * strain, 0.9)
    ignored = s.chance("ignored?", b["after_sale_ignored"][m]) | (resp_h > TIMEOUT_HOURS)
    responded = np.where(ignored, NEVER, req + (resp_h * HOUR).astype(np.int64) // SECOND * SECOND)
    withdraw_at = req + _hours(s, "withdraw.t", 1, 20)
    withdrawn = ~express & s.chance("withdraw?", 0.04) & (withdraw_at < responded)
    reject_p = b["reject"][m] * np.select(
        [trig == NO_REASON, trig == NOT_RECEIVED], [1.5, 0.5], 1.0
    )
    rejected = ~express & ~withdrawn & ~ignored & s.chance("reject?", reject_p)
    escalated = rejected & s.chance("escalate?", 0.5)
    consumer_wins = s.chance("arbitration?", np.where(founded, 0.85, 0.3))
    gives_up = s.chance("give_up?", 0.4)
    approve_wait = np.choose(
        kind,
        [
            _hours(s, "refund.t", 1 / 60, 1),
            _hours(s, "return.t", 48, 144),
            _hours(s, "exchange.t", 72, 192),
        ],
    )
    arbitration = responded + _hours(s, "arbitration.t", 24, 72)
    timeout_at = req + TIMEOUT_HOURS * HOUR + _hours(s, "timeout.t", 0, 1 / 6)
    gave_up_at = responded + _hours(s, "give_up.t", 1, 48)

    timed_out = ~withdrawn & ~express & ignored
    cases = [withdrawn, express, timed_out, escalated, rejected & gives_up, rejected]
    resolved = np.select(
        cases,
        [withdraw_at, express_at, timeout_at, arbitration, gave_up_at, responded],
        responded + approve_wait,
    )
    resolution = np.select(
        cases,
        [
            WITHDRAWN,
            REFUNDED,
            REFUNDED,
            np.where(consumer_wins, REFUNDED, REJECTED),
            WITHDRAWN,
            REJECTED,
        ],
        np.where(kind == ex, EXCHANGED, REFUNDED),
    )
    by = np.select(
        cases,
        [-1, BY["platform"], BY["timeout"], BY["platform"], -1, BY["merchant"]],
        BY["merchant"],
    )
    fault = np.where(founded, base, L["merchant"])
    liability = np.select(
        cases,
        [
            L["none"],
            base,
            L["merchant"],
            np.where(consumer_wins, fault, L["consumer"]),
            L["none"],
            L["consumer"],
        ],
        base,
    )
    responded = np.where(withdrawn, NEVER, responded)
    answered = responded < cut
    done = resolved < cut
    returns = (kind != ro) & answered & ~rejected & ~withdrawn
    table = make_table(
        "after_sales",
        {
            "case_id": id_array("A", o.index[rows] + 1, 9),
            "order_id": id_array("O", o.index[rows] + 1, 9),
            "type": enum_array(AFTER_SALE_TYPES, kind),
            "reason": enum_array(AFTER_SALE_REASONS, reason),
            "requested_at": world.clock.column(req),
            "amount": money_array(amount),
            "merchant_responded_at": world.clock.column(responded, answered),
            "merchant_decision": enum_array(
                MERCHANT_DECISIONS, np.where(rejected, REJECT, APPROVE), answered
            ),
            "return_tracking_no": _return_numbers(world, s, o.index[rows], returns),
            "resolved_at": world.clock.column(resolved, done),
            "resolution": enum_array(RESOLUTIONS, resolution, done),
            "resolved_by": enum_array(RESOLVED_BY, np.maximum(by, 0), done & (by >= 0)),
            "platform_intervened": bool_array(escalated & answered),
            "liability": enum_array(LIABILITIES, liability, done),
            "express": bool_array(express),
        },
    )
    per_order = np.full(n, False)
    timed = per_order.copy()
    timed[rows] = timed_out & (timeout_at < cut)
    rej = per_order.copy()
    rej[rows] = rejected & answered
    return table, Cases(
        requested=np.where(requested < cut, requested, NEVER), timed_out=timed, rejected=rej
    )


def _exp_h(d: Draws, name: str, mean_h: float) -> Arr:
    return (d.exponential(name, mean_h) * HOUR).astype(np.int64) // SECOND * SECOND


def _return_numbers(world: World, d: Draws, index: Arr, valid: Arr) -> Any:
    carrier = d.choice("return_carrier", geo.CARRIER_SHARE)
    numbers = tracking_numbers(world.cfg.seed, RETURN_SERIAL_BASE + index, carrier)
    return string_array(numbers, valid)


def _im(
    world: World, d: Draws, x: str, started: Arr, merchant: Arr, strained: Arr, bad: Arr
) -> tuple[Arr, Arr, Arr, Arr]:
    """First human reply, end, rating (-1: none) and silence of IM sessions.

    ``x`` prefixes the draw names, so pre- and post-sale sessions draw independently.
    """
    clock, b = world.clock, world.merchants.behaviour
    busy = np.where(strained, 1.8, 1.0)
    latency = np.maximum(
        1.0, d.lognormal(x + "latency", b["im_reply_seconds"][merchant] * busy, 0.8)
    )
    silent = d.chance(
        x + "silent?", np.minimum(1.0, b["im_no_reply"][merchant] * np.where(strained, 1.5, 1.0))
    )
    hour = clock.hour(started)
    # Outside service hours many shops answer only the next morning.
    night = ((hour < 8) | (hour >= 23)) & d.chance(x + "waits?", 0.6)
    morning = started - started % DAY + 8 * HOUR + np.where(hour >= 23, DAY, 0)
    reply = (
        np.where(night, morning, started) + (latency * SECOND).astype(np.int64) // SECOND * SECOND
    )
    reply = np.where(silent, NEVER, reply)
    talk = (d.lognormal(x + "talk", 6.0, 0.8) * MINUTE).astype(np.int64) // SECOND * SECOND
    ended = np.where(silent, started + 30 * MINUTE, reply + talk)
    slow = (reply - started) > IM_SLOW_SECONDS * SECOND
    stars = np.select(
        [silent, slow],
        [1 + d.chance(x + "r.silent", 0.3), 2 + (d.u(x + "r.slow") * 3).astype(np.int64)],
        4 + d.chance(x + "r.fast", 0.7),
    )
    stars = np.clip(stars - bad, 1, 5)
    rating = np.where(d.chance(x + "rated?", 0.4), stars, -1)
    return reply, ended, rating, silent


def cs_sessions(world: World, o: Orders, x: Experience, cases: Cases) -> tuple[Any, Arr]:
    """Pre-sale questions (no order yet) and post-sale sessions about an order.

    Returns the table and, per order, whether its post-sale session went unanswered.
    """
    n, clock, cut = o.n, world.clock, world.clock.cut
    d = Draws(world.cfg.seed, "cs", int(o.index[0]), n)
    pre = d.chance("pre?", np.where(o.category == cat.ELECTRONICS, 0.15, 0.07))
    pre_at = o.paid - 5 * MINUTE - _exp_h(d, "pre.t", 6)
    has_case = cases.requested < NEVER
    post_p = 0.05 + 0.3 * x.late + 0.45 * x.not_received + 0.35 * x.defective + 0.25 * has_case
    post = d.chance("post?", np.minimum(0.9, post_p + 0.2 * x.merchant_cancel))
    trigger = np.select(
        [x.not_received, x.defective, x.late, x.merchant_cancel, has_case],
        [
            x.handover + _hours(d, "nr.t", 48, 120),
            x.signed + _exp_h(d, "defect.t", 12),
            o.promise_ship + _exp_h(d, "late.t", 12),
            o.cancel_at + 10 * MINUTE,
            cases.requested + _exp_h(d, "case.t", 2),
        ],
        o.paid + _hours(d, "post.t", 0.2, 96),
    )
    post_at = trigger + MINUTE + _exp_h(d, "post.delay", 4)
    # Consumers mostly write by day: most night-time questions wait for the morning.
    hour = clock.hour(post_at)
    to_morning = (hour < 8) & d.chance("morning?", 0.7)
    morning = post_at - post_at % DAY + 8 * HOUR + _exp_h(d, "morning.t", 2.5)
    post_at = np.where(to_morning, morning, post_at)
    bad = (x.defective | x.not_received | x.late).astype(np.int64)
    pre_im = _im(world, d, "pre.", pre_at, o.merchant, o.strained, np.zeros(n, np.int64))
    post_im = _im(world, d, "post.", post_at, o.merchant, o.strained, bad)

    def pair(a: Arr, b: Arr) -> Arr:
        return np.stack([a, b], axis=1).ravel()

    started = pair(pre_at, post_at)
    keep = pair(pre, post) & (started < cut)
    rows = np.repeat(np.arange(n), 2)[keep]
    seq = np.tile([1, 2], n)[keep]
    reply = pair(pre_im[0], post_im[0])[keep]
    ended = pair(pre_im[1], post_im[1])[keep]
    rating = pair(pre_im[2], post_im[2])[keep]
    table = make_table(
        "cs_sessions",
        {
            "session_id": id_array("I", (o.index[rows] + 1) * 10 + seq, 10),
            "merchant_id": id_array("M", o.merchant[rows] + 1, 6),
            "consumer_id": id_array("C", o.consumer[rows] + 1, 8),
            "order_id": id_array("O", o.index[rows] + 1, 9, seq == 2),
            "started_at": clock.column(started[keep]),
            "first_response_at": clock.column(reply),
            "ended_at": clock.column(ended),
            "rating": int_array(rating, rating > 0),
        },
    )
    unanswered = post & (post_at < cut) & post_im[3]
    return table, unanswered
