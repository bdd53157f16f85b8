"""Hostile and real-world files, on DuckDB and PostgreSQL: every physical line is accounted
for (accepted, or quarantined with its line and raw text), wherever the malformation is; a
broken compressed file is refused; NUL bytes, bad offsets, DST gaps and exotic numbers are
the row's problem, never the file's."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.test_ingest_rejections import NOW, base_rows, write_market
from tiyan.domain.errors import SourceError
from tiyan.ingest.load import LoadReport, ingest
from tiyan.store import Store

HEADER = "order_id,merchant_id,product_id,consumer_id,channel,quantity,amount,paid_at,status\n"


def order_line(line: int) -> str:
    """The valid order of physical line ``line`` (its id names the line)."""
    return f"O{line},M1,P1,C1,live,1,99.00,2024-06-18 10:00:00,paid\n"


def orders_file(folder: Path, rows: int, bad: dict[int, str] | None = None) -> Path:
    """``folder/orders.csv`` of ``rows`` valid orders, lines replaced by ``bad[line]``; the
    entities the orders refer to beside it."""
    entities = base_rows()
    write_market(folder, {k: entities[k] for k in ("merchants", "consumers", "products")})
    lines = [HEADER] + [order_line(n) for n in range(2, rows + 2)]
    for line, text in (bad or {}).items():
        lines[line - 1] = text
    path = folder / "orders.csv"
    path.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    return path


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def quarantine_of(store: Store) -> dict[int, tuple[str, str]]:
    rows = store.query(
        "SELECT line, reason_code, raw FROM quarantine WHERE table_name = 'orders' ORDER BY line"
    )
    return {int(line): (code, raw) for line, code, raw in rows}


def assert_accounted(store: Store, report: LoadReport, path: Path) -> None:
    """read = accepted + quarantined = the file's own line count (header aside), and every
    line is exactly one of: its order stored, or quarantined."""
    lines = physical_lines(path.read_bytes())
    orders = report.tables["orders"]
    assert orders.read == orders.accepted + orders.quarantined == lines - 1, orders
    stored = {int(r[0][1:]) for r in store.query("SELECT order_id FROM orders")}
    quarantined = set(quarantine_of(store))
    assert not stored & quarantined
    assert stored | quarantined == set(range(2, lines + 1))


EXTRA = "O{n},M1,P1,C1,live,1,99.00,2024-06-18 10:00:00,paid,EXTRA\n"
UNTERMINATED = 'O{n},M1,P1,C1,"live,1,99.00,2024-06-18 10:00:00,paid\n'
HUGE = "O{n},M1,P1,C1,live,1,99.00,2024-06-18 10:00:00," + "x" * (2 << 20) + "\n"


@pytest.mark.parametrize("where", [5, 20_001, 30_001])
@pytest.mark.parametrize(
    "kind", ["extra_field", "unterminated_quote", "huge_field"], ids=lambda k: str(k)
)
def test_one_bad_line_anywhere_is_that_line(
    store: Store, tmp_path: Path, kind: str, where: int
) -> None:
    text = {"extra_field": EXTRA, "unterminated_quote": UNTERMINATED, "huge_field": HUGE}[kind]
    path = orders_file(tmp_path / "in", 40_000, {where: text.format(n=where)})
    report = ingest(store, [tmp_path / "in"], now=NOW)
    assert report.status == "loaded"
    assert_accounted(store, report, path)
    got = quarantine_of(store)
    assert set(got) == {where}
    code, raw = got[where]
    if kind == "huge_field":  # parses: its status is simply not a status
        assert code == "not_allowed"
    else:
        assert code == "malformed_line"
        assert raw == text.format(n=where).rstrip("\n")


def test_a_run_of_bad_lines_keeps_the_good_ones_between(store: Store, tmp_path: Path) -> None:
    bad = {
        7: UNTERMINATED.format(n=7),
        8: EXTRA.format(n=8),
        21_000: UNTERMINATED.format(n=21_000),
        25_000: UNTERMINATED.format(n=25_000),
        25_001: "O25001,M1\n",
        30_000: "\n".join(["O30000,M1,P1,C1,\u00e9\udcff"]) + "\n",  # a lone byte 0xFF
    }
    path = orders_file(tmp_path / "in", 30_000, bad)
    report = ingest(store, [tmp_path / "in"], now=NOW)
    assert_accounted(store, report, path)
    assert {line: code for line, (code, _) in quarantine_of(store).items()} == {
        line: "malformed_line" for line in bad
    }


def test_loading_a_repaired_file_twice_changes_nothing(store: Store, tmp_path: Path) -> None:
    orders_file(tmp_path / "in", 25_000, {21_000: UNTERMINATED.format(n=21_000)})
    first = ingest(store, [tmp_path / "in"], now=NOW)
    second = ingest(store, [tmp_path / "in"], now=NOW)
    assert second.tables["orders"].inserted == 0
    assert second.tables["orders"].unchanged == first.tables["orders"].inserted == 24_999
    assert store.count("quarantine") == 1


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_broken_gzip_is_refused_and_writes_nothing(
    store: Store, tmp_path: Path, damage: str
) -> None:
    path = orders_file(tmp_path / "in", 40_000)
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    if damage == "truncated":
        packed = packed[: len(packed) * 6 // 10]
    else:
        middle = len(packed) // 2
        packed = (
            packed[:middle]
            + bytes(b ^ 0x5A for b in packed[middle : middle + 64])
            + (packed[middle + 64 :])
        )
    (tmp_path / "in" / "orders.csv.gz").write_bytes(packed)
    with pytest.raises(SourceError, match=r"orders\.csv\.gz.*(line [0-9,]+|byte [0-9,]+)"):
        ingest(store, [tmp_path / "in"], now=NOW)
    assert store.count("merchants") == 0
    assert store.count("orders") == 0
    assert store.count("ingest_log") == 0 and store.count("quarantine") == 0


def test_a_truncated_gzip_exits_2_on_the_command_line(tmp_path: Path) -> None:
    from tiyan.cli.main import app

    path = orders_file(tmp_path / "in", 40_000)
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    (tmp_path / "in" / "orders.csv.gz").write_bytes(packed[: len(packed) * 6 // 10])
    db = str(tmp_path / "t.duckdb")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "in"), "--db", db])
    assert result.exit_code == 2, result.output
    assert "truncated" in result.output


def test_nul_byte_and_bad_utf8_quarantine_only_their_row(store: Store, tmp_path: Path) -> None:
    bad = {
        100: "O100,M1,P1,C1,li\x00ve,1,99.00,2024-06-18 10:00:00,paid\n",
        200: "O200\x00,M1,P1,C1,live,1,99.00,2024-06-18 10:00:00,paid\n",
        300: "O300,M1,P1,C1,live,1,99.00,2024-06-18 10:00:00,p\udce4id\n",
    }
    path = orders_file(tmp_path / "in", 40_000, bad)
    report = ingest(store, [tmp_path / "in"], now=NOW)
    assert report.status == "loaded"
    assert_accounted(store, report, path)
    got = quarantine_of(store)
    assert set(got) == set(bad)
    assert got[100][0] == got[200][0] == "bad_text"
    assert got[300][0] == "malformed_line"
    assert store.count("orders") == 40_000 - 3


def _orders(**changes: Any) -> list[dict[str, Any]]:
    rows = base_rows()["orders"]
    for n, (column, value) in enumerate(changes.items(), start=2):
        rows.append(dict(rows[0], order_id=f"O{n}", **{column: value}))
    return rows


def load_orders(store: Store, tmp_path: Path, orders: list[dict[str, Any]], **kw: Any) -> Any:
    rows = base_rows()
    rows["orders"] = orders
    write_market(tmp_path / "in", {k: rows[k] for k in ("merchants", "consumers", "products")})
    write_market(tmp_path / "in", {"orders": orders})
    return ingest(store, [tmp_path / "in"], now=NOW, **kw)


@pytest.mark.parametrize(
    ("paid_at", "ok"),
    [
        ("2024-06-18T10:00:00+99:00", False),
        ("2024-06-18T10:00:00+25:30", False),
        ("2024-06-18T10:00:00-14:01", False),
        ("2024-06-18T10:00:00+08:60", False),
        ("2024-06-18T10:00:00+14:00", True),
        ("2024-06-18T10:00:00-12:00", True),
        ("2024-06-18T10:00:00+0530", True),
    ],
)
def test_utc_offsets_beyond_14_hours_are_bad_type(
    store: Store, tmp_path: Path, paid_at: str, ok: bool
) -> None:
    orders = base_rows()["orders"]
    orders[0].update(paid_at=paid_at, signed_at=None, status="paid")
    report = load_orders(store, tmp_path, orders)
    assert report.tables["orders"].read == 1
    if ok:
        assert report.tables["orders"].inserted == 1
    else:
        assert quarantine_of(store) == {2: ("bad_type", quarantine_of(store)[2][1])}, (
            "offset must be rejected"
        )


def test_dst_gap_is_bad_type_and_ambiguous_time_a_warning(store: Store, tmp_path: Path) -> None:
    orders = base_rows()["orders"]
    orders[0].update(signed_at=None, promised_ship_by=None, status="paid")
    orders[0]["paid_at"] = "2024-03-10 02:30:00"  # in the hour skipped in spring
    orders.append(dict(orders[0], order_id="O2", paid_at="2024-11-03 01:30:00"))  # ambiguous
    orders.append(dict(orders[0], order_id="O3", paid_at="2024-07-01 12:00:00"))
    report = load_orders(store, tmp_path, orders, timezone="America/New_York")
    got = quarantine_of(store)
    assert {line: code for line, (code, _) in got.items()} == {2: "bad_type"}
    assert report.tables["orders"].inserted == 2
    warnings = report.tables["orders"].warnings
    assert [(w["code"], w["rows"]) for w in warnings] == [("ambiguous_time", 1)]
    assert "paid_at" in warnings[0]["example"]
    assert "warnings" in report.to_dict()["tables"]["orders"]


@pytest.mark.parametrize(
    ("column", "value", "ok"),
    [
        ("quantity", "1e3", False),
        ("quantity", "1_000", False),
        ("quantity", "0x10", False),
        ("amount", "1_000", False),
        ("amount", "1e3", False),
        ("amount", "Infinity", False),
        ("amount", " 1000.50 ", True),
        ("amount", "+12", True),
        ("quantity", "3", True),
    ],
)
def test_numbers_are_plain_decimals(
    store: Store, tmp_path: Path, column: str, value: str, ok: bool
) -> None:
    report = load_orders(store, tmp_path, _orders(**{column: value}))
    assert report.tables["orders"].read == 2
    got = quarantine_of(store)
    if ok:
        assert got == {}
    else:
        assert {line: code for line, (code, _) in got.items()} == {3: "bad_type"}
