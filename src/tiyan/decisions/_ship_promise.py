"""Ship promise (发货时效承诺, reference §2.1): is promising pickup within X hours of payment
credible for this merchant?

The evidence: the merchant's in-stock orders (not presale; valid orders of the policy's
population) paid in the ``window_days`` local days before ``as_of``, and their first carrier
scan (揽收) before the cutoff (local midnight starting ``as_of``). For a promise of h hours an
order is

* **met** when picked up within h hours of payment;
* **missed** when it was not, and h hours had passed before the cutoff (picked up late, or
  still not picked up: unshipped and overdue);
* **not counted** when cancelled before its pickup, or when h hours had not yet passed at
  the cutoff and it is not picked up (nobody knows yet).

The estimate of the share met is shrunk toward the category's share (every merchant of the
category, the same counting) by ``prior_strength`` pseudo-orders, and comes with an
equal-tailed Beta credible interval: with n orders, k met, category share c and strength m,
probability = (k + m·c) / (n + m), interval of Beta(k + m·c + ½, n − k + m·(1 − c) + ½)
(the Jeffreys interval when m = 0). See docs/decisions.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tiyan.decisions._beta import beta_ppf
from tiyan.decisions._log import (
    IdMaker,
    LogWriter,
    day_start_utc,
    local_day,
    merchant_category,
    new_decision_id,
    record,
)
from tiyan.decisions._types import Decision, Reason, ShipPromiseRequest, Verdict, naive_utc
from tiyan.policy.schema import Policy, ShipPromisePolicy
from tiyan.store.base import Store

#: Promise hours -> (orders met, orders counted).
Tally = Mapping[int, tuple[int, int]]


@dataclass(frozen=True)
class PickupRecord:
    """One order of the window: payment, first pickup before the cutoff, cancellation."""

    paid_at: datetime
    pickup_at: datetime | None
    cancelled_at: datetime | None = None


def tally_pickups(
    records: Iterable[PickupRecord], hours: Iterable[int], cutoff: datetime
) -> dict[int, tuple[int, int]]:
    """(met, counted) per promise of ``hours``, by the rules of the module docstring (pure)."""
    wanted = sorted(set(hours))
    met = dict.fromkeys(wanted, 0)
    counted = dict.fromkeys(wanted, 0)
    for r in records:
        pickup = r.pickup_at if r.pickup_at is not None and r.pickup_at < cutoff else None
        cancelled = r.cancelled_at is not None and r.cancelled_at < cutoff
        if cancelled and (pickup is None or r.cancelled_at < pickup):  # type: ignore[operator]
            continue
        for h in wanted:
            deadline = r.paid_at + timedelta(hours=h)
            if pickup is not None and pickup <= deadline:
                met[h] += 1
                counted[h] += 1
            elif deadline < cutoff:
                counted[h] += 1
    return {h: (met[h], counted[h]) for h in wanted}


def _estimate(met: int, n: int, share: float | None, strength: float) -> float | None:
    m = strength if share is not None else 0.0
    if n + m == 0:
        return None
    return (met + m * (share or 0.0)) / (n + m)


def _promise_kept(
    merchant: Tally, category: Tally, config: ShipPromisePolicy, *, shrink: bool
) -> int | None:
    """The smallest grid promise met by at least ``keep_share`` (on enough orders)."""
    for h in config.grid_hours:
        met, n = merchant[h]
        if n < config.min_orders:
            continue
        cmet, cn = category[h]
        share = cmet / cn if shrink and cn else None
        p = _estimate(met, n, share, config.prior_strength)
        if p is not None and p >= config.keep_share:
            return h
    return None


def evaluate_ship_promise(
    merchant: Tally, category: Tally, promise_hours: int, config: ShipPromisePolicy
) -> Verdict:
    """The verdict on ``promise_hours`` from the merchant's and the category's tallies, which
    hold ``promise_hours`` and every grid promise (pure)."""
    met, n = merchant[promise_hours]
    cmet, cn = category[promise_hours]
    cshare = cmet / cn if cn else None
    details: dict[str, Any] = {
        "promise_hours": promise_hours,
        "orders": n,
        "met": met,
        "observed_share": met / n if n else None,
        "threshold": config.threshold,
        "category": {
            "orders": cn,
            "met": cmet,
            "probability": cshare,
            "promise_95": _promise_kept(category, category, config, shrink=False),
        },
    }
    if n < config.min_orders:
        figure = "no category figure" if cshare is None else f"the category meets {cshare:.1%}"
        return Verdict(
            "insufficient_data",
            (
                Reason(
                    "too_few_orders",
                    f"{n} orders to judge a {promise_hours} h promise, fewer than "
                    f"{config.min_orders}; {figure}",
                ),
            ),
            {**details, "probability": None, "interval": None, "credible": None,
             "promise_95": None},
        )  # fmt: skip
    m = config.prior_strength if cshare is not None else 0.0
    c = cshare or 0.0
    probability = (met + m * c) / (n + m)
    a, b = met + m * c + 0.5, n - met + m * (1 - c) + 0.5
    tail = (1 - config.interval_level) / 2
    interval = [round(beta_ppf(tail, a, b), 6), round(beta_ppf(1 - tail, a, b), 6)]
    credible = probability >= config.threshold
    kept = _promise_kept(merchant, category, config, shrink=True)
    share = f"{probability:.1%} of orders estimated to meet {promise_hours} h"
    if credible:
        reasons = [Reason("promise_met", f"{share}, at least {config.threshold:.0%}")]
    else:
        reasons = [Reason("promise_below_threshold", f"{share}, below {config.threshold:.0%}")]
    if kept is None:
        reasons.append(
            Reason(
                "no_promise_kept",
                f"no promise up to {config.grid_hours[-1]} h is met by "
                f"{config.keep_share:.0%} of orders",
            )
        )
    outcome = "credible" if credible else "not_credible"
    return Verdict(
        outcome,
        tuple(reasons),
        {**details, "probability": probability, "interval": interval, "credible": credible,
         "promise_95": kept, "prior_strength": m},
    )  # fmt: skip


# -- loading ----------------------------------------------------------------------------------

_WINDOW_SQL = """
SELECT o.paid_at, o.cancelled_at,
       (SELECT min(s.pickup_at) FROM shipments s
        WHERE s.order_id = o.order_id AND s.pickup_at < ?) AS pickup_at
