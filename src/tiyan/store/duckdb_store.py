"""The embedded store: one DuckDB file, no server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from tiyan.domain.errors import StoreError
from tiyan.domain.model import Table
from tiyan.store.base import Store, WritePlan, key_join
from tiyan.store.schema import insert_sql, quote, upsert_sql


class DuckDBStore(Store):
    dialect = "duckdb"

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
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
        if not read_only:
            self.ensure_schema()

    def existing_columns(self) -> dict[str, set[str]]:
        rows = self.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_catalog = current_database()"
        ).fetchall()
        found: dict[str, set[str]] = {}
        for table, column in rows:
            found.setdefault(table, set()).add(column)
        return found

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def run_in_transaction(self, statements: Sequence[str]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                self.con.execute(sql)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def fetch_rows(self, staging: Any, table: Table, keys_relation: str, target: str) -> None:
        keys = staging.sql(
            f"SELECT DISTINCT {', '.join(quote(k) for k in table.primary_key)} "
            f"FROM {keys_relation}"
        ).to_arrow_table()
        self.con.register("__tiyan_keys", keys)
        try:
            rows = self.con.sql(
                f"SELECT t.* FROM {quote(table.name)} t "
                f"SEMI JOIN __tiyan_keys k ON {key_join(table, 't', 'k')}"
            ).to_arrow_table()
        finally:
            self.con.unregister("__tiyan_keys")
        staging.register("__tiyan_fetched", rows)
        staging.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM __tiyan_fetched")
        staging.unregister("__tiyan_fetched")

    def write(self, staging: Any, plan: WritePlan) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, relation, replace in plan.steps:
                reader = staging.sql(f"SELECT * FROM {relation}").fetch_record_batch(1_000_000)
                con.register("__tiyan_src", reader)
                try:
                    con.execute(
                        upsert_sql(table, "__tiyan_src")
                        if replace
                        else insert_sql(table, "__tiyan_src")
                    )
                finally:
                    con.unregister("__tiyan_src")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def ibis(self) -> Any:
        import ibis

        return ibis.duckdb.from_connection(self.con)

    def close(self) -> None:
        self.con.close()
