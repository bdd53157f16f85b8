"""Reading the governance record: violations and ledger entries, newest first.

The CLI (``tiyan violations``, ``tiyan actions``) and the API (``GET /v1/merchants/{id}/...``)
both list through these functions, so they filter and order alike.
"""

from __future__ import annotations

import json
from typing import Any

from tiyan.domain.errors import NotFoundError, UnknownNameError
from tiyan.policy.rules import RULE_ZH
from tiyan.store.base import Store
from tiyan.store.scorecard import scorecard

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


MERCHANT_COLUMNS = (
    "merchant_id", "name", "category", "store_type", "region", "as_of", "status", "score",
    "level", "display_score", "violations",
)  # fmt: skip
#: Sort name -> ORDER BY; every order ends with ``m.merchant_id``, so ties (and pages) are
#: stable. Merchants without a score or a category come last either way.
MERCHANT_SORTS = {
    "score": "s.score ASC NULLS LAST",
    "-score": "s.score DESC NULLS LAST",
    "violations": "violations ASC",
    "-violations": "violations DESC",
    "category": "m.category ASC NULLS LAST",
    "-category": "m.category DESC NULLS LAST",
    "merchant_id": "m.merchant_id ASC",
}


def list_merchants(
    store: Store,
    *,
    q: str | None = None,
    category: str | None = None,
    level: str | None = None,
    sort: str = "merchant_id",
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, one page of them): every merchant with the score of the latest
    scoring run and its violations in all; ``q`` matches id or name, case blind."""
    if sort not in MERCHANT_SORTS:
        raise UnknownNameError("sort", sort, MERCHANT_SORTS)
    where, params = [], []
    if q:
        where.append("(lower(m.merchant_id) LIKE ? OR lower(m.name) LIKE ?)")
        needle = "%" + q.lower().replace("%", "").replace("_", "") + "%"
        params += [needle, needle]
    if category:
        where.append("m.category = ?")
        params.append(category)
    if level:
        where.append("s.level = ?")
        params.append(level)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    base = (
        "FROM merchants m LEFT JOIN (SELECT merchant_id, as_of, status, score, level, "
        "display_score FROM scores WHERE as_of = (SELECT max(as_of) FROM scores) "
        "AND window_days = (SELECT max(window_days) FROM scores WHERE as_of = "
        "(SELECT max(as_of) FROM scores))) s ON s.merchant_id = m.merchant_id "
        "LEFT JOIN (SELECT merchant_id, count(*) AS n FROM violations GROUP BY 1) v "
        f"ON v.merchant_id = m.merchant_id {clause}"
    )
    (total,) = store.query(f"SELECT count(*) {base}", params)[0]
    rows = store.query(
        "SELECT m.merchant_id, m.name, m.category, m.store_type, m.region, s.as_of, "
        "s.status, s.score, s.level, s.display_score, coalesce(v.n, 0) AS violations "
        f"{base} ORDER BY {MERCHANT_SORTS[sort]}, m.merchant_id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    return int(total), [dict(zip(MERCHANT_COLUMNS, r, strict=True)) for r in rows]


def merchant_categories(store: Store) -> list[str]:
    """The categories merchants are in, sorted (the merchant list's category filter)."""
    return [
        str(r[0])
        for r in store.query(
            "SELECT DISTINCT category FROM merchants WHERE category IS NOT NULL ORDER BY 1"
        )
    ]


def require_merchant(store: Store, merchant_id: str) -> None:
    """NotFoundError unless the merchant exists."""
    if not store.query("SELECT 1 FROM merchants WHERE merchant_id = ?", (merchant_id,)):
        raise NotFoundError("merchant", merchant_id)


def merchant_summary(store: Store, merchant_id: str) -> dict[str, Any]:
    """One merchant with its latest score and its violations in all; NotFoundError for an
    unknown one."""
    rows = store.query(
        "SELECT merchant_id, name, category, store_type, region FROM merchants "
        "WHERE merchant_id = ?",
        (merchant_id,),
    )
    if not rows:
        raise NotFoundError("merchant", merchant_id)
    out: dict[str, Any] = dict.fromkeys(MERCHANT_COLUMNS)
    out.update(zip(MERCHANT_COLUMNS[:5], rows[0], strict=True))
    card = scorecard(store, merchant_id)
    if card is not None:
        out.update({k: card[k] for k in ("as_of", "status", "score", "level", "display_score")})
    (n,) = store.query("SELECT count(*) FROM violations WHERE merchant_id = ?",
                       (merchant_id,))[0]  # fmt: skip
    out["violations"] = int(n)
    return out
