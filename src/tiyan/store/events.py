"""The store's side of the event API: receipts of events accepted before, and the stored
rows that a batch's lifecycle changes apply to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tiyan.domain.model import Table
from tiyan.store.base import Store
from tiyan.store.schema import quote


def event_receipts(store: Store, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Event ids already accepted: id -> (the key of the row it wrote, its content as JSON,
    None for receipts written before the content was kept)."""
    if not ids:
        return {}
    # one list parameter, not one parameter per id (the statement stays the same size)
    rows = store.query(
        "SELECT event_id, record_key, content FROM event_log WHERE event_id = ANY(?)", (ids,)
    )
    return {event_id: (key, content) for event_id, key, content in rows}


def rows_by_key(
    store: Store, table: Table, keys: Iterable[tuple[str, ...]]
) -> list[tuple[Any, ...]]:
    """The stored rows of ``table`` (all columns, in the table's order) with these primary
    keys (as text), looked up 500 at a time."""
    cols = ", ".join(quote(c) for c in table.column_names)
    keys_list = sorted(keys)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(keys_list), 500):
        chunk = keys_list[start : start + 500]
        if len(table.primary_key) == 1:
            marks = ", ".join("?" for _ in chunk)
            where = f"{quote(table.primary_key[0])} IN ({marks})"
            params: list[Any] = [k[0] for k in chunk]
        else:
            one = " AND ".join(f"{quote(k)} = ?" for k in table.primary_key)
            where = " OR ".join(f"({one})" for _ in chunk)
            params = [v for k in chunk for v in k]
        found.extend(store.query(f"SELECT {cols} FROM {quote(table.name)} WHERE {where}", params))
    return found
