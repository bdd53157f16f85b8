"""The consumer-experience report's numbers, checked against the tables they come from.

A small simulated market is scored and enforced once a month (as a platform would daily).
The report is rendered to HTML, and the raw values it carries on its rows (``data-value``
attributes beside the formatted text) are read back with an HTML parser and compared with:

* the plain-Python reference of every metric (:mod:`tests.reference.metrics_reference`)
  run over the raw rows — for the headline KPIs, the category breakdown, and, by giving
  every record the key of its order in place of its merchant, the channel, carrier and
  region breakdowns;
* the platform values the scoring run stored in ``metric_values``;
* counts over the governance tables' rows in Python (violations, compensation, ladder
  steps, appeals) and the stored scores (levels).

Both languages are rendered and the PDF is laid out and read back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.reference.metrics_reference import reference_partials
from tiyan.domain.metrics import window_days
from tiyan.ingest.load import ingest
from tiyan.jobs.appeals import create_appeal, decide_appeal
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.files import load_policy
from tiyan.reports.impact import estimate_impact
from tiyan.reports.kpis import BREAKDOWN_METRICS, HEADLINE, parse_period
from tiyan.reports.report import render_report, render_scorecard, write_pdf
from tiyan.sim import SimConfig, write_parquet
from tiyan.store import Store, open_store

MARKET = SimConfig(merchants=60, orders=24_000, days=75, seed=3)
RUNS = (date(2024, 6, 1), date(2024, 7, 1), MARKET.start + timedelta(days=MARKET.days))
LAST_RUN = RUNS[-1]
CONFIG = load_policy().population.catalog_config()
TABLES = (
    "orders", "shipments", "after_sales", "cs_sessions", "reviews", "complaints",
    "platform_contacts", "surveys", "merchants", "consumers",
)  # fmt: skip

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Built:
    url: str
    rows: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-market") / "data"
    write_parquet(MARKET, folder)
    return folder


def _build(url: str, data: Path) -> None:
    with open_store(url) as store:
        ingest(store, [data], now=datetime(2024, 7, 16, tzinfo=UTC))
        for as_of in RUNS:
            run_scoring(store, as_of=as_of)
            run_enforcement(store, as_of=as_of)
        # Two appeals: one accepted (its points come back), one left open.
        vids = [
            r[0]
            for r in store.query(
                "SELECT violation_id FROM violations WHERE day >= '2024-06-01' "
                "ORDER BY violation_id LIMIT 2"
            )
        ]
        merchants = dict(
            store.query("SELECT violation_id, merchant_id FROM violations WHERE violation_id IN "
                        "(?, ?)", vids)
        )  # fmt: skip
        now = datetime(2024, 6, 20, 3, tzinfo=UTC)
        first = create_appeal(
            store, violation_id=vids[0], merchant_id=merchants[vids[0]], statement="picked up",
            evidence=None, now=now,
        )  # fmt: skip
        decide_appeal(store, first.appeal_id, accept=True, reason="scan found", by="op", now=now)
        create_appeal(
            store, violation_id=vids[1], merchant_id=merchants[vids[1]], statement="weather",
            evidence=None, now=now,
        )  # fmt: skip


@pytest.fixture(scope="module")
def market(data: Path) -> Built:
    url = str(data.parent / "tiyan.duckdb")
    _build(url, data)
    with open_store(url) as store:
        rows = {name: _rows(store, name) for name in (*TABLES, "violations", "actions", "scores")}
    return Built(url, rows)


def _rows(store: Store, table: str) -> list[dict[str, Any]]:
    return store.ibis().table(table).to_pyarrow().to_pylist()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def store(market: Built) -> Iterator[Store]:
    s = open_store(market.url, read_only=True)
    yield s
    s.close()


class Attrs(HTMLParser):
    """Every element's attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({k: v or "" for k, v in attrs} | {"<tag>": tag})

    def having(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.elements if name in e]


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def _platform(partials: dict[Any, tuple[float, float]], metric_id: str) -> float | None:
    num = sum(n for (m, _, _), (n, _) in partials.items() if m == metric_id)
    den = sum(d for (m, _, _), (_, d) in partials.items() if m == metric_id)
    return DEFINITIONS[metric_id].value(num, den) if den else None


# -- the headline ----------------------------------------------------------------------------


