"""Consequences of violations: consumer compensation, violation points, the penalty ladder.

The policy's ``consequences`` section says what each violation costs; :func:`consequences`
turns recorded violations into ``actions`` rows — the append-only ledger — and nothing else:
an action already recorded is never recomputed, so a violation detected late can only add
what is left under a cap, never change what was awarded before.

* **Compensation** (one coupon per order per rule, paid from the merchant's funds): the
  bracket of the order's paid amount gives a fixed amount or a rate of the paid amount
  within [min, max] (ship timeout: ≤ ¥3 none, ¥3–300 → ¥3, ≥ ¥300 → 1% capped at ¥30;
  fake shipment: 30%, at least ¥10, at most ¥100; reference §2.2, §2.3).
* **Points** in two ledgers, A (general) and B (serious): each violation's points, capped
  per rule per local day and per week (Monday to Sunday); points count for the calendar
  year of the violation's day and reset with it (reference §3.1).
* **Penalty ladder**: a ledger's yearly total crossing a node triggers its measures (A:
  every 12 points; B: 4 and 8 points, clearance at 12). Each node is recorded once per
  merchant, ledger and year; the strictest measure in force is the merchant's status.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tiyan.policy.rules import RuleId

Measure = Literal["warning", "deposit_deduction", "suspension", "rules_exam", "clearance"]
#: From mildest to strictest: "the strictest measure applies" (reference §3.1).
MEASURE_ORDER: tuple[str, ...] = (
    "warning",
    "rules_exam",
    "deposit_deduction",
    "suspension",
    "clearance",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bracket(_Strict):
    """Paid amounts from ``min_paid`` (inclusive) up to the next bracket's: a ``fixed``
    amount, or ``rate`` × paid within [``min``, ``max``]."""

    min_paid: float = Field(ge=0)
    fixed: float | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0, le=10)
    min: float = Field(default=0, ge=0)
    max: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _fixed_or_rate(self) -> Bracket:
        if (self.fixed is None) == (self.rate is None):
            raise ValueError("a bracket has either fixed or rate")
        return self

    def amount(self, paid: Decimal) -> Decimal:
        if self.fixed is not None:
            return _money(Decimal(str(self.fixed)))
        value = paid * Decimal(str(self.rate or 0))
        value = max(value, Decimal(str(self.min)))
        if self.max is not None:
            value = min(value, Decimal(str(self.max)))
        return _money(value)


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Compensation(_Strict):
    brackets: list[Bracket] = Field(min_length=1)

    @field_validator("brackets")
    @classmethod
    def _ordered(cls, value: list[Bracket]) -> list[Bracket]:
        lows = [b.min_paid for b in value]
        if lows != sorted(set(lows)):
            raise ValueError("brackets must be in increasing min_paid order, without repeats")
        return value

    def amount(self, paid: Decimal) -> Decimal:
        """The coupon for an order paid ``paid`` (0 below the first bracket)."""
        chosen = None
        for b in self.brackets:
            if paid >= Decimal(str(b.min_paid)):
                chosen = b
        return chosen.amount(paid) if chosen is not None else Decimal("0.00")


class Points(_Strict):
    """Points per violation of a rule, capped per local day and per week.

    For a rate-type rule (``RATE_METRIC``), ``min_rate`` and ``min_count`` gate the points: a
    violation earns points only when the merchant's own rate of the rule's metric over the
    ``rate_window_days`` before the run reaches ``min_rate`` *and* its count reaches
    ``min_count`` — a breach needs rate and count both, so a large merchant at an ordinary
    rate accrues nothing and a small one at the same rate is treated the same way. Below the
    gate the violation is recorded with 0 points (and its consumer is still compensated)."""

    each: float = Field(gt=0)
    daily_cap: float | None = Field(default=None, gt=0)
    weekly_cap: float | None = Field(default=None, gt=0)
    min_rate: float | None = Field(default=None, ge=0, le=1)
    min_count: int | None = Field(default=None, ge=1)
    rate_window_days: int = Field(default=30, ge=1, le=366)

    @property
    def gated(self) -> bool:
        return self.min_rate is not None or self.min_count is not None


#: Rate-type rules and the catalog metric whose rate gates their points.
RATE_METRIC = {
    "ship_timeout": "ship_timeout_rate",
    "presale_overrun": "presale_timeout_rate",
    "after_sales_timeout": "after_sales_timeout_rate",
    "service_request_timeout": "desk_merchant_breach_rate",
    # a false promise is lateness against the promise: gated on the late rate
    "false_promise": "ship_timeout_rate",
}


class Node(_Strict):
    """A ladder step: when a ledger's yearly total reaches ``points``."""

    points: float = Field(gt=0)
    measures: list[Measure] = Field(min_length=1)
    #: Days of suspension, when ``suspension`` is among the measures.
    suspension_days: int = Field(default=7, ge=1)


