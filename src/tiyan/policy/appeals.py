"""Appeals: a merchant contests a violation; an operator accepts or rejects it.

* :func:`create_appeal` records the merchant's statement and evidence against one of its
  violations (one open appeal per violation; a merchant cannot appeal another's).
* :func:`decide_appeal` records the operator's decision, who and when. Accepting writes
  *reversal* entries to the ``actions`` ledger — nothing is deleted: the violation's points
  are taken back, penalty-ladder measures the merchant no longer reaches are lifted, and the
  compensation the consumer already received stays paid, the platform bearing it instead of
  the merchant.

Example::

    appeal = create_appeal(store, violation_id="ship_timeout:M1:O1", merchant_id="M1",
                           statement="the carrier scanned late", evidence="photo.jpg",
                           now=datetime.now(UTC))
    decide_appeal(store, appeal.appeal_id, accept=True, reason="carrier delay confirmed",
                  by="op-7", now=datetime.now(UTC))
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tiyan.domain.errors import ConflictError, NotFoundError, UsageError
from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.policy.ledger import Ladder, ladder_nodes
from tiyan.store.base import Store

APPEALS = GOVERNANCE_TABLES["appeals"]
ACTIONS = GOVERNANCE_TABLES["actions"]
_APPEAL_COLUMNS = [c.name for c in APPEALS.columns]


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


def get_appeal(store: Store, appeal_id: str) -> Appeal:
    rows = store.query(
        f"SELECT {', '.join(_APPEAL_COLUMNS)} FROM appeals WHERE appeal_id = ?", (appeal_id,)
    )
    if not rows:
        raise NotFoundError("appeal", appeal_id)
    row = dict(zip(_APPEAL_COLUMNS, rows[0], strict=True))
    return Appeal(**{k: row[k] for k in Appeal.__dataclass_fields__})


def list_appeals(
    store: Store, *, merchant_id: str | None = None, status: str | None = None
) -> list[Appeal]:
    where, params = [], []
    if merchant_id is not None:
        where.append("merchant_id = ?")
        params.append(merchant_id)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.query(
        f"SELECT appeal_id FROM appeals {clause} ORDER BY created_at, appeal_id", params
    )
    return [get_appeal(store, r[0]) for r in rows]


#: Appeal statuses after which the violation cannot be appealed again.
BLOCKING = ("open", "accepted")


def appealable_violations(
    store: Store, merchant_id: str, *, limit: int = 500
) -> list[dict[str, Any]]:
    """The merchant's violations (newest first, as ``list_violations``) that
    :func:`create_appeal` would accept an appeal against: none open or accepted."""
    from tiyan.store.listing import list_violations

    marks = ", ".join("?" for _ in BLOCKING)
    taken = {
        r[0]
        for r in store.query(
            f"SELECT violation_id FROM appeals WHERE merchant_id = ? AND status IN ({marks})",
            (merchant_id, *BLOCKING),
        )
    }
    found = list_violations(store, merchant_id=merchant_id, limit=limit)
    return [v for v in found if v["violation_id"] not in taken]


def create_appeal(
    store: Store,
    *,
    violation_id: str,
    merchant_id: str,
    statement: str,
    evidence: str | None,
    now: datetime,
) -> Appeal:
    """Record a merchant's appeal against its violation (module docstring)."""
    if not statement.strip():
        raise UsageError("an appeal needs a statement")
    found = store.query("SELECT merchant_id FROM violations WHERE violation_id = ?",
                        (violation_id,))  # fmt: skip
    # Another merchant's violation gets the same answer as one that does not exist.
    if not found or found[0][0] != merchant_id:
        raise NotFoundError(
            "violation", violation_id, f"merchant {merchant_id} has no violation {violation_id!r}"
        )
    earlier = store.query(
        "SELECT appeal_id, status FROM appeals WHERE violation_id = ? ORDER BY appeal_id",
        (violation_id,),
    )
    # A violation can be appealed again only after a rejection (see BLOCKING).
    if any(status == "open" for _, status in earlier):
        raise ConflictError(f"violation {violation_id!r} already has an open appeal")
    if any(status == "accepted" for _, status in earlier):
        raise ConflictError(f"an appeal against {violation_id!r} was already accepted")
    appeal = Appeal(
        appeal_id=f"appeal:{violation_id}:{len(earlier) + 1}",
        violation_id=violation_id,
        merchant_id=merchant_id,
        status="open",
        statement=statement.strip(),
        evidence=evidence,
        created_at=now,
    )
    _write(store, appeal, where="1 = 0")
    return appeal


def _write(store: Store, appeal: Appeal, *, where: str) -> None:
    row = {c: getattr(appeal, c, None) for c in _APPEAL_COLUMNS}
    store.replace_rows(APPEALS, [tuple(row[c] for c in _APPEAL_COLUMNS)], where)


def decide_appeal(
    store: Store,
    appeal_id: str,
    *,
    accept: bool,
    reason: str,
    by: str,
    now: datetime,
    ladder: Ladder | None = None,
) -> list[dict[str, Any]]:
    """Accept or reject an open appeal; returns the reversal actions written (module
    docstring). ``ladder`` is the policy's (the default policy's when None)."""
    if not reason.strip():
        raise UsageError("a decision needs a reason")
    appeal = get_appeal(store, appeal_id)
    if appeal.status != "open":
        raise ConflictError(f"appeal {appeal_id!r} is already {appeal.status}")
    if ladder is None:
        from tiyan.policy.files import load_policy

        ladder = load_policy().consequences.ladder
    decided = Appeal(
        **{
            **appeal.__dict__,
            "status": "accepted" if accept else "rejected",
            "decided_at": now,
            "decided_by": by,
            "reason": reason.strip(),
        }
    )
    reversals = _reversals(store, appeal, ladder, now) if accept else []
    # The decision and its reversals in one go: first the reversals (append-only), then the
    # appeal's row replaced by its decided version.
    columns = [c.name for c in ACTIONS.columns]
    store.replace_rows(ACTIONS, [tuple(r[c] for c in columns) for r in reversals], "1 = 0")
    _write(store, decided, where=f"appeal_id = '{appeal_id.replace(chr(39), chr(39) * 2)}'")
    return reversals


def _reversals(store: Store, appeal: Appeal, ladder: Ladder, now: datetime) -> list[dict[str, Any]]:
    names = ["action_id", "kind", "merchant_id", "violation_id", "rule_id", "ledger", "points",
             "amount", "measure", "day", "policy_version"]  # fmt: skip
    rows = [
        dict(zip(names, r, strict=True))
        for r in store.query(
            f"SELECT {', '.join(names)} FROM actions WHERE merchant_id = ?",
            (appeal.merchant_id,),
        )
    ]
    reversed_ids = {r["action_id"][len("reversal:") :] for r in rows if r["kind"] == "reversal"}
    day = now.date()
    out: list[dict[str, Any]] = []

    def reverse(action: dict[str, Any], **detail: Any) -> None:
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
