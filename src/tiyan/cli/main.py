"""The ``tiyan`` command: thin shells over the core (they parse, call one function, format)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError, UnknownNameError
from tiyan.ingest.load import DEFAULT_TIMEZONE, LoadReport, ingest
from tiyan.ingest.mapping import is_mapping_path, shipped_mappings
from tiyan.ingest.quarantine import list_quarantine
from tiyan.store import DEFAULT_DB, Store, open_store
from tiyan.store.status import store_status

app = typer.Typer(
    name="tiyan",
    help="tiyan (体验): consumer-experience governance for marketplaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        help="Store: a DuckDB file path (created if missing) or a postgresql:// URL.",
        envvar="TIYAN_DB",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="Memory for the embedded engine, e.g. 4GB (spills to disk beyond it). "
        "Default: half the machine's memory.",
        envvar="TIYAN_MEMORY_LIMIT",
    ),
]


@contextmanager
def _store(db: str, *, read_only: bool = False, memory_limit: str | None = None) -> Iterator[Store]:
    try:
        store = open_store(db, read_only=read_only, memory_limit=memory_limit)
    except TiyanError as exc:
        err.print(f"[red]error:[/red] {shown(exc, lines=True)}")
        raise typer.Exit(2) from None
    try:
        yield store
    finally:
        store.close()


def _fail(exc: Exception) -> typer.Exit:
    """Print ``exc`` (its message may quote the input: escaped) and exit 2."""
    err.print(f"[red]error:[/red] {shown(exc, lines=True)}")
    return typer.Exit(2)


def _progress(disable: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=disable,
        transient=True,
    )


def _warning(w: dict[str, Any]) -> str:
    """A load warning's code, and its column when it has one (``unlisted_value store_type``)."""
    return shown(w["code"] if not w.get("column") else f"{w['code']} {w['column']}")


def _print_load(report: LoadReport) -> None:
    """The load report as a table, then an example of each top reason and warning (the
    data's own text, escaped: a quarantined value may hold markup or escape codes)."""
    table = RichTable(
        title=f"load {report.load_id[:12]} → {shown(report.store)}", title_justify="left"
    )
    for col in ("table", "read", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(col, justify="left" if col == "table" else "right")
    table.add_column("top reasons")
    warned = any(t.warnings for t in report.tables.values())
    if warned:  # rows kept with a warning (an ambiguous local time, an unlisted label)
        table.add_column("warnings (rows kept)")
    for t in report.tables.values():
        reasons = "; ".join(f"{shown(r['code'])} ×{r['rows']:,}" for r in t.reasons[:3])
        warnings = "; ".join(f"{_warning(w)} ×{w['rows']:,}" for w in t.warnings[:3])
        table.add_row(
            shown(t.table),
            *(
                f"{getattr(t, k):,}"
                for k in ("read", "inserted", "updated", "unchanged", "quarantined")
            ),
            reasons,
            *([warnings] if warned else []),
        )
    out.print(table)
    for t in report.tables.values():
        for r in t.reasons[:3]:
            out.print(
                f"  [dim]{shown(t.table)}[/dim] {shown(r['code'])}: e.g. {shown(r['example'])}"
            )
        for w in t.warnings[:3]:
            out.print(
                f"  [dim]{shown(t.table)}[/dim] [yellow]warning[/yellow] {_warning(w)} "
                f"(row kept): e.g. {shown(w['example'])}"
            )
        for source, cols in t.ignored_columns.items():
            out.print(
                f"  [yellow]ignored columns[/yellow] in {shown(source)}: "
                + ", ".join(shown(c) for c in cols)
            )
    for source, lines in report.malformed_source_lines.items():
        out.print(
            f"  [yellow]malformed lines[/yellow] in {shown(source)}: {lines:,} quarantined "
            "(malformed_line; the other lines were read)"
        )
    for skipped in report.skipped_files:
        out.print(f"  [yellow]skipped[/yellow] {shown(skipped)} (not a data file)")
    if report.status == "rejected":
        err.print(
            f"[red]rejected:[/red] {report.reject_rate:.2%} of rows failed validation, above "
            f"--max-reject-rate {report.max_reject_rate:.2%}; no data was written "
            "(see `tiyan quarantine`)"
        )
    elif report.quarantined:
        out.print(
            f"{report.quarantined:,} of {report.read:,} rows quarantined "
            "— `tiyan quarantine` lists them."
        )


def _mapping_arg(value: str | None) -> Path | None:
    """The file ``--mapping`` names (docs/mappings.md): a value holding a path separator or
    ending in ``.yaml``/``.yml`` is a file; any other is the name of a shipped mapping, never
    looked up on disk (a folder ``olist/`` beside you holding the data does not shadow it)."""
    if value is None:
        return None
    if is_mapping_path(value):
        return Path(value)
    names = shipped_mappings()
    if value not in names:
        unknown = UnknownNameError("mapping", value, names)
        hint = f" (a mapping file: give its path, ./{value})" if Path(value).is_file() else ""
        raise _fail(TiyanError(f"{unknown}{hint}"))
    return Path(str(resources.files("tiyan.ingest") / "mappings" / f"{value}.yaml"))


def _run_ingest(
    db: str,
    sources: list[Path],
    mapping: str | None,
    timezone: str,
    max_reject_rate: float | None,
    quiet: bool,
    memory_limit: str | None = None,
) -> LoadReport:
    mapping_file = _mapping_arg(mapping)  # before the store: a typo creates no store
    with _store(db, memory_limit=memory_limit) as store, _progress(quiet) as bar:
        task = bar.add_task("loading", total=None)

        plain = not err.is_terminal  # a log line per step when nobody sees the bar

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=shown(step), completed=done, total=total)
            if plain and not quiet:
                err.print(f"tiyan: {shown(step)} ({done}/{total})", highlight=False)

        try:
            return ingest(
                store,
                sources,
                now=datetime.now(UTC),
                mapping=mapping_file,
                timezone=timezone,
                max_reject_rate=max_reject_rate,
                progress=progress,
            )
        except TiyanError as exc:
            raise _fail(exc) from None


