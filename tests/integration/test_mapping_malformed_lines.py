"""A mapping's source files are accounted for line by line, like a file of one table: a line
of a source that does not parse is quarantined as ``malformed_line`` with its file, number and
raw text, and the load goes on with every other line (DuckDB and PostgreSQL)."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tiyan.domain.errors import SourceError
from tiyan.ingest.load import ingest
from tiyan.store.base import Store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "olist"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
#: A line with an unterminated quote and one with a field too many.
OPEN_QUOTE = 'deadbeefdeadbeefdeadbeefdeadbeef,"b02006a0b1cacc474cbd49fc8e3fb29b,delivered\n'
EXTRA = "cafebabecafebabecafebabecafebabe,x,delivered,2018-04-03 10:15:42,,,,,,surplus\n"


def _broken_copy(tmp_path: Path) -> tuple[Path, int, int]:
    folder = tmp_path / "olist"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("expected"))
    orders = folder / "olist_orders_dataset.csv"
    lines = orders.read_text(encoding="utf-8").splitlines(keepends=True)
    # the open quote in the middle, the extra field before the last line
    lines.insert(5, OPEN_QUOTE)
    lines.insert(len(lines) - 1, EXTRA)
    orders.write_text("".join(lines), encoding="utf-8")
    return folder, 6, len(lines) - 1


def test_malformed_source_lines_are_quarantined_and_the_rest_loaded(
    store: Store, tmp_path: Path
) -> None:
    clean = ingest(store, [FIXTURE], now=NOW, mapping="olist")
    orders_clean = store.count("orders")
    folder, quote_line, extra_line = _broken_copy(tmp_path)
    report = ingest(store, [folder], now=NOW, mapping="olist")
    assert report.status == "loaded"
    source = str(folder / "olist_orders_dataset.csv")
    assert report.malformed_source_lines == {source: 2}
    assert report.quarantined == clean.quarantined + 2
    # every other order is still there (the same ones: the rest of the file was read)
    assert store.count("orders") == orders_clean
    found = store.query(
        "SELECT table_name, source, line, reason_code, raw FROM quarantine "
        "WHERE table_name LIKE ? ORDER BY line",
        ("source:%",),
    )
    assert [(t, s, line, code) for t, s, line, code, _ in found] == [
        ("source:olist_orders", source, quote_line, "malformed_line"),
        ("source:olist_orders", source, extra_line, "malformed_line"),
    ]
    assert found[0][4] == OPEN_QUOTE.rstrip("\n") and found[1][4] == EXTRA.rstrip("\n")
    # every physical line: the header, the records read, the two quarantined
    lines = (folder / "olist_orders_dataset.csv").read_text(encoding="utf-8").count("\n")
    assert lines == 1 + report.tables["orders"].read + 2
    # the same load again adds nothing
    again = ingest(store, [folder], now=NOW, mapping="olist")
    assert again.malformed_source_lines == {source: 2}
    assert store.query(
        "SELECT count(*) FROM quarantine WHERE table_name LIKE ?", ("source:%",)
    ) == [(2,)]


def test_a_cut_gzip_source_refuses_the_load_and_writes_nothing(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "olist"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("expected"))
    mapping = folder / "olist.yaml"
    text = Path(__file__).resolve().parents[2] / "src/tiyan/ingest/mappings/olist.yaml"
    mapping.write_text(
        text.read_text(encoding="utf-8").replace(
            "olist_orders_dataset.csv", "olist_orders_dataset.csv.gz"
        ),
        encoding="utf-8",
    )
    orders = folder / "olist_orders_dataset.csv"
    packed = gzip.compress(orders.read_bytes() * 50)
    (folder / "olist_orders_dataset.csv.gz").write_bytes(packed[: len(packed) * 6 // 10])
    orders.unlink()
    with pytest.raises(SourceError, match="truncated"):
        ingest(store, [folder], now=NOW, mapping=mapping)
    assert store.count("orders") == 0 and store.count("quarantine") == 0
