"""The service desk's activity that follows a simulated market: one :class:`History` a request.

:func:`simulate_desk` reads the Parquet files :func:`tiyan.sim.writer.write_parquet` wrote and
builds what the platform's desk (平台客服) would have seen of that market: the requests its
consumers raised, each with its whole audit trail, resolutions, callbacks and survey — the
lines ``tiyan desk import`` reads (:func:`write_desk`). The same seed and market always give
the same histories, in the same order.

Where requests come from (tiyan defaults; about 2 % of orders in all):

* **complaints** (70 % reach the desk): ``shipping`` → ``delivery_problem`` (70 %) or
  ``courier_related``, ``fake_shipment`` → ``delivery_problem``, ``quality`` and
  ``false_marketing`` → ``product_issue`` (65 %; false marketing 40 %) or ``risky_product``,
  ``service`` → ``merchant_service``; ``other`` has no desk type and stays away. A second
  complaint by the same consumer about the same order is a ``repeat_complaint`` (always), and
  so is a platform contact about an order whose complaint is already at the desk, a day or
  more after it (35 %: the market files at most one complaint an order; its second contacts
  are the consumer coming back);
* **after-sales cases** the merchant left unanswered (no response, neither withdrawn nor an
  express refund: 50 %; → ``refund``, or ``exchange`` for an exchange) or rejected (55 %;
  → ``negotiated_refund`` or ``exchange``), 4–40 h after the request or 0.5–24 h after the
  rejection, with ``case_id`` set;
* **late shipments the consumer chases** (催发货, 4 % of orders not picked up by their promise):
  2–48 h after the promise while the parcel still has no pickup scan, opened by ``system``.

Requests are numbered ``SR-0000001`` … by creation time, then source (complaint, case, chase,
contact) and its id.

What follows (tiyan defaults):

* **routing**, seconds after the creation: ``route_merchant`` when the merchant is reachable
  (09:00–22:00 in the desk's zone, and not one of the 5 % of moments it is offline), else
  ``route_platform`` (离线留言);
* **the merchant's part**, by its archetype (``sim_truth``): it answers at all with
  probability ``answers`` and then after a lognormal share of its deadline in service time
  (median ``speed``, σ 0.7) — good 96 % / 0.2, ``passive_service`` 45 % / 0.9, other bad
  archetypes 85 % / 0.45. An answer that would come after the deadline, or never, is a
  ``system`` ``breach`` at the deadline instead (what the desk's sweep records);
* **the platform's part**: a first ``message`` a lognormal 40 service minutes (σ 1) after the
  request reached it; for 40 % of requests a callback task opened then, with 1–3 numbers (60 /
  30 / 10 %), called exactly when and where :func:`~tiyan.service_desk.callbacks.plan` says:
  90 % of consumers answer 65 % of calls; 10 % are hard to reach — the first number they left
  is someone else's (no answer 50 %, busy 15 %, reached 5 %, wrong person 30 %: the seed story's
  mother), the next one reached 60 % of the time. Without a callback (or when it failed) the
  agent asks the consumer 20 % (60 %) of the time (a reply after a lognormal 3 h 80 % (50 %) of
  the time, else ``no_reply`` by ``system`` 24 h later); then ``resolve`` a lognormal 2 service
  hours (σ 1.1) later. ``close`` by ``system`` 72 h after; 3 % are reopened by the consumer
  (2–120 h after the resolution) and resolved again;
* **the resolution**: the merchant is liable when it breached (the desk judges a breach for
  the consumer) or the problem was its own — an upheld complaint, an unanswered case, a chase
  (90 %), a rejected case the market found against it or about the product (quality, not as
  described, damaged: 50 % for a good merchant, 80 % for a bad one). It then refunds the case
  amount (after-sales) or pays a compensation of 3–50 yuan (log-uniform, never above the
  order amount). Otherwise the carrier (shipping types 45 %, logistics cases) compensates
  3–20 yuan; a 7-day no-reason return is refunded without fault; the rest is ``no_fault``
  (liability none or consumer) or, 30 % of the no-liability ones, ``consumer_withdraws``. A
  request resolved again after a reopen keeps a merchant-liable resolution (a compensation up
  to half again, within 50 yuan); else 50 % get a goodwill compensation the platform pays;
* **the survey**: half of the resolved requests, 0.5–48 h after the last resolution; score
  ``round(3.9 + 0.9 z − 1.3 breach − 0.8 late − 1.2 reopened + 0.5 paid + 0.3 within a day
  − 0.5 judged against the consumer)`` in 1–5, a short Chinese comment 35 % of the time.

The market ends ``CUT_DAYS`` (10) days after its last payment: no step, call or survey after
that instant is kept (a request then still open stays open).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tiyan.service_desk.callbacks import Attempt, CallbackTask, Contact, Outcome, plan
from tiyan.service_desk.clock import after, deadline
from tiyan.service_desk.history import CallbackRecord, History, Survey, summarize
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.requests import Actor, Step
from tiyan.service_desk.resolution import Liability, Resolution
from tiyan.sim.config import CUT_DAYS

__all__ = ["simulate_desk", "write_desk"]

Arr = npt.NDArray[Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Where a clock that never comes due ends up: past any market's end.
_FAR = datetime(9000, 1, 1, tzinfo=UTC)
_NEVER = np.iinfo(np.int64).max
_US = 1_000_000
_HOUR_US = 3600 * _US

#: The merchant's opening hours for routing (tiyan: 09:00-22:00, an hour past the desk).
MERCHANT_OPENS, MERCHANT_CLOSES = time(9), time(22)
OFFLINE = 0.05


@dataclass(frozen=True)
class Conduct:
    """How merchants of an archetype deal with the desk."""

    answers: float  # share of requests the merchant answers at all
    speed: float  # median answer time, as a share of the deadline (service time)
    fault: float  # a rejected product case is the merchant's fault with this probability


GOOD = Conduct(answers=0.96, speed=0.2, fault=0.5)
BAD = Conduct(answers=0.85, speed=0.45, fault=0.8)
CONDUCT: dict[str, Conduct] = {
    "good": GOOD,
    "passive_service": Conduct(answers=0.45, speed=0.9, fault=0.8),
}
SPEED_SIGMA = 0.7

# sources, in their sorting order
COMPLAINT, CASE, CHASE, CONTACT = 0, 1, 2, 3
TO_DESK = {"complaint": 0.7, "unanswered": 0.5, "rejected": 0.55, "chase": 0.04, "contact": 0.35}
CALLBACK_SHARE = 0.4
HARD_TO_REACH = 0.1
#: Outcome probabilities of one call: no_answer, busy, reached, wrong_person.
OUTCOMES: tuple[Outcome, ...] = ("no_answer", "busy", "reached", "wrong_person")
CALL_EASY = (0.24, 0.10, 0.65, 0.01)
CALL_HARD_FIRST = (0.50, 0.15, 0.05, 0.30)
CALL_HARD_OTHER = (0.28, 0.10, 0.60, 0.02)
REOPEN = 0.03
SURVEY = 0.5
CLOSE_AFTER = timedelta(hours=72)
#: The most a merchant's compensation comes to (50 yuan), in cents.
MAX_CENTS = 5_000
NO_REPLY_AFTER = timedelta(hours=24)

#: Mobile prefixes of the masked numbers.
PREFIXES = (
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152",
    "157", "158", "159", "176", "177", "186", "188",
)  # fmt: skip
COMMENTS = {
    1: ("商家一直不回复，太失望了", "处理太慢了", "问题没有解决"),
    2: ("等了很久才处理", "结果不太满意", "客服态度一般"),
    3: ("还行吧", "解决了，就是慢了点", "一般"),
    4: ("处理得挺快", "客服很耐心", "问题解决了"),
    5: ("非常满意，谢谢客服", "很快就赔付了", "客服打电话来解决了，点赞"),
}


@dataclass
class _Raised:
    """The candidate requests, one entry per request (parallel lists)."""

    source: list[int]
    source_id: list[str]
    created: list[int]  # µs since the epoch, UTC
    type_id: list[str]
    actor: list[Actor]
    merchant: list[str]
    order: list[str | None]
    consumer: list[str | None]
    case: list[str | None]
    fault: list[bool]  # the underlying problem is the merchant's
    reason: list[str | None]  # the case's reason (after-sales), else None
    case_amount: list[Decimal | None]

    @classmethod
    def empty(cls) -> _Raised:
        return cls([], [], [], [], [], [], [], [], [], [], [], [])

    def add(self, **columns: list[Any]) -> None:
        for name, values in columns.items():
            getattr(self, name).extend(values)


def simulate_desk(folder: Path, *, seed: int, desk: DeskPolicy | None = None) -> list[History]:
    """The desk's histories for the simulated market in ``folder`` (module docstring)."""
    desk = desk or DeskPolicy()
    rng = np.random.default_rng(seed)
    t = _read(Path(folder))
    end = int(pc.max(t["orders"]["paid_at"]).value) + CUT_DAYS * 24 * _HOUR_US
    archetype = dict(
        zip(
            t["sim_truth"]["merchant_id"].to_pylist(),
            t["sim_truth"]["archetype"].to_pylist(),
            strict=True,
        )
    )
    raised = _Raised.empty()
    complained = _complaints(t, rng, raised)
    _cases(t, rng, raised, archetype)
    _chases(t, rng, raised)
    _contacts(t, rng, raised, complained)
    keep = sorted(
        (i for i, c in enumerate(raised.created) if c <= end),
        key=lambda i: (raised.created[i], raised.source[i], raised.source_id[i]),
    )
    amounts = _order_amounts(t["orders"], [raised.order[i] for i in keep])
    draws = _Draws.of(rng, len(keep), desk.callbacks.max_attempts)
    world = _World(desk, _at(end), archetype)
    out: list[History] = []
    for k, i in enumerate(keep):
        history = world.history(k, raised, i, amounts[k], draws)
        if history is not None:
            out.append(history)
    return out


