"""Reading the quarantine: what was rejected, where it came from, and why."""

from __future__ import annotations

from typing import Any

from tiyan.domain.errors import UnknownTableError
from tiyan.domain.model import QUARANTINE, TABLES
from tiyan.store.base import Store


def list_quarantine(store: Store, *, table: str | None = None, limit: int = 50) -> dict[str, Any]:
    """Rejected rows (newest load first, then by source and line) and counts by reason."""
    if table is not None and table not in TABLES:
        raise UnknownTableError(table, TABLES)
    con = store.ibis()
    q = con.table(QUARANTINE.name)
    if table is not None:
        q = q.filter(q.table_name == table)
    by_reason = (
        q.group_by(["table_name", "reason_code"])
        .aggregate(rows=q.count())
        .order_by([q.count().desc(), "table_name", "reason_code"])
        .to_pyarrow()
        .to_pylist()
    )
    rows = (
        q.order_by([q.quarantined_at.desc(), "table_name", "source", "line"])
        .limit(limit)
        .select("table_name", "source", "line", "column_name", "reason_code", "reason", "raw")
        .to_pyarrow()
        .to_pylist()
    )
    return {"total": sum(r["rows"] for r in by_reason), "by_reason": by_reason, "rows": rows}
