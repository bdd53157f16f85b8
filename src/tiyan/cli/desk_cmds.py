"""``tiyan desk``: the platform service desk's queue and its breaches (docs/service-desk.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, _fail, _store, app, out
from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError
from tiyan.jobs.desk import QueueItem, queue, sweep_breaches
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
             "breached": found.breached}
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
            f"[red]{left}[/red]" if found.breached else left,
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(items):,} open request(s), {sum(i.breached for i in items):,} breached")


@desk_app.command("sweep")
def sweep_cmd(db: DbOption = DEFAULT_DB, now: NowOption = None) -> None:
    """Escalate to the platform every request whose merchant deadline has passed unanswered."""
    at = _now(now)
    with _store(db) as store:
        try:
            done = sweep_breaches(store, load_policy(as_of=at.date()).desk, now=at)
        except TiyanError as exc:
            raise _fail(exc) from None
    out.print(f"{len(done):,} request(s) escalated: " + (", ".join(map(shown, done)) or "none"))
