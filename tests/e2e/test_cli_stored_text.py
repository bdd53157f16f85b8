"""Text from the data reaches the terminal as text: rich markup (``[/]``) and terminal escape
codes (``\\x1b[31m``) in stored or loaded values are printed escaped, by every listing of the
real CLI (Typer's runner), instead of crashing it (MarkupError) or driving the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.integration.test_ingest_rejections import base_rows, write_market
from tiyan.cli.main import app

runner = CliRunner()

#: Markup that does not parse (a closing tag with nothing open) and a terminal escape code.
HOSTILE = "[/]\x1b[31m"
MERCHANT = "M9" + HOSTILE
AS_OF = "2024-06-25"


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def assert_shown_as_text(result: Result, expected: str = HOSTILE) -> None:
    """The command worked, and printed ``expected`` with its escape code written out."""
    assert result.exit_code == 0, (result.output, result.exception)
    assert "\x1b" not in result.output, result.output
    flat = "".join(result.output.split())
    assert "".join(expected.replace("\x1b", "\\x1b").split()) in flat, result.output


def hostile_market(folder: Path) -> Path:
    """The small valid market, plus: an order whose amount holds markup and an escape code
    (quarantined, its reason quoting the value), and a merchant whose id and category hold
    them, with one order it never ships (a ship-timeout violation to appeal)."""
    rows: dict[str, list[dict[str, Any]]] = base_rows()
    order = rows["orders"][0]
    rows["orders"].append(dict(order, order_id="O2", amount="9" + HOSTILE))
    rows["merchants"].append(
        dict(rows["merchants"][0], merchant_id=MERCHANT, category="toys" + HOSTILE)
    )
    rows["products"].append(
        dict(rows["products"][0], product_id="P9", merchant_id=MERCHANT, category="toys")
    )
    rows["orders"].append(
        dict(order, order_id="O9", merchant_id=MERCHANT, product_id="P9", status="paid",
             signed_at=None)
    )  # fmt: skip
    return write_market(folder, rows)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("hostile")
    path = str(folder / "t.duckdb")
    loaded = invoke("ingest", str(hostile_market(folder / "in")), "--db", path, "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["tables"]["orders"]["quarantined"] == 1
    return path


def test_ingest_prints_a_quarantined_value_as_text(tmp_path: Path) -> None:
    folder = hostile_market(tmp_path / "in")
    result = invoke("ingest", str(folder), "--db", str(tmp_path / "t.duckdb"))
    assert_shown_as_text(result, "9" + HOSTILE)
    assert "bad_type" in result.output


def test_quarantine_lists_a_quarantined_value_as_text(db: str) -> None:
    assert_shown_as_text(invoke("quarantine", "--db", db), "9" + HOSTILE)


def test_standing_violations_and_merchant_print_a_stored_id_as_text(db: str) -> None:
    assert invoke("enforce", "--as-of", AS_OF, "--db", db).exit_code == 0
    assert_shown_as_text(invoke("standing", "--as-of", AS_OF, "--db", db), MERCHANT)
    assert_shown_as_text(invoke("violations", "--db", db, "--merchant", MERCHANT), MERCHANT)
    assert invoke("score", "--as-of", AS_OF, "--db", db).exit_code == 0
    card = invoke("merchant", MERCHANT, "--db", db)
    assert_shown_as_text(card, MERCHANT)
    assert_shown_as_text(card, "toys" + HOSTILE)


def test_appeal_list_prints_a_statement_as_text(db: str) -> None:
    assert invoke("enforce", "--as-of", AS_OF, "--db", db).exit_code == 0
    found = invoke("violations", "--db", db, "--merchant", MERCHANT, "--json")
    assert found.exit_code == 0, found.output
    violation = json.loads(found.stdout)[0]["violation_id"]
    statement = "the carrier lost it " + HOSTILE
    filed = invoke(
        "appeal", "create", "--violation", violation, "--merchant", MERCHANT,
        "--statement", statement, "--db", db,
    )  # fmt: skip
    assert filed.exit_code == 0, filed.output
    assert_shown_as_text(invoke("appeal", "list", "--db", db), HOSTILE)
    listed = invoke("appeal", "list", "--db", db, "--json")
    assert json.loads(listed.stdout)[0]["statement"] == statement  # stored as written


def test_an_error_quoting_the_input_is_printed_as_text(db: str) -> None:
    result = invoke("standing", "--as-of", AS_OF, "--db", db, "--merchant", "X" + HOSTILE)
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "[/]" in result.output


def test_ingest_prints_the_warnings_of_rows_it_kept(tmp_path: Path) -> None:
    rows = base_rows()
    # 02:30 occurs twice in Berlin on 2023-10-29 (clocks go back): kept, with a warning
    rows["merchants"][1]["opened_at"] = "2023-10-29 02:30:00"
    folder = write_market(tmp_path / "in", rows)
    db = str(tmp_path / "t.duckdb")
    result = invoke("ingest", str(folder), "--db", db, "--timezone", "Europe/Berlin")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "warnings (rows kept)" in flat and "ambiguous_time" in flat, result.output
    assert "occurs twice in Europe/Berlin" in flat, result.output
