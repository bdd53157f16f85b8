"""``tiyan score``, ``tiyan metrics``, ``tiyan merchant``, ``tiyan policy check`` and ``show``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, MemoryOption, _fail, _store, app, err, out
from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError
from tiyan.domain.metrics import format_value
from tiyan.jobs.scoring import ScoreSummary, run_metrics, run_scoring
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.runner import DEFAULT_RESTATE_DAYS
from tiyan.policy.files import load_policy, policy_in_force, policy_text
from tiyan.store import DEFAULT_DB
from tiyan.store.platform import DEFAULT_CURRENCY, Platform
from tiyan.store.record import merchant_record
from tiyan.store.scorecard import scorecard

AsOfOption = Annotated[
    str, typer.Option("--as-of", help="Run date (YYYY-MM-DD); windows end the day before.")
]
WindowOption = Annotated[
    int | None, typer.Option("--window", min=1, help="Window in days (default: the policy's).")
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy file, or a folder of versions: the one in force on the date applies "
        "(default: the shipped policy).",
    ),
]

policy_app = typer.Typer(help="Policy files.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(ValueError(f"--as-of must be a date like 2024-08-01, not {text!r}")) from None


def _say(message: str) -> None:
    err.print(f"tiyan: {shown(message)}", highlight=False)


def score_and_print(
    db: str,
    as_of: date,
    window: int | None,
    policy_file: Path | None,
    full: bool,
    restate_days: int,
    memory_limit: str | None,
    as_json: bool = False,
) -> ScoreSummary:
    with _store(db, memory_limit=memory_limit) as store:
        try:
            summary = run_scoring(
                store,
                as_of=as_of,
                window=window,
                policy=policy_in_force(policy_file, as_of=as_of),
                full=full,
                restate_days=restate_days,
                progress=_say,
            )
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps(asdict(summary), default=str))
        return summary
    r = summary.refresh
    out.print(
        f"as of {summary.as_of}, {summary.window}-day window, policy "
        f"{shown(summary.policy_version)}: "
        f"{summary.scored:,} of {summary.merchants:,} merchants scored; partials "
        f"{'recomputed' if r.full else 'updated'} for {r.days} day(s), "
        f"{summary.metric_values:,} metric values"
    )
    levels = RichTable("level", "merchants", title="Levels")
    for level in ("excellent", "good", "fair", "poor", "critical", "insufficient_data"):
        levels.add_row(level, f"{summary.levels.get(level, 0):,}")
    out.print(levels)
    worst = RichTable("metric", "merchants losing most on it", title="Worst metrics")
    for metric_id, count in summary.worst_metrics:
        d = DEFINITIONS[metric_id]
        worst.add_row(f"{d.en} ({d.zh})", f"{count:,}")
    out.print(worst)
    return summary


@app.command("score")
def score_cmd(
    as_of: AsOfOption,
    window: WindowOption = None,
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    full: Annotated[bool, typer.Option("--full", help="Recompute every daily partial.")] = False,
    restate_days: Annotated[
        int,
        typer.Option(min=0, help="Days already computed to recompute (late records)."),
    ] = DEFAULT_RESTATE_DAYS,
    memory_limit: MemoryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compute the metric catalog and the Merchant Experience Score as of a date."""
    score_and_print(
        db, _date(as_of), window, policy, full, restate_days, memory_limit, as_json=as_json
    )


@app.command("metrics")
def metrics_cmd(
    as_of: AsOfOption,
    out_file: Annotated[Path, typer.Option("--out", help="FILE.csv or FILE.parquet.")],
    window: WindowOption = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    memory_limit: MemoryOption = None,
) -> None:
    """Export metric values (merchant_id, metric_id, window, numerator, denominator, value)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if out_file.suffix not in {".csv", ".parquet"}:
        raise _fail(ValueError(f"--out must end in .csv or .parquet, not {out_file.name!r}"))
    day = _date(as_of)
    with _store(db, memory_limit=memory_limit) as store:
        try:
            pol = policy_in_force(policy, as_of=day)
            length = window or pol.scoring.window_days
            run_metrics(store, as_of=day, window=length, policy=pol, progress=_say)
        except TiyanError as exc:
            raise _fail(exc) from None
        where = "as_of = ? AND window_days = ? AND scope = 'merchant'"
        params: list[Any] = [day, length]
        if merchant is not None:
            where += " AND subject_id = ?"
            params.append(merchant)
        rows = store.query(
            "SELECT subject_id, metric_id, window_days, window_start, window_end, numerator, "
            f"denominator, value FROM metric_values WHERE {where} ORDER BY subject_id, metric_id",
            params,
        )
        if merchant is not None and not rows:
            raise _fail(ValueError(f"no metric values for merchant {merchant!r}"))
    names = [
        "merchant_id",
        "metric_id",
        "window",
        "window_start",
        "window_end",
        "numerator",
        "denominator",
        "value",
    ]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".csv":
        pacsv.write_csv(table, out_file)
    else:
        pq.write_table(table, out_file)
    out.print(f"wrote {len(rows):,} metric values to {shown(out_file)}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _points(value: float | None) -> str:
    """A dimension's points; a dimension none of whose metrics has data has none."""
    return "no data" if value is None else f"{value:.1f}"


