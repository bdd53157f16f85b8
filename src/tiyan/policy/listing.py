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


def _listed(
    store: Store, table: str, columns: tuple[str, ...], json_column: str, clause: str,
    params: list[Any], order: str, limit: int, offset: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = store.query(
        f"SELECT {', '.join(columns)} FROM {table} {clause} "
        f"ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    records = [dict(zip(columns, r, strict=True)) for r in rows]
    for r in records:
        r[json_column] = json.loads(r[json_column])
    return records


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
    return _listed(store, "violations", VIOLATION_COLUMNS, "evidence", clause, params,
                   "occurred_at DESC, violation_id", limit, offset)  # fmt: skip


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
    return _listed(store, "actions", ACTION_COLUMNS, "detail", clause, params,
                   "day DESC, action_id", limit, offset)  # fmt: skip


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
