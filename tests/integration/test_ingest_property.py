"""Property: every row read is accepted or quarantined, and exactly the defective ones are
quarantined — checked against what the generator itself broke, not against tiyan's output."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import write_csv
from tests.integration.test_ingest_rejections import NOW
from tiyan.ingest.load import ingest
from tiyan.store import open_store

# defect name -> how it breaks a valid order row
DEFECTS: dict[str, dict[str, Any]] = {
    "missing_amount": {"amount": None},
    "bad_amount": {"amount": "12,5"},
    "negative_amount": {"amount": "-0.01"},
    "bad_channel": {"channel": "radio"},
    "unknown_merchant": {"merchant_id": "M404"},
    "bad_time": {"paid_at": "yesterday"},
    "signed_before_paid": {"signed_at": "2024-06-01 00:00:00"},
    "bad_quantity": {"quantity": "0"},
}

order_spec = st.tuples(
    st.sampled_from([None, *DEFECTS]),  # None = a valid row
    st.integers(min_value=0, max_value=4),  # merchant
    st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False),
    st.booleans(),  # duplicate this row's id onto the next row?
)


def build(specs: list[tuple[str | None, int, Any, bool]]) -> tuple[list[dict[str, Any]], set[int]]:
    """Orders CSV rows and the line numbers that must be rejected."""
    rows: list[dict[str, Any]] = []
    bad_lines: set[int] = set()
    ids: list[str] = []
    for i, (defect, merchant, amount, _) in enumerate(specs):
        order_id = ids[-1] if (i > 0 and specs[i - 1][3]) else f"O{i}"
        row = {
            "order_id": order_id,
            "merchant_id": f"M{merchant}",
            "channel": "live",
            "quantity": "2",
            "amount": str(amount),
            "paid_at": "2024-06-18 10:00:00",
            "signed_at": "2024-06-20 10:00:00",
            "status": "signed",
        }
        if defect:
            row.update(DEFECTS[defect])
            bad_lines.add(i + 2)
        rows.append(row)
        ids.append(order_id)
    counts: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        counts.setdefault(row["order_id"], []).append(line)
    for lines in counts.values():
        if len(lines) > 1:
            bad_lines.update(lines)
    return rows, bad_lines


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(order_spec, min_size=1, max_size=40))
def test_read_equals_accepted_plus_quarantined(specs: list[Any]) -> None:
    rows, bad_lines = build(specs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        merchants = [
            {"merchant_id": f"M{i}", "name": f"S{i}", "category": "food"} for i in range(5)
        ]
        write_csv(folder, "merchants.csv", merchants)
        write_csv(folder, "orders.csv", rows)
        with open_store(str(Path(tmp) / "t.duckdb")) as store:
            report = ingest(store, [folder], now=NOW)
            orders = report.tables["orders"]
            assert orders.read == len(rows) == orders.accepted + orders.quarantined
            got = {
                int(r[0])
                for r in store.query("SELECT line FROM quarantine WHERE table_name = 'orders'")
            }
            assert got == bad_lines
            stored = {r[0] for r in store.query("SELECT order_id FROM orders")}
            good = {r["order_id"] for line, r in enumerate(rows, 2) if line not in bad_lines}
            assert stored == good
            logged = store.query(
                "SELECT sum(read_rows), sum(inserted + updated + unchanged), sum(quarantined) "
                "FROM ingest_log WHERE table_name = 'orders'"
            )[0]
            assert logged == (len(rows), len(good), len(bad_lines))
