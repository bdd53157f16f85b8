"""Express refund (极速退款 / 极速退, reference §2.6): may this refund be paid now?

* **refund_now** — not yet shipped, asked within ``max_hours_after_payment`` of payment
  (6 h), paid amount (实付) below ``max_amount`` (¥300): refunded at once, from the
  merchant's funds.
* **platform_advance** — shipped, a 退货退款 for 7天无理由 with a verified return tracking
  number, a consumer risk tier that is allowed, paid amount within that tier's limit: the
  platform advances the refund (垫资) and settles with the merchant later.
* **merchant_review** — otherwise: the merchant decides, and the refund is auto-approved at
  ``auto_approve_at`` (requested + 48 h) if it does not.
* **rejected** — nothing to refund: the order is cancelled or already fully refunded, the
  amount is above what is left of the payment, or the request predates the payment.

A return tracking number is *verified* when the carrier has scanned it (a
``tracking_events`` row at or before the request) and it is not one of the order's own
outbound numbers (sending the outbound number back as a "return" is fraud).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tiyan.decisions._log import IdMaker, LogWriter, local_day, new_decision_id, record
from tiyan.decisions._types import Decision, ExpressRefundRequest, Reason, Verdict, naive_utc
from tiyan.domain.errors import NotFoundError
from tiyan.policy.schema import ExpressRefundPolicy, Policy
from tiyan.store.base import Store


@dataclass(frozen=True)
class RefundFacts:
    """What the decision looks at, loaded from the store."""

    order_id: str
    merchant_id: str
    paid: Decimal
    paid_at: datetime
    cancelled_at: datetime | None
    #: First tracking upload or pickup of the order at or before the request (None: unshipped).
    shipped_at: datetime | None
    #: Refunds already paid on the order (other cases than this one).
    refunded: Decimal
    risk_tier: str | None
    #: The return tracking number examined (the request's, else the case's).
    return_tracking_no: str | None
    #: Carrier scans of that number at or before the request.
    return_scans: int
    #: The number is one of the order's own outbound tracking numbers.
    return_is_outbound: bool
    #: The merchant holds the express_refund privilege (checked only when required).
    merchant_has_privilege: bool


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def evaluate_express_refund(
    facts: RefundFacts, request: ExpressRefundRequest, config: ExpressRefundPolicy,
    *, requested_at: datetime,
) -> Verdict:  # fmt: skip
    """The decision for ``request`` on ``facts`` (pure)."""
    review_until = requested_at + timedelta(hours=config.review_hours)
    base: dict[str, Any] = {"paid": facts.paid, "refunded_before": facts.refunded}

    def rejected(code: str, message: str) -> Verdict:
        return Verdict("rejected", (Reason(code, message),), base)

    if requested_at < facts.paid_at:
        return rejected("requested_before_payment", "the request predates the payment")
    if facts.cancelled_at is not None and facts.cancelled_at <= requested_at:
        return rejected("order_cancelled", "the order was cancelled")
    left = facts.paid - facts.refunded
    if left <= 0:
        return rejected("already_refunded", "the order is already fully refunded")
    if request.amount > left:
        return rejected(
            "amount_exceeds_paid",
            f"¥{request.amount} asked, but only ¥{left} of the ¥{facts.paid} paid is left",
        )

    why: list[Reason] = []
    if config.require_privilege and not facts.merchant_has_privilege:
        why.append(
            Reason(
                "merchant_lacks_express_refund",
                "the merchant does not hold the express_refund privilege",
            )
        )
    if request.type == "exchange":
        why.append(Reason("exchange_not_refund", "an exchange is not refunded"))
    elif facts.shipped_at is None:
        why.extend(_unshipped(facts, config, requested_at))
        if not why:
            return Verdict(
                "refund_now",
                (
                    Reason(
                        "unshipped_express", "not shipped, asked soon after payment, small amount"
                    ),
                ),
                {**base, "paid_by": "merchant"},
            )
    else:
        limit, shipped_why = _shipped(facts, request, config)
        why.extend(shipped_why)
        if not why:
            return Verdict(
                "platform_advance",
                (
                    Reason(
                        "shipped_return_express",
                        "no-reason return with a verified return parcel, within the tier limit",
                    ),
                ),
                {**base, "paid_by": "platform", "tier_limit": limit, "settle_with": "merchant"},
            )
    return Verdict(
        "merchant_review",
        tuple(why),
        {**base, "auto_approve_at": review_until, "review_hours": config.review_hours},
    )


def _unshipped(
    facts: RefundFacts, config: ExpressRefundPolicy, requested_at: datetime
) -> list[Reason]:
    rule = config.unshipped
    why = []
    hours = (requested_at - facts.paid_at).total_seconds() / 3600
    if hours > rule.max_hours_after_payment:
        why.append(
            Reason(
                "express_window_passed",
                f"asked {hours:.2f} h after payment, more than {rule.max_hours_after_payment:g} h",
            )
        )
    if facts.paid >= _money(rule.max_amount):
        why.append(
            Reason(
                "amount_over_express_limit",
                f"paid ¥{facts.paid}, not below ¥{_money(rule.max_amount)}",
            )
        )
    return why


def _shipped(
    facts: RefundFacts, request: ExpressRefundRequest, config: ExpressRefundPolicy
) -> tuple[Decimal | None, list[Reason]]:
    rule = config.shipped
    why = []
    if request.type not in rule.types:
        why.append(Reason("type_not_express", f"{request.type} is not {' or '.join(rule.types)}"))
    if request.reason not in rule.reasons:
        why.append(
            Reason(
                "reason_not_express",
                f"reason {request.reason} is not {' or '.join(rule.reasons)}",
            )
        )
    if facts.return_tracking_no is None:
        why.append(Reason("return_tracking_missing", "no return tracking number"))
    elif facts.return_is_outbound:
        why.append(
            Reason(
                "return_tracking_reused",
                f"{facts.return_tracking_no} is the order's own outbound tracking number",
            )
        )
    elif facts.return_scans == 0:
        why.append(
            Reason(
                "return_tracking_unverified",
                f"no carrier scan of {facts.return_tracking_no} by the time of the request",
            )
        )
    limit: Decimal | None = None
    tier = facts.risk_tier
    if tier is None:
        why.append(Reason("risk_tier_unknown", "the consumer's risk tier is not known"))
    elif tier not in rule.tier_limits:
        why.append(Reason("risk_tier_not_allowed", f"risk tier {tier} is not advanced"))
    else:
        limit = _money(rule.tier_limits[tier])
        if facts.paid > limit:
            why.append(
                Reason(
                    "amount_over_tier_limit",
                    f"paid ¥{facts.paid}, above the ¥{limit} limit of tier {tier}",
                )
            )
    return limit, why


def load_refund_facts(
    store: Store, request: ExpressRefundRequest, *, requested_at: datetime,
    privilege_day: date | None,
) -> RefundFacts:  # fmt: skip
    """The facts of ``request`` (a few lookups by order id); :class:`NotFoundError` for an
    unknown order. The merchant's privilege is looked up as of ``privilege_day`` (local),
    only when given."""
    # One statement for the lookups by order id (each by an indexed key): on the request
    # path the per-statement overhead, not the reading, is the cost. Rows by kind: o the
    # order, s the shipments, a and t the after-sales cases, n the scans of the number.
    number = request.return_tracking_no
    parts = [
        "SELECT 'o' AS k, merchant_id AS a, CAST(amount AS VARCHAR) AS b, paid_at AS t1, "
        "cancelled_at AS t2, consumer_id AS c FROM orders WHERE order_id = ?",
        "SELECT 's', tracking_no, NULL, shipped_at, pickup_at, NULL FROM shipments "
        "WHERE order_id = ?",
        "SELECT 'a', case_id, CAST(amount AS VARCHAR), NULL, NULL, resolution "
        "FROM after_sales WHERE order_id = ?",
        "SELECT 't', case_id, return_tracking_no, NULL, NULL, NULL FROM after_sales "
        "WHERE order_id = ?",
    ]
    params: list[Any] = [request.order_id] * len(parts)
    if number is not None:
        parts.append(
            "SELECT 'n', CAST(count(*) AS VARCHAR), NULL, NULL, NULL, NULL FROM tracking_events "
            "WHERE tracking_no = ? AND event_at <= ?"
        )
        params += [number, requested_at]
    rows = store.query(" UNION ALL ".join(parts), params)
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for kind, *values in rows:
        by_kind.setdefault(kind, []).append(tuple(values))
    if "o" not in by_kind:
        raise NotFoundError("order", request.order_id)
    merchant_id, paid, paid_at, cancelled_at, consumer_id = by_kind["o"][0]
    tier = None
    if consumer_id is not None:  # by its own key (a subquery for it would scan consumers)
        found = store.query("SELECT risk_tier FROM consumers WHERE consumer_id = ?", (consumer_id,))
        tier = found[0][0] if found else None
    outbound = [(n, shipped, picked) for n, _, shipped, picked, _ in by_kind.get("s", [])]
    times = [t for _, s, p in outbound for t in (s, p) if t is not None and t <= requested_at]
    returns = {cid: n for cid, n, *_ in by_kind.get("t", [])}
    cases = [
        (cid, amount, res, returns.get(cid)) for cid, amount, _, _, res in by_kind.get("a", [])
    ]
    refunded = sum(
        (Decimal(a) for cid, a, res, _ in cases if res == "refunded" and a is not None
         and cid != request.case_id),
        Decimal(0),
    )  # fmt: skip
    scans = int(by_kind["n"][0][0]) if "n" in by_kind else 0
    if number is None and request.case_id is not None:
        number = next((n for cid, _, _, n in cases if cid == request.case_id), None)
        if number is not None:
            scans = int(
                store.query(
                    "SELECT count(*) FROM tracking_events WHERE tracking_no = ? AND event_at <= ?",
                    (number, requested_at),
                )[0][0]
            )
    held = False
    if privilege_day is not None:
        last = store.query(
            "SELECT kind FROM actions WHERE merchant_id = ? AND measure = 'express_refund' "
            "AND kind IN ('privilege_grant', 'privilege_revoke') AND day <= ? "
            "ORDER BY day DESC, action_id DESC LIMIT 1",
            (merchant_id, privilege_day),
        )
        held = bool(last) and last[0][0] == "privilege_grant"
    return RefundFacts(
        order_id=request.order_id,
        merchant_id=str(merchant_id),
        paid=Decimal(paid),
        paid_at=paid_at,
        cancelled_at=cancelled_at,
        shipped_at=min(times) if times else None,
        refunded=refunded,
        risk_tier=tier,
        return_tracking_no=number,
        return_scans=scans,
        return_is_outbound=number is not None and any(n == number for n, _, _ in outbound),
        merchant_has_privilege=held,
    )


def decide_express_refund(
    store: Store,
    request: ExpressRefundRequest,
    *,
    policy: Policy,
    now: datetime,
    requested_by: str | None,
    new_id: IdMaker = new_decision_id,
    log: LogWriter | None = None,
) -> Decision:
    """Decide an express refund: load the order's facts, decide, record the decision.

    ``now`` (naive UTC, or aware) is the decision time and the default request time.
    Raises :class:`~tiyan.domain.errors.NotFoundError` for an unknown order.
    """
    config = policy.decisions.express_refund
    requested_at = request.requested_at or naive_utc(now)
    facts = load_refund_facts(
        store,
        request,
        requested_at=requested_at,
        privilege_day=local_day(requested_at, policy) if config.require_privilege else None,
    )
    verdict = evaluate_express_refund(facts, request, config, requested_at=requested_at)
    inputs = {
        "request": request.model_dump(mode="json"),
        "requested_at": requested_at,
        "facts": facts,
        "result": verdict.details,
    }
    return record(
        store, kind="express_refund", subject=request.order_id, merchant_id=facts.merchant_id,
        verdict=verdict, inputs=inputs, policy=policy, now=now, requested_by=requested_by,
        new_id=new_id, log=log,
    )  # fmt: skip
