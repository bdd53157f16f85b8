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