def write_desk(folder: Path, out: Path, *, seed: int, desk: DeskPolicy | None = None) -> int:
    """Write :func:`simulate_desk`'s histories to ``out``, one JSON object a line (UTF-8),
    under a temporary name renamed when done; returns how many."""
    histories = simulate_desk(folder, seed=seed, desk=desk)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as f:
            for h in histories:
                f.write(h.model_dump_json())
                f.write("\n")
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return len(histories)


# ---------------------------------------------------------------- reading the market


_COLUMNS = {
    "orders": [
        "order_id",
        "merchant_id",
        "consumer_id",
        "amount",
        "paid_at",
        "promised_ship_by",
        "cancelled_at",
    ],
    "shipments": ["order_id", "pickup_at"],
    "after_sales": [
        "case_id",
        "order_id",
        "type",
        "reason",
        "requested_at",
        "amount",
        "merchant_responded_at",
        "merchant_decision",
        "resolved_at",
        "resolution",
        "platform_intervened",
        "liability",
        "express",
    ],
    "complaints": [
        "complaint_id",
        "order_id",
        "merchant_id",
        "consumer_id",
        "type",
        "created_at",
        "upheld",
    ],
    "platform_contacts": [
        "contact_id",
        "consumer_id",
        "order_id",
        "merchant_id",
        "topic",
        "created_at",
    ],
    "sim_truth": ["merchant_id", "archetype"],
}