class Ladder(_Strict):
    #: A: a node every ``every`` points (12, 24, ...); B: the listed nodes.
    a_every: Node = Node(points=12, measures=["deposit_deduction", "suspension", "rules_exam"])
    b_nodes: list[Node] = [
        Node(points=4, measures=["deposit_deduction", "suspension", "rules_exam"]),
        Node(points=8, measures=["deposit_deduction", "suspension", "rules_exam"]),
        Node(points=12, measures=["clearance"]),
    ]


class Promotion(_Strict):
    """A promotion period (local days, inclusive) during which violations of ``rules``
    weigh ``weight`` times their points (a refusal to ship hurts most when consumers
    buy most)."""

    name: str
    start: date
    end: date
    weight: float = Field(default=2.0, ge=1)
    rules: list[RuleId] = ["malicious_non_shipment"]

    @model_validator(mode="after")
    def _ordered(self) -> Promotion:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Consequences(_Strict):
    """What violations cost (module docstring). Rule ids are those of ``rules``."""

    compensation: dict[RuleId, Compensation] = {}
    points: dict[RuleId, Points] = {}
    ladder: Ladder = Ladder()
    promotions: list[Promotion] = []

    def weight(self, rule_id: str, day: date) -> Decimal:
        """The promotion weight of a violation of ``rule_id`` on ``day`` (1 outside)."""
        found = [
            p.weight for p in self.promotions if rule_id in p.rules and p.start <= day <= p.end
        ]
        return Decimal(str(max(found))) if found else Decimal(1)


@dataclass(frozen=True)
class Violation:
    violation_id: str
    rule_id: str
    ledger: str
    merchant_id: str
    order_id: str | None
    day: date
    amount: Decimal | None


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _action_row(
    action_id: str, kind: str, v: Violation | None, *, as_of: date, policy_version: str,
    **fields: Any,
) -> dict[str, Any]:  # fmt: skip
    """One ``actions`` row (as a dict); ``fields`` not named columns go to ``detail``."""
    return {
        "action_id": action_id,
        "kind": kind,
        "merchant_id": fields.pop("merchant_id", v.merchant_id if v else None),
        "violation_id": v.violation_id if v else None,
        "rule_id": v.rule_id if v else None,
        "ledger": fields.pop("ledger", v.ledger if v else None),
        "points": fields.pop("points", None),
        "amount": fields.pop("amount", None),
        "measure": fields.pop("measure", None),
        "day": fields.pop("day", v.day if v else as_of),
        "as_of": as_of,
        "policy_version": policy_version,
        "detail": json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str),
    }


def action_row(
    action_id: str, kind: str, *, as_of: date, policy_version: str, **fields: Any
) -> dict[str, Any]:
    """One ``actions`` row answering no violation (e.g. a compensation the service desk
    mediated); ``fields`` not named columns go to ``detail``. Pure."""
    return _action_row(action_id, kind, None, as_of=as_of, policy_version=policy_version, **fields)