def test_headline_kpis_match_the_reference_over_the_raw_rows(market: Built, store: Store) -> None:
    period = parse_period("2024-06")
    html = render_report(store, period=period, compare=period.previous())
    rows = {e["data-kpi"]: e for e in Attrs(html).having("data-kpi")}
    assert list(rows) == [k.id for k in HEADLINE]
    for p, attribute in ((period, "data-value"), (period.previous(), "data-previous")):
        ref = reference_partials(market.rows, CONFIG, p.start, p.end)
        checked = 0
        for k in HEADLINE:
            if k.metric is None:
                continue
            want = _platform(ref, k.metric)
            if want is not None and k.complement:
                want = 1 - want
            got = _num(rows[k.id][attribute])
            assert (got is None) == (want is None), (k.id, p.label, got, want)
            if want is not None:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (k.id, p.label)
                checked += 1
        assert checked >= 12, "most headline metrics have a value on this market"


def test_headline_kpis_match_the_platform_values_of_the_scoring_run(store: Store) -> None:
    # A period equal to the scoring run's window gives exactly its stored platform value.
    (window,) = store.query("SELECT max(window_days) FROM metric_values WHERE as_of = ?",
                            (LAST_RUN,))[0]  # fmt: skip
    stored = dict(
        store.query(
            "SELECT metric_id, value FROM metric_values WHERE as_of = ? AND window_days = ? "
            "AND scope = 'platform'",
            (LAST_RUN, window),
        )
    )
    checked = 0
    for kind in ("trailing", "lagged"):
        first, last = window_days(kind, window, LAST_RUN)
        html = render_report(store, period=parse_period(f"{first}..{last}"))
        rows = {e["data-kpi"]: e for e in Attrs(html).having("data-kpi")}
        for k in HEADLINE:
            if k.metric is None or DEFINITIONS[k.metric].window != kind:
                continue
            want = stored.get(k.metric)
            got = _num(rows[k.id]["data-value"])
            if want is None:
                assert got is None, k.id
                continue
            assert got == pytest.approx(1 - want if k.complement else want, rel=1e-9), k.id
            checked += 1
    assert checked >= 12


# -- breakdowns ------------------------------------------------------------------------------


def _first_pickup_carrier(shipments: list[dict[str, Any]]) -> dict[str, str]:
    best: dict[str, tuple[datetime, str]] = {}
    for s in shipments:
        at = s["pickup_at"] or s["shipped_at"]
        if at is None:
            continue
        if s["order_id"] not in best or at < best[s["order_id"]][0]:
            best[s["order_id"]] = (at, s["carrier"])
    return {o: c for o, (_, c) in best.items()}


