"""Report benchmark: ``make bench-report`` (or ``python benchmarks/report_bench.py
[--orders N --merchants M --repeat R]``).

Prepares once (cached in the work folder) the demo's market — simulated, ingested, scored
and enforced on 2024-06-01, 2024-07-01 and 2024-07-30, as ``tiyan demo`` does — then
measures side by side in the same run, each job in a fresh child process, the best wall time
of ``--repeat`` runs:

* **next-day scoring run** (the reference): what the platform runs every day — the new day's
  partials, the metric values and the scores of 2024-07-31, on a copy of the store;
* **report figures**: every number of the July report against June (headline KPIs,
  trends, the four breakdowns, scores, governance, the impact estimate);
* **report HTML**: the same plus the charts and the page, in English;
* **report PDF**: the PDF of that page (WeasyPrint), from the HTML;
* **scorecards**: 50 merchants' one-page scorecards (per card).

ratio = job seconds / the next-day scoring run's seconds. Prints a Markdown table and writes
``benchmarks/out/report.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from metrics_bench import best_of, copy_store, run_child  # benchmarks/ is on sys.path
from run import machine

OUT = Path(__file__).resolve().parent / "out"
DAYS = 90
SEED = 1
RUNS = (date(2024, 6, 1), date(2024, 7, 1), date(2024, 7, 30))
NEXT_DAY = date(2024, 7, 31)
PERIOD, COMPARE = "2024-07", "2024-06"
CARDS = 50


def job_prepare(work: str, merchants: int, orders: int) -> dict[str, Any]:
    from tiyan.ingest.load import ingest
    from tiyan.jobs.enforce import run_enforcement
    from tiyan.jobs.scoring import run_scoring
    from tiyan.sim import SimConfig, write_parquet
    from tiyan.store import open_store

    folder = Path(work)
    market = folder / "market"
    shutil.rmtree(market, ignore_errors=True)
    write_parquet(SimConfig(merchants=merchants, orders=orders, days=DAYS, seed=SEED), market)
    db = folder / "store.duckdb"
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with open_store(str(db)) as store:
        ingest(store, [market], now=datetime(2024, 8, 1, tzinfo=UTC))
        for as_of in RUNS:
            run_scoring(store, as_of=as_of)
            run_enforcement(store, as_of=as_of)
        (penalties,) = store.query("SELECT count(*) FROM actions WHERE kind = 'penalty'")[0]
    shutil.rmtree(market, ignore_errors=True)
    return {"penalty_actions": int(penalties)}


def job_next_day(db: str) -> dict[str, Any]:
    from tiyan.jobs.scoring import run_scoring
    from tiyan.store import open_store

    with open_store(db) as store:
        summary = run_scoring(store, as_of=NEXT_DAY)
    return {"scored": summary.scored}


def job_figures(db: str) -> dict[str, Any]:
    from tiyan.reports.kpis import parse_period
    from tiyan.reports.report import build_report
    from tiyan.store import open_store

    with open_store(db, read_only=True) as store:
        data = build_report(store, period=parse_period(PERIOD), compare=parse_period(COMPARE))
    return {"kpis": len(data.headline), "impact_rules": len(data.impact)}


def job_html(db: str, out: str) -> dict[str, Any]:
    from tiyan.reports.kpis import parse_period
    from tiyan.reports.report import render_report
    from tiyan.store import open_store

    with open_store(db, read_only=True) as store:
        html = render_report(store, period=parse_period(PERIOD), compare=parse_period(COMPARE))
    Path(out).write_text(html, encoding="utf-8")
    return {"bytes": len(html.encode())}


def job_pdf(html_path: str, out: str) -> dict[str, Any]:
    from tiyan.reports.report import write_pdf

    write_pdf(Path(html_path).read_text(encoding="utf-8"), Path(out))
    return {"bytes": Path(out).stat().st_size}


def job_cards(db: str) -> dict[str, Any]:
    from tiyan.reports.report import render_scorecard
    from tiyan.store import open_store

    with open_store(db, read_only=True) as store:
        ids = [
            r[0]
            for r in store.query(
                "SELECT merchant_id FROM scores WHERE as_of = ? AND status = 'scored' "
                f"ORDER BY merchant_id LIMIT {CARDS}",
                (RUNS[-1],),
            )
        ]
        for merchant_id in ids:
            render_scorecard(store, merchant_id)
    return {"cards": len(ids)}


def prepare(work: Path, orders: int, merchants: int) -> dict[str, Any]:
    stamp = work / "prepared.json"
    wanted = {"orders": orders, "merchants": merchants, "days": DAYS, "seed": SEED,
              "runs": [str(d) for d in RUNS]}  # fmt: skip
    if stamp.exists() and (work / "store.duckdb").exists():
        done = json.loads(stamp.read_text())
        if done.get("params") == wanted:
            print(f"reusing {work / 'store.duckdb'}", file=sys.stderr)
            return dict(done["prepare"], reused=True)
    work.mkdir(parents=True, exist_ok=True)
    print(f"preparing: {orders:,} orders, {merchants:,} merchants, 3 runs ...", file=sys.stderr)
    start = time.perf_counter()
    result = run_child(job_prepare, str(work), merchants, orders)
    result["prepare_s"] = time.perf_counter() - start
    stamp.write_text(json.dumps({"params": wanted, "prepare": result}, indent=2))
    return dict(result, reused=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per job (best kept)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    work = OUT / f"report-{args.orders}-{args.merchants}"
    results: dict[str, Any] = {"machine": machine(), "orders": args.orders,
                               "merchants": args.merchants}  # fmt: skip
    results["prepare"] = prepare(work, args.orders, args.merchants)
    store, scratch = work / "store.duckdb", work / "scratch.duckdb"
    html, pdf = work / "report.html", work / "report.pdf"

    def repeat(label: str, fn: Any, *fn_args: Any, fresh: bool = False) -> dict[str, Any]:
        print(f"{label} ...", file=sys.stderr)
        runs = []
        for _ in range(args.repeat):
            if fresh:
                copy_store(store, scratch)
            runs.append(run_child(fn, *fn_args))
        return best_of(runs)

    results["next_day"] = repeat("next-day scoring run", job_next_day, str(scratch), fresh=True)
    results["figures"] = repeat("report figures", job_figures, str(store))
    results["html"] = repeat("report HTML", job_html, str(store), str(html))
    results["pdf"] = repeat("report PDF", job_pdf, str(html), str(pdf))
    results["cards"] = repeat("scorecards", job_cards, str(store))
    (OUT / "report.json").write_text(json.dumps(results, indent=2, default=str))

    ref = results["next_day"]["seconds"]
    m = results["machine"]
    print(f"\nMachine: {m}; {args.orders:,} orders, {args.merchants:,} merchants\n")
    print("| job | seconds | peak MiB | vs next-day scoring run |")
    print("|---|---:|---:|---:|")
    rows = [
        ("next-day scoring run (2024-07-31)", results["next_day"]),
        (f"report figures ({PERIOD} vs {COMPARE})", results["figures"]),
        ("report HTML (figures + charts + page)", results["html"]),
        (f"report PDF ({results['pdf']['bytes'] / 1e6:.1f} MB)", results["pdf"]),
        (f"{results['cards']['cards']} merchant scorecards", results["cards"]),
    ]
    for label, r in rows:
        print(f"| {label} | {r['seconds']:.2f} | {r['peak_mib']:,.0f} | "
              f"{r['seconds'] / ref:.2f} |")  # fmt: skip
    per_card = results["cards"]["seconds"] / max(1, results["cards"]["cards"])
    print(f"\nper scorecard: {1000 * per_card:.0f} ms")


if __name__ == "__main__":
    main()
