"""Open vocabularies, on DuckDB and PostgreSQL: a descriptive label outside tiyan's codes
(store type, risk tier, cancel reason) is kept as given with an ``unlisted_value`` warning,
never a rejection of the row and of what refers to it; a column a rule tests (status,
cancelled_by, channel, ...) still rejects an unknown value, naming the codes and the
mapping's ``values:`` table; a mapping's ``values:`` table turns a source's own values into
codes before validation, and only codes ever count for a rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_csv
from tests.integration.test_ingest_rejections import (
    NOW,
    assert_reconciles,
    base_rows,
    load,
    quarantined,
    write_market,
)
from tiyan.domain.errors import SourceError
from tiyan.domain.metrics import CatalogConfig
from tiyan.domain.model import TABLES
from tiyan.ingest.load import ingest
from tiyan.ingest.mapping import parse_mapping
from tiyan.metrics.runner import store_tables
from tiyan.policy.detect import detect
from tiyan.policy.rules import Rules
from tiyan.store import Store

FREE_TEXT = "买错了尺码，想换大一号"


def _with_labels() -> dict[str, list[dict[str, Any]]]:
    """The base market plus a merchant, a consumer and an order with labels of their own,
    and the products and orders that refer to them."""
    rows = base_rows()
    order = rows["orders"][0]
    rows["merchants"].append(dict(rows["merchants"][0], merchant_id="M3", store_type="ordinary"))
    rows["consumers"].append(dict(rows["consumers"][0], consumer_id="C2", risk_tier="normal"))
    rows["products"].append(dict(rows["products"][0], product_id="P3", merchant_id="M3"))
    rows["orders"] += [
        dict(order, order_id="O3", merchant_id="M3", product_id="P3"),
        dict(order, order_id="O4", consumer_id="C2"),
        dict(
            order,
            order_id="O5",
            status="cancelled",
            signed_at=None,
            cancelled_at="2024-06-18 11:00:00",
            cancelled_by="consumer",
            cancel_reason=FREE_TEXT,
        ),
    ]
    return rows


def _warnings(report: Any, table: str) -> list[tuple[str, str, int]]:
    return [(w["code"], w["column"], w["rows"]) for w in report.tables[table].warnings]


def test_descriptive_labels_are_kept_as_given_with_a_warning(store: Store, tmp_path: Path) -> None:
    report = load(store, write_market(tmp_path / "in", _with_labels()))
    assert quarantined(store) == set()
    assert_reconciles(report)
    assert report.tables["merchants"].inserted == 3
    assert report.tables["consumers"].inserted == 2
    assert report.tables["products"].inserted == 2  # P3 of merchant M3 is not quarantined
    assert report.tables["orders"].inserted == 4  # nor are O3 (M3), O4 (C2) and O5
    assert _warnings(report, "merchants") == [("unlisted_value", "store_type", 1)]
    assert _warnings(report, "consumers") == [("unlisted_value", "risk_tier", 1)]
    assert _warnings(report, "orders") == [("unlisted_value", "cancel_reason", 1)]
    example = report.tables["merchants"].warnings[0]["example"]
    assert "'ordinary'" in example and "kept as given" in example and "flagship" in example
    assert "warnings" in report.to_dict()["tables"]["consumers"]
    # kept exactly as given
    assert store.query("SELECT store_type FROM merchants WHERE merchant_id = 'M3'") == [
        ("ordinary",)
    ]
    assert store.query("SELECT risk_tier FROM consumers WHERE consumer_id = 'C2'") == [("normal",)]
    assert store.query("SELECT cancel_reason FROM orders WHERE order_id = 'O5'") == [(FREE_TEXT,)]
    # the same load again: nothing written, the same warnings
    again = load(store, write_market(tmp_path / "in", _with_labels()))
    assert again.tables["orders"].unchanged == 4
    assert _warnings(again, "orders") == [("unlisted_value", "cancel_reason", 1)]


@pytest.mark.parametrize(
    ("column", "value", "codes"),
    [
        ("status", "payed", "paid, shipped, signed, completed, cancelled"),
        ("cancelled_by", "buyer", "consumer, merchant, platform, system"),
        ("channel", "tv", "live, video, shelf, search, store"),
    ],
)
def test_a_column_the_rules_test_still_rejects_an_unknown_value(
    store: Store, tmp_path: Path, column: str, value: str, codes: str
) -> None:
    rows = base_rows()
    rows["orders"].append(dict(rows["orders"][0], order_id="O2", **{column: value}))
    report = load(store, write_market(tmp_path / "in", rows))
    assert quarantined(store) == {("orders", 3, column, "not_allowed")}
    assert report.tables["orders"].inserted == 1
    (reason,) = store.query("SELECT reason FROM quarantine")[0]
    assert f"{column} '{value}' is not one of: {codes}" in reason
    assert "values: table" in reason and "docs/mappings.md" in reason


# -- a mapping's values: tables ------------------------------------------------------------

MAPPING = """
name: shop
timezone: Asia/Shanghai
sources:
  shop_merchants: shop_merchants.csv
  shop_orders: shop_orders.csv
