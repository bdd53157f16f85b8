"""``tiyan enforce`` and ``tiyan violations`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

import tiyan
from tiyan.cli.main import app
from tiyan.store import open_store

runner = CliRunner()
AS_OF = "2024-06-10"  # the simulated market below runs 2024-05-01 .. 2024-06-09


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("enforce_cli") / "t.duckdb")
    result = invoke(
        "simulate", "--merchants", "30", "--orders", "8000", "--days", "40", "--seed", "7",
        "--db", path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_enforce_records_then_finds_nothing_new(db: str) -> None:
    first = invoke("enforce", "--as-of", AS_OF, "--db", db, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    with open_store(db, read_only=True) as store:
        recorded = store.count("violations")
    assert recorded == sum(summary["new_by_rule"].values()) > 0
    assert summary["new_by_rule"] == summary["found_by_rule"]
    again = invoke("enforce", "--as-of", AS_OF, "--db", db)
    assert again.exit_code == 0, again.output
    assert "0 new violation(s)" in " ".join(again.stdout.split())
    with open_store(db, read_only=True) as store:
        assert store.count("violations") == recorded


def test_violations_lists_a_merchants_with_evidence(db: str) -> None:
    invoke("enforce", "--as-of", AS_OF, "--db", db)
    with open_store(db, read_only=True) as store:
        merchant, count = store.query(
            "SELECT merchant_id, count(*) FROM violations WHERE rule_id = 'ship_timeout' "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        )[0]
    result = invoke(
        "violations", "--db", db, "--merchant", merchant, "--rule", "ship_timeout",
        "--limit", "1000", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == count
    assert {r["merchant_id"] for r in rows} == {merchant}
    for r in rows:
        assert r["violation_id"] == f"ship_timeout:{merchant}:{r['order_id']}"
        assert r["evidence"]["promised_ship_by"] < AS_OF  # decided: the deadline had passed


def test_unknown_rule_and_bad_date_are_clear_errors(db: str) -> None:
    result = invoke("violations", "--db", db, "--rule", "late")
    assert result.exit_code == 2
    assert "unknown rule 'late'" in result.output
    result = invoke("enforce", "--as-of", "June 10", "--db", db)
    assert result.exit_code == 2
    assert "--as-of must be a date" in result.output


def test_the_scorecard_shows_the_record(db: str) -> None:
    assert invoke("enforce", "--as-of", AS_OF, "--db", db).exit_code == 0
    assert invoke("score", "--as-of", AS_OF, "--db", db).exit_code == 0
    with open_store(db, read_only=True) as store:
        merchant, b_points = store.query(
            "SELECT merchant_id, sum(points) FROM actions WHERE kind = 'points' "
            "AND ledger = 'B' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        )[0]
        rules = dict(
            store.query(
                "SELECT rule_id, count(*) FROM violations WHERE merchant_id = ? GROUP BY 1",
                (merchant,),
            )
        )
    result = invoke("merchant", merchant, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["record"]
    assert record["points_this_year"]["B"] == round(b_points, 2) > 0
    assert record["violations_90d"] == rules
    text = invoke("merchant", merchant, "--db", db)
    assert "points this year" in text.stdout
    # privileges: the best-scored merchant holds those its score earns (enforced after
    # scoring, so the second enforcement reviewed them)
    assert invoke("enforce", "--as-of", AS_OF, "--db", db).exit_code == 0
    with open_store(db, read_only=True) as store:
        best, score = store.query(
            "SELECT merchant_id, score FROM scores WHERE status = 'scored' "
            "ORDER BY score DESC, merchant_id LIMIT 1"
        )[0]
        granted = {
            name
            for (name,) in store.query(
                "SELECT measure FROM actions WHERE merchant_id = ? AND kind = 'privilege_grant'",
                (best,),
            )
        }
    card = json.loads(invoke("merchant", best, "--db", db, "--json").stdout)
    assert set(card["record"]["privileges_and_measures"]) == granted
    with open_store(db, read_only=True) as store:
        serious = store.query(
            "SELECT count(*) FROM violations WHERE merchant_id = ? AND ledger = 'B'", (best,)
        )[0][0]
    if score >= 70 and not serious:  # the default policy's bar for express refunds
        assert "express_refund" in granted


def test_standing_json_and_the_outcome_table(db: str) -> None:
    assert invoke("score", "--as-of", AS_OF, "--db", db).exit_code == 0
    assert invoke("enforce", "--as-of", AS_OF, "--db", db).exit_code == 0
    result = invoke("standing", "--as-of", AS_OF, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    with open_store(db, read_only=True) as store:
        merchants = {m for (m,) in store.query("SELECT merchant_id FROM merchants")}
        held = {
            m: name
            for m, name, kind in store.query(
                "SELECT merchant_id, measure, kind FROM actions WHERE kind IN "
                "('privilege_grant', 'privilege_revoke') ORDER BY day, action_id"
            )
            if kind == "privilege_grant"
        }
    assert {r["merchant_id"] for r in rows} == merchants
    for r in rows:
        assert {"merchant_id", "status", "score", "level", "privileges", "measures", "points",
                "node"} <= set(r)  # fmt: skip
        assert r["status"] in ("active", "rectifying", "suspended", "cleared")
        assert set(r["points"]) == {"A", "B"}
        if r["status"] in ("suspended", "cleared"):
            assert r["privileges"] == []
    assert any(r["privileges"] for r in rows) == bool(held)
    one = invoke("standing", "--as-of", AS_OF, "--db", db, "--merchant", rows[0]["merchant_id"],
                 "--json")  # fmt: skip
    assert json.loads(one.stdout) == rows[0]
    missing = invoke("standing", "--as-of", AS_OF, "--db", db, "--merchant", "NOPE")
    assert missing.exit_code == 2 and "NOPE" in missing.output
    outcome = invoke("policy", "evaluate", "--as-of", AS_OF, "--db", db, "--json")
    assert outcome.exit_code == 0, outcome.output
    table = json.loads(outcome.stdout)
    by = {a["archetype"]: a for a in table["archetypes"]}
    assert sum(a["merchants"] for a in by.values()) == len(merchants)
    assert all(a["barred_holding"] == 0 for a in by.values())
    assert {r["rule_id"] for r in table["rules"]} >= {"fake_shipment", "malicious_non_shipment"}


def test_a_candidate_is_replayed_beside_the_policy_in_force(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # the daily cycle on two days (score, then enforce), as the replay runs each date
    folder = tmp_path_factory.mktemp("candidate")
    db = str(folder / "t.duckdb")
    made = invoke(
        "simulate", "--merchants", "30", "--orders", "8000", "--days", "40", "--seed", "7",
        "--db", db,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    for day in ("2024-05-25", AS_OF):
        assert invoke("score", "--as-of", day, "--db", db).exit_code == 0
        assert invoke("enforce", "--as-of", day, "--db", db).exit_code == 0
    with open_store(db, read_only=True) as store:
        before = store.count("actions"), store.count("violations")
    default = (Path(tiyan.__file__).parent / "policies" / "default.yaml").read_text("utf-8")
    same = folder / "same.yaml"
    same.write_text(default.replace('version: "2026.12-2"', 'version: "same"'), "utf-8")
    # the same policy under another name: the replay reproduces the outcome exactly
    result = invoke("policy", "evaluate", str(same), "--as-of", AS_OF, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout)
    assert both["candidate"] == both["current"]
    # a candidate without the fake-shipment rule flags nobody for it, and says so beside
    # the policy in force
    spec = yaml.safe_load(default)
    spec["version"] = "lax"
    spec["rules"]["fake_shipment"]["enabled"] = False
    lax = folder / "lax.yaml"
    lax.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    result = invoke("policy", "evaluate", str(lax), "--as-of", AS_OF, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout)
    rules = {r["rule_id"]: r for r in both["candidate"]["rules"]}
    now = {r["rule_id"]: r for r in both["current"]["rules"]}
    assert now["fake_shipment"]["flagged"] > 0 and rules["fake_shipment"]["flagged"] == 0
    table = invoke("policy", "evaluate", str(lax), "--as-of", AS_OF, "--db", db)
    assert table.exit_code == 0, table.output
    assert "→ candidate lax" in table.stdout and " → 0" in table.stdout
    # the store itself was only read
    with open_store(db, read_only=True) as store:
        assert (store.count("actions"), store.count("violations")) == before
