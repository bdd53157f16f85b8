"""The embedded store: one DuckDB file, no server."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from tiyan.domain.errors import StoreError
from tiyan.domain.model import Table
from tiyan.store.base import Store, WritePlan, key_join
from tiyan.store.schema import insert_sql, quote


def default_memory_limit() -> str:
    """Half the machine's memory: room for DuckDB, and for the process around it."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{total // 2 // 2**20}MB"


class DuckDBStore(Store):
    dialect = "duckdb"
    schema = "main"

    def __init__(
        self, path: str | Path, *, read_only: bool = False, memory_limit: str | None = None
    ) -> None:
        self.url = str(path)
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no such store (run `tiyan ingest` or `tiyan demo`)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        # Stored timestamps are naive UTC; a UTC session keeps DuckDB from shifting them.
        self.con.execute("SET TimeZone = 'UTC'")
        # A load keeps every validated table until its one transaction commits; past this
        # limit DuckDB spills them to disk. Measured on a 92M-row load: 80% of RAM (DuckDB's
        # default) peaked at 20 GB and took 141 s, a 6 GB limit peaked at 6.7 GB in 124 s.
        try:
            self.con.execute(f"SET memory_limit = '{memory_limit or default_memory_limit()}'")
        except duckdb.Error as exc:
            self.con.close()
            raise StoreError(f"bad memory limit {memory_limit!r}: {exc}") from None
        self.catalog = quote(self.query("SELECT current_database()")[0][0])
        if not read_only:
            self.ensure_schema()

    def reader(self) -> DuckDBStore:
        # a cursor is a second connection to the same database instance, safe to use from
        # another thread; DuckDB runs the two connections' queries in parallel
        other = object.__new__(DuckDBStore)
        other.url, other.path, other.catalog = self.url, self.path, self.catalog
        other.con = self.con.cursor()
        other.con.execute("SET TimeZone = 'UTC'")
        return other

    def existing_indexes(self) -> set[str]:
        return {
            str(r[0])
            for r in self.con.execute(
                "SELECT index_name FROM duckdb_indexes() WHERE schema_name = 'main' "
                "AND database_name = current_database()"
            ).fetchall()
        }

    def insert_row(self, table: Table, row: Sequence[Any]) -> None:
        marks = ", ".join("?" for _ in table.columns)
        cols = ", ".join(quote(c) for c in table.column_names)
        self.con.execute(
            f"INSERT INTO {self._table(table.name)} ({cols}) VALUES ({marks})", list(row)
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def run_in_transaction(self, statements: Sequence[str | tuple[str, Sequence[Any]]]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                if isinstance(statement, str):
                    self.con.execute(statement)
                else:
                    self.con.execute(statement[0], list(statement[1]))
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    @contextmanager
    def staging(self, timezone: str, *, cleanup: bool = True) -> Iterator[Any]:
        """The store's own connection: staging tables are TEMP tables next to the data, so
        reference checks and the final write need no copy between connections."""
        self.con.execute(f"SET TimeZone = '{timezone}'")
        try:
            yield self.con
        finally:
            if cleanup:
                for name, kind in self.con.execute(
                    "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary "
                    "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() "
                    "WHERE temporary AND NOT internal"
                ).fetchall():
                    self.con.execute(f"DROP {kind} IF EXISTS temp.main.{quote(name)}")
            self.con.execute("SET TimeZone = 'UTC'")

    def _table(self, name: str) -> str:
        # Qualified, so that a staging view of a mapping can never shadow a store table.
        return f"{self.catalog}.main.{quote(name)}"

    def fetch_rows(self, staging: Any, table: Table, keys_relation: str, target: str) -> None:
        keys = ", ".join(quote(k) for k in table.primary_key)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT t.* FROM {self._table(table.name)} t "
            f"SEMI JOIN (SELECT DISTINCT {keys} FROM {keys_relation}) k "
            f"ON {key_join(table, 't', 'k')}"
        )

    def write(self, staging: Any, plan: WritePlan) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, relation, replace in plan.steps:
                target = self._table(table.name)
                if replace:
                    con.execute(
                        f"DELETE FROM {target} t USING {relation} s "
                        f"WHERE {key_join(table, 't', 's')}"
                    )
                con.execute(insert_sql(table, relation, target))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _arrow(table: Table, rows: Sequence[tuple[Any, ...]]) -> Any:
        import pyarrow as pa

        from tiyan.sim.arrow import arrow_schema

        schema = arrow_schema(table)
        columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
        return pa.table(
            [
                pa.array(list(values), type=f.type)
                for values, f in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )

    def append_rows(self, batches: Sequence[tuple[Table, Sequence[tuple[Any, ...]]]]) -> None:
        registered: list[str] = []
        statements = []
        try:
            for i, (table, rows) in enumerate(batches):
                if not rows:
                    continue
                name = f"__tiyan_rows_{i}"
                self.con.register(name, self._arrow(table, rows))
                registered.append(name)
                statements.append(insert_sql(table, name, self._table(table.name)))
            self.run_in_transaction(statements)
        finally:
            for name in registered:
                self.con.unregister(name)

    def replace_rows(self, table: Table, rows: Sequence[tuple[Any, ...]], where: str) -> None:
        self.con.register("__tiyan_rows", self._arrow(table, rows))
        try:
            self.run_in_transaction(
                [
                    f"DELETE FROM {self._table(table.name)} WHERE {where}",
                    insert_sql(table, "__tiyan_rows", self._table(table.name)),
                ]
            )
        finally:
            self.con.unregister("__tiyan_rows")

    def ibis(self) -> Any:
        import ibis

        return ibis.duckdb.from_connection(self.con)

    def close(self) -> None:
        self.con.close()
