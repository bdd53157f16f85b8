"""DESIGN.md's dependency rules, read off the source: dependencies point inward.

* ``domain`` imports nothing of the project;
* ``metrics``, ``scoring`` and ``policy`` never import FastAPI, Typer, Uvicorn or a database
  driver (DuckDB, psycopg, PySpark), nor the service or the CLI;
* ``scoring`` and ``policy`` should import no store: the SQL they run belongs behind the
  store (issue 13, item 5). Until it moves, the modules that still do are listed here by
  name — the list may only shrink: a new module importing the store fails, and so does a
  listed one that no longer needs to be listed.

Imports are read with :mod:`ast` (``import x``, ``from x import y``, including imports
inside functions, and ``importlib.import_module("x")`` with a literal name).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tiyan"
CORE = ("metrics", "scoring", "policy")
DRIVERS = ("fastapi", "starlette", "typer", "uvicorn", "duckdb", "psycopg", "pyspark")

#: Core modules that still import a driver, and why (to move behind the store).
DRIVER_DEBT = {
    # the Spark engine adapter: belongs in store/ with the other engines
    "metrics/spark.py": {"pyspark"},
}
#: Core modules that still import the store (issue 13 item 5: to move behind it).
STORE_DEBT = {
    "policy/appeals.py",
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


def test_store_imports_only_shrink() -> None:
    importing = {
        rel(p) for c in ("scoring", "policy") for p in modules(c) if "tiyan.store" in imports(p)
    }
    assert importing - STORE_DEBT == set(), "new core modules importing the store"
    assert STORE_DEBT - importing == set(), "no longer importing the store: drop from the list"
