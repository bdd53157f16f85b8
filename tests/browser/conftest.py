"""The console in a real headless Chromium, against ``tiyan serve`` as a user runs it.

The server is a subprocess on a loopback port over a DuckDB file of a small simulated
market (scored on four days, so the dashboard has a trend), with keys from
``tiyan keys create``. Chromium is Debian's (``/usr/bin/chromium``, or ``TIYAN_CHROMIUM``):
Playwright never downloads a browser here. Without one the tests are skipped — unless
``TIYAN_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where they fail.

Screenshots of the main pages go to ``TIYAN_SCREENSHOTS`` (default: a temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import AS_OF, MARKET, NOW
from tests.conftest import serve, tiyan_cli
from tiyan.ingest.load import ingest
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.sim import write_parquet
from tiyan.store import open_store

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str:
    """The Chromium to drive; skip (or fail, with TIYAN_REQUIRE_BROWSER=1) without one."""
    path = os.environ.get("TIYAN_CHROMIUM", "/usr/bin/chromium")
    found = (
        shutil.which(path)
        if not os.path.isabs(path)
        else (path if os.access(path, os.X_OK) else None)
    )
    if found:
        return found
    message = (
        f"no Chromium at {path}: the console's browser tests need Debian's chromium "
        "(apt-get install -y chromium fonts-wqy-microhei) or TIYAN_CHROMIUM=/path/to/chrome"
    )
    if os.environ.get("TIYAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TIYAN_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


def _key(db: Path, *args: str) -> str:
    out = json.loads(
        tiyan_cli("keys", "create", "--db", str(db), "--label", "browser", "--json", *args)
    )
    return str(out["key"])


@dataclass(frozen=True)
class Served:
    base: str
    db: Path
    operator: str
    #: keys of merchants A and B (both with violations), and their ids
    merchant_a: str
    merchant_b: str
    key_a: str
    key_b: str


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    chromium_path()  # skip before building anything when there is no browser
    folder = tmp_path_factory.mktemp("console-market")
    write_parquet(MARKET, folder / "data")
    db = folder / "tiyan.duckdb"
    with open_store(str(db)) as store:
        ingest(store, [folder / "data"], now=NOW)
        for weeks in (3, 2, 1, 0):  # four scoring days: the dashboard's trend
            run_scoring(store, as_of=AS_OF - timedelta(days=7 * weeks))
        run_enforcement(store, as_of=AS_OF)
        a, b = (
            r[0]
            for r in store.query(
                "SELECT merchant_id FROM violations GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            )
        )
    keys = {
        "operator": _key(db, "--role", "operator"),
        "a": _key(db, "--role", "merchant", "--merchant", a),
        "b": _key(db, "--role", "merchant", "--merchant", b),
    }
    proc, base = serve("--db", str(db), "--quiet")
    try:
        yield Served(base, db, keys["operator"], a, b, keys["a"], keys["b"])
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser context (no cookies) at the server's address."""
    context = browser.new_context(base_url=served.base, viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: TIYAN_SCREENSHOTS, or a temporary folder."""
    folder = os.environ.get("TIYAN_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out