FROM orders o {join}
WHERE {scope} AND o.paid_at >= ? AND o.paid_at < ?
  AND NOT coalesce(o.presale, FALSE) AND o.amount >= ? {gifts}
"""


def _window(policy: Policy, *, category: bool) -> str:
    gifts = "AND NOT coalesce(o.is_gift, FALSE)" if policy.population.exclude_gifts else ""
    if category:
        join, scope = "JOIN merchants m ON m.merchant_id = o.merchant_id", "m.category = ?"
    else:
        join, scope = "", "o.merchant_id = ?"
    return _WINDOW_SQL.format(join=join, scope=scope, gifts=gifts)


def category_tally_sql(policy: Policy, hours: Sequence[int]) -> str:
    """One aggregate over the category's window: (met, counted) per promise, in SQL that
    DuckDB and PostgreSQL both run (the same rules as :func:`tally_pickups`)."""
    columns = []
    for h in hours:
        on_time = f"(pickup_at IS NOT NULL AND pickup_at <= paid_at + INTERVAL '{int(h)} hours')"
        columns.append(f"count(*) FILTER (WHERE {on_time})")
        columns.append(
            f"count(*) FILTER (WHERE {on_time} OR paid_at + INTERVAL '{int(h)} hours' < cutoff)"
        )
    return (
        f"SELECT {', '.join(columns)} FROM (SELECT w.*, CAST(? AS TIMESTAMP) AS cutoff "
        f"FROM ({_window(policy, category=True)}) w) x "
        "WHERE NOT (cancelled_at IS NOT NULL AND cancelled_at < cutoff "
        "AND (pickup_at IS NULL OR cancelled_at < pickup_at))"
    )


#: Category tallies of windows wholly in the past, by store, category, window and promises:
#: every request of a day asks about the same few (a bounded LRU).
_BASELINES: OrderedDict[tuple[Any, ...], dict[int, tuple[int, int]]] = OrderedDict()
_BASELINES_MAX = 256


def clear_category_baselines() -> None:
    """Forget the cached category tallies (after a reload of past data)."""
    _BASELINES.clear()


def category_tally(
    store: Store, category: str | None, policy: Policy, hours: Sequence[int],
    *, start: datetime, cutoff: datetime, now: datetime,
) -> dict[int, tuple[int, int]]:  # fmt: skip
    """(met, counted) per promise over every order of the category in the window."""
    if category is None:
        return dict.fromkeys(hours, (0, 0))
    key = (store.url, store.schema, category, start, cutoff, tuple(hours),
           policy.population.min_amount, policy.population.exclude_gifts)  # fmt: skip
    if key in _BASELINES:
        _BASELINES.move_to_end(key)
        return _BASELINES[key]
    params = (cutoff, cutoff, category, start, cutoff, Decimal(str(policy.population.min_amount)))
    (row,) = store.query(category_tally_sql(policy, hours), params)
    tally = {h: (int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, h in enumerate(hours)}
    if cutoff <= naive_utc(now):  # a window still open may yet change
        _BASELINES[key] = tally
        while len(_BASELINES) > _BASELINES_MAX:
            _BASELINES.popitem(last=False)
    return tally


def merchant_records(
    store: Store, merchant_id: str, policy: Policy, *, start: datetime, cutoff: datetime
) -> list[PickupRecord]:
    """The merchant's orders of the window, with their first pickup before the cutoff."""
    params = (cutoff, merchant_id, start, cutoff, Decimal(str(policy.population.min_amount)))
    return [
        PickupRecord(paid_at, pickup_at, cancelled_at)
        for paid_at, cancelled_at, pickup_at in store.query(_window(policy, category=False), params)
    ]


