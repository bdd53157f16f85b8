"""The report's platform service desk section (平台客服), on DuckDB and PostgreSQL.

A store with one order (so the partials have a first day) and a hand-made month of desk
requests; the partials are refreshed as a scoring run would, the report of 2024-06 is
rendered in both languages and the figures it carries (``data-*`` attributes beside the
text) are compared with the counts worked out by hand below. Without any desk row the
section is one line that says so.

Requests (all opened 2024-06-03 08:00 local), the merchant's clock decided on each but D1:

=====  ========  =================  ========  ==========================================
req    merchant  type               breached  resolution (liability that stands)
=====  ========  =================  ========  ==========================================
A1     M1        refund             yes       merchant, in time
A2     M1        refund             no        none, in time
A3     M1        exchange           no        —
A4     M1        delivery_problem   yes       merchant, late
A5     M1        refund             no        —
B1     M2        exchange           yes       merchant, then reopened: consumer, in time
B2     M2        refund             yes       —
B3     M2        courier_related    no        —
C1     M3        refund             yes       platform, late
C2     M3        refund             no        —
E1-3   M4        exchange           no        —
D1     M1        shipping_chase     (none)    carrier, in time
=====  ========  =================  ========  ==========================================

So: 14 requests (refund 6, exchange 5, the others 1 each); 5 breaches of 13 decided clocks
(8 kept); resolved in time 4 of 6; liability merchant 2, consumer 1, carrier 1, platform 1,
none 1. Worst merchants (at least 3 decided, at least one breach): M2 2/3, then M1 2/5 (M3
has 2 decided, M4 no breach). Callbacks: A1 reached at the 2nd call, A4 exhausted after 3,
D1 reached at the 1st: reach 2/3, attempts to reach 1.5. Satisfaction (4–5 of 1–5): week
of 06-03 5, 4, 2 → 2/3; week of 06-10 1, 5 → 1/2.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tiyan.domain.model import DESK_TABLES, TABLES, Table
from tiyan.metrics.catalog import METRICS
from tiyan.metrics.daily import daily_partials
from tiyan.metrics.runner import refresh_partials, store_tables
from tiyan.policy.files import load_policy
from tiyan.reports.kpis import parse_period
from tiyan.reports.report import render_report
from tiyan.store import Store, open_store

POLICY = load_policy()
PERIOD = parse_period("2024-06")


def row(table: Table, **values: Any) -> tuple[Any, ...]:
    assert not set(values) - set(table.column_names)
    return tuple(values.get(c) for c in table.column_names)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2024-06-``day`` ``hour``:``minute`` UTC (local time is 8 hours later)."""
    return datetime(2024, 6, day, hour, minute)


def request(rid: str, merchant: str, type_id: str, breached: bool | None, **more: Any) -> Any:
    clock = {} if breached is None else {"merchant_due_at": at(3, 4), "merchant_breached": breached}
    return row(
        DESK_TABLES["service_requests"],
        request_id=rid, type_id=type_id, merchant_id=merchant, language="zh",
        created_at=at(3, 0), state="resolved", updated_at=at(3, 0),
        **({"reopens": 0} | clock | more),
    )  # fmt: skip


def resolved(in_time: bool, reopens: int = 0) -> dict[str, Any]:
    return {
        "platform_since": at(3, 4),
        "first_platform_at": at(3, 5),
        "resolved_at": at(3, 8),
        "resolved_in_time": in_time,
        "reopens": reopens,
    }


def resolution(rid: str, seq: int, liability: str) -> Any:
    outcome = "no_fault" if liability == "none" else "compensation"
    return row(
        DESK_TABLES["request_resolutions"],
        request_id=rid, seq=seq, decided_at=at(3, 8), outcome=outcome, liability=liability,
        policy_version="test",
    )  # fmt: skip


def callback(tid: str, rid: str, outcomes: list[str]) -> list[Any]:
    status = "reached" if outcomes[-1] == "reached" else "exhausted"
    task = row(
        DESK_TABLES["request_callbacks"],
        task_id=tid, request_id=rid, created_at=at(3, 9), contacts="[]", status=status,
    )  # fmt: skip
    calls = [
        row(
            DESK_TABLES["callback_attempts"],
            task_id=tid,
            seq=i + 1,
            attempted_at=at(3, 10 + i),
            token="t",
            masked="138****0000",
            outcome=outcome,
        )
        for i, outcome in enumerate(outcomes)
    ]
    return [task, calls]


def survey(rid: str, score: int, day: int) -> Any:
    return row(DESK_TABLES["request_surveys"], request_id=rid, score=score, answered_at=at(day, 3))


