"""``tiyan score``, ``metrics``, ``merchant`` and ``policy check`` through Typer's runner.

One small simulated market is loaded with ``tiyan simulate --db`` and scored once for the
module; every test reads or rescores that store.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from tiyan.cli.main import app
from tiyan.store import open_store

runner = CliRunner()
AS_OF = "2024-07-01"
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "src" / "tiyan" / "policies" / "default.yaml"
EXPORT_COLUMNS = ["merchant_id", "metric_id", "window", "numerator", "denominator", "value"]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def one_line(text: str) -> str:
    """``text`` with Rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Result]:
    """A simulated store, scored as of AS_OF; the store and the score command's result."""
    db = str(tmp_path_factory.mktemp("cli") / "t.duckdb")
    result = invoke(
        "simulate", "--merchants", "40", "--orders", "6000", "--days", "60", "--seed", "3",
        "--db", db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = invoke("score", "--as-of", AS_OF, "--db", db)
    assert result.exit_code == 0, result.output
    return db, result


def score_rows(db: str) -> list[tuple[str, str, str | None]]:
    """The 90-day (default window) scores as of AS_OF."""
    with open_store(db, read_only=True) as store:
        rows = store.query(
            "SELECT merchant_id, status, explanation FROM scores WHERE as_of = ? "
            "AND window_days = 90 ORDER BY merchant_id",
            (AS_OF,),
        )
    return [(str(m), str(s), e) for m, s, e in rows]


def test_score_prints_a_summary_and_stores_scores(scored: tuple[str, Result]) -> None:
    db, result = scored
    text = one_line(result.stdout)
    found = re.search(r"as of 2024-07-01, 90-day window, policy \S+: (\d+) of 40 merchants", text)
    assert found, text
    assert "partials recomputed" in text
    assert "Levels" in text and "insufficient_data" in text and "Worst metrics" in text
    assert "computing daily partials" in result.stderr
    rows = score_rows(db)
    assert len(rows) == 40
    assert sum(1 for r in rows if r[1] == "scored") == int(found.group(1)) > 0


def test_score_json_is_the_summary(scored: tuple[str, Result]) -> None:
    db, _ = scored
    result = invoke("score", "--as-of", AS_OF, "--db", db, "--window", "30", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["as_of"] == AS_OF and summary["window"] == 30
    assert summary["merchants"] == 40
    assert sum(summary["levels"].values()) == 40
    # the partials were already computed as of AS_OF: only the restatement horizon
    assert summary["refresh"]["full"] is False
    assert summary["refresh"]["last_day"] == "2024-06-30"
    assert summary["metric_values"] > 0


def test_merchant_shows_the_scorecard(scored: tuple[str, Result]) -> None:
    db, _ = scored
    merchant, _, explanation = next(r for r in score_rows(db) if r[1] == "scored")
    assert explanation is not None
    result = invoke("merchant", merchant, "--db", db)
    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert f"{merchant} ·" in text and "as of 2024-07-01" in text
    assert re.search(r"score \d+\.\d / 100", text), text
    assert "Metrics against peers" in text
    if json.loads(explanation)["improvements"]:
        assert "What to fix first" in text

    result = invoke("merchant", merchant, "--db", db, "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["merchant_id"] == merchant and card["status"] == "scored"
    assert 0 <= card["score"] <= 100
    assert card["explanation"]["metrics"]
    assert card["evidence_incomplete_orders"] == 0  # a simulated market's records are whole


def test_what_to_fix_first_keeps_metric_names_as_written(scored: tuple[str, Result]) -> None:
    """ "CS dissatisfaction rate" and "IM 3-minute reply rate" stay capitalised in advice."""
    db, _ = scored
    texts = [
        i["text"]
        for _, status, explanation in score_rows(db)
        if status == "scored" and explanation is not None
        for i in json.loads(explanation)["improvements"]
    ]
    acronyms = [t for t in texts if re.search(r"\b(cs dissatisfaction|im 3-minute)", t, re.I)]
    assert acronyms, "no advice about CS or IM metrics in this market"
    for text in acronyms:
        assert re.search(r"\b(CS dissatisfaction|IM 3-minute)", text), text


def test_merchant_insufficient_data_and_unknown(scored: tuple[str, Result]) -> None:
    db, _ = scored
    low = next(r[0] for r in score_rows(db) if r[1] == "insufficient_data")
    result = invoke("merchant", low, "--db", db)
    assert result.exit_code == 0, result.output
    assert "insufficient data" in result.stdout

    result = invoke("merchant", "NOPE", "--db", db)
    assert result.exit_code == 2
    assert "no score for merchant 'NOPE'" in one_line(result.stderr)
    assert "tiyan score --as-of" in one_line(result.stderr)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_metrics_export(scored: tuple[str, Result], tmp_path: Path, suffix: str) -> None:
    db, _ = scored
    out = tmp_path / f"x{suffix}"
    result = invoke("metrics", "--as-of", AS_OF, "--db", db, "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(out) if suffix == ".csv" else pq.read_table(out)
    assert set(EXPORT_COLUMNS) <= set(table.column_names)
    assert f"wrote {table.num_rows:,} metric values" in result.stdout
    rows = table.to_pylist()
    assert len({r["merchant_id"] for r in rows}) == 40
    assert {r["window"] for r in rows} == {90}
    with open_store(db, read_only=True) as store:
        (count,) = store.query(
            "SELECT count(*) FROM metric_values WHERE as_of = ? AND window_days = 90 "
            "AND scope = 'merchant'",
            (AS_OF,),
        )[0]
    assert table.num_rows == count
    valid = next(r for r in rows if r["metric_id"] == "valid_orders")
    assert valid["value"] == valid["numerator"] == valid["denominator"] > 0

    one = tmp_path / f"one{suffix}"
    merchant = valid["merchant_id"]
    result = invoke(
        "metrics", "--as-of", AS_OF, "--db", db, "--out", str(one), "--merchant", merchant
    )
    assert result.exit_code == 0, result.output
    only = pacsv.read_csv(one) if suffix == ".csv" else pq.read_table(one)
    assert set(only.column("merchant_id").to_pylist()) == {merchant}


def test_metrics_refuses_other_formats_and_unknown_merchants(
    scored: tuple[str, Result], tmp_path: Path
) -> None:
    db, _ = scored
    out = tmp_path / "x.txt"
    result = invoke("metrics", "--as-of", AS_OF, "--db", db, "--out", str(out))
    assert result.exit_code == 2
    assert "--out must end in .csv or .parquet" in one_line(result.stderr)
    assert not out.exists()

    out = tmp_path / "x.csv"
    result = invoke(
        "metrics", "--as-of", AS_OF, "--db", db, "--out", str(out), "--merchant", "NOPE"
    )
    assert result.exit_code == 2
    assert "no metric values for merchant 'NOPE'" in one_line(result.stderr)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("score", "--as-of", "notadate"),
            "--as-of must be a date like 2024-08-01, not 'notadate'",
        ),
        (("merchant", "M000001", "--as-of", "July"), "--as-of must be a date"),
    ],
)
def test_bad_dates_exit_2(scored: tuple[str, Result], args: tuple[str, ...], message: str) -> None:
    db, _ = scored
    result = invoke(*args, "--db", db)
    assert result.exit_code == 2
    assert message in one_line(result.stderr)


def test_policy_check_accepts_the_shipped_default() -> None:
    result = invoke("policy", "check", str(DEFAULT_POLICY))
    assert result.exit_code == 0, result.output
    assert "valid (version" in result.stdout


def test_policy_check_names_file_line_and_key(tmp_path: Path) -> None:
    lines = DEFAULT_POLICY.read_text(encoding="utf-8").splitlines(keepends=True)
    key_line = next(i for i, line in enumerate(lines) if line.startswith("  min_valid_orders:"))
    metric_line = next(
        i for i, line in enumerate(lines) if line.startswith("        im_3min_reply_rate:")
    )
    lines[key_line] = lines[key_line].replace("min_valid_orders", "min_valid_order")
    lines[metric_line] = lines[metric_line].replace("im_3min_reply_rate", "im_3min_reply")
    broken = tmp_path / "broken.yaml"
    broken.write_text("".join(lines), encoding="utf-8")

    result = invoke("policy", "check", str(broken))
    assert result.exit_code == 2
    text = one_line(result.stderr)
    assert f"{broken}:{key_line + 1}: scoring.min_valid_order: unknown key" in text
    assert (
        f"{broken}:{metric_line + 1}: scoring.dimensions.service.metrics.im_3min_reply: "
        "unknown metric 'im_3min_reply'. Did you mean 'im_3min_reply_rate'?"
    ) in text