def _keyed_rows(rows: dict[str, list[dict[str, Any]]], key_of: dict[str, str | None]) -> Any:
    """The market with every record's merchant replaced by its order's key (records about
    no order get None): the reference's per-merchant sums become per-key sums."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, table in rows.items():
        if name in ("merchants", "consumers") or not table or "merchant_id" not in table[0]:
            out[name] = table
            continue
        if "order_id" not in table[0]:
            out[name] = [r | {"merchant_id": None} for r in table]
            continue
        out[name] = [r | {"merchant_id": key_of.get(r["order_id"]) or "(none)"} for r in table]
    return out


def test_breakdowns_match_the_reference(market: Built, store: Store) -> None:
    period = parse_period("2024-06")
    html = render_report(store, period=period)
    cells: dict[tuple[str, str, str], float | None] = {}
    table = key = ""
    for e in Attrs(html).elements:
        if "data-breakdown" in e:
            table = e["data-breakdown"]
        elif "data-key" in e and e["<tag>"] == "tr":
            key = e["data-key"] or "(none)"
        elif "data-metric" in e and table and e["<tag>"] == "td":
            cells[(table, key, e["data-metric"])] = _num(e["data-value"])
    assert {t for t, _, _ in cells} == set(BREAKDOWN_METRICS)

    rows = market.rows
    ref = reference_partials(rows, CONFIG, period.start, period.end)
    category = {m["merchant_id"]: m["category"] for m in rows["merchants"]}
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (metric_id, merchant_id, _day), (n, d) in ref.items():
        if merchant_id in category:
            acc = sums[(category[merchant_id], metric_id)]
            acc[0] += n
            acc[1] += d
    checked = 0
    for (cat, metric_id), (n, d) in sums.items():
        if metric_id in BREAKDOWN_METRICS["category"] and d:
            got = cells[("category", cat, metric_id)]
            assert got == pytest.approx(DEFINITIONS[metric_id].value(n, d), rel=1e-9)
            checked += 1

    region = {c["consumer_id"]: c["region"] for c in rows["consumers"]}
    keys: dict[str, dict[str, str | None]] = {
        "channel": {o["order_id"]: o["channel"] for o in rows["orders"]},
        "carrier": _first_pickup_carrier(rows["shipments"]),
        "region": {o["order_id"]: region.get(o["consumer_id"]) for o in rows["orders"]},
    }
    for dimension, key_of in keys.items():
        metrics = BREAKDOWN_METRICS[dimension]
        keyed = reference_partials(_keyed_rows(rows, key_of), CONFIG, period.start, period.end,
                                   metrics)  # fmt: skip
        per_key: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for (metric_id, k, _day), (n, d) in keyed.items():
            acc = per_key[(k, metric_id)]
            acc[0] += n
            acc[1] += d
        for (k, metric_id), (n, d) in per_key.items():
            want = DEFINITIONS[metric_id].value(n, d)
            if want is None:
                continue
            assert cells[(dimension, k, metric_id)] == pytest.approx(want, rel=1e-9), (
                dimension, k, metric_id,
            )  # fmt: skip
            checked += 1
    assert checked > 100


# -- scores and governance -------------------------------------------------------------------


def test_levels_and_governance_match_the_tables(market: Built, store: Store) -> None:
    period = parse_period("2024-06")
    html = render_report(store, period=period)
    doc = Attrs(html)
    # Levels: the last scoring run in the period is the one of 2024-07-01.
    scored = [s for s in market.rows["scores"] if s["as_of"] == date(2024, 7, 1)
              and s["status"] == "scored"]  # fmt: skip
    want_levels = Counter(s["level"] for s in scored)
    got_levels = {e["data-level"]: int(e["data-count"]) for e in doc.having("data-level")}
    assert got_levels == {lvl: want_levels.get(lvl, 0) for lvl in got_levels}
    assert sum(got_levels.values()) == len(scored) > 0

    in_period = [v for v in market.rows["violations"] if period.start <= v["day"] <= period.end]
    got_rules = {
        e["data-rule"]: int(e["data-count"])
        for e in doc.having("data-rule")
        if e["<tag>"] == "tr" and "data-merchants" in e
    }
    assert got_rules == Counter(v["rule_id"] for v in in_period)
    assert sum(got_rules.values()) > 0

    actions = [a for a in market.rows["actions"] if period.start <= a["day"] <= period.end]
    paid: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for a in actions:
        if a["kind"] == "compensation":
            paid[a["rule_id"]][0] += 1
            paid[a["rule_id"]][1] += float(a["amount"])
    got_paid = {e["data-rule"]: (int(e["data-count"]), float(e["data-amount"]))
                for e in doc.having("data-amount")}  # fmt: skip
    assert got_paid == {r: (int(n), pytest.approx(x, abs=0.005)) for r, (n, x) in paid.items()}

    lifted = {a["action_id"].removeprefix("reversal:") for a in market.rows["actions"]
              if a["kind"] == "reversal"}  # fmt: skip
    steps: dict[str, set[str]] = defaultdict(set)
    for a in actions:
        if a["kind"] == "penalty" and a["action_id"] not in lifted:
            _, _, ledger, _, node, _ = a["action_id"].split(":")
            steps[f"{ledger}:{float(node)}"].add(a["merchant_id"])
    got_steps = {e["data-step"]: int(e["data-count"]) for e in doc.having("data-step")}
    assert got_steps == {k: len(v) for k, v in steps.items()}
    assert got_steps, "the June run penalised someone"

    (appeals,) = doc.having("data-appeals")
    assert appeals["data-appeals"] == "1,1,0"  # open, accepted, rejected: the two filed above


# -- languages, PDF, scorecard, CLI ----------------------------------------------------------


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


def test_both_languages_render_and_the_pdf_reads_back(store: Store, tmp_path: Path) -> None:
    from pypdf import PdfReader

    period = parse_period("2024-06")
    en = render_report(store, period=period, compare=period.previous(), lang="en")
    zh = render_report(store, period=period, compare=period.previous(), lang="zh")
    assert "Consumer-experience report" in en and "消费者体验报告" not in en
    assert "消费者体验报告" in zh and DEFINITIONS["ship_timeout_rate"].zh in zh
    # The same numbers whatever the language.
    assert Attrs(en).having("data-value") == Attrs(zh).having("data-value")
    assert "<script" not in en, "the report is static: no script, nothing fetched"
    assert not re.search(r"""(src|href)=["']https?://""", en), "nothing fetched from the web"
    for lang, html in (("en", en), ("zh", zh)):
        path = tmp_path / f"report-{lang}.pdf"
        write_pdf(html, path)
        reader = PdfReader(path)
        text = "".join(page.extract_text() for page in reader.pages)
        assert len(reader.pages) >= 3
        if lang == "en":
            assert "Consumer-experience report" in text and "Ship-timeout rate" in text
        elif _has_cjk_font() or os.environ.get("TIYAN_REQUIRE_BROWSER") == "1":
            assert "消费者体验报告" in text and "发货超时率" in text