def compensation_rows(
    violations: Iterable[Violation],
    recorded: Mapping[str, Any],
    config: Consequences,
    *,
    as_of: date,
    policy_version: str,
) -> list[dict[str, Any]]:
    """New compensation rows: one coupon per order per rule, by the bracket of the order's
    paid amount; none already ``recorded`` (action ids). Pure."""
    compensation: dict[str, Compensation] = {str(k): c for k, c in config.compensation.items()}
    new = []
    for v in sorted(violations, key=lambda v: (v.day, v.violation_id)):
        comp = compensation.get(v.rule_id)
        if comp is None or v.order_id is None or v.amount is None:
            continue
        coupon = comp.amount(v.amount)
        action_id = f"compensation:{v.violation_id}"
        if coupon > 0 and action_id not in recorded:
            new.append(
                _action_row(action_id, "compensation", v, as_of=as_of,
                            policy_version=policy_version, amount=coupon,
                            order_id=v.order_id, paid=str(v.amount))
            )  # fmt: skip
    return new


def points_rows(
    violations: Iterable[Violation],
    recorded: Mapping[str, Mapping[str, Any]],
    config: Consequences,
    *,
    as_of: date,
    policy_version: str,
    rates: Mapping[tuple[str, str], tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """New points rows: each violation's points under the rule's caps per local day and
    week, counting what ``recorded`` points already used; a rate-type rule's points gated by
    the merchant's own rate (``rates``: (merchant, rule) -> (numerator, denominator)); a
    gated violation without a rate is left undecided (no row yet). Pure."""
    points: dict[str, Points] = {str(k): p for k, p in config.points.items()}
    new: list[dict[str, Any]] = []

    def action(action_id: str, v: Violation, **fields: Any) -> None:
        new.append(_action_row(action_id, "points", v, as_of=as_of,
                               policy_version=policy_version, **fields))  # fmt: skip

    day_used: dict[tuple[str, str, date], Decimal] = defaultdict(Decimal)
    week_used: dict[tuple[str, str, date], Decimal] = defaultdict(Decimal)
    for row in recorded.values():
        if row["kind"] == "points":
            pts = Decimal(str(row["points"]))
            day_used[(row["merchant_id"], row["rule_id"], row["day"])] += pts
            week_used[(row["merchant_id"], row["rule_id"], _week(row["day"]))] += pts
    for v in sorted(violations, key=lambda v: (v.day, v.violation_id)):
        rule = points.get(v.rule_id)
        if rule is None or f"points:{v.violation_id}" in recorded:
            continue
        dk, wk = (v.merchant_id, v.rule_id, v.day), (v.merchant_id, v.rule_id, _week(v.day))
        weight = config.weight(v.rule_id, v.day)
        pts = Decimal(str(rule.each)) * weight
        gate: dict[str, Any] = {}
        if rule.gated and v.rule_id in RATE_METRIC:
            rate = (rates or {}).get((v.merchant_id, v.rule_id))
            if rate is None or rate[1] <= 0:
                continue  # no measured rate yet: undecided, never punished without it
            num, den = rate
            below = (rule.min_rate is not None and num / den < rule.min_rate) or (
                rule.min_count is not None and num < rule.min_count
            )
            gate = {"rate": round(num / den, 4), "count": int(num), "orders": int(den),
                    "min_rate": rule.min_rate, "min_count": rule.min_count,
                    "rate_window_days": rule.rate_window_days}  # fmt: skip
            if below:
                action(f"points:{v.violation_id}", v, points=0.0, below_rate_gate=True, **gate)
                continue
        if rule.daily_cap is not None:
            pts = min(pts, max(Decimal(0), Decimal(str(rule.daily_cap)) - day_used[dk]))
        if rule.weekly_cap is not None:
            pts = min(pts, max(Decimal(0), Decimal(str(rule.weekly_cap)) - week_used[wk]))
        day_used[dk] += pts
        week_used[wk] += pts
        action(f"points:{v.violation_id}", v, points=float(pts),
               capped=pts < Decimal(str(rule.each)) * weight, **gate,
               **({"promotion_weight": float(weight)} if weight != 1 else {}))  # fmt: skip
    return new


def ladder_rows(
    new_points: Iterable[Mapping[str, Any]],
    recorded: Mapping[str, Mapping[str, Any]],
    config: Consequences,
    *,
    as_of: date,
    policy_version: str,
    prior_totals: Mapping[tuple[str, str, int], Decimal] | None = None,
) -> list[dict[str, Any]]:
    """New penalty rows: the ladder nodes each merchant's yearly total per ledger reaches,
    over the points already recorded (``prior_totals``: (merchant, ledger, year) -> points,
    or summed from ``recorded`` without it) and ``new_points``. Each node is recorded once
    per merchant, ledger and year; a node lifted on appeal and reached again is recorded
    again, as #2, #3... Pure."""
    totals: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal, prior_totals or {})
    earlier = recorded.values() if prior_totals is None else ()
    for row in [*earlier, *new_points]:
        # appeals' reversals take points back (negative points)
        if row["kind"] in ("points", "reversal") and row["points"]:
            totals[(row["merchant_id"], row["ledger"], row["day"].year)] += Decimal(
                str(row["points"])
            )
    new = []
    for (merchant_id, ledger, year), total in sorted(totals.items()):
        for node in ladder_nodes(config.ladder, ledger, total):
            for measure in node.measures:
                extra = {"suspension_days": node.suspension_days} if measure == "suspension" else {}
                base = penalty_id = (
                    f"penalty:{merchant_id}:{ledger}:{year}:{node.points:g}:{measure}"
                )
                generation = 1
                while penalty_id in recorded and f"reversal:{penalty_id}" in recorded:
                    generation += 1
                    penalty_id = f"{base}#{generation}"
                if penalty_id in recorded:
                    continue
                new.append(
                    _action_row(
                        penalty_id, "penalty", None, as_of=as_of,
                        policy_version=policy_version, merchant_id=merchant_id,
                        ledger=ledger, measure=measure, day=as_of, node_points=node.points,
                        year_total=float(total), **extra,
                    )
                )  # fmt: skip
    return new


def consequences(
    violations: Iterable[Violation],
    recorded: Mapping[str, dict[str, Any]],
    config: Consequences,
    *,
    as_of: date,
    policy_version: str,
    prior_totals: Mapping[tuple[str, str, int], Decimal] | None = None,
    rates: Mapping[tuple[str, str], tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """New ``actions`` rows for ``violations`` given the actions already ``recorded`` (action
    id -> row with ``kind``, ``merchant_id``, ``rule_id``, ``ledger``, ``points``,
    ``day``): :func:`compensation_rows`, :func:`points_rows`, then :func:`ladder_rows`.
    ``prior_totals`` — (merchant, ledger, year) -> points already recorded — lets a
    caller pass only the recent part of a long ledger; without it the totals come from
    ``recorded``. ``rates`` — (merchant, rule) -> (numerator, denominator) of the rule's
    metric over its ``rate_window_days`` — gates the points of rate-type rules. Pure: same
    inputs, same rows, whatever their order."""
    violations = list(violations)
    v = policy_version
    coupons = compensation_rows(violations, recorded, config, as_of=as_of, policy_version=v)
    points = points_rows(violations, recorded, config, as_of=as_of, policy_version=v, rates=rates)
    penalties = ladder_rows(
        points, recorded, config, as_of=as_of, policy_version=v, prior_totals=prior_totals
    )
    return [*coupons, *points, *penalties]


def ladder_nodes(ladder: Ladder, ledger: str, total: Decimal) -> list[Node]:
    """The ladder nodes a yearly total has reached."""
    if ledger == "A":
        step = Decimal(str(ladder.a_every.points))
        reached = int(total // step)
        return [
            ladder.a_every.model_copy(update={"points": float(step * k)})
            for k in range(1, reached + 1)
        ]
    return [n for n in ladder.b_nodes if total >= Decimal(str(n.points))]


def strictest(measures: Iterable[str]) -> str | None:
    """The strictest of ``measures`` (the one in force when several apply)."""
    ranked = [m for m in measures if m in MEASURE_ORDER]
    return max(ranked, key=MEASURE_ORDER.index) if ranked else None
