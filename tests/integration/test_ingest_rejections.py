"""Each rejection class, on DuckDB and PostgreSQL: the bad row is quarantined with its source,
line, column and reason; every good row of the same load is loaded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_csv
from tiyan.ingest.load import LoadReport, ingest
from tiyan.store import Store

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def base_rows() -> dict[str, list[dict[str, Any]]]:
    """A small valid market: every table below loads with no rejection."""
    return {
        "merchants": [
            {
                "merchant_id": "M1",
                "name": "Shop 1",
                "category": "apparel",
                "store_type": "flagship",
                "region": "Zhejiang",
                "opened_at": "2023-01-01 09:00:00",
            },
            {
                "merchant_id": "M2",
                "name": "Shop 2",
                "category": "beauty",
                "store_type": "individual",
                "region": "Guangdong",
                "opened_at": "2023-03-01",
            },
        ],
        "consumers": [
            {
                "consumer_id": "C1",
                "region": "Jiangsu",
                "risk_tier": "ordinary",
                "registered_at": "2022-05-05 12:00:00",
            },
        ],
        "products": [
            {
                "product_id": "P1",
                "merchant_id": "M1",
                "category": "apparel",
                "title": "T-shirt",
                "description": "cotton",
                "price": "99.00",
                "list_price": "129.00",
                "presale_days": None,
                "ship_promise_hours": "48",
            },
        ],
        "orders": [
            {
                "order_id": "O1",
                "merchant_id": "M1",
                "product_id": "P1",
                "consumer_id": "C1",
                "channel": "live",
                "quantity": "1",
                "amount": "99.00",
                "paid_at": "2024-06-18 10:00:00",
                "promised_ship_by": "2024-06-20 10:00:00",
                "presale": "false",
                "status": "signed",
                "signed_at": "2024-06-20 09:00:00",
            },
        ],
        "shipments": [
            {
                "shipment_id": "S1",
                "order_id": "O1",
                "carrier": "ZTO",
                "tracking_no": "ZT1",
                "shipped_at": "2024-06-18 12:00:00",
                "pickup_at": "2024-06-18 18:00:00",
                "signed_at": "2024-06-20 09:00:00",
                "destination_region": "Jiangsu",
            },
        ],
        "reviews": [
            {
                "review_id": "R1",
                "order_id": "O1",
                "merchant_id": "M1",
                "product_id": "P1",
                "rating": "5",
                "text": "好",
                "created_at": "2024-06-21 08:00:00",
            },
        ],
    }


def write_market(folder: Path, rows: dict[str, list[dict[str, Any]]]) -> Path:
    for table, table_rows in rows.items():
        header = list(dict.fromkeys(k for r in table_rows for k in r))
        write_csv(folder, f"{table}.csv", table_rows, header)
    return folder


def quarantined(store: Store) -> set[tuple[str, int, str | None, str]]:
    rows = store.query("SELECT table_name, line, column_name, reason_code FROM quarantine")
    return {(t, int(line), col, code) for t, line, col, code in rows}


def load(store: Store, folder: Path, **kw: Any) -> LoadReport:
    return ingest(store, [folder], now=NOW, **kw)


def assert_reconciles(report: LoadReport) -> None:
    for t in report.tables.values():
        assert t.read == t.accepted + t.quarantined, t


def test_valid_market_loads_everything(store: Store, tmp_path: Path) -> None:
    report = load(store, write_market(tmp_path / "in", base_rows()))
    assert report.quarantined == 0
    assert {n: t.inserted for n, t in report.tables.items()} == {
        "merchants": 2,
        "consumers": 1,
        "products": 1,
        "orders": 1,
        "shipments": 1,
        "reviews": 1,
    }
    assert store.count("orders") == 1
    assert quarantined(store) == set()


def _orders_row(**changes: Any) -> dict[str, Any]:
    row = dict(base_rows()["orders"][0], order_id="O2")
    row.update(changes)
    return row


# (case id, table, extra row, expected quarantine entries (table, line, column, code))
ROW_CASES = [
    ("missing_value", "orders", _orders_row(amount=None), ("orders", 3, "amount", "missing_value")),
    ("bad_type_money", "orders", _orders_row(amount="abc"), ("orders", 3, "amount", "bad_type")),
    ("bad_type_cents", "orders", _orders_row(amount="1.234"), ("orders", 3, "amount", "bad_type")),
    ("bad_type_int", "orders", _orders_row(quantity="1.5"), ("orders", 3, "quantity", "bad_type")),
    (
        "bad_type_timestamp",
        "orders",
        _orders_row(paid_at="2024-13-01 10:00:00"),
        ("orders", 3, "paid_at", "bad_type"),
    ),
    ("bad_type_bool", "orders", _orders_row(presale="maybe"), ("orders", 3, "presale", "bad_type")),
    ("not_allowed", "orders", _orders_row(channel="tv"), ("orders", 3, "channel", "not_allowed")),
    (
        "out_of_range_amount",
        "orders",
        _orders_row(amount="-1"),
        ("orders", 3, "amount", "out_of_range"),
    ),
    (
        "out_of_range_time",
        "orders",
        _orders_row(paid_at="1970-01-01 08:00:00", promised_ship_by=None, signed_at=None),
        ("orders", 3, "paid_at", "out_of_range"),
    ),
    (
        "out_of_range_rating",
        "reviews",
        dict(base_rows()["reviews"][0], review_id="R2", rating="6"),
        ("reviews", 3, "rating", "out_of_range"),
    ),
    (
        "time_order_row",
        "orders",
        _orders_row(signed_at="2024-06-17 10:00:00"),
        ("orders", 3, "signed_at", "time_order"),
    ),
    (
        "unknown_reference",
        "orders",
        _orders_row(merchant_id="M9"),
        ("orders", 3, "merchant_id", "unknown_reference"),
    ),
    (
        "time_order_cross_table",
        "shipments",
        dict(
            base_rows()["shipments"][0],
            shipment_id="S2",
            pickup_at="2024-06-18 09:00:00",
            signed_at=None,
        ),
        ("shipments", 3, "pickup_at", "time_order"),
    ),
]


@pytest.mark.parametrize(
    ("case", "table", "row", "expected"), ROW_CASES, ids=[c[0] for c in ROW_CASES]
)
def test_each_rejection_quarantines_only_the_bad_row(
    store: Store,
    tmp_path: Path,
    case: str,
    table: str,
    row: dict[str, Any],
    expected: tuple[str, int, str, str],
) -> None:
    rows = base_rows()
    rows[table].append(row)
    report = load(store, write_market(tmp_path / "in", rows))
    assert quarantined(store) == {expected}
    assert_reconciles(report)
    assert report.tables[table].inserted == len(rows[table]) - 1
    assert report.quarantined == 1
    # the record is kept as read, and the reason names the column
    raw, reason = store.query("SELECT raw, reason FROM quarantine")[0]
    assert json.loads(raw)[expected[2]] == (row[expected[2]] or None)
    assert expected[2] in reason


def test_duplicate_key_rejects_every_copy(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["merchants"].append(dict(rows["merchants"][1], name="Shop 2 again"))
    report = load(store, write_market(tmp_path / "in", rows))
    assert quarantined(store) == {
        ("merchants", 3, "merchant_id", "duplicate_key"),
        ("merchants", 4, "merchant_id", "duplicate_key"),
    }
    reason = store.query("SELECT reason FROM quarantine LIMIT 1")[0][0]
    assert "line 3" in reason and "line 4" in reason
    assert_reconciles(report)


def test_reference_to_a_rejected_row_says_so(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["orders"][0]["channel"] = "tv"  # O1 rejected, so its shipment and review are too
    report = load(store, write_market(tmp_path / "in", rows))
    assert quarantined(store) == {
        ("orders", 2, "channel", "not_allowed"),
        ("shipments", 2, "order_id", "rejected_reference"),
        ("reviews", 2, "order_id", "rejected_reference"),
    }
    assert_reconciles(report)


def test_missing_required_column_rejects_every_row(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    for r in rows["consumers"]:
        del r["consumer_id"]
    rows["orders"][0]["consumer_id"] = None
    report = load(store, write_market(tmp_path / "in", rows))
    assert quarantined(store) == {("consumers", 2, "consumer_id", "missing_column")}
    assert report.tables["orders"].inserted == 1


def test_malformed_csv_line_is_quarantined_with_its_line(store: Store, tmp_path: Path) -> None:
    folder = write_market(tmp_path / "in", base_rows())
    path = folder / "merchants.csv"
    path.write_text(
        path.read_text() + "M3,Shop 3,food,individual,Hebei,2023-01-01,EXTRA\n"
        "M4,Shop 4,food,individual,Hebei,2023-01-01\n"
    )
    report = load(store, folder)
    assert quarantined(store) == {("merchants", 4, None, "malformed_line")}
    assert store.query("SELECT raw FROM quarantine")[0][0].endswith("EXTRA")
    assert sorted(r[0] for r in store.query("SELECT merchant_id FROM merchants")) == [
        "M1",
        "M2",
        "M4",
    ]
    # line numbers of good rows after the bad one are still right
    assert_reconciles(report)


def test_malformed_jsonl_lines(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [
        json.dumps({"merchant_id": "M1", "name": "A", "category": "food"}),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"merchant_id": "M2", "name": "B", "category": "food", "region": "Hebei"}),
        json.dumps({"merchant_id": "M3", "name": None, "category": "food"}),
    ]
    (folder / "merchants.jsonl").write_text("\n".join(lines) + "\n")
    report = load(store, folder)
    assert quarantined(store) == {
        ("merchants", 2, None, "malformed_line"),
        ("merchants", 3, None, "malformed_line"),
        ("merchants", 6, "name", "missing_value"),
    }
    assert report.tables["merchants"].read == 5  # the blank line is not a record
    assert report.tables["merchants"].inserted == 2


def test_lines_are_physical_when_values_span_lines(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["reviews"][0]["text"] = 'good,\n"really"\ngood'
    rows["reviews"].append(dict(rows["reviews"][0], review_id="R2", text="ok"))
    rows["reviews"].append(dict(rows["reviews"][0], review_id="R3", rating="9", text="x\ny"))
    rows["reviews"].append(dict(rows["reviews"][0], review_id="R4", rating="0", text="z"))
    folder = write_market(tmp_path / "in", rows)
    path = folder / "reviews.csv"
    path.write_text(path.read_text() + "R5,O1,M1,P1,5,too,many,fields\n")
    lines = path.read_text().splitlines()
    assert lines[5].startswith("R3") and lines[7].startswith("R4") and lines[8].startswith("R5")
    report = load(store, folder)
    assert quarantined(store) == {
        ("reviews", 6, "rating", "out_of_range"),
        ("reviews", 8, "rating", "out_of_range"),
        ("reviews", 9, None, "malformed_line"),
    }
    assert report.tables["reviews"].inserted == 2
    texts = dict(store.query("SELECT review_id, text FROM reviews"))
    assert texts["R1"] == 'good,\n"really"\ngood'