def _read(folder: Path) -> dict[str, Any]:
    return {
        name: pq.read_table(folder / f"{name}.parquet", columns=cols)
        for name, cols in _COLUMNS.items()
    }


def _us(column: Any) -> Arr:
    """A timestamp column as µs since the epoch (UTC), null as ``_NEVER``."""
    ints = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(pc.fill_null(ints, _NEVER).to_numpy(zero_copy_only=False), np.int64)


def _strs(column: Any) -> Arr:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _hours_us(rng: np.random.Generator, n: int, low: float, high: float) -> Arr:
    return (rng.uniform(low, high, n) * 3600).astype(np.int64) * _US


def _lookup(keys: Any, table: Any, column: str) -> Arr:
    """Row of ``table`` whose ``column`` equals each key (-1: none)."""
    idx = pc.index_in(keys, value_set=table[column])
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), np.int64)


def _complaints(t: dict[str, Any], rng: np.random.Generator, r: _Raised) -> dict[str, int]:
    """Complaints at the desk; returns the first desk complaint's time for each order."""
    keys = ("consumer_id", "order_id", "created_at", "complaint_id")
    c = t["complaints"].sort_by([(key, "ascending") for key in keys])
    n = c.num_rows
    consumer, order, kind = _strs(c["consumer_id"]), _strs(c["order_id"]), _strs(c["type"])
    created, upheld = _us(c["created_at"]), np.asarray(c["upheld"].fill_null(False), bool)
    repeat = np.zeros(n, bool)
    if n > 1:
        repeat[1:] = (consumer[1:] == consumer[:-1]) & (order[1:] == order[:-1])
        repeat &= np.asarray([o is not None for o in order], bool)
    u_desk, u_type = rng.random(n), rng.random(n)
    product = np.where(kind == "false_marketing", 0.4, 0.65)
    type_id = np.select(
        [
            repeat,
            kind == "shipping",
            kind == "fake_shipment",
            (kind == "quality") | (kind == "false_marketing"),
            kind == "service",
        ],
        [
            "repeat_complaint",
            np.where(u_type < 0.7, "delivery_problem", "courier_related"),
            "delivery_problem",
            np.where(u_type < product, "product_issue", "risky_product"),
            "merchant_service",
        ],
        "",
    )
    rows = np.flatnonzero((type_id != "") & (repeat | (u_desk < TO_DESK["complaint"])))
    r.add(
        source=[COMPLAINT] * len(rows),
        source_id=_strs(c["complaint_id"])[rows].tolist(),
        created=created[rows].tolist(),
        type_id=type_id[rows].tolist(),
        actor=["consumer"] * len(rows),
        merchant=_strs(c["merchant_id"])[rows].tolist(),
        order=order[rows].tolist(),
        consumer=consumer[rows].tolist(),
        case=[None] * len(rows),
        fault=upheld[rows].tolist(),
        reason=[None] * len(rows),
        case_amount=[None] * len(rows),
    )
    first: dict[str, int] = {}
    for o, at in zip(order[rows].tolist(), created[rows].tolist(), strict=True):
        if o is not None and at < first.get(o, _NEVER):
            first[o] = at
    return first


