"""Stores on DuckDB and PostgreSQL: schema version, upgrade of an older store, refusal of a
newer one, and the same tables on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiyan.domain.errors import StoreError, UnknownNameError
from tiyan.domain.model import SYSTEM_TABLES, TABLES
from tiyan.store import SCHEMA_VERSION, open_store


def test_new_store_has_every_table_at_the_current_version(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        columns = store.existing_columns()
        for table in [*TABLES.values(), *SYSTEM_TABLES.values()]:
            assert columns[table.name] == set(table.column_names), table.name


def test_older_store_is_upgraded_on_open(store_url: str) -> None:
    with open_store(store_url) as store:
        # make it look like a store written before `is_gift` and `sim_truth` existed
        store.run_in_transaction(
            [
                "ALTER TABLE orders DROP COLUMN is_gift",
                "DROP TABLE sim_truth",
                "UPDATE tiyan_meta SET value = '0' WHERE key = 'schema_version'",
            ]
        )
        store.run_in_transaction(
            ["INSERT INTO merchants (merchant_id, name, category) VALUES ('M1', 'kept', 'food')"]
        )
    with open_store(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert "is_gift" in store.existing_columns()["orders"]
        assert "sim_truth" in store.existing_columns()
        assert store.query("SELECT name FROM merchants") == [("kept",)]


def test_lookup_indexes_are_created_once(store_url: str) -> None:
    with open_store(store_url) as store:
        assert not {i for i in store.existing_indexes() if i.startswith("ix_")}
        created = store.ensure_lookup_indexes()
        assert "ix_shipments_order_id" in store.existing_indexes() and created
        assert store.ensure_lookup_indexes() == []
        # an indexed table still takes a new column (a later model's upgrade)
        store.run_in_transaction(["ALTER TABLE shipments ADD COLUMN note VARCHAR"])


def test_newer_store_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        store.run_in_transaction(
            [f"UPDATE tiyan_meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'"]
        )
    with pytest.raises(StoreError, match="newer than this tiyan"):
        open_store(store_url)


def test_reads_go_through_ibis(store_url: str) -> None:
    with open_store(store_url) as store:
        con = store.ibis()
        assert con.table("orders").count().to_pyarrow().as_py() == 0
        assert set(TABLES) <= set(con.list_tables())


def test_unknown_url_scheme_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'postgresql'"):
        open_store("postgresq://localhost/db")


def test_memory_limit_bounds_the_embedded_engine(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "t.duckdb"), memory_limit="1GB") as store:
        limit = store.query("SELECT current_setting('memory_limit')")[0][0]
        assert limit.replace(" ", "") in {"1.0GiB", "953.6MiB", "1.0GB", "953.6MB"}, limit
    with pytest.raises(StoreError, match="bad memory limit"):
        open_store(str(tmp_path / "u.duckdb"), memory_limit="lots")