REQUESTS = [
    request("A1", "M1", "refund", True, **resolved(True)),
    request("A2", "M1", "refund", False, **resolved(True)),
    request("A3", "M1", "exchange", False),
    request("A4", "M1", "delivery_problem", True, **resolved(False)),
    request("A5", "M1", "refund", False),
    request("B1", "M2", "exchange", True, **resolved(True, reopens=1)),
    request("B2", "M2", "refund", True),
    request("B3", "M2", "courier_related", False),
    request("C1", "M3", "refund", True, **resolved(False)),
    request("C2", "M3", "refund", False),
    *(request(f"E{i}", "M4", "exchange", False) for i in (1, 2, 3)),
    request("D1", "M1", "shipping_chase", None, **resolved(True)),
]
RESOLUTIONS = [
    resolution("A1", 4, "merchant"),
    resolution("A2", 4, "none"),
    resolution("A4", 4, "merchant"),
    resolution("B1", 4, "merchant"),  # reopened: its second resolution stands
    resolution("B1", 7, "consumer"),
    resolution("C1", 4, "platform"),
    resolution("D1", 3, "carrier"),
]
CALLBACKS = [
    callback("T1", "A1", ["no_answer", "reached"]),
    callback("T2", "A4", ["busy", "no_answer", "no_answer"]),
    callback("T3", "D1", ["reached"]),
]
SURVEYS = [
    survey("A1", 5, 4), survey("A4", 4, 4), survey("B1", 2, 4),
    survey("D1", 1, 11), survey("A2", 5, 11),
]  # fmt: skip


def base_rows(store: Store) -> None:
    merchants = [
        row(TABLES["merchants"], merchant_id=m, name=f"Shop {m}", category="food")
        for m in ("M1", "M2", "M3", "M4")
    ]
    order = row(
        TABLES["orders"], order_id="O1", merchant_id="M1", amount=Decimal("100.00"),
        paid_at=at(1, 3), status="completed",
    )  # fmt: skip
    store.append_rows([(TABLES["merchants"], merchants), (TABLES["orders"], [order])])


def desk_rows(store: Store) -> None:
    store.append_rows(
        [
            (DESK_TABLES["service_requests"], REQUESTS),
            (DESK_TABLES["request_resolutions"], RESOLUTIONS),
            (DESK_TABLES["request_callbacks"], [c[0] for c in CALLBACKS]),
            (DESK_TABLES["callback_attempts"], [a for c in CALLBACKS for a in c[1]]),
            (DESK_TABLES["request_surveys"], SURVEYS),
        ]
    )


