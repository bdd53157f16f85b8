"""DESIGN.md's dependency rules, read off the source: dependencies point inward.

* ``domain`` imports nothing of the project;
* ``metrics``, ``scoring``, ``policy`` and ``service_desk`` never import FastAPI, Typer,
  Uvicorn or a database driver (DuckDB, psycopg, PySpark), nor the service or the CLI;
* ``scoring``, ``policy`` and ``service_desk`` import no store and no job, and hold no SQL:
  the store's own code reads and writes for them (issue 13, item 5);
* the ``jobs`` compose the store and the pure core: no SQL of their own, no service, CLI or
  driver; the store imports no job, service or CLI.

Imports are read with :mod:`ast` (``import x``, ``from x import y``, including imports
inside functions, and ``importlib.import_module("x")`` with a literal name).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tiyan"
CORE = ("metrics", "scoring", "policy", "service_desk")
#: The core packages that import no store and hold no SQL.
PURE = ("scoring", "policy", "service_desk")
DRIVERS = ("fastapi", "starlette", "typer", "uvicorn", "duckdb", "psycopg", "pyspark")

#: Core modules that still import a driver, and why (to move behind the store).
DRIVER_DEBT = {
    # the Spark engine adapter: belongs in store/ with the other engines
    "metrics/spark.py": {"pyspark"},
}


def imports(path: Path) -> set[str]:
    """Top-level module names (``tiyan.x`` kept two deep) that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    out = set()
    for name in names:
        parts = name.split(".")
        out.add(".".join(parts[:2]) if parts[0] == "tiyan" else parts[0])
    return out


SQL_WORDS = ("SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE ", "CREATE TABLE")


def sql_literals(path: Path) -> list[str]:
    """String literals (docstrings aside) that read like SQL statements."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value[:60]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and any(word in node.value.upper() for word in SQL_WORDS)
    ]


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_the_packages_exist() -> None:
    for package in ("domain", *CORE):
        assert modules(package), package


@pytest.mark.parametrize("path", modules("domain"), ids=rel)
def test_domain_imports_nothing_of_the_project(path: Path) -> None:
    project = {n for n in imports(path) if n.startswith("tiyan.")}
    assert project <= {"tiyan.domain"}, (rel(path), sorted(project))


@pytest.mark.parametrize("path", [p for c in CORE for p in modules(c)], ids=rel)
def test_the_core_imports_no_driver_service_or_cli(path: Path) -> None:
    found = imports(path)
    drivers = {n for n in found if n in DRIVERS}
    assert drivers == DRIVER_DEBT.get(rel(path), set()), (rel(path), sorted(drivers))
    assert not found & {"tiyan.service", "tiyan.cli"}, rel(path)


@pytest.mark.parametrize("path", [p for c in PURE for p in modules(c)], ids=rel)
def test_scoring_and_policy_import_no_store_and_run_no_sql(path: Path) -> None:
    """The SQL they ran moved behind the store (issue 13 item 5): the jobs load values
    through the store, call the pure core, and write through the store."""
    assert not {n for n in imports(path) if n in ("tiyan.store", "tiyan.jobs")}, rel(path)
    assert not sql_literals(path), (rel(path), sql_literals(path))


@pytest.mark.parametrize("path", modules("jobs"), ids=rel)
def test_the_jobs_run_no_sql_and_import_no_service_or_cli(path: Path) -> None:
    assert not sql_literals(path), (rel(path), sql_literals(path))
    assert not imports(path) & {"tiyan.service", "tiyan.cli", *DRIVERS}, rel(path)


@pytest.mark.parametrize("path", modules("store"), ids=rel)
def test_the_store_depends_on_no_job_service_or_cli(path: Path) -> None:
    assert not imports(path) & {"tiyan.jobs", "tiyan.service", "tiyan.cli"}, rel(path)


def test_the_sql_check_sees_sql() -> None:
    """The check above is not vacuous: the store's own modules are full of SQL."""
    assert sql_literals(SRC / "store" / "governance.py")
    assert not sql_literals(SRC / "policy" / "pipeline.py")