def test_scorecard_shows_the_stored_score_and_metrics(market: Built, store: Store) -> None:
    (merchant_id, score, level), *_ = store.query(
        "SELECT merchant_id, score, level FROM scores WHERE as_of = ? AND status = 'scored' "
        "ORDER BY score LIMIT 1",
        (LAST_RUN,),
    )
    for lang in ("en", "zh"):
        doc = Attrs(render_scorecard(store, merchant_id, lang=lang))
        (card,) = doc.having("data-score")
        assert float(card["data-score"]) == pytest.approx(score) and card["data-level"] == level
        stored = dict(
            store.query(
                "SELECT metric_id, value FROM metric_values WHERE as_of = ? AND scope = "
                "'merchant' AND subject_id = ? AND window_days = (SELECT max(window_days) FROM "
                "scores WHERE as_of = ?)",
                (LAST_RUN, merchant_id, LAST_RUN),
            )
        )
        got = {e["data-metric"]: _num(e["data-value"]) for e in doc.having("data-metric")
               if e["<tag>"] == "tr"}  # fmt: skip
        assert got and got == {m: pytest.approx(v) for m, v in stored.items() if m in got}
        assert doc.having("data-improvements")
        violations = Counter(
            v["rule_id"] for v in market.rows["violations"]
            if v["merchant_id"] == merchant_id and LAST_RUN - timedelta(days=90) <= v["day"]
        )  # fmt: skip
        shown = {e["data-rule"]: int(e["data-count"]) for e in doc.having("data-rule")}
        assert shown == dict(violations)


def _tiyan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tiyan", *args], capture_output=True, text=True, check=False
    )


def test_cli_writes_the_report_the_pdf_and_a_scorecard(market: Built, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    done = _tiyan("report", "--period", "2024-06", "--lang", "zh", "--out", str(out), "--pdf",
                  "--db", market.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.exists() and out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert "消费者体验报告" in out.read_text(encoding="utf-8")
    assert f"file://{out.resolve()}" in done.stdout.replace("\n", "")
    card = tmp_path / "card.html"
    merchant = market.rows["merchants"][0]["merchant_id"]
    done = _tiyan("report", "--merchant", merchant, "--out", str(card), "--db", market.url)
    assert done.returncode == 0, done.stderr
    assert merchant in card.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2024-13"], "month 13"),
        (["--period", "last year"], "is not a year"),
        (["--period", "2024-07-01..2024-06-01"], "ends before it starts"),
        (["--lang", "fr"], "--lang must be one of en, zh"),
        (["--merchant", "NOPE"], "NOPE"),
    ],
)
def test_cli_rejects_bad_input_and_writes_nothing(
    market: Built, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "report.html"
    done = _tiyan("report", *args, "--out", str(out), "--db", market.url)
    assert done.returncode == 2
    assert message in done.stderr.replace("\n", " ")
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.postgres
def test_the_report_is_the_same_on_postgresql(data: Path, store: Store, pg_url: str) -> None:
    _build(pg_url, data)
    period = parse_period("2024-06")
    with open_store(pg_url) as pg:
        on_pg = render_report(pg, period=period, compare=period.previous())
        # the June report has no penalty with a complete after-window: compare the impact
        # estimate where it has (the penalties of 2024-06-01, measured by 2024-07-14)
        impact_pg = estimate_impact(pg, as_of=LAST_RUN - timedelta(days=1))
    impact_duckdb = estimate_impact(store, as_of=LAST_RUN - timedelta(days=1))
    assert impact_duckdb and sum(r.treated for r in impact_duckdb) >= 5
    assert [asdict(r) for r in impact_pg] == [pytest.approx(asdict(r)) for r in impact_duckdb]
    on_duckdb = render_report(store, period=period, compare=period.previous())

    def numbers(html: str, wrap: bool) -> list[tuple[int, str, Any]]:
        out: list[tuple[int, str, Any]] = []
        for i, e in enumerate(Attrs(html).elements):
            for name, value in e.items():
                if name.startswith("data-") and value:
                    try:
                        number = float(value)
                    except ValueError:
                        out.append((i, name, value))
                        continue
                    out.append((i, name, pytest.approx(number, rel=1e-9) if wrap else number))
        return out

    got, want = numbers(on_pg, False), numbers(on_duckdb, True)
    assert len(want) > 300
    assert got == want


def test_a_failed_pdf_leaves_no_file_behind(
    market: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiyan.reports.report as report_module
    from tiyan.cli.report_cmds import write_report

    def no_pango(html: str, path: Path) -> None:
        path.write_bytes(b"%PDF-1.7 half")  # a partial file, then the failure
        raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(report_module, "write_pdf", no_pango)
    out = tmp_path / "report.html"
    with pytest.raises(OSError, match="libpango"):
        write_report(market.url, out_path=out, period="2024-06", pdf=True)
    assert list(tmp_path.iterdir()) == []
    write_report(market.url, out_path=out, period="2024-06")  # without --pdf: the HTML
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
