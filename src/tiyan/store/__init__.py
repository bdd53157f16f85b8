"""Stores: where the canonical tables live (embedded DuckDB by default, or PostgreSQL).

``open_store(url)`` picks the engine from the URL: ``postgresql://...`` (or
``postgres://``) opens the PostgreSQL store, anything else is a path to a DuckDB file.
Engines are imported on first use.
"""

from __future__ import annotations

from tiyan.domain.errors import UnknownNameError
from tiyan.store.base import MIGRATIONS, SCHEMA_VERSION, Store, WritePlan

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Store", "WritePlan", "open_store"]

DEFAULT_DB = "tiyan.duckdb"


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def open_store(
    url: str = DEFAULT_DB, *, read_only: bool = False, memory_limit: str | None = None
) -> Store:
    """Open (creating or upgrading as needed) the store at ``url``.

    ``read_only`` opens an existing DuckDB file for reading only (an error if it does not
    exist, rather than creating an empty store); PostgreSQL stores ignore it.
    ``memory_limit`` (e.g. ``"4GB"``) bounds the embedded engine's memory, DuckDB spilling
    to disk beyond it (default: half the machine's memory); it also bounds the staging
    DuckDB of a PostgreSQL store.
    """
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme is not None and not is_postgres_url(url):
        raise UnknownNameError("store URL scheme", scheme, ["postgresql", "postgres"])
    if is_postgres_url(url):
        from tiyan.store.postgres_store import PostgresStore

        return PostgresStore(
            url.replace("postgresql+psycopg://", "postgresql://", 1), memory_limit=memory_limit
        )
    from tiyan.store.duckdb_store import DuckDBStore

    return DuckDBStore(url, read_only=read_only, memory_limit=memory_limit)
