"""What a store holds: row counts, date ranges and recent loads (read through Ibis)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tiyan.domain.model import TABLES
from tiyan.store.base import Store


def store_status(store: Store, *, recent_loads: int = 5) -> dict[str, Any]:
    """Tables with row counts and time ranges (UTC), and the most recent loads.

    Example::

        >>> store_status(open_store("tiyan.duckdb"))["tables"]["orders"]   # doctest: +SKIP
        {'rows': 1000000, 'time_column': 'paid_at', 'from': '2024-05-01 ...', 'to': ...}
    """
    con = store.ibis()
    tables: dict[str, Any] = {}
    for name, table in TABLES.items():
        expr = con.table(name)
        aggs: dict[str, Any] = {"rows": expr.count()}
        if table.time_column:
            aggs["from"] = expr[table.time_column].min()
            aggs["to"] = expr[table.time_column].max()
        row = expr.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        tables[name] = {
            "rows": int(row["rows"]),
            "time_column": table.time_column,
            "from": _text(row.get("from")),
            "to": _text(row.get("to")),
        }
    log = con.table("ingest_log")
    loads = (
        log.group_by("load_id")
        .aggregate(
            finished_at=log.finished_at.max(),
            status=log.status.max(),
            sources=log.source.nunique(),
            read_rows=log.read_rows.sum(),
            inserted=log.inserted.sum(),
            updated=log.updated.sum(),
            unchanged=log.unchanged.sum(),
            quarantined=log.quarantined.sum(),
        )
        .order_by([log.finished_at.max().desc(), "load_id"])
        .limit(recent_loads)
        .to_pyarrow()
        .to_pylist()
    )
    for load in loads:
        load["finished_at"] = _text(load["finished_at"])
        for key in ("read_rows", "inserted", "updated", "unchanged", "quarantined"):
            load[key] = int(load[key] or 0)
    return {
        "store": store.url,
        "engine": store.dialect,
        "schema_version": store.schema_version(),
        "tables": tables,
        "quarantined": int(con.table("quarantine").count().to_pyarrow().as_py()),
        "recent_loads": loads,
    }


def _text(value: Any) -> str | None:
    """A time as ``YYYY-MM-DD HH:MM:SS`` (UTC, to the second)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
