"""``tiyan policy show`` and the dates a policy covers, through Typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

import tiyan
from tiyan.cli.main import app

runner = CliRunner()
DEFAULT = (Path(tiyan.__file__).parent / "policies" / "default.yaml").read_text("utf-8")
SHIPPED_VERSION = str(yaml.safe_load(DEFAULT)["version"])


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def one_line(text: str) -> str:
    return " ".join(text.split())


def version_of(folder: Path, name: str, version: str, effective: str) -> Path:
    spec = yaml.safe_load(DEFAULT)
    spec.update(version=version, effective_from=effective)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_show_prints_the_shipped_policy_as_written(tmp_path: Path) -> None:
    result = invoke("policy", "show")
    assert result.exit_code == 0, result.output
    assert result.stdout == DEFAULT  # comments and all: a copy to edit
    assert f"policy {SHIPPED_VERSION}" in result.stderr
    # the copy is a valid policy, and a date before any data is covered by it
    copy = tmp_path / "mine.yaml"
    copy.write_text(result.stdout, "utf-8")
    assert invoke("policy", "check", str(copy)).exit_code == 0
    early = invoke("policy", "show", "--as-of", "2016-09-04")
    assert early.exit_code == 0 and early.stdout == DEFAULT
    named = invoke("policy", "show", "--version", SHIPPED_VERSION)
    assert named.exit_code == 0 and named.stdout == DEFAULT


def test_show_picks_a_version_of_a_folder_by_date_or_by_name(tmp_path: Path) -> None:
    version_of(tmp_path, "a.yaml", "v1", "2024-01-01")
    version_of(tmp_path, "b.yaml", "v2", "2024-07-01")
    folder = str(tmp_path)

    def shown(*args: str) -> str:
        result = invoke("policy", "show", "--policy", folder, *args)
        assert result.exit_code == 0, result.output
        return str(yaml.safe_load(result.stdout)["version"])

    assert shown("--as-of", "2024-06-30") == "v1"
    assert shown("--as-of", "2024-07-01") == "v2"
    assert shown() == "v2"
    assert shown("--version", "v1") == "v1"
    unknown = invoke("policy", "show", "--policy", folder, "--version", "v3")
    assert unknown.exit_code == 2
    assert "unknown policy version" in one_line(unknown.stderr)
    assert "Known: v1, v2" in one_line(unknown.stderr)
    before = invoke("policy", "show", "--policy", folder, "--as-of", "2023-12-31")
    assert before.exit_code == 2
    assert "no policy in force on 2023-12-31" in one_line(before.stderr)
    assert "--policy FILE" in one_line(before.stderr)
    both = invoke("policy", "show", "--version", "v1", "--as-of", "2024-01-01")
    assert both.exit_code == 2 and "not both" in both.stderr


@pytest.mark.parametrize(
    "command", [("score",), ("enforce",), ("metrics", "--out", "m.csv")], ids=lambda c: c[0]
)
def test_a_policy_of_yours_that_starts_later_is_refused_with_the_fix(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    late = version_of(tmp_path, "late.yaml", "v9", "2030-01-01")
    db = str(tmp_path / "t.duckdb")
    result = invoke(*command, "--as-of", "2024-07-01", "--policy", str(late), "--db", db)
    assert result.exit_code == 2, result.output
    message = one_line(result.stderr)
    assert "policy v9 takes effect on 2030-01-01, after 2024-07-01" in message
    assert "--policy FILE" in message and "earlier version" in message
