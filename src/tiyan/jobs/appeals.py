"""Appeals, from the store and back: the rules are :mod:`tiyan.policy.appeals`.

Example::

    appeal = create_appeal(store, violation_id="ship_timeout:M1:O1", merchant_id="M1",
                           statement="the carrier scanned late", evidence="photo.jpg",
                           now=datetime.now(UTC))
    decide_appeal(store, appeal.appeal_id, accept=True, reason="carrier delay confirmed",
                  by="op-7", now=datetime.now(UTC))
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tiyan.domain.errors import UsageError
from tiyan.policy.appeals import Appeal, decided, new_appeal, reversals
from tiyan.policy.ledger import Ladder
from tiyan.store import appeals as repo
from tiyan.store.appeals import get_appeal, list_appeals
from tiyan.store.base import Store

__all__ = ["appealable_violations", "create_appeal", "decide_appeal", "get_appeal",
           "list_appeals"]  # fmt: skip


def appealable_violations(
    store: Store, merchant_id: str, *, limit: int = 500
) -> list[dict[str, Any]]:
    """The merchant's violations (newest first, as ``list_violations``) that
    :func:`create_appeal` would accept an appeal against: none open or accepted."""
    from tiyan.store.listing import list_violations

    taken = repo.blocked_violations(store, merchant_id)
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
    """Record a merchant's appeal against its violation (:func:`new_appeal` checks it)."""
    appeal = new_appeal(
        violation_id=violation_id, merchant_id=merchant_id,
        owner=repo.violation_owner(store, violation_id),
        earlier=repo.earlier_statuses(store, violation_id), statement=statement,
        evidence=evidence, now=now,
    )  # fmt: skip
    repo.write_appeal(store, appeal, new=True)
    return appeal


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
    """Accept or reject an open appeal; returns the reversal actions written. ``ladder`` is
    the policy's (the default policy's when None)."""
    if not reason.strip():  # before looking the appeal up, as before the split
        raise UsageError("a decision needs a reason")
    appeal = decided(get_appeal(store, appeal_id), accept=accept, reason=reason, by=by, now=now)
    rows: list[dict[str, Any]] = []
    if accept:
        if ladder is None:
            from tiyan.policy.files import load_policy

            ladder = load_policy().consequences.ladder
        rows = reversals(appeal, repo.merchant_actions(store, appeal.merchant_id), ladder, now)
    # First the reversals (append-only; a retry after a crash adds none twice), then the
    # appeal's row replaced by its decided version.
    if rows:
        repo.write_reversals(store, rows)
    repo.write_appeal(store, appeal, new=False)
    return rows
