"""Appeals: a merchant contests a violation; an operator accepts or rejects it — the rules,
as pure functions.

* :func:`new_appeal` checks a merchant's appeal against one of its violations (one open
  appeal per violation; a merchant cannot appeal another's; none after an accepted one).
* :func:`decided` is the appeal with the operator's decision, who and when.
* :func:`reversals` are the ledger entries an accepted appeal writes — nothing is deleted:
  the violation's points are taken back, penalty-ladder measures the merchant no longer
  reaches are lifted, and the compensation the consumer already received stays paid, the
  platform bearing it instead of the merchant.

The jobs that read and write them are in :mod:`tiyan.jobs.appeals`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from tiyan.domain.errors import ConflictError, NotFoundError, UsageError
from tiyan.policy.ledger import Ladder, ladder_nodes

#: Appeal statuses after which the violation cannot be appealed again.
BLOCKING = ("open", "accepted")


@dataclass(frozen=True)
class Appeal:
    appeal_id: str
    violation_id: str
    merchant_id: str
    status: str
    statement: str
    evidence: str | None
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


def new_appeal(
    *,
    violation_id: str,
    merchant_id: str,
    owner: str | None,
    earlier: Sequence[str],
    statement: str,
    evidence: str | None,
    now: datetime,
) -> Appeal:
    """The open appeal of ``merchant_id`` against ``violation_id``, whose merchant is
    ``owner`` (None: no such violation) and whose earlier appeals have the statuses
    ``earlier`` (oldest first); raises what is wrong with it."""
    if not statement.strip():
        raise UsageError("an appeal needs a statement")
    # Another merchant's violation gets the same answer as one that does not exist.
    if owner is None or owner != merchant_id:
        raise NotFoundError(
            "violation", violation_id, f"merchant {merchant_id} has no violation {violation_id!r}"
        )
    # A violation can be appealed again only after a rejection (see BLOCKING).
    if "open" in earlier:
        raise ConflictError(f"violation {violation_id!r} already has an open appeal")
    if "accepted" in earlier:
        raise ConflictError(f"an appeal against {violation_id!r} was already accepted")
    return Appeal(
        appeal_id=f"appeal:{violation_id}:{len(earlier) + 1}",
        violation_id=violation_id,
        merchant_id=merchant_id,
        status="open",
        statement=statement.strip(),
        evidence=evidence,
        created_at=now,
    )


def decided(appeal: Appeal, *, accept: bool, reason: str, by: str, now: datetime) -> Appeal:
    """``appeal`` accepted or rejected; raises when it is not open or has no reason."""
    if not reason.strip():
        raise UsageError("a decision needs a reason")
    if appeal.status != "open":
        raise ConflictError(f"appeal {appeal.appeal_id!r} is already {appeal.status}")
    return replace(
        appeal,
        status="accepted" if accept else "rejected",
        decided_at=now,
        decided_by=by,
        reason=reason.strip(),
    )


def reversals(
    appeal: Appeal, actions: Sequence[Mapping[str, Any]], ladder: Ladder, now: datetime
) -> list[dict[str, Any]]:
    """The reversal entries of accepting ``appeal``, given the merchant's ``actions``
    (``action_id``, ``kind``, ``merchant_id``, ``violation_id``, ``rule_id``, ``ledger``,
    ``points``, ``amount``, ``measure``, ``day``, ``policy_version``); none for an action
    reversed before."""
    rows = list(actions)
    reversed_ids = {r["action_id"][len("reversal:") :] for r in rows if r["kind"] == "reversal"}
    day = now.date()
    out: list[dict[str, Any]] = []

    def reverse(action: Mapping[str, Any], **detail: Any) -> None:
        if action["action_id"] in reversed_ids:
            return
        out.append(
            {
                "action_id": f"reversal:{action['action_id']}",
                "kind": "reversal",
                "merchant_id": action["merchant_id"],
                "violation_id": action["violation_id"],
                "rule_id": action["rule_id"],
                "ledger": action["ledger"],
                "points": None if action["points"] is None else -float(action["points"]),
                "amount": None if action["amount"] is None else -action["amount"],
                "measure": action["measure"],
                "day": action["day"] if action["kind"] == "points" else day,
                "as_of": day,
                "policy_version": action["policy_version"],
                "detail": json.dumps(
                    {"appeal_id": appeal.appeal_id, "reverses": action["action_id"], **detail},
                    ensure_ascii=False,
                    sort_keys=True,
                ),
            }
        )

    own = [r for r in rows if r["violation_id"] == appeal.violation_id and r["kind"] != "reversal"]
    for action in own:
        if action["kind"] == "compensation":
            reverse(action, borne_by="platform", note="the consumer keeps the coupon")
        else:
            reverse(action)
    # Penalties the merchant no longer reaches once those points are taken back.
    totals: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for r in [*rows, *out]:
        if r["kind"] in ("points", "reversal") and r["points"] is not None:
            totals[(r["ledger"], r["day"].year)] += Decimal(str(r["points"]))
    for penalty in (r for r in rows if r["kind"] == "penalty"):
        year = int(penalty["action_id"].split(":")[3])
        reached = {
            f"{n.points:g}"
            for n in ladder_nodes(ladder, penalty["ledger"], totals[(penalty["ledger"], year)])
        }
        node = penalty["action_id"].split(":")[4]
        if node not in reached:
            reverse(penalty, year_total=float(totals[(penalty["ledger"], year)]))
    return out
