"""``tiyan desk``: the platform service desk's queue and its breaches (docs/service-desk.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import Progress
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, _fail, _store, app, out
from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError
from tiyan.jobs.desk import (
    ImportReport,
    QueueItem,
    agents,
    assign_requests,
    import_history,
    queue,
    read_histories,
    recompute,
    set_agent,
    sweep_breaches,
)
from tiyan.policy.files import load_policy
from tiyan.store import DEFAULT_DB

desk_app = typer.Typer(help="The platform service desk: requests and their SLA clocks.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(desk_app, name="desk")

NowOption = Annotated[
    str | None,
    typer.Option("--now", help="The instant to measure at, ISO 8601 with offset (default: now)."),
]


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(TiyanError(f"--now {value!r} is not an ISO 8601 instant")) from None
    if at.tzinfo is None:
        raise _fail(TiyanError(f"--now {value!r} has no UTC offset (e.g. +08:00)"))
    return at


def _left(found: QueueItem) -> str:
    if found.left is None:
        return "—"
    minutes = int(found.left.total_seconds() // 60)
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}h{rest:02d}"


@desk_app.command("queue")
def queue_cmd(
    db: DbOption = DEFAULT_DB,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant's requests.")] = None,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open requests, nearest to the merchant's deadline first, with the service time left."""
    at = _now(now)
    with _store(db) as store:
        try:
            items = queue(store, load_policy(as_of=at.date()).desk, now=at, merchant_id=merchant)
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        rows = [
            {**found.request.__dict__, "due": found.clock.due,
             "seconds_left": None if found.left is None else found.left.total_seconds(),
             "breached": found.breached, "warning": found.warning}
            for found in items
        ]  # fmt: skip
        out.print_json(json.dumps(rows, default=str, ensure_ascii=False))
        return
    table = RichTable("request", "type", "merchant", "state", "due", "left", title="Queue")
    for found in items:
        r = found.request
        left = _left(found)
        table.add_row(
            shown(r.request_id), shown(r.type_id), shown(r.merchant_id), shown(r.state),
            "—" if found.clock.due is None else found.clock.due.isoformat(timespec="minutes"),
            f"[red]{left}[/red]" if found.breached else (
                f"[yellow]{left}[/yellow]" if found.warning else left),
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(items):,} open request(s), {sum(i.breached for i in items):,} breached, "
              f"{sum(i.warning for i in items):,} due soon")  # fmt: skip


@desk_app.command("sweep")
def sweep_cmd(db: DbOption = DEFAULT_DB, now: NowOption = None) -> None:
    """Escalate to the platform every request whose merchant deadline has passed unanswered."""
    at = _now(now)
    with _store(db) as store:
        try:
            desk = load_policy(as_of=at.date()).desk
            done = sweep_breaches(store, desk, now=at)
            given = assign_requests(store, desk)
        except TiyanError as exc:
            raise _fail(exc) from None
    out.print(f"{len(done):,} request(s) escalated: " + (", ".join(map(shown, done)) or "none"))
    if given:
        out.print(f"{len(given):,} request(s) given to agents: "
                  + ", ".join(f"{shown(r)} → {shown(a)}" for r, a in given[:20]))  # fmt: skip


@desk_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="JSON lines, one request history a line.")],
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Import whole request histories (from another helpdesk, or the simulator's desk.jsonl):
    every trail replayed and checked, resolutions recorded as the desk records them.
    Importing the same file again changes nothing."""
    now = datetime.now(UTC)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(TiyanError(f"{path}: cannot read it as UTF-8 text ({exc})")) from None
    parsed, refused = read_histories(text.splitlines(), source=str(path))
    policy = load_policy(as_of=now.date())
    with _store(db) as store, Progress(console=out, transient=True) as bar:
        task = bar.add_task("importing", total=len(parsed))
        report = ImportReport()
        step_ = 2000
        try:
            for start in range(0, len(parsed), step_):
                part = import_history(store, policy.desk, parsed[start : start + step_],
                                      policy_version=policy.version, now=now)  # fmt: skip
                report.imported += part.imported
                report.existing += part.existing
                report.rejected += part.rejected
                bar.advance(task, len(parsed[start : start + step_]))
        except TiyanError as exc:
            raise _fail(exc) from None
    rejected = sorted([*refused, *report.rejected])
    if as_json:
        out.print_json(json.dumps({"imported": report.imported, "existing": len(report.existing),
                                   "rejected": [{"line": n, "request_id": r, "problem": p}
                                                for n, r, p in rejected]},
                                  ensure_ascii=False))  # fmt: skip
    else:
        out.print(f"{report.imported:,} request(s) imported, {len(report.existing):,} held "
                  f"already, {len(rejected):,} refused")  # fmt: skip
        for number, _, problem in rejected[:20]:
            where = problem if problem.startswith(f"{path}:") else f"{path}:{number}: {problem}"
            out.print(f"  [red]refused[/red] {shown(where)}")
        if len(rejected) > 20:
            out.print(f"  … and {len(rejected) - 20:,} more (--json lists them all)")
    if rejected:
        raise typer.Exit(1)


@desk_app.command("recompute")
def recompute_cmd(db: DbOption = DEFAULT_DB) -> None:
    """Recompute every request's deadlines and outcomes from its trail (after the desk's
    calendar or deadlines changed in the policy)."""
    policy = load_policy(as_of=datetime.now(UTC).date())
    with _store(db) as store:
        changed = recompute(store, policy.desk)
    out.print(f"{changed:,} request(s) recomputed")


def simulate_and_import_desk(data: Path, path: Path, db: str, *, seed: int) -> None:
    """The demo's desk: the requests, agents' work and callbacks that follow the simulated
    market in ``data``, written to ``path`` and imported into ``db``."""
    from tiyan.sim.desk import write_desk

    now = datetime.now(UTC)
    policy = load_policy(as_of=now.date())
    count = write_desk(data, path, seed=seed, desk=policy.desk)
    parsed, refused = read_histories(path.read_text(encoding="utf-8").splitlines(),
                                     source=str(path))  # fmt: skip
    with _store(db) as store:
        report = import_history(store, policy.desk, parsed, policy_version=policy.version,
                                now=now)  # fmt: skip
    bad = len(refused) + len(report.rejected)
    out.print(f"service desk: {count:,} requests simulated ({shown(path)}), "
              f"{report.imported:,} imported, {bad:,} refused")  # fmt: skip


@desk_app.command("simulate")
def simulate_cmd(
    data: Annotated[Path, typer.Option("--data", help="A simulated market (tiyan simulate).")],
    out_path: Annotated[Path, typer.Option("--out", help="The JSON lines to write.")] = Path(
        "desk.jsonl"
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Simulate the desk's requests, agents' work and callbacks for a simulated market
    (late shipments and quality problems raise requests; passive merchants breach; some
    consumers are hard to reach). Import them with ``tiyan desk import``."""
    from tiyan.sim.desk import write_desk

    if out_path.resolve().parent == data.resolve():
        raise _fail(TiyanError(f"--out {out_path}: write it outside the market's folder "
                               "(tiyan load reads every file there as a table)"))  # fmt: skip
    policy = load_policy(as_of=datetime.now(UTC).date())
    try:
        count = write_desk(data, out_path, seed=seed, desk=policy.desk)
    except (OSError, KeyError) as exc:
        raise _fail(TiyanError(f"--data {data}: not a simulated market ({exc})")) from None
    out.print(f"{count:,} request histories written to {shown(out_path)}")