class Attrs(HTMLParser):
    """Every element's attributes, in document order, and the text of the desk section."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({k: v or "" for k, v in attrs} | {"<tag>": tag})

    def having(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.elements if name in e]


def desk_html(html: str) -> str:
    start = html.index('<section id="desk">')
    return html[start : html.index("</section>", start)]


def render(store: Store, lang: str) -> str:
    refresh_partials(store, POLICY.population.catalog_config(), as_of=date(2024, 7, 1))
    return render_report(store, period=PERIOD, lang=lang, policy=POLICY)


def test_the_desk_section_shows_the_hand_counted_figures(store: Store) -> None:
    base_rows(store)
    desk_rows(store)
    html = {lang: desk_html(render(store, lang)) for lang in ("en", "zh")}
    assert "Platform service desk" in html["en"] and "平台客服" in html["zh"]
    for section in html.values():
        page = Attrs(section)
        assert page.having("data-desk-requests")[0]["data-desk-requests"] == "14"
        types = {e["data-type"]: int(e["data-count"]) for e in page.having("data-type")}
        assert types == {
            "refund": 6, "exchange": 5, "delivery_problem": 1, "courier_related": 1,
            "shipping_chase": 1,
        }  # fmt: skip
        kpis = {e["data-kpi"]: e for e in page.having("data-kpi")}
        assert float(kpis["desk_deadlines_kept"]["data-value"]) == pytest.approx(8 / 13)
        breach = kpis["desk_merchant_breach_rate"]
        assert (breach["data-num"], breach["data-den"]) == ("5", "13")
        assert float(kpis["desk_resolved_in_time_rate"]["data-value"]) == pytest.approx(4 / 6)
        assert float(kpis["desk_callback_reach_rate"]["data-value"]) == pytest.approx(2 / 3)
        assert float(kpis["desk_attempts_to_reach"]["data-value"]) == pytest.approx(1.5)
        assert float(kpis["desk_satisfaction"]["data-value"]) == pytest.approx(3 / 5)
        # B1's reopen, of 6 resolved requests; the platform answered each after 1 h
        assert float(kpis["desk_reopen_rate"]["data-value"]) == pytest.approx(1 / 6)
        assert float(kpis["desk_first_response_minutes"]["data-value"]) == pytest.approx(60.0)
        liability = {
            e["data-liability"]: int(e["data-count"]) for e in page.having("data-liability")
        }
        assert liability == {"merchant": 2, "consumer": 1, "carrier": 1, "platform": 1, "none": 1}
        weeks = [(e["data-bucket"], float(e["data-value"]), int(e["data-count"]))
                 for e in page.having("data-bucket")]  # fmt: skip
        assert weeks == [("2024-06-03", pytest.approx(2 / 3), 3), ("2024-06-10", 0.5, 2)]
        worst = [(e["data-merchant"], e["data-count"], e["data-den"])
                 for e in page.having("data-merchant")]  # fmt: skip
        assert worst == [("M2", "2", "3"), ("M1", "2", "5")]
    # the policy's Chinese labels of the request types, English ids otherwise
    assert "退款" in html["zh"] and "催发货" in html["zh"] and "商家责任" in html["zh"]
    assert "shipping chase" in html["en"] and "退款" not in html["en"]
    assert "66.7%" in html["en"] and "1.5" in html["en"]


def test_without_desk_data_the_section_is_one_line(store: Store) -> None:
    base_rows(store)
    en, zh = render(store, "en"), render(store, "zh")
    for html, line in ((en, "No service-desk data in this store."), (zh, "本库没有平台客服数据。")):
        section = desk_html(html)
        assert line in section
        assert Attrs(section).having("data-desk") and not Attrs(section).having("data-kpi")
        # the rest of the report is there as before
        assert '<section id="impact">' in html


# -- the desk's metrics on every engine -------------------------------------------------------

DESK_METRICS = [m.id for m in METRICS if m.id.startswith("desk_")]
SPARK_TYPES = {
    "string": "string", "int": "bigint", "money": "decimal(18,2)", "float": "double",
    "bool": "boolean", "timestamp": "timestamp_ntz", "date": "date",
}  # fmt: skip


def desk_partials(tables: dict[str, Any]) -> list[tuple[Any, ...]]:
    expr = daily_partials(
        tables, POLICY.population.catalog_config(), start=date(2024, 6, 1),
        end=date(2024, 6, 30), metrics=DESK_METRICS,
    )  # fmt: skip
    return sorted(tuple(r.values()) for r in expr.to_pyarrow().to_pylist())


def test_the_desk_metrics_agree_across_engines(store: Store) -> None:
    """DuckDB and PostgreSQL (the store) give the hand-counted partials; with Spark present,
    Spark gives the same from the same rows (CI: TIYAN_REQUIRE_SPARK=1)."""
    base_rows(store)
    desk_rows(store)
    rows = desk_partials(store_tables(store))
    by_metric: dict[str, tuple[float, float]] = {}
    for metric_id, _m, _day, num, den in rows:
        n, d = by_metric.get(metric_id, (0.0, 0.0))
        by_metric[metric_id] = (n + num, d + den)
    assert by_metric["desk_merchant_breach_rate"] == (5, 13)
    assert by_metric["desk_callback_reach_rate"] == (2, 3)
    assert by_metric["desk_attempts_to_reach"] == (3, 2)
    assert set(by_metric) == set(DESK_METRICS)


@pytest.mark.slow
@pytest.mark.spark
# As in test_metric_parity: PySpark 4.0 and ibis 12 convert results through pandas with calls
# pandas 3 deprecates, and leave a result socket to the garbage collector; results unaffected.
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings(
    "ignore:The 'future.infer_string' option is deprecated:DeprecationWarning"
)
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_the_desk_metrics_on_spark_match_duckdb(tmp_path: Path) -> None:
    from tests.integration.test_metric_parity import require_spark

    require_spark()
    from tiyan.metrics.spark import local_session, spark_tables, stop_local_session

    with open_store(str(tmp_path / "tiyan.duckdb")) as duck:
        base_rows(duck)
        desk_rows(duck)
        want = desk_partials(store_tables(duck))
        folder = tmp_path / "parquet"
        folder.mkdir()
        backend = duck.ibis()
        for name in ("orders", "merchants", *DESK_TABLES):
            backend.table(name).to_parquet(folder / f"{name}.parquet")
    session = local_session(cores=2)
    con, tables = spark_tables(folder, session=session)
    # spark_tables reads the canonical tables only: the desk's are registered the same way
    for name, table in DESK_TABLES.items():
        frame = session.read.parquet(str(folder / f"{name}.parquet"))
        cols = [f"CAST(`{c.name}` AS {SPARK_TYPES[c.type.value]}) AS `{c.name}`"
                for c in table.columns]  # fmt: skip
        frame.selectExpr(*cols).createOrReplaceTempView(f"desk_test_{name}")
        tables[name] = con.table(f"desk_test_{name}")
    try:
        assert desk_partials(tables) == want
    finally:
        stop_local_session()