def _cases(
    t: dict[str, Any], rng: np.random.Generator, r: _Raised, archetype: dict[str, str]
) -> None:
    a, orders = t["after_sales"], t["orders"]
    n = a.num_rows
    responded, requested = _us(a["merchant_responded_at"]), _us(a["requested_at"])
    resolved = _us(a["resolved_at"])
    resolution, decision = _strs(a["resolution"]), _strs(a["merchant_decision"])
    express = np.asarray(a["express"].fill_null(False), bool)
    unanswered = (responded == _NEVER) & ~express & (resolution != "withdrawn")
    rejected = decision == "reject"
    u_desk = rng.random(n)
    created = np.where(
        unanswered, requested + _hours_us(rng, n, 4, 40), responded + _hours_us(rng, n, 0.5, 24)
    )
    u_fault = rng.random(n)
    picked = (unanswered & (u_desk < TO_DESK["unanswered"])) | (
        rejected & (u_desk < TO_DESK["rejected"])
    )
    # the consumer comes while the case is still open (a timeout refunds it by itself)
    picked &= (created < resolved) | ~unanswered
    rows = np.flatnonzero(picked)
    at = _lookup(a["order_id"].take(rows), orders, "order_id")
    rows, at = rows[at >= 0], at[at >= 0]
    merchant = _strs(orders["merchant_id"].take(at))
    kind, reason = _strs(a["type"])[rows], _strs(a["reason"])[rows]
    bad = np.asarray([archetype.get(m, "good") != "good" for m in merchant], bool)
    fault_p = np.where(bad, BAD.fault, GOOD.fault)
    about_product = np.isin(reason, ["quality", "not_as_described", "damaged"])
    fault = (
        unanswered[rows]
        | (_strs(a["liability"])[rows] == "merchant")
        | (about_product & (u_fault[rows] < fault_p))
    )
    type_id = np.where(
        kind == "exchange", "exchange", np.where(unanswered[rows], "refund", "negotiated_refund")
    )
    r.add(
        source=[CASE] * len(rows),
        source_id=_strs(a["case_id"])[rows].tolist(),
        created=created[rows].tolist(),
        type_id=type_id.tolist(),
        actor=["consumer"] * len(rows),
        merchant=merchant.tolist(),
        order=_strs(a["order_id"])[rows].tolist(),
        consumer=_strs(orders["consumer_id"].take(at)).tolist(),
        case=_strs(a["case_id"])[rows].tolist(),
        fault=fault.tolist(),
        reason=reason.tolist(),
        case_amount=a["amount"].take(rows).to_pylist(),
    )


def _chases(t: dict[str, Any], rng: np.random.Generator, r: _Raised) -> None:
    orders = t["orders"]
    n = orders.num_rows
    firsts = (
        t["shipments"]
        .filter(pc.is_valid(t["shipments"]["pickup_at"]))
        .group_by("order_id")
        .aggregate([("pickup_at", "min")])
    )
    row = _lookup(orders["order_id"], firsts, "order_id")
    pickup_all = _us(firsts["pickup_at_min"])
    pickup = np.where(row >= 0, pickup_all[np.maximum(row, 0)] if len(pickup_all) else 0, _NEVER)
    promise, cancelled = _us(orders["promised_ship_by"]), _us(orders["cancelled_at"])
    at = np.where(promise < _NEVER, promise, 0) + _hours_us(rng, n, 2, 48)
    u = rng.random(n)
    rows = np.flatnonzero(
        (promise < _NEVER) & (at < pickup) & (at < cancelled) & (u < TO_DESK["chase"])
    )
    r.add(
        source=[CHASE] * len(rows),
        source_id=_strs(orders["order_id"])[rows].tolist(),
        created=at[rows].tolist(),
        type_id=["shipping_chase"] * len(rows),
        actor=["system"] * len(rows),
        merchant=_strs(orders["merchant_id"])[rows].tolist(),
        order=_strs(orders["order_id"])[rows].tolist(),
        consumer=_strs(orders["consumer_id"])[rows].tolist(),
        case=[None] * len(rows),
        fault=(rng.random(len(rows)) < 0.9).tolist(),
        reason=[None] * len(rows),
        case_amount=[None] * len(rows),
    )