@desk_app.command("sla")
def sla_cmd(
    since: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD), local.")],
    until: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD), local.")],
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """The SLA report of the requests opened in a period, by type: the merchant deadlines
    kept, the platform's resolutions within its hours, its first response."""
    from datetime import date as date_

    from tiyan.store.desk_stats import sla_by_type

    try:
        first, last = date_.fromisoformat(since), date_.fromisoformat(until)
    except ValueError:
        raise _fail(TiyanError(f"--from {since!r} / --to {until!r}: dates as YYYY-MM-DD")) from None
    if last < first:
        raise _fail(TiyanError(f"--to {until} is before --from {since}"))
    policy = load_policy(as_of=last)
    zone = ZoneInfo(policy.desk.calendar.zone)
    lo = datetime.combine(first, time(), zone).astimezone(UTC).replace(tzinfo=None)
    hi = (
        datetime.combine(last + timedelta(days=1), time(), zone)
        .astimezone(UTC)
        .replace(tzinfo=None)
    )
    with _store(db, read_only=True) as store:
        rows = sla_by_type(store, lo, hi)
    keys = ("type", "requests", "merchant_decided", "merchant_breached", "resolved",
            "resolved_in_time", "first_response_minutes")  # fmt: skip
    if as_json:
        out.print_json(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], default=float))
        return
    title = f"Service desk SLA {first} – {last}"
    table = RichTable("type", "类型", "requests", "merchant kept", "breached", "resolved",
                      "in time", "first response", title=title)  # fmt: skip

    def share(part: int, whole: int) -> str:
        return "—" if not whole else f"{part / whole:.1%}"

    for t, n, decided, breached, resolved, in_time, minutes in rows:
        label = policy.desk.types[t].label_zh if t in policy.desk.types else ""
        table.add_row(
            shown(t), label, f"{n:,}", share(decided - breached, decided), f"{breached:,}",
            f"{resolved:,}", share(in_time, resolved),
            "—" if minutes is None else f"{float(minutes):.0f} min",
        )  # fmt: skip
    out.print(table)
    if not rows:
        out.print("no service request was opened in the period")


@desk_app.command("agent")
def agent_cmd(
    agent_id: Annotated[
        str, typer.Argument(help="The agent's key id (tiyan keys create --role agent).")
    ],
    categories: Annotated[
        str, typer.Option(help="Request categories it takes, comma-separated.")
    ] = "after_sales,complaint,chase,other",
    languages: Annotated[str, typer.Option(help="Languages, comma-separated.")] = "zh",
    max_requests: Annotated[int, typer.Option("--max", min=1, help="Requests at once.")] = 8,
    offline: Annotated[bool, typer.Option(help="Not taking requests now.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record a platform agent: what it takes, how many requests at once, online or not.
    The sweep gives waiting requests to agents by skill and load."""
    now = datetime.now(UTC)
    split = [c.strip() for c in categories.split(",") if c.strip()]
    langs = [x.strip() for x in languages.split(",") if x.strip()]
    with _store(db) as store:
        try:
            set_agent(store, agent_id=agent_id, categories=split, languages=langs,
                      max_requests=max_requests, online=not offline, now=now,
                      desk=load_policy(as_of=now.date()).desk)  # fmt: skip
        except TiyanError as exc:
            raise _fail(exc) from None
        team = agents(store)
    table = RichTable("agent", "categories", "languages", "holds", "max", "online",
                      title="Platform agents")  # fmt: skip
    for a in team:
        table.add_row(shown(a.agent_id), ", ".join(sorted(a.categories)),
                      ", ".join(sorted(a.languages)), f"{a.open_requests}",
                      f"{a.max_requests}", "yes" if a.online else "no")  # fmt: skip
    out.print(table)
