"""Shared fixtures: a store on every engine, and small helpers to write input files.

PostgreSQL tests use ``TIYAN_TEST_POSTGRES_URL`` (each test gets its own schema, dropped
afterwards). Without it they are skipped with a message saying how to enable them — unless
``TIYAN_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where a missing or unreachable server
fails the run instead.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tiyan.store import Store, open_store

PG_ENV = "TIYAN_TEST_POSTGRES_URL"
#: The ``tiyan`` command of this interpreter (tests run it as a real process).
TIYAN = [sys.executable, "-m", "tiyan"]
HOW_TO = (
    f"PostgreSQL tests are off: set {PG_ENV}=postgresql://USER@HOST:5432/DB to run them "
    "(CI sets it)."
)


def postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("TIYAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"TIYAN_REQUIRE_POSTGRES=1 but {PG_ENV} is not set")
        pytest.skip(HOW_TO)
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL with a fresh schema, dropped after the test."""
    base = postgres_url()
    schema = f"tiyan_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}schema={schema}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "tiyan.duckdb")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def write_csv(
    folder: Path, name: str, rows: Sequence[dict[str, Any]], header: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` to ``folder/name`` as CSV (``None`` becomes an empty field)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fields = list(header or rows[0].keys())
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


#: The simulated market the archetype tests share (scores and violations): ~200k orders.
ARCHETYPE_MARKET = {"merchants": 400, "orders": 200_000, "days": 90, "seed": 11}


@pytest.fixture(scope="session")
def archetype_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB store holding the archetype market (built once per test run)."""
    from datetime import datetime

    from tiyan.ingest.load import ingest
    from tiyan.sim import SimConfig, write_parquet

    folder = tmp_path_factory.mktemp("archetype_market")
    write_parquet(SimConfig(**ARCHETYPE_MARKET), folder / "data")
    db = folder / "tiyan.duckdb"
    with open_store(str(db)) as store:
        ingest(store, [folder / "data"], now=datetime(2024, 9, 1))
    return db


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server process the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiyan_cli(*args: str) -> str:
    """Run ``tiyan *args`` in a process; its stdout (the test fails on a non-zero exit)."""
    done = subprocess.run([*TIYAN, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``tiyan serve *args`` on a free port and wait until it answers /healthz: the
    process and its base URL (the test fails, with the server's stderr, if it never does).
    The caller stops it."""
    import httpx2 as httpx

    port = free_port()
    proc = subprocess.Popen(
        [*TIYAN, "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("tiyan serve did not come up: " + proc.communicate()[1])


def import_simulated_desk(store: Store, market: Path, out: Path, *, seed: int = 3) -> int:
    """The desk's activity that follows the simulated ``market`` (tiyan.sim.desk), imported
    into ``store`` (which holds the market): how many requests."""
    from datetime import UTC, datetime

    from tiyan.jobs.desk import import_history, read_histories
    from tiyan.policy.files import load_policy
    from tiyan.sim.desk import write_desk

    policy = load_policy(as_of=datetime.now(UTC).date())
    write_desk(market, out, seed=seed, desk=policy.desk)
    parsed, refused = read_histories(out.read_text(encoding="utf-8").splitlines(),
                                     source=str(out))  # fmt: skip
    report = import_history(store, policy.desk, parsed, policy_version=policy.version,
                            now=datetime(2024, 9, 1, tzinfo=UTC))  # fmt: skip
    assert not refused and not report.rejected, (refused, report.rejected[:3])
    return report.imported


def export_tables(store: Store, folder: Path) -> Path:
    """Every canonical and desk table of ``store`` that holds rows, as ``folder/<t>.parquet``
    with its timestamps marked UTC (what the simulator writes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tiyan.domain.model import DESK_TABLES, TABLES

    folder.mkdir(parents=True, exist_ok=True)
    backend = store.ibis()
    for name in [*TABLES, *DESK_TABLES]:
        if not store.query(f"SELECT 1 FROM {name} LIMIT 1"):
            continue
        table = backend.table(name).to_pyarrow()
        schema = pa.schema(
            f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
            for f in table.schema
        )
        pq.write_table(table.cast(schema), folder / f"{name}.parquet")
    return folder
