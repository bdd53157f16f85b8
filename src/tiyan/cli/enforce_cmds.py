"""``tiyan enforce`` and ``tiyan violations``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, MemoryOption, _fail, _store, app, out
from tiyan.cli.scoring_cmds import AsOfOption, PolicyOption, _date, _say, policy_app
from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError
from tiyan.jobs.enforce import EnforcementSummary, run_enforcement
from tiyan.policy.files import load_policy, policy_in_force
from tiyan.policy.rules import RULE_ZH
from tiyan.store import DEFAULT_DB
from tiyan.store.listing import action_totals, list_actions, list_violations
from tiyan.store.platform import platform_of


def enforce_and_print(
    db: str,
    as_of: str,
    policy_file: Any,
    memory_limit: str | None,
    as_json: bool = False,
    shadow: Path | None = None,
) -> EnforcementSummary:
    day = _date(as_of)
    with _store(db, memory_limit=memory_limit) as store:
        try:
            live = policy_in_force(policy_file, as_of=day)
            summary = run_enforcement(store, as_of=day, policy=live, progress=_say)
            money = platform_of(store).money
            if shadow is not None:
                from tiyan.jobs.backtest import record_shadow

                _say(f"running {shadow} in shadow mode")
                shadowed = record_shadow(store, load_policy(shadow, as_of=day), live, as_of=day)
        except TiyanError as exc:
            raise _fail(exc) from None
    if shadow is not None and not as_json:
        s = shadowed.summary
        out.print(
            f"shadow {shown(shadowed.candidate_version)}: {s['violations']['candidate']:,.0f} "
            f"violations (live {s['violations']['current']:,.0f}), "
            f"{len(s['newly_penalised'])} more merchant(s) penalised, {len(s['spared'])} spared; "
            "per merchant in shadow_outcomes"
        )
    if as_json:
        data = asdict(summary)
        data.pop("ids")
        data["compensation"] = str(summary.compensation)
        out.print_json(json.dumps(data, default=str))
        return summary
    out.print(
        f"as of {summary.as_of}, policy {shown(summary.policy_version)}: {summary.new:,} new "
        f"violation(s); {summary.merchants_with_new_b:,} merchant(s) with a new B-class one"
    )
    table = RichTable("rule", "found in lookback", "new", title="Violations")
    for rule_id, found in summary.found_by_rule.items():
        table.add_row(
            f"{rule_id} ({RULE_ZH.get(rule_id, '')})",
            f"{found:,}",
            f"{summary.new_by_rule[rule_id]:,}",
        )
    out.print(table)
    points = ", ".join(f"{ledger} {pts:g}" for ledger, pts in summary.points.items())
    out.print(
        f"consequences: {money(summary.compensation)} compensation to consumers; points {points}; "
        f"{len(summary.penalties):,} penalty measure(s) "
        f"on {len({m for m, _ in summary.penalties}):,} merchant(s); privileges "
        f"{summary.privileges_granted:,} granted, {summary.privileges_revoked:,} revoked; "
        f"score measures {summary.measures_applied:,} applied, {summary.measures_lifted:,} lifted"
    )
    return summary


@app.command("enforce")
def enforce_cmd(
    as_of: AsOfOption,
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    memory_limit: MemoryOption = None,
    as_json: JsonOption = False,
    shadow: Annotated[
        Path | None,
        typer.Option(help="A candidate policy to run in shadow mode beside the live one."),
    ] = None,
) -> None:
    """Detect the violations decided by a date, record the new ones and their consequences
    (idempotent); optionally run a candidate policy in shadow mode."""
    enforce_and_print(db, as_of, policy, memory_limit, as_json=as_json, shadow=shadow)


@app.command("violations")
def violations_cmd(
    db: DbOption = DEFAULT_DB,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List recorded violations, newest first, with their evidence."""
    with _store(db) as store:
        try:
            records = list_violations(store, merchant_id=merchant, rule_id=rule, limit=limit)
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps(records, default=str, ensure_ascii=False))
        return
    table = RichTable("occurred", "rule", "class", "merchant", "subject", "evidence")
    for r in records:
        evidence = ", ".join(f"{k}={v}" for k, v in r["evidence"].items())
        table.add_row(
            str(r["occurred_at"]), *map(shown, (r["rule_id"], r["ledger"], r["merchant_id"],
            r["violation_id"].split(":", 2)[2], evidence[:120])),
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(records)} violation(s) shown")


