"""The appeals repository: appeals and what deciding one reads, from the store."""

from __future__ import annotations

from typing import Any

from tiyan.domain.errors import NotFoundError
from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.policy.appeals import BLOCKING, Appeal
from tiyan.store.base import Store

APPEALS = GOVERNANCE_TABLES["appeals"]
ACTIONS = GOVERNANCE_TABLES["actions"]
_APPEAL_COLUMNS = [c.name for c in APPEALS.columns]
_ACTION_FIELDS = ["action_id", "kind", "merchant_id", "violation_id", "rule_id", "ledger",
                  "points", "amount", "measure", "day", "policy_version"]  # fmt: skip


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


def blocked_violations(store: Store, merchant_id: str) -> set[str]:
    """The merchant's violations with an open or accepted appeal."""
    marks = ", ".join("?" for _ in BLOCKING)
    return {
        r[0]
        for r in store.query(
            f"SELECT violation_id FROM appeals WHERE merchant_id = ? AND status IN ({marks})",
            (merchant_id, *BLOCKING),
        )
    }


def violation_owner(store: Store, violation_id: str) -> str | None:
    found = store.query(
        "SELECT merchant_id FROM violations WHERE violation_id = ?", (violation_id,)
    )
    return found[0][0] if found else None


def earlier_statuses(store: Store, violation_id: str) -> list[str]:
    """The statuses of the violation's appeals, oldest first."""
    return [
        r[1]
        for r in store.query(
            "SELECT appeal_id, status FROM appeals WHERE violation_id = ? ORDER BY appeal_id",
            (violation_id,),
        )
    ]


def merchant_actions(store: Store, merchant_id: str) -> list[dict[str, Any]]:
    """The merchant's ledger entries, as far as a reversal needs them."""
    return [
        dict(zip(_ACTION_FIELDS, r, strict=True))
        for r in store.query(
            f"SELECT {', '.join(_ACTION_FIELDS)} FROM actions WHERE merchant_id = ?",
            (merchant_id,),
        )
    ]


def write_appeal(store: Store, appeal: Appeal, *, new: bool) -> None:
    """Record a new appeal, or replace the stored row of ``appeal`` by this version."""
    row = {c: getattr(appeal, c, None) for c in _APPEAL_COLUMNS}
    where = "1 = 0" if new else f"appeal_id = '{appeal.appeal_id.replace(chr(39), chr(39) * 2)}'"
    store.replace_rows(APPEALS, [tuple(row[c] for c in _APPEAL_COLUMNS)], where)


def write_reversals(store: Store, rows: list[dict[str, Any]]) -> None:
    columns = [c.name for c in ACTIONS.columns]
    store.append_rows([(ACTIONS, [tuple(r[c] for c in columns) for r in rows])])
