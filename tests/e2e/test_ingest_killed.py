"""A load killed midway (SIGKILL while it writes) leaves the store exactly as before, and a
rerun completes it. Runs the real CLI in a subprocess, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_ingest_rejections import base_rows, load, write_market
from tiyan.store import open_store

pytestmark = pytest.mark.slow

ORDERS = 1_500_000


def big_market(folder: Path) -> Path:
    """Many orders of the base market's merchant (made by DuckDB, independent of tiyan)."""
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'B' || i AS order_id, 'M' || (1 + i % 2) AS merchant_id, "
        "'live' AS channel, 1 + i % 3 AS quantity, CAST((i % 50000) / 100 AS DECIMAL(18,2)) "
        "AS amount, TIMESTAMP '2024-06-01 00:00:00' + INTERVAL (i % 100000) SECOND AS paid_at, "
        f"'paid' AS status FROM range({ORDERS}) t(i)) "
        f"TO '{folder / 'orders.parquet'}' (FORMAT parquet)"
    )
    con.close()
    return folder


def fingerprint(url: str) -> list[tuple[object, ...]]:
    with open_store(url) as store:
        return [
            *store.query("SELECT count(*), min(order_id), max(order_id) FROM orders"),
            *store.query("SELECT count(*) FROM merchants"),
            *store.query("SELECT count(*) FROM ingest_log"),
            *store.query("SELECT count(*) FROM quarantine"),
        ]


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tiyan", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_killed_load_leaves_store_unchanged(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        load(store, write_market(tmp_path / "base", base_rows()))
    before = fingerprint(store_url)
    data = big_market(tmp_path / "big")

    proc = run_cli("ingest", str(data), "--db", store_url)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until validation is over and the write has begun
        if line.startswith("tiyan: writing"):
            break
    else:
        pytest.fail(f"the load ended before writing (exit {proc.wait()})")
    time.sleep(0.1)  # well inside the write: 1.5M rows take ~0.5 s on DuckDB, more on PostgreSQL
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the load finished before it could be killed"
    proc.stderr.close()

    assert fingerprint(store_url) == before

    rerun = run_cli("ingest", str(data), "--db", store_url)
    _, errors = rerun.communicate()
    assert rerun.returncode == 0, errors
    after = fingerprint(store_url)
    assert after[0][0] == before[0][0] + ORDERS
