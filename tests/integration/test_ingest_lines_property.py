"""Property: whatever malformations a large CSV holds and wherever they are (before and after
the 20,000 rows a sniffer would look at), every physical line is accounted for — each bad line
quarantined with its own number, every other line's order stored."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_ingest_files import (
    HEADER,
    assert_accounted,
    order_line,
    quarantine_of,
)
from tests.integration.test_ingest_rejections import NOW, base_rows, write_market
from tiyan.ingest.load import ingest
from tiyan.store import open_store

ROWS = 24_000  # lines 2 .. 24,001

#: malformation -> (how it breaks line n, the quarantine's reason)
BREAKS = {
    "extra_field": (lambda n: order_line(n).replace("\n", ",EXTRA\n"), "malformed_line"),
    "missing_field": (lambda n: f"O{n},M1,P1,C1,live,1,99.00\n", "malformed_line"),
    "lone_quote": (lambda n: order_line(n).replace(",live,", ',"live,'), "malformed_line"),
    "bad_utf8": (lambda n: order_line(n).replace("paid", "p\udcffid"), "malformed_line"),
    "crlf_extra": (lambda n: order_line(n).replace("\n", ",x\r\n"), "malformed_line"),
    "huge_field": (lambda n: order_line(n).replace("paid\n", "p" * 300_000 + "\n"), "not_allowed"),
    "nul_byte": (lambda n: order_line(n).replace("live", "li\x00ve"), "bad_text"),
    "exotic_number": (lambda n: order_line(n).replace(",1,", ",1e3,"), "bad_type"),
}

breaks = st.dictionaries(
    st.integers(min_value=2, max_value=ROWS + 1),
    st.sampled_from(sorted(BREAKS)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(breaks)
def test_every_line_is_accounted_for(bad: dict[int, str]) -> None:
    lines = [HEADER] + [order_line(n) for n in range(2, ROWS + 2)]
    for line, kind in bad.items():
        lines[line - 1] = BREAKS[kind][0](line)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        entities = base_rows()
        write_market(folder, {k: entities[k] for k in ("merchants", "consumers", "products")})
        path = folder / "orders.csv"
        path.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
        with open_store(str(Path(tmp) / "t.duckdb")) as store:
            report = ingest(store, [folder], now=NOW)
            assert_accounted(store, report, path)
            got = {line: code for line, (code, _) in quarantine_of(store).items()}
            assert got == {line: BREAKS[kind][1] for line, kind in bad.items()}
