"""The canonical model is consistent, and the generated docs match it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tiyan.docs import render, render_metrics
from tiyan.domain.errors import UnknownTableError
from tiyan.domain.model import SYSTEM_TABLES, TABLES, get_table

ROOT = Path(__file__).resolve().parents[2]


def test_references_point_to_earlier_tables_and_real_columns() -> None:
    order = list(TABLES)
    for table in TABLES.values():
        for col in table.references:
            assert col.references is not None
            parent = TABLES[col.references.table]
            assert order.index(parent.name) < order.index(table.name), (table.name, col.name)
            assert parent.primary_key == (col.references.column,)


def test_keys_time_order_and_time_columns_name_real_columns() -> None:
    for table in [*TABLES.values(), *SYSTEM_TABLES.values()]:
        names = set(table.column_names)
        assert len(names) == len(table.columns), f"duplicate column in {table.name}"
        assert set(table.primary_key) <= names
        for key in table.primary_key:
            assert table.column(key).required, (table.name, key)
        if table.time_column:
            assert table.time_column in names
        for rule in table.time_order:
            assert rule.later in names
            if rule.via:
                parent_table, parent_col = rule.earlier.split(".")
                assert table.column(rule.via).references.table == parent_table  # type: ignore[union-attr]
                assert parent_col in TABLES[parent_table].column_names
            else:
                assert rule.earlier in names


def test_issue_minimum_columns_are_present() -> None:
    required = {
        "orders": "order_id merchant_id product_id consumer_id channel quantity amount paid_at "
        "promised_ship_by presale status cancelled_at cancelled_by cancel_reason signed_at "
        "completed_at creator_id",
        "shipments": "shipment_id order_id carrier tracking_no shipped_at pickup_at signed_at "
        "destination_region",
        "after_sales": "case_id order_id type reason requested_at amount merchant_responded_at "
        "merchant_decision return_tracking_no resolved_at resolution resolved_by "
        "platform_intervened liability express",
        "consumers": "consumer_id region risk_tier registered_at",
    }
    for table, cols in required.items():
        assert set(cols.split()) <= set(TABLES[table].column_names)


def test_consumers_hold_no_personal_data() -> None:
    forbidden = {"name", "phone", "mobile", "address", "email", "id_card"}
    assert not forbidden & set(TABLES["consumers"].column_names)


def test_unknown_table_suggests_the_closest() -> None:
    with pytest.raises(UnknownTableError, match="Did you mean 'shipments'"):
        get_table("shipment")


def test_generated_data_model_doc_is_current() -> None:
    committed = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/data-model.md is stale: run `make docs`"
    metrics = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert metrics == render_metrics(), "docs/metrics.md is stale: run `make docs`"


PURE = ["domain"]


def test_domain_imports_nothing_with_io() -> None:
    """domain/ is pure: no database driver, web or CLI framework, nor the rest of tiyan."""
    banned = {"duckdb", "psycopg", "ibis", "fastapi", "typer", "rich", "pyarrow"}
    for path in (ROOT / "src" / "tiyan" / "domain").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in banned, f"{path.name} imports {name}"
                if top == "tiyan":
                    assert name.startswith("tiyan.domain"), f"{path.name} imports {name}"
