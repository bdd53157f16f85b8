"""Reading the governance record: violations and ledger entries, newest first.

The CLI (``tiyan violations``, ``tiyan actions``) and the API (``GET /v1/merchants/{id}/...``)
both list through these functions, so they filter and order alike.
"""

from __future__ import annotations

import json
from typing import Any

from tiyan.domain.errors import UnknownNameError
from tiyan.policy.rules import RULE_ZH
from tiyan.store.base import Store

VIOLATION_COLUMNS = (
    "violation_id", "rule_id", "ledger", "merchant_id", "order_id", "occurred_at", "day",
    "amount", "evidence", "policy_version", "detected_as_of",
)  # fmt: skip
ACTION_COLUMNS = (
    "action_id", "kind", "merchant_id", "violation_id", "rule_id", "ledger", "points",
    "amount", "measure", "day", "as_of", "policy_version", "detail",
)  # fmt: skip
ACTION_KINDS = (
    "compensation", "points", "penalty", "reversal", "privilege_grant", "privilege_revoke",
    "measure_apply", "measure_lift",
)  # fmt: skip


def _where(
    merchant_id: str | None, column: str, value: str | None, allowed: list[str], what: str
) -> tuple[str, list[Any]]:
    where, params = [], []
    if merchant_id is not None:
        where.append("merchant_id = ?")
        params.append(merchant_id)
    if value is not None:
        if value not in allowed:
            raise UnknownNameError(what, value, allowed)
        where.append(f"{column} = ?")
        params.append(value)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def list_violations(
    store: Store,
    *,
    merchant_id: str | None = None,
    rule_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Recorded violations, newest first, with their evidence parsed."""
    clause, params = _where(merchant_id, "rule_id", rule_id, list(RULE_ZH), "rule")
    rows = store.query(
        f"SELECT {', '.join(VIOLATION_COLUMNS)} FROM violations {clause} "
        f"ORDER BY occurred_at DESC, violation_id LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    records = [dict(zip(VIOLATION_COLUMNS, r, strict=True)) for r in rows]
    for r in records:
        r["evidence"] = json.loads(r["evidence"])
    return records


def list_actions(
    store: Store,
    *,
    merchant_id: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Ledger entries, newest first, with their detail parsed."""
    clause, params = _where(merchant_id, "kind", kind, list(ACTION_KINDS), "kind")
    rows = store.query(
        f"SELECT {', '.join(ACTION_COLUMNS)} FROM actions {clause} "
        f"ORDER BY day DESC, action_id LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    records = [dict(zip(ACTION_COLUMNS, r, strict=True)) for r in rows]
    for r in records:
        r["detail"] = json.loads(r["detail"])
    return records


def action_totals(
    store: Store, *, merchant_id: str | None = None, kind: str | None = None
) -> list[tuple[str, str | None, int, float | None, Any]]:
    """(kind, ledger, entries, points, amount) per kind and ledger."""
    clause, params = _where(merchant_id, "kind", kind, list(ACTION_KINDS), "kind")
    return [
        (k, ledger, int(n), pts, amount)
        for k, ledger, n, pts, amount in store.query(
            f"SELECT kind, ledger, count(*), sum(points), sum(amount) FROM actions {clause} "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )
    ]
