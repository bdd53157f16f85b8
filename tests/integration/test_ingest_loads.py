"""Loads on DuckDB and PostgreSQL: idempotence, updates, time zones, formats, references to
the store, unusable input and the reject-rate limit."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_csv
from tests.integration.test_ingest_rejections import NOW, base_rows, load, write_market
from tiyan.domain.errors import SourceError, UnknownNameError, UsageError
from tiyan.ingest.load import ingest
from tiyan.ingest.quarantine import list_quarantine
from tiyan.store import Store


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    tables = ["merchants", "consumers", "products", "orders", "shipments", "reviews"]
    return {t: sorted(map(tuple, store.query(f"SELECT * FROM {t}")), key=repr) for t in tables}


def test_reload_changes_nothing(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["orders"].append(dict(rows["orders"][0], order_id="O2", channel="tv"))  # one bad row
    folder = write_market(tmp_path / "in", rows)
    first = load(store, folder)
    before = snapshot(store)
    second = load(store, folder)
    assert snapshot(store) == before
    for t in second.tables.values():
        assert (t.inserted, t.updated) == (0, 0)
        assert t.unchanged == first.tables[t.table].inserted
    # the bad row is quarantined once, not once per load
    assert store.count("quarantine") == 1
    assert store.count("ingest_log") == 2 * len(first.tables)


def test_changed_row_updates(store: Store, tmp_path: Path) -> None:
    folder = write_market(tmp_path / "in", base_rows())
    load(store, folder)
    rows = base_rows()
    rows["orders"][0]["status"] = "completed"
    rows["orders"][0]["completed_at"] = "2024-06-25 10:00:00"
    report = load(store, write_market(tmp_path / "in2", rows))
    assert (report.tables["orders"].updated, report.tables["orders"].unchanged) == (1, 0)
    assert report.tables["merchants"].unchanged == 2
    status, completed = store.query("SELECT status, completed_at FROM orders")[0]
    assert status == "completed"
    assert completed == datetime(2024, 6, 25, 2, 0)  # 10:00 Shanghai is 02:00 UTC
    assert store.count("orders") == 1


def test_timestamps_are_stored_in_utc(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["merchants"][0]["opened_at"] = "2023-01-01T09:00:00+02:00"  # offset respected
    rows["merchants"][1]["opened_at"] = "2023-03-01T00:00:00Z"
    rows["consumers"][0]["registered_at"] = "2022-05-05 12:00:00"  # naive: Shanghai time
    load(store, write_market(tmp_path / "in", rows))
    got = dict(store.query("SELECT merchant_id, opened_at FROM merchants"))
    assert got == {"M1": datetime(2023, 1, 1, 7, 0), "M2": datetime(2023, 3, 1, 0, 0)}
    assert store.query("SELECT registered_at FROM consumers")[0][0] == datetime(2022, 5, 5, 4)


def test_platform_time_zone_is_configurable(store: Store, tmp_path: Path) -> None:
    folder = write_market(tmp_path / "in", base_rows())
    ingest(store, [folder], now=NOW, timezone="UTC")
    assert store.query("SELECT paid_at FROM orders")[0][0] == datetime(2024, 6, 18, 10, 0)


def test_references_resolve_against_the_store(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    entities = {k: rows[k] for k in ("merchants", "consumers", "products")}
    facts = {k: rows[k] for k in ("orders", "shipments", "reviews")}
    load(store, write_market(tmp_path / "a", entities))
    report = load(store, write_market(tmp_path / "b", facts))
    assert report.quarantined == 0
    assert store.count("shipments") == 1
    # and the cross-table time check uses the stored order's paid_at
    late = {
        "shipments": [
            dict(
                facts["shipments"][0],
                shipment_id="S9",
                pickup_at="2024-06-17 10:00:00",
                signed_at=None,
            )
        ]
    }
    report = load(store, write_market(tmp_path / "c", late))
    assert report.tables["shipments"].quarantined == 1
    assert store.query("SELECT reason_code FROM quarantine")[0][0] == "time_order"


def test_parquet_jsonl_and_gzip_sources(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    folder = write_market(tmp_path / "in", {k: rows[k] for k in ("consumers", "products")})
    pq.write_table(
        pa.table(
            {
                "merchant_id": ["M1", "M2"],
                "name": ["Shop 1", "Shop 2"],
                "category": ["apparel", "beauty"],
                "opened_at": pa.array(
                    [datetime(2023, 1, 1, 1), datetime(2023, 1, 2, 1)], pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        folder / "merchants.parquet",
    )
    csv_path = write_csv(tmp_path / "tmp", "orders.csv", rows["orders"])
    with csv_path.open("rb") as src, gzip.open(folder / "orders.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "reviews.jsonl").write_text(
        '{"review_id": "R1", "order_id": "O1", "merchant_id": "M1", "rating": 4, '
        '"created_at": "2024-06-21T00:00:00Z"}\n'
    )
    (folder / "README.txt").write_text("not data")
    report = load(store, folder)
    assert report.quarantined == 0, report.tables
    assert report.skipped_files == [str(folder / "README.txt")]
    assert store.query("SELECT opened_at FROM merchants ORDER BY 1")[0][0] == datetime(
        2023, 1, 1, 1
    )
    assert store.query("SELECT rating, created_at FROM reviews")[0] == (
        4,
        datetime(2024, 6, 21, 0, 0),
    )
    assert store.count("orders") == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.xlsx", b"x", "unknown format"),
        ("order.csv", b"order_id\nO1\n", "Did you mean 'orders'"),
        ("merchants.csv", "merchant_id,name,category\nM1,店,food\n".encode("gbk"), "UTF-8"),
    ],
    ids=["unknown_format", "unknown_table", "bad_encoding"],
)
def test_unusable_input_is_an_error_and_writes_nothing(
    store: Store, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    folder = write_market(tmp_path / "in", base_rows())
    (folder / name).write_bytes(content)
    if name == "merchants.csv":
        (folder / "merchants.csv").write_bytes(content)
    with pytest.raises((SourceError, UnknownNameError), match=message):
        load(store, folder)
    assert store.count("orders") == 0
    assert store.count("ingest_log") == 0


def test_missing_source_is_an_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        load(store, tmp_path / "nope")


def test_reject_rate_above_the_limit_writes_no_data(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["orders"][0]["channel"] = "tv"  # 3 of 7 rows rejected (the order, shipment, review)
    folder = write_market(tmp_path / "in", rows)
    report = load(store, folder, max_reject_rate=0.1)
    assert report.status == "rejected"
    assert store.count("merchants") == 0 and store.count("orders") == 0
    assert store.count("quarantine") == 3  # but the reasons are kept for `tiyan quarantine`
    statuses = {r[0] for r in store.query("SELECT status FROM ingest_log")}
    assert statuses == {"rejected"}
    report = load(store, folder, max_reject_rate=0.5)
    assert report.status == "loaded"
    assert store.count("merchants") == 2


def test_unknown_time_zone_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    folder = write_market(tmp_path / "in", base_rows())
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Olympus'"):
        ingest(store, [folder], now=NOW, timezone="Mars/Olympus")


def test_quarantine_listing_reads_through_ibis(store: Store, tmp_path: Path) -> None:
    rows = base_rows()
    rows["orders"].append(dict(rows["orders"][0], order_id="O2", channel="tv"))
    rows["orders"].append(dict(rows["orders"][0], order_id="O3", amount="x"))
    load(store, write_market(tmp_path / "in", rows))
    listed = list_quarantine(store, table="orders")
    assert listed["total"] == 2
    assert {(r["reason_code"], r["rows"]) for r in listed["by_reason"]} == {
        ("not_allowed", 1),
        ("bad_type", 1),
    }
    assert [r["line"] for r in listed["rows"]] == [3, 4]
    assert list_quarantine(store, table="merchants")["total"] == 0
