"""tiyan benchmarks: ``make bench`` (or ``python benchmarks/run.py [--orders N]``).

Each measurement runs in a fresh child process (so peak memory is its own) and is repeated;
the best wall time is kept. Measured side by side in the same run:

* simulator: orders per second to generate a market and write it to Parquet;
* ingest of the simulated ``orders`` table, as Parquet and as CSV, into a store that already
  holds the market's merchants, products and consumers (so every reference is checked),
  against DuckDB's own bare copy of the same file into a table — without validation, and
  into a table of the canonical schema. The ratio bare / tiyan is the share of DuckDB's raw
  speed that full validation, quarantine and the upsert keep (aim: ≥ 1/3).

Prints a Markdown table to paste into docs/benchmarks.md, and writes benchmarks/out/*.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def _child(fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    start = time.perf_counter()
    extra = fn(*args)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": seconds, "peak_mib": peak_mib, **extra})


def measure(fn: Callable[..., dict[str, Any]], *args: Any, repeat: int = 3) -> dict[str, Any]:
    """Best of ``repeat`` runs, each in a new process."""
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(fn, args, queue))
        proc.start()
        result = queue.get()
        proc.join()
        runs.append(result)
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_mib"] = max(r["peak_mib"] for r in runs)
    return best


# -- the measured jobs (module-level so that spawned children can import them) ----------------


def job_simulate(out_dir: str, merchants: int, orders: int) -> dict[str, Any]:
    from tiyan.sim import SimConfig, write_parquet

    shutil.rmtree(out_dir, ignore_errors=True)
    paths = write_parquet(
        SimConfig(merchants=merchants, orders=orders, days=90, seed=1), Path(out_dir)
    )
    import pyarrow.parquet as pq

    rows = {t: pq.ParquetFile(p).metadata.num_rows for t, p in paths.items()}
    return {"rows": rows}


def job_prepare_store(db: str, entities_dir: str) -> dict[str, Any]:
    from tiyan.ingest.load import ingest
    from tiyan.store import open_store

    for suffix in ("", ".wal"):
        Path(db + suffix).unlink(missing_ok=True)
    with open_store(db) as store:
        ingest(store, [Path(entities_dir)], now=datetime.now(UTC))
    return {}


def job_tiyan_ingest(template_db: str, db: str, source: str) -> dict[str, Any]:
    from tiyan.ingest.load import ingest
    from tiyan.store import open_store

    shutil.copy(template_db, db)
    start = time.perf_counter()
    with open_store(db) as store:
        report = ingest(store, [Path(source)], now=datetime.now(UTC))
    seconds = time.perf_counter() - start
    orders = report.tables["orders"]
    return {
        "inner_seconds": seconds,
        "inserted": orders.inserted,
        "quarantined": orders.quarantined,
    }


def job_bare_copy(db: str, source: str, canonical: bool) -> dict[str, Any]:
    import duckdb

    Path(db).unlink(missing_ok=True)
    con = duckdb.connect(db)
    reader = (
        f"read_parquet('{source}')" if source.endswith(".parquet") else (f"read_csv('{source}')")
    )
    if canonical:
        from tiyan.domain.model import TABLES
        from tiyan.store.schema import create_table_sql

        con.execute(create_table_sql(TABLES["orders"], "duckdb"))
        start = time.perf_counter()
        con.execute(f"INSERT INTO orders BY NAME SELECT * FROM {reader}")
    else:
        start = time.perf_counter()
        con.execute(f"CREATE TABLE orders AS SELECT * FROM {reader}")
    seconds = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    con.close()
    return {"inner_seconds": seconds, "rows": rows}


# -- the run ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    work = OUT / "work"
    work.mkdir(exist_ok=True)
    market = work / "market"

    results: dict[str, Any] = {"machine": machine(), "orders": args.orders}
    print(f"simulating {args.orders:,} orders ...", file=sys.stderr)
    sim = measure(job_simulate, str(market), args.merchants, args.orders, repeat=args.repeat)
    results["simulate"] = sim

    # the entities go into a template store; each ingest run starts from a copy of it
    entities = work / "entities"
    shutil.rmtree(entities, ignore_errors=True)
    entities.mkdir()
    for table in ("merchants", "consumers", "products"):
        shutil.copy(market / f"{table}.parquet", entities / f"{table}.parquet")
    template = str(work / "template.duckdb")
    measure(job_prepare_store, template, str(entities), repeat=1)

    import duckdb

    sources = {"parquet": work / "orders.parquet", "csv": work / "orders.csv"}
    shutil.copy(market / "orders.parquet", sources["parquet"])
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_parquet('{sources['parquet']}')) TO '{sources['csv']}' "
        "(HEADER, FORMAT csv)"
    )
    results["ingest"] = {}
    for fmt, path in sources.items():
        print(f"ingest {fmt} ...", file=sys.stderr)
        tiyan = measure(
            job_tiyan_ingest, template, str(work / "t.duckdb"), str(path), repeat=args.repeat
        )
        bare = measure(job_bare_copy, str(work / "b.duckdb"), str(path), False, repeat=args.repeat)
        bare_canonical = measure(
            job_bare_copy, str(work / "c.duckdb"), str(path), True, repeat=args.repeat
        )
        results["ingest"][fmt] = {
            "tiyan": tiyan,
            "bare_copy": bare,
            "bare_copy_canonical": bare_canonical,
            "ratio": bare["inner_seconds"] / tiyan["inner_seconds"],
            "ratio_canonical": bare_canonical["inner_seconds"] / tiyan["inner_seconds"],
        }
    (OUT / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    print(render(results))


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    sim = r["simulate"]
    total_rows = sum(sim["rows"].values())
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python "
        f"{m['python']}, DuckDB {m['duckdb']}; {m['date']}.",
        "",
        "| job | rows | seconds | rows/s | peak MiB | vs DuckDB bare copy |",
        "|---|---:|---:|---:|---:|---|",
        f"| simulate + write Parquet | {r['orders']:,} orders ({total_rows:,} rows, all "
        f"tables) | {sim['seconds']:.2f} | {r['orders'] / sim['seconds']:,.0f} orders/s | "
        f"{sim['peak_mib']:,.0f} | — |",
    ]
    for fmt, x in r["ingest"].items():
        t, b, c = x["tiyan"], x["bare_copy"], x["bare_copy_canonical"]
        n = t["inserted"] + t["quarantined"]
        lines.append(
            f"| tiyan ingest orders ({fmt}) | {n:,} | {t['inner_seconds']:.2f} | "
            f"{n / t['inner_seconds']:,.0f} | {t['peak_mib']:,.0f} | "
            f"**{x['ratio']:.2f}** of bare, {x['ratio_canonical']:.2f} of canonical bare |"
        )
        lines.append(
            f"| DuckDB bare copy ({fmt}) | {b['rows']:,} | {b['inner_seconds']:.2f} | "
            f"{b['rows'] / b['inner_seconds']:,.0f} | {b['peak_mib']:,.0f} | 1 |"
        )
        lines.append(
            f"| DuckDB bare copy into canonical table ({fmt}) | {c['rows']:,} | "
            f"{c['inner_seconds']:.2f} | {c['rows'] / c['inner_seconds']:,.0f} | "
            f"{c['peak_mib']:,.0f} | — |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