@app.command("actions")
def actions_cmd(
    db: DbOption = DEFAULT_DB,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (compensation, points, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the ledger: compensation, points and penalties, newest first, with totals."""
    with _store(db) as store:
        try:
            records = list_actions(store, merchant_id=merchant, kind=kind, limit=limit)
            totals = action_totals(store, merchant_id=merchant, kind=kind)
            platform = platform_of(store)
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps(records, default=str, ensure_ascii=False))
        return
    table = RichTable(
        "day", "kind", "merchant", "rule", "class", "points", platform.symbol.strip(), "measure"
    )
    for r in records:
        table.add_row(
            str(r["day"]), *map(shown, (r["kind"], r["merchant_id"], r["rule_id"], r["ledger"])),
            "" if r["points"] is None else f"{r['points']:g}",
            "" if r["amount"] is None else f"{r['amount']:,.2f}", shown(r["measure"]),
        )  # fmt: skip
    out.print(table)
    for kind_, ledger, count, pts, amount in totals:
        what = shown(f"{kind_}{' ' + ledger if ledger else ''}") + f": {count:,}"
        if kind_ == "points":
            what += f" ({pts:g} points)"
        if kind_ == "compensation":
            what += f" ({platform.money(amount)})"
        out.print(what)


appeal_app = typer.Typer(help="Merchants' appeals against violations.", no_args_is_help=True)
app.add_typer(appeal_app, name="appeal")


def _appeal_json(a: Any) -> str:
    return json.dumps(asdict(a), default=str, ensure_ascii=False)


@appeal_app.command("create")
def appeal_create_cmd(
    violation: Annotated[str, typer.Option(help="The violation id appealed.")],
    merchant: Annotated[str, typer.Option(help="The merchant appealing (its own violation).")],
    statement: Annotated[str, typer.Option(help="What the merchant says.")],
    evidence: Annotated[str | None, typer.Option(help="Evidence offered.")] = None,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """File a merchant's appeal against one of its violations."""
    from datetime import UTC, datetime

    from tiyan.jobs.appeals import create_appeal

    with _store(db) as store:
        try:
            appeal = create_appeal(
                store, violation_id=violation, merchant_id=merchant, statement=statement,
                evidence=evidence, now=datetime.now(UTC).replace(tzinfo=None),
            )  # fmt: skip
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        out.print_json(_appeal_json(appeal))
        return
    out.print(
        f"appeal {shown(appeal.appeal_id)} filed; an operator decides it with `tiyan appeal decide`"
    )


@appeal_app.command("decide")
def appeal_decide_cmd(
    appeal_id: Annotated[str, typer.Argument(help="The appeal id.")],
    accept: Annotated[bool, typer.Option("--accept/--reject", help="Accept (reverse) or reject.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    by: Annotated[str, typer.Option(help="Who decides (operator id).")],
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept or reject an open appeal; accepting writes reversal entries to the ledger."""
    from datetime import UTC, datetime

    from tiyan.jobs.appeals import decide_appeal, get_appeal

    with _store(db) as store:
        try:
            ladder = load_policy(policy).consequences.ladder
            reversals = decide_appeal(
                store, appeal_id, accept=accept, reason=reason, by=by,
                now=datetime.now(UTC).replace(tzinfo=None), ladder=ladder,
            )  # fmt: skip
            appeal = get_appeal(store, appeal_id)
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps({"appeal": asdict(appeal), "reversals": reversals},
                                  default=str, ensure_ascii=False))  # fmt: skip
        return
    out.print(
        f"appeal {shown(appeal_id)} {shown(appeal.status)}; {len(reversals)} reversal(s) recorded"
    )
    for r in reversals:
        out.print(f"  {shown(r['action_id'])}")


@appeal_app.command("list")
def appeal_list_cmd(
    db: DbOption = DEFAULT_DB,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    status: Annotated[str | None, typer.Option(help="open, accepted or rejected.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List appeals, oldest first."""
    from tiyan.jobs.appeals import list_appeals

    with _store(db) as store:
        appeals = list_appeals(store, merchant_id=merchant, status=status)
    if as_json:
        out.print_json(json.dumps([asdict(a) for a in appeals], default=str, ensure_ascii=False))
        return
    table = RichTable("appeal", "merchant", "status", "filed", "statement", "decision")
    for a in appeals:
        decision = f"{a.decided_by}: {a.reason}" if a.decided_at else ""
        table.add_row(*map(shown, (a.appeal_id, a.merchant_id, a.status, a.created_at,
                                   a.statement, decision)))  # fmt: skip
    out.print(table)


@policy_app.command("backtest")
def policy_backtest_cmd(
    candidate: Annotated[Path, typer.Argument(help="The candidate policy YAML.")],
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Per-merchant comparison, .csv or .parquet.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay detection and consequences of a candidate policy over history, beside the
    policy in force, without touching the ledger."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from tiyan.jobs.backtest import backtest, summary_json

    if out_file is not None and out_file.suffix not in {".csv", ".parquet"}:
        raise _fail(ValueError(f"--out must end in .csv or .parquet, not {out_file.name!r}"))
    first, last = _date(start), _date(end)
    with _store(db) as store:
        try:
            result = backtest(
                store, load_policy(candidate, as_of=last), start=first, end=last,
                current=load_policy(policy, as_of=last),
            )  # fmt: skip
        except TiyanError as exc:
            raise _fail(exc) from None
    if out_file is not None:
        rows = result.rows()
        table = pa.Table.from_pylist(rows) if rows else pa.table({"merchant_id": []})
        out_file.parent.mkdir(parents=True, exist_ok=True)
        (pacsv.write_csv if out_file.suffix == ".csv" else pq.write_table)(table, out_file)
    if as_json:
        out.print_json(summary_json(result))
        return
    s = result.summary
    table = RichTable(
        "", f"current ({shown(result.current_version)})",
        f"candidate ({shown(result.candidate_version)})",
        title=f"Backtest {first} .. {last}",
    )  # fmt: skip
    for key, label in (
        ("violations", "violations"),
        ("merchants_with_violations", "merchants with violations"),
        ("points_a", "A points"),
        ("points_b", "B points"),
        ("compensation", "compensation ¥"),
        ("penalised", "merchants penalised"),
    ):
        table.add_row(label, f"{s[key]['current']:,.2f}".rstrip("0").rstrip("."),
                      f"{s[key]['candidate']:,.2f}".rstrip("0").rstrip("."))  # fmt: skip
    out.print(table)
    out.print(f"newly penalised: {len(s['newly_penalised'])}; spared: {len(s['spared'])}")
    if out_file is not None:
        out.print(f"per-merchant comparison written to {shown(out_file)}")


@app.command("standing")
def standing_cmd(
    as_of: AsOfOption,
    db: DbOption = DEFAULT_DB,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each merchant's standing on a date: active, rectifying, suspended or cleared, with its
    points, ladder node, score and level, privileges held and measures in force."""
    from tiyan.store.governance import load_standings

    day = _date(as_of)
    with _store(db, read_only=not db.startswith("postgres")) as store:
        try:
            live = policy_in_force(policy, as_of=day)
            found = load_standings(
                store, as_of=day, config=live.standing, window=live.scoring.window_days,
                merchant_id=merchant,
            )  # fmt: skip
        except TiyanError as exc:
            raise _fail(exc) from None
    if merchant is not None and merchant not in found:
        raise _fail(TiyanError(f"no merchant {merchant!r} in {db}"))
    standings = [found[m].as_dict() for m in sorted(found)]
    if as_json:
        out.print_json(json.dumps(standings if merchant is None else standings[0]))
        return
    table = RichTable("merchant", "status", "until", "score", "level", "points A/B", "node",
                      "privileges", "measures", title=f"Standing on {day}")  # fmt: skip
    for s in standings:
        table.add_row(
            *map(shown, (s["merchant_id"], s["status"], s["until"])),
            "" if s["score"] is None else f"{s['score']:.1f}", shown(s["level"]),
            f"{s['points']['A']:g} / {s['points']['B']:g}", shown(s["node"]),
            shown(", ".join(s["privileges"])), shown(", ".join(s["measures"])),
        )  # fmt: skip
    out.print(table)


def print_outcome(
    db: str, as_of: date, policy_file: Any = None, as_json: bool = False,
    candidate_file: Path | None = None,
) -> None:  # fmt: skip
    """Print the outcome table of ``tiyan policy evaluate`` (also the end of ``tiyan demo``);
    with ``candidate_file``, each figure under the policy in force → under the candidate."""
    import tempfile

    from tiyan.jobs.replay import evaluate_candidate, store_outcome

    try:
        live = policy_in_force(policy_file, as_of=as_of)
        if candidate_file is None:
            with _store(db, read_only=not db.startswith("postgres")) as store:
                outcomes = [store_outcome(store, live, as_of=as_of)]
            title = f"Outcome on {as_of}, policy {shown(live.version)}"
        else:
            candidate = load_policy(candidate_file)
            with tempfile.TemporaryDirectory(prefix="tiyan-replay-") as work:
                outcomes = list(
                    evaluate_candidate(
                        db, live, candidate, as_of=as_of, workdir=Path(work), progress=_say
                    )
                )
            title = (
                f"Outcome on {as_of}: policy {shown(live.version)} → candidate "
                f"{shown(candidate.version)}"
            )
    except TiyanError as exc:
        raise _fail(exc) from None
    if as_json:
        body: Any = asdict(outcomes[0])
        if len(outcomes) == 2:
            body = {"current": body, "candidate": asdict(outcomes[1])}
        out.print_json(json.dumps(body))
        return

    def cells(get: Any, fmt: str = "{:.1%}") -> list[str]:
        return [fmt.format(get(o)) for o in outcomes]

    def joined(values: list[str]) -> str:
        return values[0] if len(values) == 1 or values[0] == values[1] else " → ".join(values)

    table = RichTable(
        "archetype", "merchants", "scored", "excellent", "good", "fair-", "any reward",
        "presale", "at node", "barred holding", title=title,
    )  # fmt: skip
    for i, a in enumerate(outcomes[0].archetypes):

        def at(o: Any, i: int = i) -> Any:
            return o.archetypes[i]

        table.add_row(
            shown(a.archetype), f"{a.merchants:,}", joined(cells(lambda o: at(o).scored, "{:,}")),
            joined(cells(lambda o: at(o).levels["excellent"])),
            joined(cells(lambda o: at(o).levels["good"])),
            joined(cells(lambda o: sum(at(o).levels[lv] for lv in ("fair", "poor", "critical")))),
            joined(cells(lambda o: at(o).privileges["any_reward"])),
            joined(cells(lambda o: at(o).privileges.get("presale", 0))),
            joined(cells(lambda o: at(o).at_node)),
            joined(cells(lambda o: at(o).barred_holding, "{}")),
        )  # fmt: skip
    out.print(table)
    rules = RichTable(
        "rule", "target archetype", "merchants flagged", "precision", "recall",
        title="Detectors against sim_truth (violations that earned points)",
    )  # fmt: skip

    def opt(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}"

    for i, r in enumerate(outcomes[0].rules):
        these = [o.rules[i] for o in outcomes]
        rules.add_row(
            shown(r.rule_id), shown(r.archetype), joined([f"{x.flagged:,}" for x in these]),
            joined([opt(x.precision) for x in these]), joined([opt(x.recall) for x in these]),
        )  # fmt: skip
    out.print(rules)


@policy_app.command("evaluate")
def policy_evaluate_cmd(
    as_of: AsOfOption,
    candidate: Annotated[
        Path | None,
        typer.Argument(
            help="A candidate policy file: replayed over the store's enforcement history on "
            "a copy, and shown beside the policy in force."
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Judge the policy in force by its outcome on a simulated market (sim_truth): per
    archetype, levels, privileges held, ladder nodes and statuses; the detectors' precision
    and recall by rule. With CANDIDATE, the same under the candidate, side by side."""
    print_outcome(db, _date(as_of), policy, as_json, candidate)