@app.command("ingest")
def ingest_cmd(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Files (orders.csv, shipments.parquet, ...) or folders of them."),
    ],
    db: DbOption = DEFAULT_DB,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="A shipped mapping's name (e.g. olist), or the path of a mapping file for "
            "your own layout (a path holds a / or ends in .yaml)."
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Time zone of timestamps that carry no offset.")
    ] = DEFAULT_TIMEZONE,
    max_reject_rate: Annotated[
        float | None,
        typer.Option(help="Fail (and write no data) above this share of rejected rows, 0–1."),
    ] = None,
    as_json: JsonOption = False,
    memory_limit: MemoryOption = None,
) -> None:
    """Validate and load canonical tables; bad rows go to the quarantine with a reason."""
    if max_reject_rate is not None and not 0 <= max_reject_rate <= 1:
        raise _fail(ValueError("--max-reject-rate must be between 0 and 1"))
    report = _run_ingest(db, sources, mapping, timezone, max_reject_rate, as_json, memory_limit)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_load(report)
    if report.status != "loaded":
        raise typer.Exit(1)


@app.command("quarantine")
def quarantine_cmd(
    db: DbOption = DEFAULT_DB,
    table: Annotated[str | None, typer.Option(help="Only this canonical table.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List rejected rows: table, source, line, column and the reason."""
    with _store(db, read_only=True) as store:
        try:
            result = list_quarantine(store, table=table, limit=limit)
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return
    out.print(f"{result['total']:,} rows in quarantine")
    summary = RichTable("table", "reason", "rows", title="by reason", title_justify="left")
    for r in result["by_reason"]:
        summary.add_row(shown(r["table_name"]), shown(r["reason_code"]), f"{r['rows']:,}")
    out.print(summary)
    rows = RichTable("table", "source:line", "column", "reason", title="rows", title_justify="left")
    for r in result["rows"]:
        rows.add_row(
            shown(r["table_name"]), shown(f"{r['source']}:{r['line']}"), shown(r["column_name"]),
            shown(r["reason"]),
        )  # fmt: skip
    out.print(rows)


@app.command("status")
def status_cmd(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Tables, row counts, date ranges (UTC) and recent loads."""
    with _store(db, read_only=True) as store:
        result = store_status(store)
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return
    _print_status(result)


def _print_status(result: dict[str, Any]) -> None:
    out.print(
        f"store [bold]{shown(result['store'])}[/bold] ({result['engine']}, schema "
        f"v{result['schema_version']}), {result['quarantined']:,} rows in quarantine"
    )
    tables = RichTable("table", "rows", "from (UTC)", "to (UTC)")
    for name, t in result["tables"].items():
        tables.add_row(shown(name), f"{t['rows']:,}", shown(t["from"]), shown(t["to"]))
    out.print(tables)
    loads = RichTable(
        "load",
        "finished (UTC)",
        "status",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "quarantined",
        title="recent loads",
        title_justify="left",
    )
    for load in result["recent_loads"]:
        loads.add_row(
            shown(load["load_id"][:12]),
            shown(load["finished_at"]),
            shown(load["status"]),
            *(
                f"{load[k]:,}"
                for k in ("read_rows", "inserted", "updated", "unchanged", "quarantined")
            ),
        )
    out.print(loads)


def _simulate_to(
    out_dir: Path, merchants: int, orders: int, days: int, seed: int, start: date, quiet: bool
) -> dict[str, Path]:
    from tiyan.sim import SimConfig, write_parquet

    try:
        cfg = SimConfig(merchants=merchants, orders=orders, days=days, seed=seed, start=start)
    except ValueError as exc:
        raise _fail(exc) from None
    with _progress(quiet) as bar:
        task = bar.add_task("simulating orders", total=orders)

        def progress(table: str, rows: int) -> None:
            if table == "orders":
                bar.update(task, completed=rows)

        return write_parquet(cfg, out_dir, progress=progress)


@app.command("simulate")
def simulate_cmd(
    merchants: Annotated[int, typer.Option(min=1, help="Merchants.")] = 2_000,
    orders: Annotated[int, typer.Option(min=1, help="Orders.")] = 200_000,
    days: Annotated[int, typer.Option(min=1, help="Days of orders.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same market).")] = 1,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First day of orders.")
    ] = datetime(2024, 5, 1),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write Parquet files, one per table, here.")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Or load the market straight into this store.")
    ] = None,
    memory_limit: MemoryOption = None,
) -> None:
    """Generate a synthetic marketplace with known merchant archetypes (sim_truth)."""
    if (out_dir is None) == (db is None):
        raise _fail(ValueError("give exactly one of --out DIR or --db STORE"))
    if out_dir is not None:
        paths = _simulate_to(out_dir, merchants, orders, days, seed, start.date(), False)
        out.print(
            f"wrote {len(paths)} tables to {shown(out_dir)}/ — load them with "
            f"`tiyan ingest {shown(out_dir)}`"
        )
        return
    assert db is not None
    tmp = Path(tempfile.mkdtemp(prefix="tiyan-sim-"))
    try:
        _simulate_to(tmp, merchants, orders, days, seed, start.date(), False)
        report = _run_ingest(db, [tmp], None, DEFAULT_TIMEZONE, None, False, memory_limit)
        _print_load(report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@app.command("demo")
def demo_cmd(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo writes.")] = Path("demo"),
    orders: Annotated[int, typer.Option(min=1, help="Orders to simulate.")] = 1_000_000,
    merchants: Annotated[int, typer.Option(min=1, help="Merchants.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    memory_limit: MemoryOption = None,
) -> None:
    """Simulate a market (~1M orders), ingest it into an embedded store, score it and
    detect its violations."""
    data = folder / "data"
    db = str(folder / "tiyan.duckdb")
    start = date(2024, 5, 1)
    out.rule("1/7 simulate")
    _simulate_to(data, merchants, orders, 90, seed, start, False)
    out.print(f"market written to {shown(data)}/ (Parquet, one file per table)")
    out.rule("2/7 ingest")
    report = _run_ingest(db, [data], None, DEFAULT_TIMEZONE, None, False, memory_limit)
    _print_load(report)
    from tiyan.cli.desk_cmds import simulate_and_import_desk

    simulate_and_import_desk(data, folder / "desk.jsonl", db, seed=seed)
    out.rule("3/7 store")
    with _store(db) as store:
        _print_status(store_status(store))
    from tiyan.cli.enforce_cmds import enforce_and_print, print_outcome
    from tiyan.cli.report_cmds import write_report
    from tiyan.cli.scoring_cmds import score_and_print
    from tiyan.jobs.enforce import run_enforcement
    from tiyan.jobs.scoring import run_scoring
    from tiyan.policy.files import load_policy

    def say(message: str) -> None:
        err.print(f"tiyan: {shown(message)}", highlight=False)

    # A platform scores and enforces every day; the demo does it once a month, so that
    # penalties have a before and an after for the report's impact analysis (each run's
    # 30-day lookback covers the month before it).
    out.rule("4/7 score and enforce, month by month")
    for month in (date(2024, 6, 1), date(2024, 7, 1)):
        with _store(db, memory_limit=memory_limit) as store:
            policy = load_policy(as_of=month)
            scored = run_scoring(store, as_of=month, policy=policy, progress=say)
            enforced = run_enforcement(store, as_of=month, policy=policy, progress=say)
        out.print(
            f"as of {month}: {scored.scored:,} merchants scored; "
            f"{sum(enforced.new_by_rule.values()):,} violations, "
            f"{len(enforced.penalties):,} penalty measures, "
            f"¥{enforced.compensation:,} compensation"
        )
    as_of = start + timedelta(days=90)
    out.rule(f"5/7 score as of {as_of}")
    score_and_print(db, as_of, None, None, False, 7, memory_limit)
    out.rule(f"6/7 enforce as of {as_of}")
    enforce_and_print(db, as_of.isoformat(), None, memory_limit)
    out.rule("7/7 report")
    report_path = folder / "report.html"
    write_report(db, out_path=report_path, period="2024-07", compare="2024-06")
    with _store(db, read_only=True) as store:
        rows = store.query(
            "SELECT merchant_id FROM scores WHERE as_of = ? AND status = 'scored' "
            "ORDER BY score, merchant_id LIMIT 1",
            (as_of,),
        )
    worst = rows[0][0] if rows else "M000001"
    out.rule(f"the outcome on {as_of} (tiyan policy evaluate)")
    print_outcome(db, as_of)
    # the folder given, and a merchant id from the data: escaped for the terminal
    db_, dir_, data_, worst_ = shown(db), shown(folder), shown(data), shown(worst)
    out.print(
        f"The consumer-experience report for July 2024 (against June) is in "
        f"[bold]{shown(report_path)}[/bold]: open file://{shown(report_path.resolve())} in a "
        "browser."
    )
    out.print(
        f"\nDone. The market is in [bold]{db_}[/bold] (an embedded DuckDB file; the Parquet "
        f"files it came from are in {data_}/). Try:\n"
        f"  .venv/bin/tiyan status --db {db_}\n"
        f"  .venv/bin/tiyan merchant {worst_} --db {db_}    # the lowest score, explained\n"
        f"  .venv/bin/tiyan violations --merchant {worst_} --db {db_}"
        "    # and its violations\n"
        f"  .venv/bin/tiyan report --period 2024-07 --lang zh --pdf --out {dir_}/report-zh.html"
        f" --db {db_}\n"
        f"  .venv/bin/tiyan report --merchant {worst_} --out {dir_}/card.html --db {db_}\n"
        f"  .venv/bin/tiyan score --as-of {as_of + timedelta(days=1)} --db {db_}    # next day\n"
        f"  .venv/bin/tiyan desk sla --from 2024-07-01 --to 2024-07-31 --db {db_}"
        "    # the service desk's deadlines kept\n"
        "The web console (and the HTTP API):\n"
        f"  .venv/bin/tiyan keys create --role operator --db {db_}    # prints a key\n"
        f"  .venv/bin/tiyan serve --db {db_}\n"
        "  then open http://127.0.0.1:8000/console/ and log in with the key "
        "(API docs at /docs)"
    )


# The scoring and enforcement commands register themselves on `app` (imported here so
# `tiyan` has them).
from tiyan.cli import desk_cmds, enforce_cmds, report_cmds, scoring_cmds, service_cmds  # noqa: E402, F401


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: nothing of the current load was written")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
