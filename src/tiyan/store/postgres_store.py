"""The server store: the same tables in PostgreSQL.

Bulk data moves with ``COPY`` in CSV form both ways (DuckDB writes and reads the CSV), so a
load of millions of rows does not go through a Python loop per row.

The URL may carry ``?schema=NAME`` (not a libpq parameter; tiyan strips it and sets the
``search_path``), so several stores — or test runs — can share one database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

from tiyan.domain.errors import StoreError
from tiyan.domain.model import Table
from tiyan.store.base import Store, WritePlan
from tiyan.store.schema import SQL_TYPES, insert_sql, quote, upsert_sql

_COPY_CHUNK = 1 << 20


def split_schema(url: str) -> tuple[str, str]:
    """``(libpq url, schema)`` from a URL that may carry ``?schema=NAME``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "public")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class PostgresStore(Store):
    dialect = "postgres"
    # a transaction-scoped advisory lock: the second worker waits, then finds the tables and
    # indexes there (every DDL statement says IF NOT EXISTS)
    schema_lock = "SELECT pg_advisory_xact_lock(7349812)"

    def __init__(self, url: str, *, memory_limit: str | None = None) -> None:
        self.url = url
        self.memory_limit = memory_limit
        conninfo, self.schema = split_schema(url)
        try:
            self.con = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({conninfo}): {exc}") from None
        ident = pgsql.Identifier(self.schema)
        self.con.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        self.con.execute(pgsql.SQL("SET search_path TO {}").format(ident))
        self.con.execute("SET TIME ZONE 'UTC'")
        self._ibis: Any = None
        self.ensure_schema()

    def reader(self) -> PostgresStore:
        other = object.__new__(PostgresStore)
        other.url, other.memory_limit, other.schema = self.url, self.memory_limit, self.schema
        other._ibis = None
        conninfo, _ = split_schema(self.url)
        try:
            other.con = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({conninfo}): {exc}") from None
        other.con.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
        other.con.execute("SET TIME ZONE 'UTC'")
        return other

    def existing_indexes(self) -> set[str]:
        return {
            str(r[0])
            for r in self.con.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (self.schema,)
            ).fetchall()
        }

    def insert_row(self, table: Table, row: Sequence[Any]) -> None:
        marks = ", ".join("%s" for _ in table.columns)
        cols = ", ".join(quote(c) for c in table.column_names)
        self.con.execute(f"INSERT INTO {quote(table.name)} ({cols}) VALUES ({marks})", list(row))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql.replace("?", "%s"), list(params)).fetchall()

    def run_in_transaction(self, statements: Sequence[str | tuple[str, Sequence[Any]]]) -> None:
        with self.con.transaction():
            for statement in statements:
                if isinstance(statement, str):
                    self.con.execute(statement)
                else:
                    self.con.execute(statement[0].replace("?", "%s"), list(statement[1]))

    @contextmanager
    def _tempfile(self) -> Iterator[str]:
        fd, path = tempfile.mkstemp(prefix="tiyan-", suffix=".csv")
        os.close(fd)
        try:
            yield path
        finally:
            os.unlink(path)

    def _copy_in(self, staging: Any, relation: str, target: str, columns: Sequence[str]) -> None:
        """Stream staging ``relation`` into PostgreSQL table ``target`` through CSV."""
        cols = ", ".join(quote(c) for c in columns)
        with self._tempfile() as path:
            staging.execute(
                f"COPY (SELECT {cols} FROM {relation}) TO '{path}' "
                "(FORMAT csv, HEADER false, USE_TMP_FILE false)"
            )
            with (
                self.con.cursor() as cur,
                cur.copy(f"COPY {quote(target)} ({cols}) FROM STDIN (FORMAT csv)") as copy,
                open(path, "rb") as fh,
            ):
                while block := fh.read(_COPY_CHUNK):
                    copy.write(block)

    @contextmanager
    def staging(self, timezone: str, *, cleanup: bool = True) -> Iterator[Any]:
        """A private in-memory DuckDB: validation runs there, PostgreSQL sees only COPYs."""
        import duckdb

        from tiyan.store.duckdb_store import default_memory_limit

        con = duckdb.connect()
        con.execute(f"SET TimeZone = '{timezone}'")
        con.execute(f"SET memory_limit = '{self.memory_limit or default_memory_limit()}'")
        try:
            yield con
        finally:
            con.close()

    def fetch_rows(self, staging: Any, table: Table, keys_relation: str, target: str) -> None:
        keys = table.primary_key
        key_defs = ", ".join(
            f"{quote(k)} {SQL_TYPES['postgres'][table.column(k).type]}" for k in keys
        )
        types = {c.name: SQL_TYPES["duckdb"][c.type] for c in table.columns}
        with self.con.transaction():
            self.con.execute(f"CREATE TEMP TABLE __tiyan_keys ({key_defs}) ON COMMIT DROP")
            distinct = f"(SELECT DISTINCT {', '.join(quote(k) for k in keys)} FROM {keys_relation})"
            self._copy_in(staging, distinct, "__tiyan_keys", keys)
            on = " AND ".join(f"t.{quote(k)} = k.{quote(k)}" for k in keys)
            cols = ", ".join(f"t.{quote(c)}" for c in table.column_names)
            with self._tempfile() as path:
                with (
                    open(path, "wb") as fh,
                    self.con.cursor() as cur,
                    cur.copy(
                        f"COPY (SELECT {cols} FROM {quote(table.name)} t "
                        f"JOIN __tiyan_keys k ON {on}) TO STDOUT (FORMAT csv, HEADER false)"
                    ) as copy,
                ):
                    for block in copy:
                        fh.write(block)
                spec = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
                staging.execute(
                    f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM read_csv('{path}', "
                    f"columns={{{spec}}}, header=false, auto_detect=false, quote='\"', "
                    "escape='\"')"
                )

    def write(self, staging: Any, plan: WritePlan) -> None:
        with self.con.transaction():
            for i, (table, relation, replace) in enumerate(plan.steps):
                temp = f"__tiyan_stage_{i}"
                self.con.execute(
                    f"CREATE TEMP TABLE {temp} (LIKE {quote(table.name)}) ON COMMIT DROP"
                )
                self._copy_in(staging, relation, temp, table.column_names)
                self.con.execute(upsert_sql(table, temp) if replace else insert_sql(table, temp))

    def append_rows(self, batches: Sequence[tuple[Table, Sequence[tuple[Any, ...]]]]) -> None:
        with self.con.transaction():
            for table, rows in batches:
                cols = ", ".join(quote(c) for c in table.column_names)
                with (
                    self.con.cursor() as cur,
                    cur.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)

    def replace_rows(self, table: Table, rows: Sequence[tuple[Any, ...]], where: str) -> None:
        cols = ", ".join(quote(c) for c in table.column_names)
        with self.con.transaction():
            self.con.execute(f"DELETE FROM {quote(table.name)} WHERE {where}")
            with (
                self.con.cursor() as cur,
                cur.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)

    def ibis(self) -> Any:
        """An Ibis backend on its own connection (opened once, closed with the store)."""
        if self._ibis is None:
            import ibis

            conninfo, _ = split_schema(self.url)
            con = psycopg.connect(conninfo, autocommit=True)
            con.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
            con.execute("SET TIME ZONE 'UTC'")
            self._ibis = ibis.postgres.from_connection(con)
        return self._ibis

    def close(self) -> None:
        if self._ibis is not None:
            self._ibis.disconnect()
            self._ibis = None
        self.con.close()
