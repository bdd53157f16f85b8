"""``tiyan desk queue`` and ``tiyan desk sweep`` through the real CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from tiyan.cli.main import app
from tiyan.jobs.desk import NewRequest, open_request
from tiyan.service_desk.policy import DeskPolicy
from tiyan.store import open_store

runner = CliRunner()
T0 = datetime(2024, 6, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_queue_and_a_sweep(tmp_path: Path) -> None:
    db = str(tmp_path / "tiyan.duckdb")
    with open_store(db) as store:
        for rid, type_id in (("SR-1", "refund"), ("SR-2", "courier_related")):
            new = NewRequest(request_id=rid, type_id=type_id, merchant_id="M[/]1")
            open_request(store, DeskPolicy(), new, at=T0, merchant_reachable=True)
    now = (T0 + timedelta(hours=3)).isoformat()
    result = runner.invoke(app, ["desk", "queue", "--db", db, "--now", now])
    assert result.exit_code == 0, result.output
    assert "2 open request(s), 1 breached" in result.output
    assert "-1h00" in result.output and "M[/]1" in result.output  # stored text, escaped
    data = json.loads(
        runner.invoke(app, ["desk", "queue", "--db", db, "--now", now, "--json"]).output
    )
    assert [(r["request_id"], r["breached"]) for r in data] == [("SR-1", True), ("SR-2", False)]
    swept = runner.invoke(app, ["desk", "sweep", "--db", db, "--now", now])
    assert swept.exit_code == 0 and "1 request(s) escalated: SR-1" in swept.output
    again = runner.invoke(app, ["desk", "sweep", "--db", db, "--now", now])
    assert "0 request(s) escalated" in again.output
    bad = runner.invoke(app, ["desk", "queue", "--db", db, "--now", "2024-06-03T10:00"])
    assert bad.exit_code != 0 and "no UTC offset" in bad.output


def test_import_twice_names_bad_lines_and_the_sla_report(tmp_path: Path) -> None:
    """``tiyan desk import``: good lines imported, bad ones named with file:line and field,
    the same file again changes nothing; ``tiyan desk sla`` reports them by type."""
    from tiyan.service_desk.history import History
    from tiyan.service_desk.requests import Step

    db = str(tmp_path / "tiyan.duckdb")
    steps = (Step(at=T0, actor="consumer", action="create"),
             Step(at=T0, actor="system", action="route_merchant"),
             Step(at=T0 + timedelta(hours=3), actor="system", action="breach"))  # fmt: skip
    good = History(request_id="H-1", type_id="refund", merchant_id="M1", trail=steps)
    answered = History(request_id="H-2", type_id="refund", merchant_id="M1",
                       trail=(*steps[:2], Step(at=T0 + timedelta(hours=1), actor="merchant",
                                               action="answer")))  # fmt: skip
    lines = [good.model_dump_json(), '{"request_id": "H-3", "type_id": "refund"}',
             answered.model_dump_json(), ""]  # fmt: skip
    path = tmp_path / "desk.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    first = runner.invoke(app, ["desk", "import", str(path), "--db", db])
    assert first.exit_code == 1, first.output
    assert "2 request(s) imported, 0 held already, 1 refused" in first.output
    assert "desk.jsonl:2: merchant_id: Field required" in first.output.replace("\n", "")
    again = runner.invoke(app, ["desk", "import", str(path), "--db", db, "--json"])
    report = json.loads(again.output)
    assert (report["imported"], report["existing"]) == (0, 2)
    assert [r["line"] for r in report["rejected"]] == [2]
    sla = runner.invoke(app, ["desk", "sla", "--from", "2024-06-01", "--to", "2024-06-30",
                              "--db", db, "--json"])  # fmt: skip
    assert sla.exit_code == 0, sla.output
    (row,) = json.loads(sla.output)
    assert (row["type"], row["requests"], row["merchant_decided"], row["merchant_breached"]) == (
        "refund", 2, 2, 1)  # fmt: skip
    assert runner.invoke(app, ["desk", "recompute", "--db", db]).output.startswith(
        "0 request(s) recomputed"
    )