def _contacts(
    t: dict[str, Any], rng: np.random.Generator, r: _Raised, complained: dict[str, int]
) -> None:
    """A consumer back about an order whose complaint is at the desk: a second complaint."""
    k = t["platform_contacts"]
    n = k.num_rows
    order, topic, created = _strs(k["order_id"]), _strs(k["topic"]), _us(k["created_at"])
    u = rng.random(n)
    since = np.asarray([complained.get(o, _NEVER) if o is not None else _NEVER for o in order])
    rows = np.flatnonzero(
        (since < _NEVER)
        & (created >= since + 24 * _HOUR_US)
        & (topic != "account")
        & (u < TO_DESK["contact"])
    )
    # upheld if the first complaint was: the complaint's fault travels with it
    fault_of = {
        o: f
        for o, f, s in zip(r.order, r.fault, r.source, strict=True)
        if s == COMPLAINT and o is not None
    }
    r.add(
        source=[CONTACT] * len(rows),
        source_id=_strs(k["contact_id"])[rows].tolist(),
        created=created[rows].tolist(),
        type_id=["repeat_complaint"] * len(rows),
        actor=["consumer"] * len(rows),
        merchant=_strs(k["merchant_id"])[rows].tolist(),
        order=order[rows].tolist(),
        consumer=_strs(k["consumer_id"])[rows].tolist(),
        case=[None] * len(rows),
        fault=[fault_of.get(o, False) for o in order[rows].tolist()],
        reason=[None] * len(rows),
        case_amount=[None] * len(rows),
    )


def _order_amounts(orders: Any, ids: list[str | None]) -> list[Decimal | None]:
    row = _lookup(pa.array(ids, pa.string()), orders, "order_id")
    found = orders["amount"].take(pa.array(np.maximum(row, 0))).to_pylist() if len(row) else []
    return [a if j >= 0 else None for a, j in zip(found, row.tolist(), strict=True)]


# ---------------------------------------------------------------- the desk's draws


@dataclass(frozen=True)
class _Draws:
    """Every random number the requests need, drawn at once (one row a request)."""

    route_s: Arr
    offline: Arr
    answers: Arr
    speed: Arr
    first_z: Arr
    callback: Arr
    contacts: Arr
    hard: Arr
    calls: Arr
    ask: Arr
    reply: Arr
    reply_z: Arr
    resolve_z: Arr
    liability: Arr
    amount: Arr
    withdraws: Arr
    reopen: Arr
    reopen_h: Arr
    again_z: Arr
    again_amount: Arr
    goodwill: Arr
    close_s: Arr
    survey: Arr
    survey_h: Arr
    survey_z: Arr
    comment: Arr

    @classmethod
    def of(cls, rng: np.random.Generator, n: int, calls: int) -> _Draws:
        def u() -> Arr:
            return rng.random(n)

        return cls(
            route_s=rng.integers(1, 30, n),
            offline=u(),
            answers=u(),
            speed=np.exp(SPEED_SIGMA * rng.standard_normal(n)),
            first_z=rng.standard_normal(n),
            callback=u(),
            contacts=u(),
            hard=u(),
            calls=rng.random((n, max(calls, 1))),
            ask=u(),
            reply=u(),
            reply_z=rng.standard_normal(n),
            resolve_z=rng.standard_normal(n),
            liability=u(),
            amount=u(),
            withdraws=u(),
            reopen=u(),
            reopen_h=rng.uniform(2, 120, n),
            again_z=rng.standard_normal(n),
            again_amount=u(),
            goodwill=u(),
            close_s=rng.integers(0, 600, n),
            survey=u(),
            survey_h=rng.uniform(0.5, 48, n),
            survey_z=rng.standard_normal(n),
            comment=u(),
        )


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _seconds(s: float) -> timedelta:
    return timedelta(seconds=max(1, round(s)))


def _yuan(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _letters(text: str, n: int) -> str:
    """``n`` letters (no digits) from a hash of ``text``: an opaque, stable token."""
    digest = hashlib.blake2b(text.encode(), digest_size=n).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest)


