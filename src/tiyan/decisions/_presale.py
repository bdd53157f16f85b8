"""Presale eligibility (预售, reference §2.1): may this merchant sell on presale, and for so
many days?

Eligible iff all hold on ``as_of`` (a local day):

* the merchant holds the ``presale`` privilege — its last ``privilege_grant`` /
  ``privilege_revoke`` entry in the ``actions`` ledger on or before ``as_of`` is a grant
  (enforcement runs grant and revoke it, :mod:`tiyan.policy.privileges`);
* no penalty measure of ``decisions.presale.blocking_measures`` (suspension, clearance) is in
  force: a ``penalty`` entry on or before ``as_of`` without its ``reversal:<action_id>``
  entry; a suspension lasts its ``suspension_days`` (detail, default 7) from its day,
  clearance for good;
* the presale days asked (or the product's) are at most the cap of
  ``rules.presale_overrun``: ``seasonal_cap_days`` of the category (the product's, else the
  merchant's), else ``cap_days`` (15).

Every failing condition is a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tiyan.decisions._log import (
    IdMaker,
    LogWriter,
    local_day,
    merchant_category,
    new_decision_id,
    record,
)
from tiyan.decisions._types import Decision, PresaleRequest, Reason, Verdict
from tiyan.domain.errors import NotFoundError
from tiyan.policy.schema import Policy
from tiyan.store.base import Store

#: Days a suspension lasts when its ledger entry does not say (the ladder's default).
DEFAULT_SUSPENSION_DAYS = 7


@dataclass(frozen=True)
class Penalty:
    action_id: str
    measure: str
    day: date
    #: Days it lasts; None: for good.
    days: int | None


@dataclass(frozen=True)
class PresaleFacts:
    merchant_id: str
    #: The category the cap is looked up for (the product's, else the merchant's).
    category: str | None
    #: Presale days asked, or the product's (None: nothing to check).
    presale_days: int | None
    #: The last privilege entry on or before as_of: ("privilege_grant" | "privilege_revoke",
    #: its day), or None if the privilege was never granted.
    privilege: tuple[str, date] | None
    #: Blocking penalties recorded on or before as_of and not reversed.
    penalties: tuple[Penalty, ...]


def evaluate_presale(facts: PresaleFacts, policy: Policy, *, as_of: date) -> Verdict:
    """The eligibility of ``facts`` on ``as_of`` (pure)."""
    rule = policy.rules.presale_overrun
    cap = rule.seasonal_cap_days.get(facts.category or "", rule.cap_days)
    why: list[Reason] = []
    if facts.privilege is None:
        why.append(
            Reason("presale_privilege_never_granted", "the merchant was never granted presale")
        )
    elif facts.privilege[0] != "privilege_grant":
        why.append(
            Reason("presale_privilege_revoked", f"presale was revoked on {facts.privilege[1]}")
        )
    in_force = [p for p in facts.penalties if p.days is None or as_of < p.day + timedelta(p.days)]
    for p in sorted(in_force, key=lambda p: (p.measure, p.action_id)):
        until = "" if p.days is None else f" until {p.day + timedelta(p.days)}"
        why.append(Reason(f"{p.measure}_in_force", f"{p.measure} since {p.day}{until}"))
    if facts.presale_days is not None and facts.presale_days > cap:
        where = f" for {facts.category}" if facts.category in rule.seasonal_cap_days else ""
        why.append(
            Reason(
                "presale_days_over_cap",
                f"{facts.presale_days} presale days, above the cap of {cap:g}{where}",
            )
        )
    details: dict[str, Any] = {
        "as_of": as_of,
        "cap_days": cap,
        "category": facts.category,
        "presale_days": facts.presale_days,
        "privilege_since": facts.privilege[1] if facts.privilege else None,
        "penalties_in_force": [p.action_id for p in in_force],
    }
    if why:
        return Verdict("not_eligible", tuple(why), details)
    return Verdict(
        "eligible",
        (Reason("presale_allowed", "presale privilege held, no blocking penalty, within the cap"),),
        details,
    )


def load_presale_facts(
    store: Store, request: PresaleRequest, *, as_of: date, blocking: list[str]
) -> PresaleFacts:
    """The facts of ``request``; :class:`NotFoundError` for an unknown merchant, or a product
    that is not the merchant's."""
    merchant_id = request.merchant_id
    category = merchant_category(store, merchant_id)
    days = request.presale_days
    if request.product_id is not None:
        rows = store.query(
            "SELECT category, presale_days FROM products WHERE product_id = ? AND merchant_id = ?",
            (request.product_id, merchant_id),
        )
        if not rows:
            raise NotFoundError("product", request.product_id)
        category = rows[0][0]
        days = days if days is not None else rows[0][1]
    last = store.query(
        "SELECT kind, day FROM actions WHERE merchant_id = ? AND measure = 'presale' "
        "AND kind IN ('privilege_grant', 'privilege_revoke') AND day <= ? "
        "ORDER BY day DESC, action_id DESC LIMIT 1",
        (merchant_id, as_of),
    )
    penalties: list[Penalty] = []
    if blocking:
        marks = ", ".join("?" for _ in blocking)
        for action_id, measure, day, detail in store.query(
            "SELECT a.action_id, a.measure, a.day, a.detail FROM actions a "
            f"WHERE a.merchant_id = ? AND a.kind = 'penalty' AND a.measure IN ({marks}) "
            "AND a.day <= ? AND NOT EXISTS (SELECT 1 FROM actions r WHERE "
            "r.merchant_id = a.merchant_id AND r.kind = 'reversal' AND r.day <= ? "
            "AND r.action_id = 'reversal:' || a.action_id)",
            (merchant_id, *blocking, as_of, as_of),
        ):
            penalties.append(Penalty(action_id, measure, day, _duration(measure, detail)))
    return PresaleFacts(
        merchant_id=merchant_id,
        category=category,
        presale_days=None if days is None else int(days),
        privilege=(str(last[0][0]), last[0][1]) if last else None,
        penalties=tuple(penalties),
    )


def _duration(measure: str, detail: str | None) -> int | None:
    if measure != "suspension":
        return None
    try:
        days = json.loads(detail or "{}").get("suspension_days")
    except (ValueError, AttributeError):
        days = None
    return int(days) if days else DEFAULT_SUSPENSION_DAYS


def decide_presale(
    store: Store,
    request: PresaleRequest,
    *,
    policy: Policy,
    now: datetime,
    requested_by: str | None,
    new_id: IdMaker = new_decision_id,
    log: LogWriter | None = None,
) -> Decision:
    """Decide presale eligibility: load the merchant's ledger, decide, record.

    ``as_of`` defaults to the local day of ``now``. Raises
    :class:`~tiyan.domain.errors.NotFoundError` for an unknown merchant or product.
    """
    as_of = request.as_of or local_day(now, policy)
    facts = load_presale_facts(
        store, request, as_of=as_of, blocking=list(policy.decisions.presale.blocking_measures)
    )
    verdict = evaluate_presale(facts, policy, as_of=as_of)
    inputs = {"request": request.model_dump(mode="json"), "facts": facts,
              "result": verdict.details}  # fmt: skip
    return record(
        store, kind="presale", subject=request.merchant_id, merchant_id=request.merchant_id,
        verdict=verdict, inputs=inputs, policy=policy, now=now, requested_by=requested_by,
        new_id=new_id, log=log,
    )  # fmt: skip
