"""The Olist path as a newcomer takes it, through the real CLI: the data set in a folder named
``olist`` beside them, ``--mapping olist``, scoring on the data set's own dates with the
shipped policy, and each scored seller's scorecard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import tiyan
from tiyan.cli.main import app
from tiyan.store import open_store

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "olist"
DEFAULT = (Path(tiyan.__file__).parent / "policies" / "default.yaml").read_text("utf-8")
AS_OF = "2018-10-18"  # the day after the data set's last order


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_mapping_name_is_not_taken_for_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURE, tmp_path / "olist")  # the data set, downloaded beside the user
    result = invoke("ingest", "olist", "--mapping", "olist", "--db", "t.duckdb", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mapping"] == "olist"
    # a value with a separator is a path, whatever shipped mappings exist
    result = invoke("ingest", "olist", "--mapping", "./olist", "--db", "t.duckdb")
    assert result.exit_code == 2 and "mapping file not found" in result.output
    # a file of yours without .yaml is given as a path; by its bare name it is unknown
    (tmp_path / "my_map").write_text("name: my_map\n", "utf-8")
    result = invoke("ingest", "olist", "--mapping", "my_map", "--db", "t.duckdb")
    assert result.exit_code == 2, result.output
    assert "unknown mapping 'my_map'" in result.output and "./my_map" in result.output


@pytest.fixture(scope="module")
def olist_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("olist") / "t.duckdb")
    result = invoke("ingest", str(FIXTURE), "--mapping", "olist", "--db", db)
    assert result.exit_code == 0, result.output
    return db


def test_the_shipped_policy_scores_the_data_sets_own_dates(olist_db: str, tmp_path: Path) -> None:
    out = tmp_path / "metrics.csv"
    result = invoke("metrics", "--as-of", AS_OF, "--window", "3650", "--out", str(out),
                    "--db", olist_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    result = invoke("score", "--as-of", AS_OF, "--window", "3650", "--db", olist_db)
    assert result.exit_code == 0, result.output
    result = invoke("enforce", "--as-of", AS_OF, "--db", olist_db)
    assert result.exit_code == 0, result.output


def test_the_scorecard_of_every_scored_seller_shows_a_dimension_without_data(
    olist_db: str, tmp_path: Path
) -> None:
    # The fixture's sellers have a few orders each: a policy that scores from one order
    small = tmp_path / "small.yaml"
    small.write_text(DEFAULT.replace("min_valid_orders: 30", "min_valid_orders: 1"), "utf-8")
    result = invoke("score", "--as-of", AS_OF, "--window", "3650", "--policy", str(small),
                    "--db", olist_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    with open_store(olist_db, read_only=True) as store:
        scored = store.query(
            "SELECT merchant_id, service FROM scores WHERE as_of = ? AND window_days = 3650 "
            "AND status = 'scored' ORDER BY merchant_id",
            (AS_OF,),
        )
    assert scored
    # Olist has no IM sessions, after-sales cases or complaints: no service metric has data
    assert all(service is None for _, service in scored)
    for merchant_id, _ in scored:
        card = invoke("merchant", merchant_id, "--as-of", AS_OF, "--db", olist_db)
        assert card.exit_code == 0, (merchant_id, card.output, card.exception)
        assert "service no data" in " ".join(card.stdout.split()), card.stdout
        # amounts in the data set's own currency (the mapping's BRL), never yuan
        assert "compensation paid to consumers: R$" in card.stdout, card.stdout
        assert "¥" not in card.stdout
    actions = invoke("actions", "--db", olist_db)
    assert actions.exit_code == 0, actions.output
    assert "¥" not in actions.stdout