@app.command("merchant")
def merchant_cmd(
    merchant_id: Annotated[str, typer.Argument(help="Merchant id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score date (default: the latest).")
    ] = None,
    window: WindowOption = None,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """A merchant's scorecard: score, level, dimensions, metrics against peers, what to fix."""
    day = _date(as_of) if as_of else None
    with _store(db, read_only=True) as store:
        card = scorecard(store, merchant_id, as_of=day, window=window)
        record = merchant_record(store, merchant_id, card["as_of"] if card else None)
    if card is None:
        raise _fail(
            ValueError(
                f"no score for merchant {merchant_id!r}"
                + (f" as of {day}" if day else "")
                + " (run `tiyan score --as-of DATE` first)"
            )
        )
    asof, length, category, status = (card[k] for k in ("as_of", "window_days", "category",
                                                         "status"))  # fmt: skip
    valid, score, display, level = (card[k] for k in ("valid_orders", "score", "display_score",
                                                      "level"))  # fmt: skip
    prod, logi, serv = card["product"], card["logistics"], card["service"]
    provisional, version, explanation = (
        card["provisional_score"], card["policy_version"], card["explanation"]
    )  # fmt: skip
    if as_json:
        keys = ["as_of", "window_days", "category", "status", "valid_orders", "score"]
        keys += ["product", "logistics", "service", "display_score", "level"]
        keys += ["evidence_incomplete_orders"]
        body = {k: card[k] for k in keys}
        body.update(merchant_id=merchant_id, provisional_score=provisional)
        body.update(policy_version=version, explanation=explanation, record=record)
        out.print_json(json.dumps(body, default=str, ensure_ascii=False))
        return
    out.rule(f"{shown(merchant_id)} · {shown(category)} · as of {asof} · {length}-day window")
    if status != "scored":
        out.print(
            f"[yellow]insufficient data[/yellow]: {valid} valid orders in the window (a score "
            f"needs the policy's minimum). Provisional score for a new merchant: {provisional}."
        )
    else:
        out.print(
            f"score [bold]{score:.1f}[/bold] / 100 · {display:.2f} ★ · level [bold]{level}"
            f"[/bold] · {valid:,} valid orders · peers: {shown(explanation['peer_group'])}"
        )
        out.print(f"product {_points(prod)} · logistics {_points(logi)} · service {_points(serv)}")
        if explanation["standards_met"]:
            out.print("standards met: " + ", ".join(map(shown, explanation["standards_met"])))
    if card["evidence_incomplete_orders"]:
        out.print(
            f"{card['evidence_incomplete_orders']:,} order(s) with incomplete records "
            "(quarantined, delivered without a pickup, cancelled without a time): left out "
            "of the rates, never punished"
        )
    table = RichTable(
        "dimension", "metric", "value", "num / den", "peer median", "percentile", "lost",
        title="Metrics against peers",
    )  # fmt: skip
    for m in sorted(explanation["metrics"], key=lambda m: -(m.get("points_lost") or 0)):
        d = DEFINITIONS[m["metric_id"]]
        lost = m.get("points_lost")
        table.add_row(
            shown(m["dimension"]),
            f"{d.en} {d.zh}",
            format_value(d, m["value"]),
            f"{m['numerator']:,.0f} / {m['denominator']:,.0f}",
            format_value(d, m.get("peer_median")),
            _pct(m.get("percentile")),
            "—" if lost is None else f"{lost:.1f}",
        )
    out.print(table)
    if explanation["improvements"]:
        out.print("[bold]What to fix first[/bold]")
        for i in explanation["improvements"]:
            out.print(f"  • {shown(i['text'])}  ({shown(i['text_zh'])})")
    if record is not None:
        _print_record(record, Platform(currency=card.get("currency") or DEFAULT_CURRENCY))
    out.print(f"policy {shown(version)}")


def _print_record(record: dict[str, Any], platform: Platform) -> None:
    out.print("[bold]Record[/bold]")
    found = ", ".join(f"{rule} {n}" for rule, n in record["violations_90d"].items()) or "none"
    out.print(f"  violations, last 90 days: {shown(found)}")
    points = ", ".join(f"{k} {v:g}" for k, v in record["points_this_year"].items()) or "none"
    out.print(f"  points this year: {shown(points)}")
    out.print(f"  penalty in force: {shown(record['penalty_in_force'] or 'none')}")
    paid = platform.money(record["compensation_paid"])
    out.print(f"  compensation paid to consumers: {shown(paid)}")
    held = ", ".join(record["privileges_and_measures"]) or "none"
    out.print(f"  privileges and score measures in force: {shown(held)}")
    if record["open_appeals"]:
        out.print(f"  open appeals: {shown(record['open_appeals'])}")


@policy_app.command("check")
def policy_check_cmd(
    path: Annotated[Path, typer.Argument(help="Policy YAML file, or a folder of versions.")],
) -> None:
    """Validate a policy file (or every version in a folder); every problem names the line
    and the key."""
    try:
        policy = load_policy(path)
    except TiyanError as exc:
        raise _fail(exc) from None
    out.print(
        f"{shown(path)}: valid (version {shown(policy.version)}, effective {policy.effective_from})"
    )


@policy_app.command("show")
def policy_show_cmd(
    version: Annotated[
        str | None, typer.Option("--version", help="This version instead of the one in force.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The version in force on this date (default: the latest)."),
    ] = None,
    policy: PolicyOption = None,
) -> None:
    """Print a policy as written (YAML, comments and version included): by default the
    shipped one in force, to copy and edit — `tiyan policy show > my-policy.yaml`, then
    `--policy my-policy.yaml`."""
    if version is not None and as_of is not None:
        raise _fail(ValueError("give --version or --as-of, not both"))
    try:
        found = policy_text(policy, as_of=_date(as_of) if as_of else None, version=version)
    except TiyanError as exc:
        raise _fail(exc) from None
    # the YAML alone on stdout (a file to edit); where it came from on stderr
    err.print(
        f"policy {shown(found.policy.version)}, effective {found.policy.effective_from}, "
        f"from {shown(found.where)}",
        highlight=False,
    )
    print(found.text, end="" if found.text.endswith("\n") else "\n")
