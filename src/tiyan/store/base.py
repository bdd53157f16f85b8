"""The store interface shared by the embedded DuckDB store and the PostgreSQL store.

Ingestion validates every batch in a *staging* DuckDB connection (in memory) and talks to
the store only through three operations, so both engines get exactly the same rules:

* :meth:`Store.fetch_rows` copies the stored rows whose keys appear in a staging relation
  into the staging connection (to check references and to tell inserts from updates);
* :meth:`Store.write` applies a whole load (upserts, quarantine, ingest log) in **one
  transaction** — a crash or a kill midway leaves the store as it was;
* :meth:`Store.ibis` gives an Ibis backend for every read of later stages.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from tiyan.domain.errors import StoreError
from tiyan.domain.model import Table
from tiyan.store.schema import ALL_TABLES, create_table_sql, index_statements, quote

#: Schema version this code writes. Bump it and add a migration when the model changes in a
#: way the additive reconciliation (new tables, new nullable columns) cannot express.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema history."""

    version: int
    description: str
    statements: tuple[str, ...] = ()


#: The schema history. Version 1 creates every table of the model; later model additions of
#: tables and nullable columns are applied by :func:`reconcile_statements` on open.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "canonical tables, ingest_log, quarantine, tiyan_meta"),
)


@dataclass
class WritePlan:
    """What one load writes, in order. Each entry names a relation of the staging connection;
    ``replace`` upserts by primary key, otherwise the rows are plain inserts (new keys)."""

    steps: list[tuple[Table, str, bool]] = field(default_factory=list)

    def insert(self, table: Table, relation: str) -> None:
        self.steps.append((table, relation, False))

    def upsert(self, table: Table, relation: str) -> None:
        self.steps.append((table, relation, True))


class Store(abc.ABC):
    """A place the canonical tables live."""

    dialect: str
    url: str
    #: The schema (namespace) holding the tables: ``main`` in DuckDB, ``?schema=`` in PostgreSQL.
    schema: str
    #: A statement that serialises schema changes between processes sharing the store, run
    #: first in their transaction (several service workers start at once on PostgreSQL).
    schema_lock: str | None = None

    # -- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the tables, or upgrade an older store to :data:`SCHEMA_VERSION`.

        Called on open; on failure the store is closed, so nothing is left holding the file
        or the connection.
        """
        try:
            self._upgrade()
        except BaseException:
            self.close()
            raise

    def _upgrade(self) -> None:
        existing = self.existing_columns()
        version = self._stored_version(existing)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url} is at schema version {version}, newer than this tiyan "
                f"({SCHEMA_VERSION}); upgrade tiyan to open it"
            )
        statements: list[str] = []
        for migration in MIGRATIONS:
            if migration.version > version:
                statements.extend(migration.statements)
        statements.extend(reconcile_statements(existing, self.dialect))
        if version < SCHEMA_VERSION or statements:
            statements.append("DELETE FROM tiyan_meta WHERE key = 'schema_version'")
            statements.append(
                f"INSERT INTO tiyan_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')"
            )
            self.run_in_transaction(
                [self.schema_lock, *statements] if self.schema_lock else statements
            )

    def _stored_version(self, existing: dict[str, set[str]]) -> int:
        if "tiyan_meta" not in existing:
            return 0
        rows = self.query("SELECT value FROM tiyan_meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else 0

    def schema_version(self) -> int:
        return self._stored_version(self.existing_columns())

    # -- engine-specific -----------------------------------------------------------------
    def existing_columns(self) -> dict[str, set[str]]:
        """Table name -> column names, for the tables that exist in the store."""
        found: dict[str, set[str]] = {}
        for table, column in self.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_catalog = current_database()",
            (self.schema,),
        ):
            found.setdefault(table, set()).add(column)
        return found

    def ensure_lookup_indexes(self) -> list[str]:
        """Create the indexes of the online lookups (:data:`~tiyan.store.schema.LOOKUPS`) the
        store lacks; returns their statements. The service calls it when it starts: batch
        stages scan whole tables and need none, and a load into indexed tables pays for
        maintaining them."""
        statements = index_statements(self.dialect, self.existing_indexes())
        if statements:
            self.run_in_transaction(
                [self.schema_lock, *statements] if self.schema_lock else statements
            )
        return statements

    def reader(self) -> Store:
        """A store for reading from another thread at the same time as this one (its own
        connection to the same data; it sees what is committed). Close it after use."""
        raise NotImplementedError(f"{type(self).__name__} has no concurrent readers")

    @abc.abstractmethod
    def existing_indexes(self) -> set[str]:
        """Names of the indexes on the store's tables."""

    @abc.abstractmethod
    def insert_row(self, table: Table, row: Sequence[Any]) -> None:
        """Append one row (in the table's column order) in its own transaction: the cheap
        write of the request path (a decision, a key)."""

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query and return its rows."""

    @abc.abstractmethod
    def run_in_transaction(self, statements: Sequence[str | tuple[str, Sequence[Any]]]) -> None:
        """Run DDL/DML statements in one transaction: SQL text, or (SQL, parameters) with
        ``?`` placeholders."""

    @abc.abstractmethod
    def staging(self, timezone: str, *, cleanup: bool = True) -> AbstractContextManager[Any]:
        """A DuckDB connection to validate a load in; naive timestamps read in ``timezone``.
        ``cleanup=False`` may leave the load's staging tables for the next load to replace
        (many small loads in a row)."""

    @abc.abstractmethod
    def fetch_rows(self, staging: Any, table: Table, keys_relation: str, target: str) -> None:
        """Create staging table ``target``: stored rows of ``table`` whose primary key is in
        staging relation ``keys_relation`` (which has the key columns)."""

    @abc.abstractmethod
    def write(self, staging: Any, plan: WritePlan) -> None:
        """Apply ``plan`` in one transaction."""

    @abc.abstractmethod
    def replace_rows(self, table: Table, rows: Sequence[tuple[Any, ...]], where: str) -> None:
        """In one transaction, delete the rows of ``table`` matching SQL condition ``where``
        and insert ``rows`` (tuples in the table's column order)."""

    @abc.abstractmethod
    def append_rows(self, batches: Sequence[tuple[Table, Sequence[tuple[Any, ...]]]]) -> None:
        """Insert each batch's ``rows`` (tuples in its table's column order) into its table,
        all batches in one transaction: all of them are recorded or none."""

    @abc.abstractmethod
    def ibis(self) -> Any:
        """An Ibis backend over the store."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {quote(table)}")[0][0])


def reconcile_statements(existing: dict[str, set[str]], dialect: str) -> list[str]:
    """DDL that brings a store's tables up to the model: missing tables and columns."""
    from tiyan.store.schema import SQL_TYPES

    statements: list[str] = []
    for table in ALL_TABLES.values():
        if table.name not in existing:
            statements.append(create_table_sql(table, dialect))
            continue
        for col in table.columns:
            if col.name not in existing[table.name]:
                statements.append(
                    f"ALTER TABLE {quote(table.name)} ADD COLUMN IF NOT EXISTS {quote(col.name)} "
                    f"{SQL_TYPES[dialect][col.type]}"
                )
    return statements


def key_join(table: Table, left: str, right: str) -> str:
    """``left.k1 = right.k1 AND ...`` over the table's primary key."""
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in table.primary_key)