tables:
  merchants: SELECT * FROM shop_merchants ORDER BY merchant_id
  orders: SELECT * FROM shop_orders ORDER BY order_id
columns:
  merchants:
    store_type:
      values: {"普通店": individual, "旗舰店": flagship}
  orders:
    status:
      values: {"已签收": signed, " 已取消 ": cancelled, 1: paid}
    cancelled_by:
      values: {"买家": consumer, "商家": merchant}
    cancel_reason:
      values: {"缺货": out_of_stock, "-": null}
"""


def _shop_order(order_id: str, **changes: Any) -> dict[str, Any]:
    row = {
        "order_id": order_id,
        "merchant_id": "S1",
        "amount": "10.00",
        "paid_at": "2024-06-11 10:00:00",
        "promised_ship_by": "2024-06-13 10:00:00",
        "status": "1",
        "cancelled_at": None,
        "cancelled_by": None,
        "cancel_reason": None,
    }
    row.update(changes)
    return row


def _cancelled(order_id: str, by: str, reason: str) -> dict[str, Any]:
    at = "2024-06-11 20:00:00"
    return _shop_order(
        order_id, status="已取消", cancelled_at=at, cancelled_by=by, cancel_reason=reason
    )


def _write_shop(folder: Path, orders: list[dict[str, Any]], mapping: str = MAPPING) -> Path:
    write_csv(
        folder,
        "shop_merchants.csv",
        [
            {"merchant_id": "S1", "name": "小林的店", "category": "food", "store_type": "普通店"},
            {"merchant_id": "S2", "name": "大店", "category": "food", "store_type": "旗舰店"},
            {"merchant_id": "S3", "name": "夜市", "category": "food", "store_type": "夜市摊"},
        ],
    )
    write_csv(folder, "shop_orders.csv", orders)
    path = folder.parent / "shop.yaml"
    path.write_text(mapping, encoding="utf-8")
    return path


def test_a_values_table_maps_a_source_s_values_to_codes(store: Store, tmp_path: Path) -> None:
    orders = [
        _shop_order("A1"),
        _shop_order("A2", status="已签收"),
        _cancelled("A3", "商家", "缺货"),
        _cancelled("A4", "买家", FREE_TEXT),
        _cancelled("A5", "买家", "-"),
        _shop_order("A6", status="待付款"),  # named by no values table: not a status
    ]
    mapping = _write_shop(tmp_path / "export", orders)
    report = ingest(store, [tmp_path / "export"], now=NOW, mapping=mapping)
    assert_reconciles(report)
    stored = store.query(
        "SELECT order_id, status, cancelled_by, cancel_reason FROM orders ORDER BY order_id"
    )
    assert stored == [
        ("A1", "paid", None, None),
        ("A2", "signed", None, None),
        ("A3", "cancelled", "merchant", "out_of_stock"),
        ("A4", "cancelled", "consumer", FREE_TEXT),
        ("A5", "cancelled", "consumer", None),
    ]
    assert store.query("SELECT merchant_id, store_type FROM merchants ORDER BY 1") == [
        ("S1", "individual"),
        ("S2", "flagship"),
        ("S3", "夜市摊"),
    ]
    assert _warnings(report, "merchants") == [("unlisted_value", "store_type", 1)]
    assert _warnings(report, "orders") == [("unlisted_value", "cancel_reason", 1)]
    assert quarantined(store) == {("orders", 6, "status", "not_allowed")}
    # the quarantine keeps the row as the source gave it
    (raw,) = store.query("SELECT raw FROM quarantine")[0]
    assert "待付款" in raw


def _burst(reason: str) -> list[dict[str, Any]]:
    """Three merchant cancellations with ``reason`` among 60 orders of one week: 5%, the
    fake-inventory threshold when the reason is out of stock."""
    orders = [_cancelled(f"X{i}", "商家", reason) for i in range(1, 4)]
    orders += [_shop_order(f"F{i:02d}") for i in range(1, 58)]
    return orders


@pytest.mark.parametrize(
    ("reason", "expect"),
    [("缺货", ["week:2024-06-10"]), ("缺货了", []), ("out of stock", []), ("Out_of_stock", [])],
)
def test_only_a_code_counts_for_a_rule(
    store: Store, tmp_path: Path, reason: str, expect: list[str]
) -> None:
    """The values table's 缺货 is out_of_stock, and three such cancellations in a week are
    fake inventory (虚设库存); text that merely reads like it is kept, and counts for nothing."""
    mapping = _write_shop(tmp_path / "export", _burst(reason))
    report = ingest(store, [tmp_path / "export"], now=NOW, mapping=mapping)
    assert report.tables["orders"].quarantined == 0
    rules = Rules.model_validate({"lookback_days": 60, "fake_inventory": {}})
    found = detect(store_tables(store), rules, CatalogConfig(), as_of=date(2024, 6, 25))
    subjects = sorted(found["fake_inventory"].to_pyarrow().column("subject").to_pylist())
    assert subjects == expect


def test_the_codes_the_rules_test_are_codes_of_their_columns() -> None:
    import tiyan.metrics.catalog as catalog
    import tiyan.policy.detect as detectors

    orders, cases = TABLES["orders"], TABLES["after_sales"]
    reasons = set(orders.column("cancel_reason").allowed or ())
    assert set(detectors._OUT_OF_STOCK) | set(detectors._MERCHANT_CANCEL) <= reasons
    assert set(catalog._MERCHANT_CANCEL_REASONS) <= reasons
    assert set(catalog._QUALITY_REASONS) <= set(cases.column("reason").allowed or ())
    # what a metric or rule filters on is closed
    for table, column in [
        ("orders", "status"),
        ("orders", "cancelled_by"),
        ("orders", "channel"),
        ("after_sales", "type"),
        ("after_sales", "reason"),
        ("after_sales", "resolution"),
        ("after_sales", "resolved_by"),
        ("after_sales", "liability"),
        ("complaints", "type"),
        ("tracking_events", "status"),
    ]:
        assert not TABLES[table].column(column).descriptive, (table, column)


@pytest.mark.parametrize(
    ("columns", "error"),
    [
        ("  orders: {status: {values: {'已付款': payed}}}", "'payed' is not one of status's codes"),
        ("  orders: {state: {values: {a: paid}}}", "unknown column of orders 'state'"),
        ("  orders: {amount: {values: {a: '1'}}}", "amount is a money column"),
        ("  reviews: {text: {values: {a: b}}}", "the mapping's tables produce no reviews"),
        ("  orders: {status: {values: {yes: paid}}}", "not text: quote it"),
        ("  orders: {status: {value: {a: paid}}}", "values"),
    ],
)
def test_a_values_table_is_checked_when_the_mapping_loads(columns: str, error: str) -> None:
    text = MAPPING.split("columns:")[0] + "columns:\n" + columns + "\n"
    with pytest.raises(SourceError, match="invalid mapping") as caught:
        parse_mapping(text, "shop.yaml")
    assert error in str(caught.value)