def window_of(as_of: date, policy: Policy) -> tuple[datetime, datetime]:
    """(start, cutoff) in naive UTC: the ``window_days`` local days before ``as_of``."""
    days = policy.decisions.ship_promise.window_days
    return day_start_utc(as_of - timedelta(days=days), policy), day_start_utc(as_of, policy)


def decide_ship_promise(
    store: Store,
    request: ShipPromiseRequest,
    *,
    policy: Policy,
    now: datetime,
    requested_by: str | None,
    new_id: IdMaker = new_decision_id,
    log: LogWriter | None = None,
) -> Decision:
    """Decide whether ``request.promise_hours`` is credible: tally the merchant's window and
    its category's, decide, record. Raises :class:`~tiyan.domain.errors.NotFoundError` for an
    unknown merchant."""
    config = policy.decisions.ship_promise
    category = merchant_category(store, request.merchant_id)
    as_of = request.as_of or local_day(now, policy)
    start, cutoff = window_of(as_of, policy)
    hours = sorted({*config.grid_hours, request.promise_hours})
    records = merchant_records(store, request.merchant_id, policy, start=start, cutoff=cutoff)
    mine = tally_pickups(records, hours, cutoff)
    theirs = category_tally(store, category, policy, hours, start=start, cutoff=cutoff, now=now)
    verdict = evaluate_ship_promise(mine, theirs, request.promise_hours, config)
    details = {**verdict.details, "as_of": as_of, "window": {"start": start, "end": cutoff}}
    details["category"] = {"category": category, **details["category"]}
    verdict = Verdict(verdict.outcome, verdict.reasons, details)
    inputs = {
        "request": request.model_dump(mode="json"),
        "facts": {"merchant": {str(h): list(v) for h, v in mine.items()},
                  "category": {str(h): list(v) for h, v in theirs.items()}},
        "result": details,
    }  # fmt: skip
    return record(
        store, kind="ship_promise", subject=request.merchant_id,
        merchant_id=request.merchant_id, verdict=verdict, inputs=inputs, policy=policy, now=now,
        requested_by=requested_by, new_id=new_id, log=log,
    )  # fmt: skip