def contacts_of(consumer: str, n: int) -> tuple[Contact, ...]:
    """The consumer's ``n`` numbers: tokens (a hash of the consumer and the index, no digits)
    and masked forms (``138****5678``, 7 digits) stable for the consumer."""
    out = []
    for i in range(n):
        digest = hashlib.blake2b(f"{consumer}#{i}".encode(), digest_size=8).digest()
        prefix = PREFIXES[digest[0] % len(PREFIXES)]
        last = int.from_bytes(digest[1:4]) % 10_000
        out.append(
            Contact(
                token="tok:" + _letters(f"{consumer}#{i}", 12), masked=f"{prefix}****{last:04d}"
            )
        )
    return tuple(out)


def _call(u: float, probabilities: tuple[float, ...]) -> Outcome:
    acc = 0.0
    for outcome, p in zip(OUTCOMES, probabilities, strict=True):
        acc += p
        if u < acc:
            return outcome
    return OUTCOMES[-1]


class _World:
    """Builds one request's history from its draws."""

    def __init__(self, desk: DeskPolicy, end: datetime, archetype: dict[str, str]) -> None:
        self.desk, self.end, self.archetype = desk, end, archetype
        self.zone = ZoneInfo(desk.calendar.zone)
        self.cal = desk.calendar

    def _service(self, since: datetime, hours: float) -> datetime:
        """``hours`` of service time after ``since`` (past the end if the calendar never
        opens again)."""
        at = after(self.cal, since, timedelta(seconds=max(1, round(hours * 3600))))
        return at if at is not None else _FAR

    def history(
        self, k: int, r: _Raised, i: int, order_amount: Decimal | None, d: _Draws
    ) -> History | None:
        desk = self.desk
        request_id = f"SR-{k + 1:07d}"
        type_id = r.type_id[i]
        hours = desk.hours_for(type_id)
        created = _at(r.created[i])
        steps: list[Step] = []

        def add(at: datetime, actor: Actor, action: str, note: str | None = None) -> None:
            steps.append(Step(at=at, actor=actor, action=action, note=note))

        add(created, r.actor[i], "create")
        routed = created + timedelta(seconds=int(d.route_s[k]))
        local = routed.astimezone(self.zone).time()
        reachable = MERCHANT_OPENS <= local < MERCHANT_CLOSES and d.offline[k] >= OFFLINE
        conduct = CONDUCT.get(self.archetype.get(r.merchant[i], "good"), BAD)
        breached = False
        if reachable:
            add(routed, "system", "route_merchant")
            due = deadline(self.cal, routed, hours=hours)
            frac = conduct.speed * float(d.speed[k])
            answers = d.answers[k] < conduct.answers and frac <= 1.0
            if answers:
                platform_since = self._service(routed, hours * frac)
                add(platform_since, "merchant", "answer", "商家已回复，建议平台协调处理")
            elif due is not None:
                platform_since = due
                breached = True
                add(due, "system", "breach", "商家超时未处理")
            else:  # the calendar never opens again: it waits on the merchant for good
                return self._finish(request_id, r, i, steps, (), (), None)
        else:
            platform_since = routed
            add(routed, "system", "route_platform", "离线留言")

        # the platform's part
        first = self._service(platform_since, np.exp(np.log(40 / 60) + float(d.first_z[k])))
        add(first, "platform", "message", "您好，平台客服已收到您的问题，正在为您处理")
        callbacks: list[CallbackRecord] = []
        ready, reached = first, None
        consumer = r.consumer[i]
        if consumer is not None and d.callback[k] < CALLBACK_SHARE:
            record, ready, reached = self._callback(request_id, consumer, first, k, d)
            callbacks.append(record)
        ask_p = 0.2 if reached is not False else 0.6
        if d.ask[k] < ask_p:
            asked = self._service(ready, 5 / 60)
            add(asked, "platform", "ask_consumer", "请补充凭证（照片或聊天记录）")
            if d.reply[k] < (0.8 if reached is not False else 0.5):
                ready = asked + _seconds(3 * 3600 * float(np.exp(d.reply_z[k])))
                add(ready, "consumer", "consumer_reply", "已上传照片")
            else:
                ready = asked + NO_REPLY_AFTER
                add(ready, "system", "no_reply")
        resolved = self._service(ready, 2 * float(np.exp(1.1 * d.resolve_z[k])))
        resolution = self._resolution(r, i, order_amount, breached, resolved, k, d)
        add(resolved, "platform", "resolve", resolution.note)
        resolutions = [resolution]
        closes = resolved + CLOSE_AFTER + timedelta(seconds=int(d.close_s[k]))
        if d.reopen[k] < REOPEN:
            reopened = resolved + _seconds(float(d.reopen_h[k]) * 3600)
            if closes <= reopened:
                add(closes, "system", "close")
            add(reopened, "consumer", "reopen", "问题没有解决，申请重新处理")
            answer = self._service(reopened, 0.5 * float(np.exp(d.again_z[k])))
            add(answer, "platform", "message", "已为您重新核实")
            again_at = self._service(answer, 1.5 * float(np.exp(d.again_z[k])))
            again = self._again(resolution, order_amount, again_at, k, d)
            add(again_at, "platform", "resolve", again.note)
            resolutions.append(again)
            closes = again_at + CLOSE_AFTER + timedelta(seconds=int(d.close_s[k]))
        add(closes, "system", "close")
        survey = None
        if d.survey[k] < SURVEY:
            survey = self._survey(steps, resolutions, type_id, hours, k, d)
        return self._finish(request_id, r, i, steps, resolutions, callbacks, survey)

    def _finish(
        self,
        request_id: str,
        r: _Raised,
        i: int,
        steps: list[Step],
        resolutions: Any,
        callbacks: Any,
        survey: Survey | None,
    ) -> History | None:
        """The history as of the market's end: later steps, calls and answers dropped."""
        end = self.end
        trail = [s for s in steps if s.at <= end]
        if len(trail) < 2:
            return None
        decided = [x for x in resolutions if x.decided_at <= end]
        tasks = [
            c.model_copy(update={"attempts": tuple(a for a in c.attempts if a.at <= end)})
            for c in callbacks
            if c.opened <= end
        ]
        if survey is not None and (survey.answered_at > end or len(decided) < len(resolutions)):
            survey = None  # (the last resolution, or the survey itself, came after the end)
        return History(
            request_id=request_id,
            type_id=r.type_id[i],
            merchant_id=r.merchant[i],
            order_id=r.order[i],
            consumer_id=r.consumer[i],
            case_id=r.case[i],
            # a complaint filed in the market: the desk judges it rather than filing another
            complaint_id=r.source_id[i] if r.source[i] == COMPLAINT else None,
            trail=tuple(trail),
            resolutions=tuple(decided),
            callbacks=tuple(tasks),
            survey=survey,
        )

    def _callback(
        self, request_id: str, consumer: str, opened: datetime, k: int, d: _Draws
    ) -> tuple[CallbackRecord, datetime, bool | None]:
        """The callback task and its calls as :func:`plan` directs them; returns when it
        ended and whether the consumer was reached (None: still pending at the end)."""
        hard = d.hard[k] < HARD_TO_REACH
        if hard:
            count = 2 if d.contacts[k] < 0.7 else 3
        else:
            count = 1 if d.contacts[k] < 0.6 else 2 if d.contacts[k] < 0.9 else 3
        contacts = contacts_of(consumer, count)
        first_token = contacts[0].token
        task = CallbackTask(contacts=contacts, opened=opened)
        ended, reached = opened, None
        for j in range(d.calls.shape[1] + 1):
            nxt = plan(task, self.desk.callbacks)
            if nxt.status != "pending":
                reached = nxt.status == "reached"
                break
            assert nxt.call_at is not None and nxt.token is not None
            if nxt.call_at > self.end or j >= d.calls.shape[1]:
                ended = max(ended, nxt.call_at)
                break
            if not hard:
                odds = CALL_EASY
            else:
                odds = CALL_HARD_FIRST if nxt.token == first_token else CALL_HARD_OTHER
            outcome = _call(float(d.calls[k, j]), odds)
            attempt = Attempt(at=nxt.call_at, token=nxt.token, outcome=outcome)
            task = CallbackTask(
                contacts=contacts, opened=opened, attempts=(*task.attempts, attempt)
            )
            ended = nxt.call_at + timedelta(minutes=3)
        record = CallbackRecord(
            task_id=f"{request_id}-CB1", opened=opened, contacts=contacts, attempts=task.attempts
        )
        return record, ended, reached

    def _resolution(
        self,
        r: _Raised,
        i: int,
        order_amount: Decimal | None,
        breached: bool,
        at: datetime,
        k: int,
        d: _Draws,
    ) -> Resolution:
        type_id, reason = r.type_id[i], r.reason[i]
        u = float(d.liability[k])
        merchant = r.fault[i] or (breached and self.desk.breach_judged_for_consumer)
        cap = _cents(order_amount)
        if merchant:
            case_amount = _cents(r.case_amount[i])
            if r.case[i] is not None and min(case_amount, cap) > 0:
                cents = min(case_amount, cap)
                return Resolution(outcome="merchant_refunds", liability="merchant",
                                  decided_at=at, amount=_yuan(cents),
                                  note="商家责任，商家退款")  # fmt: skip
            cents = min(_compensation(float(d.amount[k]), 300, MAX_CENTS), cap)
            if cents > 0:
                return Resolution(outcome="compensation", liability="merchant", decided_at=at,
                                  amount=_yuan(cents), paid_by="merchant",
                                  note="商家责任，商家赔付")  # fmt: skip
            return Resolution(outcome="consumer_withdraws", liability="merchant", decided_at=at)
        shipping = type_id in ("delivery_problem", "courier_related", "shipping_chase")
        if (shipping and u < 0.45) or reason == "logistics":
            cents = min(_compensation(float(d.amount[k]), 300, 2000), cap)
            if cents > 0:
                return Resolution(outcome="compensation", liability="carrier", decided_at=at,
                                  amount=_yuan(cents), paid_by="carrier",
                                  note="快递责任，快递公司赔付")  # fmt: skip
        if reason == "no_reason_7d" and cap > 0:
            cents = min(_cents(r.case_amount[i]) or cap, cap)
            return Resolution(outcome="merchant_refunds", liability="none", decided_at=at,
                              amount=_yuan(cents), note="七天无理由退货")  # fmt: skip
        liability: Liability = "consumer" if u >= 0.75 else "none"
        if liability == "none" and d.withdraws[k] < 0.3:
            return Resolution(outcome="consumer_withdraws", liability="none", decided_at=at,
                              note="消费者撤回")  # fmt: skip
        return Resolution(outcome="no_fault", liability=liability, decided_at=at, note="经核实无责")

    def _again(
        self, first: Resolution, order_amount: Decimal | None, at: datetime, k: int, d: _Draws
    ) -> Resolution:
        """The resolution after a reopen."""
        cap = _cents(order_amount)
        kept = {**first.model_dump(), "decided_at": at, "note": "复核：维持原处理"}
        if first.liability == "merchant":
            kept["note"] = "复核：维持商家责任"
            if first.outcome == "compensation" and first.amount is not None:
                # the agent adds to what the merchant pays, within the usual bounds
                raised = int(_cents(first.amount) * (1 + 0.5 * float(d.again_amount[k])))
                kept["amount"] = _yuan(max(_cents(first.amount), min(raised, MAX_CENTS, cap)))
            return Resolution.model_validate(kept)
        if d.goodwill[k] < 0.5:
            cents = min(_compensation(float(d.again_amount[k]), 300, 2000), cap)
            if cents > 0:
                return Resolution(outcome="compensation", liability="platform", decided_at=at,
                                  amount=_yuan(cents), paid_by="platform",
                                  note="复核：平台补偿")  # fmt: skip
        return Resolution.model_validate(kept)

    def _survey(
        self,
        steps: list[Step],
        resolutions: list[Resolution],
        type_id: str,
        hours: float,
        k: int,
        d: _Draws,
    ) -> Survey:
        last = resolutions[-1]
        s = summarize(steps, self.cal, hours=hours, resolve_hours=self.desk.resolve_hours)
        paid = any(x.outcome in ("compensation", "merchant_refunds") for x in resolutions)
        quick = (last.decided_at - steps[0].at) <= timedelta(days=1)
        against = last.liability == "consumer"
        score = (
            3.9
            + 0.9 * float(d.survey_z[k])
            - 1.3 * bool(s.merchant_breached)
            - 0.8 * (s.resolved_in_time is False)
            - 1.2 * (s.reopens > 0)
            + 0.5 * paid
            + 0.3 * quick
            - 0.5 * against
        )
        stars = int(min(5, max(1, round(score))))
        comment = None
        if d.comment[k] < 0.35:
            texts = COMMENTS[stars]
            comment = texts[int(d.comment[k] / 0.35 * len(texts)) % len(texts)]
        answered = last.decided_at + timedelta(seconds=round(float(d.survey_h[k]) * 3600))
        return Survey(score=stars, comment=comment, answered_at=answered)


def _cents(amount: Decimal | None) -> int:
    return 0 if amount is None else int((amount * 100).to_integral_value())


def _compensation(u: float, low: int, high: int) -> int:
    """Cents, log-uniform between ``low`` and ``high``."""
    return round(float(np.exp(np.log(low) + u * (np.log(high) - np.log(low)))))
