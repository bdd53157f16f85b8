"""``tiyan policy backtest``: a stricter candidate policy shows the expected direction of
change on a simulated market, a laxer one the opposite, and the ledger is never touched."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from tiyan.cli.main import app
from tiyan.ingest.load import ingest
from tiyan.jobs.backtest import backtest
from tiyan.policy.files import load_policy, parse_policy
from tiyan.policy.schema import Policy
from tiyan.sim import SimConfig, write_parquet
from tiyan.store import open_store

CONFIG = SimConfig(merchants=60, orders=20_000, days=60, seed=7)
END = CONFIG.start + timedelta(days=CONFIG.days - 1)
START = END - timedelta(days=29)
DEFAULT = Path(__file__).resolve().parents[2] / "src" / "tiyan" / "policies" / "default.yaml"


def variant(version: str, *edits: tuple[str, str]) -> str:
    text = DEFAULT.read_text(encoding="utf-8").replace('"2026.12-2"', f'"{version}"')
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


STRICT = variant(
    "strict",
    ("    carrier_grace_hours: 72 ", "    carrier_grace_hours: 48 "),
    ("ship_timeout: {each: 0.1, daily_cap: 2, weekly_cap: 6,",
     "ship_timeout: {each: 0.2, daily_cap: 4, weekly_cap: 12,"),
    ("min_rate: 0.2, min_count: 5", "min_rate: 0.1, min_count: 5"),  # the ship-timeout gate
    ("    week: {min_count: 3, min_share: 0.05}", "    week: {min_count: 2, min_share: 0.03}"),
)  # fmt: skip
FAKE_SHIPMENT = "  fake_shipment:              # 虚假发货 (§2.3)\n"
LAX = variant("lax", (FAKE_SHIPMENT, FAKE_SHIPMENT + "    enabled: false\n"))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("backtest")
    write_parquet(CONFIG, folder / "data")
    path = str(folder / "tiyan.duckdb")
    with open_store(path) as store:
        ingest(store, [folder / "data"], now=datetime(2024, 9, 1))
    return path


def run(db: str, candidate: Policy) -> dict[str, object]:
    with open_store(db) as store:
        result = backtest(store, candidate, start=START, end=END)
        assert store.count("violations") == 0 and store.count("actions") == 0
    return result.summary


def test_a_stricter_policy_finds_and_costs_more(db: str) -> None:
    s = run(db, parse_policy(STRICT, "strict.yaml"))
    for key in ("violations", "points_a", "points_b", "compensation", "penalised"):
        current, candidate = s[key]["current"], s[key]["candidate"]  # type: ignore[index]
        assert candidate >= current, (key, current, candidate)
    assert s["points_a"]["candidate"] > s["points_a"]["current"]  # type: ignore[index]
    assert s["spared"] == []
    assert s["newly_penalised"]


def test_a_laxer_policy_spares(db: str) -> None:
    s = run(db, parse_policy(LAX, "lax.yaml"))
    assert s["points_b"]["candidate"] < s["points_b"]["current"]  # type: ignore[index]
    assert s["violations"]["candidate"] < s["violations"]["current"]  # type: ignore[index]
    assert s["newly_penalised"] == []


def test_the_same_policy_changes_nothing(db: str) -> None:
    s = run(db, load_policy())
    assert s["newly_penalised"] == [] and s["spared"] == []
    for key in ("violations", "points_a", "points_b", "compensation", "penalised"):
        assert s[key]["current"] == s[key]["candidate"]  # type: ignore[index]


def test_backtest_command_writes_the_comparison(db: str, tmp_path: Path) -> None:
    candidate = tmp_path / "strict.yaml"
    candidate.write_text(STRICT, encoding="utf-8")
    out = tmp_path / "diff.csv"
    result = CliRunner().invoke(app, [
        "policy", "backtest", str(candidate), "--from", str(START), "--to", str(END),
        "--db", db, "--out", str(out), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    table = pacsv.read_csv(out)
    touched = summary["merchants_with_violations"]
    # one row per merchant either policy touched
    assert table.num_rows >= max(touched["current"], touched["candidate"])
    violations = summary["violations"]
    assert sum(table.column("violations_candidate").to_pylist()) == violations["candidate"]
    assert sum(table.column("violations_current").to_pylist()) == violations["current"]


def test_shadow_mode_records_the_candidate_beside_the_live_policy(db: str, tmp_path: Path) -> None:
    candidate = tmp_path / "strict.yaml"
    candidate.write_text(STRICT, encoding="utf-8")
    as_of = str(END + timedelta(days=1))
    runner = CliRunner()
    live = runner.invoke(app, ["enforce", "--as-of", as_of, "--db", db, "--json"])
    assert live.exit_code == 0, live.output
    with open_store(db) as store:
        ledger = store.count("violations"), store.count("actions")
    for _ in range(2):  # a rerun replaces the day's shadow outcomes
        result = runner.invoke(
            app, ["enforce", "--as-of", as_of, "--db", db, "--shadow", str(candidate)]
        )
        assert result.exit_code == 0, result.output
        assert "shadow strict:" in " ".join(result.stdout.split())
    with open_store(db) as store:
        # the live ledger is what the live policy alone wrote
        assert (store.count("violations"), store.count("actions")) == ledger
        rows = store.query(
            "SELECT policy_version, live_version, sum(violations_live), "
            "sum(violations_shadow), sum(points_a_live), sum(points_a_shadow), count(*) "
            "FROM shadow_outcomes GROUP BY 1, 2"
        )
        assert len(rows) == 1
        version, live_version, v_live, v_shadow, a_live, a_shadow, merchants = rows[0]
        assert (version, live_version) == ("strict", "2026.12-2")
        assert v_shadow >= v_live and a_shadow > a_live
        assert (
            merchants
            == store.query("SELECT count(DISTINCT merchant_id) FROM shadow_outcomes")[0][0]
        )
        # the live side matches what the live policy recorded over the same days
        (recorded,) = store.query(
            "SELECT count(*) FROM violations WHERE day >= ? AND day <= ?",
            (END - timedelta(days=29), END),
        )[0]
        assert v_live == recorded
        store.run_in_transaction(["DELETE FROM violations", "DELETE FROM actions"])
