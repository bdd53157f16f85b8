"""The CLI through Typer's runner: output, JSON, exit codes, the Olist mapping."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.test_ingest_rejections import base_rows, write_market
from tiyan.cli.main import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["ingest", "quarantine", "status", "simulate", "demo"])
def test_every_command_has_help(command: str) -> None:
    code, output = invoke(command, "--help")
    assert code == 0
    assert "--db" in output or command in {"demo"}


def test_ingest_prints_a_table_then_json(tmp_path: Path) -> None:
    rows = base_rows()
    rows["orders"].append(dict(rows["orders"][0], order_id="O2", channel="tv"))
    folder = write_market(tmp_path / "in", rows)
    db = str(tmp_path / "t.duckdb")
    code, output = invoke("ingest", str(folder), "--db", db)
    assert code == 0, output
    assert "orders" in output and "not_allowed" in output
    assert "1 of 8 rows quarantined" in output

    code, output = invoke("ingest", str(folder), "--db", db, "--json")
    assert code == 0
    report = json.loads(output)
    assert report["tables"]["orders"]["unchanged"] == 1
    assert report["tables"]["orders"]["quarantined"] == 1
    assert report["read"] == 8

    code, output = invoke("quarantine", "--db", db, "--json")
    assert code == 0
    listed = json.loads(output)
    assert listed["total"] == 1
    assert listed["rows"][0]["line"] == 3
    assert "channel 'tv'" in listed["rows"][0]["reason"]
    code, output = invoke("quarantine", "--db", db, "--table", "order")
    assert code == 2 and "Did you mean 'orders'" in output

    code, output = invoke("status", "--db", db, "--json")
    status = json.loads(output)
    assert status["tables"]["orders"]["rows"] == 1
    assert status["tables"]["orders"]["from"] == "2024-06-18 02:00:00"
    assert len(status["recent_loads"]) == 2


def test_unusable_input_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    code, output = invoke(
        "ingest", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "t.duckdb")
    )
    assert code == 2
    assert "no such file" in output


def test_reject_rate_limit_exits_non_zero(tmp_path: Path) -> None:
    rows = base_rows()
    rows["merchants"][0]["category"] = None  # M1 rejected, and everything that refers to it
    folder = write_market(tmp_path / "in", rows)
    code, output = invoke(
        "ingest", str(folder), "--db", str(tmp_path / "t.duckdb"), "--max-reject-rate", "0.2"
    )
    assert code == 1
    assert "no data was written" in output


def test_olist_mapping_through_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    code, output = invoke(
        "ingest", str(FIXTURES / "olist"), "--mapping", "olist", "--db", db, "--json"
    )
    assert code == 0, output
    report = json.loads(output)
    assert report["mapping"] == "olist"
    expected = FIXTURES / "olist" / "expected"
    for name, table in report["tables"].items():
        with (expected / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert table["inserted"] + table["quarantined"] == len(rows), name
    # the order without order_approved_at is quarantined, and its shipment with it
    assert {
        (r["table"], r["quarantined"]) for r in report["tables"].values() if r["quarantined"]
    } == {("orders", 1), ("shipments", 1)}


def test_reading_commands_do_not_create_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    for command in ("status", "quarantine"):
        code, output = invoke(command, "--db", str(missing))
        assert code == 2
        assert "no such store" in output
    assert not missing.exists()
