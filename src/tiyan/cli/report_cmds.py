"""``tiyan report``: the consumer-experience report, or one merchant's scorecard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiyan.cli.main import DbOption, _fail, _store, app, err, out
from tiyan.cli.scoring_cmds import PolicyOption
from tiyan.cli.terminal import shown
from tiyan.domain.errors import TiyanError
from tiyan.policy.files import load_policy
from tiyan.reports.kpis import choose_periods
from tiyan.reports.text import LANGS
from tiyan.store import DEFAULT_DB


def write_report(
    db: str,
    *,
    out_path: Path,
    period: str | None = None,
    compare: str = "previous",
    lang: str = "en",
    pdf: bool = False,
    merchant: str | None = None,
    policy_file: Path | None = None,
) -> list[Path]:
    """Write the report (or ``merchant``'s scorecard) to ``out_path`` and, with ``pdf``, a
    PDF beside it; returns the files written."""
    from tiyan.reports.report import render_report, render_scorecard, write_pdf

    if lang not in LANGS:
        raise ValueError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    with _store(db, read_only=True) as store:
        if merchant is not None:
            policy = load_policy(policy_file) if policy_file else None
            with err.status(f"drawing the scorecard of {shown(merchant)}"):
                html = render_scorecard(store, merchant, lang=lang, policy=policy)
        else:
            chosen, before = choose_periods(store, period, compare)
            policy = load_policy(policy_file, as_of=chosen.end)
            with err.status(f"computing the report for {shown(chosen.label)}"):
                html = render_report(store, period=chosen, compare=before, lang=lang, policy=policy)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Both files are written beside their names and renamed at the end: a failure (no Pango
    # for the PDF, a full disk) leaves neither half-written, nor an HTML without its PDF.
    staged = [(out_path.with_name(out_path.name + ".tmp"), out_path)]
    try:
        staged[0][0].write_text(html, encoding="utf-8")
        if pdf:
            pdf_path = out_path.with_suffix(".pdf")
            staged.append((pdf_path.with_name(pdf_path.name + ".tmp"), pdf_path))
            with err.status("laying out the PDF"):
                write_pdf(html, staged[1][0])
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        tmp.replace(final)
    written = [final for _, final in staged]
    return written


@app.command("report")
def report_cmd(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="2024 (a year), 2024-Q3, 2024-07 or 2024-05-01..2024-07-29 "
            "(default: all the data's days).",
        ),
    ] = None,
    compare: Annotated[
        str,
        typer.Option(
            "--compare",
            help="The period to compare with: 'previous' (the one before, when there is "
            "data), 'none', or a period like --period.",
        ),
    ] = "previous",
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default report.html / card.html)."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF beside the HTML.")] = False,
    merchant: Annotated[
        str | None, typer.Option("--merchant", help="One merchant's scorecard instead.")
    ] = None,
    policy_file: PolicyOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """The consumer-experience report (KPIs against the previous period, breakdowns, scores,
    governance and its measured impact) as one offline HTML page, or a merchant's scorecard."""
    target = out_path or Path("card.html" if merchant else "report.html")
    try:
        written = write_report(
            db,
            out_path=target,
            period=period,
            compare=compare,
            lang=lang,
            pdf=pdf,
            merchant=merchant,
            policy_file=policy_file,
        )
    except (TiyanError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    for path in written:
        out.print(f"wrote {shown(path)} (open file://{shown(path.resolve())})", highlight=False)
