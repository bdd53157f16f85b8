"""The service desk's metrics on a few hand-made requests, the expected values worked out by
hand below; a store without desk rows does not measure them, and scores exactly as before.

The market (local days at UTC+8; every time below is UTC):

========  ========  =========  ==================================================================
request   merchant  order      summary
========  ========  =========  ==================================================================
R1        M1        —          due 06-03 02:00, breached; platform 02:00 → first step 02:10;
                               resolved 06-04 01:00, not in time; reopened once
R2        M1        —          due 03:00, answered in time; waiting on the platform, no answer
R3        M1        —          due 04:00, answered in time
R4        M1        —          no merchant clock (routed to the platform) 01:00 → 01:30;
                               resolved 05:00 in time
R5        M1        —          merchant clock still running (breached null): not counted
R6        M2        G1 (¥1)    breached — but its order is outside the population: not counted
R7        M2        —          due 05:00, answered in time
========  ========  =========  ==================================================================

Callback tasks: T1 (R1) reached at the 3rd attempt; T2 (R4) exhausted after 2; T3 (R2) still
pending after 1 (not counted); T4 (R6) reached (excluded with its request); T5 (R7) reached
at the 1st. Surveys: R4 5, R1 2, R7 4, R6 1 (excluded).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tiyan.domain.model import DESK_TABLES, TABLES, Table
from tiyan.metrics.catalog import CATALOG
from tiyan.metrics.daily import daily_partials
from tiyan.metrics.runner import (
    compute_metric_values,
    measured_metrics,
    refresh_partials,
    store_tables,
)
from tiyan.policy.files import DEFAULT_POLICY, load_policy
from tiyan.scoring.score import MerchantMetrics, score_merchants
from tiyan.service_desk.history import summarize
from tiyan.service_desk.requests import Step
from tiyan.store import Store, open_store

DESK_METRICS = [m for m in CATALOG if m.startswith("desk_")]
CONFIG = load_policy().population.catalog_config()
START, END = date(2024, 6, 1), date(2024, 6, 10)


def row(table: Table, **values: Any) -> tuple[Any, ...]:
    """A row of ``table`` in column order, None where not given."""
    unknown = set(values) - set(table.column_names)
    assert not unknown, unknown
    return tuple(values.get(c) for c in table.column_names)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute)


def request(rid: str, merchant: str, **summary: Any) -> tuple[Any, ...]:
    return row(
        DESK_TABLES["service_requests"],
        request_id=rid, type_id="refund", merchant_id=merchant, language="zh",
        created_at=at(3, 0), state="waiting_platform", updated_at=at(3, 0), **summary,
    )  # fmt: skip


def task(tid: str, rid: str, status: str) -> tuple[Any, ...]:
    return row(
        DESK_TABLES["request_callbacks"],
        task_id=tid, request_id=rid, created_at=at(3, 6), contacts="[]", status=status,
    )  # fmt: skip


def attempts(tid: str, outcomes: list[str]) -> list[tuple[Any, ...]]:
    return [
        row(
            DESK_TABLES["callback_attempts"],
            task_id=tid,
            seq=i + 1,
            attempted_at=at(3, 7 + i),
            token="t",
            masked="138****0000",
            outcome=outcome,
        )
        for i, outcome in enumerate(outcomes)
    ]


def survey(rid: str, score: int) -> tuple[Any, ...]:
    return row(DESK_TABLES["request_surveys"], request_id=rid, score=score, answered_at=at(5, 3))


REQUESTS = [
    request("R1", "M1", merchant_due_at=at(3, 2), merchant_breached=True,
            platform_since=at(3, 2), first_platform_at=at(3, 2, 10), resolved_at=at(4, 1),
            resolved_in_time=False, reopens=1),
    request("R2", "M1", merchant_due_at=at(3, 3), merchant_answered_at=at(3, 2, 30),
            merchant_breached=False, platform_since=at(3, 2, 30), reopens=0),
    request("R3", "M1", merchant_due_at=at(3, 4), merchant_answered_at=at(3, 3),
            merchant_breached=False, reopens=0),
    request("R4", "M1", platform_since=at(3, 1), first_platform_at=at(3, 1, 30),
            resolved_at=at(3, 5), resolved_in_time=True, reopens=0),
    request("R5", "M1", merchant_due_at=at(3, 6), reopens=0),
    request("R6", "M2", order_id="G1", merchant_due_at=at(3, 5), merchant_breached=True,
            platform_since=at(3, 5), first_platform_at=at(3, 9), resolved_at=at(3, 9),
            resolved_in_time=True, reopens=3),
    request("R7", "M2", merchant_due_at=at(3, 5), merchant_answered_at=at(3, 4),
            merchant_breached=False, reopens=0),
]  # fmt: skip
CALLBACKS = [
    task("T1", "R1", "reached"), task("T2", "R4", "exhausted"), task("T3", "R2", "pending"),
    task("T4", "R6", "reached"), task("T5", "R7", "reached"),
]  # fmt: skip
ATTEMPTS = [
    *attempts("T1", ["no_answer", "busy", "reached"]),
    *attempts("T2", ["no_answer", "no_answer"]),
    *attempts("T3", ["busy"]),
    *attempts("T4", ["reached"]),
    *attempts("T5", ["reached"]),
]
SURVEYS = [survey("R4", 5), survey("R1", 2), survey("R7", 4), survey("R6", 1)]
GIFT_ORDER = row(
    TABLES["orders"], order_id="G1", merchant_id="M2", consumer_id="C1", product_id="P1",
    channel="shelf", amount=Decimal("1.00"), paid_at=at(2, 3), status="completed",
)  # fmt: skip

#: (metric, merchant) -> (numerator, denominator), worked out by hand from the table above.
EXPECTED = {
    # breached among decided clocks: M1 R1 of R1–R3 (R4 no clock, R5 running); M2 R7 only
    ("desk_merchant_breach_rate", "M1"): (1, 3),
    ("desk_merchant_breach_rate", "M2"): (0, 1),
    # platform's first response: R1 10 min, R4 30 min (R2 not answered yet) → 40 min over 2
    ("desk_first_response_minutes", "M1"): (40 * 60, 2),
    # resolved in time: R4 yes, R1 no
    ("desk_resolved_in_time_rate", "M1"): (1, 2),
    # resolved and reopened: R1 of R1, R4
    ("desk_reopen_rate", "M1"): (1, 2),
    # ended tasks: T1 reached, T2 exhausted (T3 pending); M2 T5 reached
    ("desk_callback_reach_rate", "M1"): (1, 2),
    ("desk_callback_reach_rate", "M2"): (1, 1),
    # attempts of reached tasks: T1 3; T5 1
    ("desk_attempts_to_reach", "M1"): (3, 1),
    ("desk_attempts_to_reach", "M2"): (1, 1),
    # answers of 4–5: R4 (5) of R4, R1 (2); M2 R7 (4)
    ("desk_satisfaction", "M1"): (1, 2),
    ("desk_satisfaction", "M2"): (1, 1),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "tiyan.duckdb"))
    yield s
    s.close()


def fill(store: Store) -> None:
    store.append_rows(
        [
            (TABLES["orders"], [GIFT_ORDER]),
            (DESK_TABLES["service_requests"], REQUESTS),
            (DESK_TABLES["request_callbacks"], CALLBACKS),
            (DESK_TABLES["callback_attempts"], ATTEMPTS),
            (DESK_TABLES["request_surveys"], SURVEYS),
        ]
    )


def sums(store: Store, *, restrict: bool = False) -> dict[tuple[str, str], tuple[float, float]]:
    """(metric, merchant) -> Σ num, Σ den of the desk's metrics over START..END."""
    expr = daily_partials(
        store_tables(store), CONFIG, start=START, end=END, metrics=DESK_METRICS, restrict=restrict
    )
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for r in expr.to_pyarrow().to_pylist():
        n, d = out.get((r["metric_id"], r["merchant_id"]), (0.0, 0.0))
        out[(r["metric_id"], r["merchant_id"])] = (n + r["num"], d + r["den"])
    return out


def test_each_desk_metric_counts_what_the_hand_count_says(store: Store) -> None:
    fill(store)
    assert sums(store) == {k: (float(n), float(d)) for k, (n, d) in EXPECTED.items()}
    # An incremental run (the facts narrowed to records that can count from START on) agrees.
    assert sums(store, restrict=True) == sums(store)


def test_values_and_platform_rollup(store: Store) -> None:
    fill(store)
    assert measured_metrics(store, DESK_METRICS) == DESK_METRICS
    as_of = END + timedelta(days=1)
    refresh_partials(store, CONFIG, as_of=as_of)  # from the first order's day (the gift, 06-02)
    compute_metric_values(store, as_of=as_of, window=30, metrics=DESK_METRICS)
    got = {
        (m, scope, s): v
        for m, scope, s, v in store.query(
            "SELECT metric_id, scope, subject_id, value FROM metric_values"
        )
    }
    assert got[("desk_merchant_breach_rate", "merchant", "M1")] == pytest.approx(1 / 3)
    # the platform: 1 breach among 4 decided clocks (R6's gift order left out)
    assert got[("desk_merchant_breach_rate", "platform", "all")] == pytest.approx(1 / 4)
    assert got[("desk_first_response_minutes", "merchant", "M1")] == pytest.approx(20.0)
    assert got[("desk_attempts_to_reach", "platform", "all")] == pytest.approx(4 / 2)
    assert got[("desk_satisfaction", "platform", "all")] == pytest.approx(2 / 3)


def test_a_null_breach_is_not_counted_as_kept(store: Store) -> None:
    # Only R5 (clock still running) and R4 (no clock): no decided clock, so no value at all.
    store.append_rows([(DESK_TABLES["service_requests"], [REQUESTS[3], REQUESTS[4]])])
    assert ("desk_merchant_breach_rate", "M1") not in sums(store)


def test_summary_columns_from_a_trail_feed_the_breach_rate(store: Store) -> None:
    """A request whose merchant never answered its 2 h refund deadline, through summarize."""
    desk = load_policy().desk
    t0 = datetime(2024, 6, 3, 2, tzinfo=UTC)  # 10:00 in Shanghai: inside service hours
    trail = [
        Step(at=t0, actor="consumer", action="create"),
        Step(at=t0, actor="system", action="route_merchant"),
        Step(at=t0 + timedelta(hours=2), actor="system", action="breach"),
    ]
    s = summarize(trail, desk.calendar, hours=2, resolve_hours=desk.resolve_hours)
    assert s.merchant_breached is True
    assert s.merchant_due_at == t0 + timedelta(hours=2)

    def naive(x: datetime | None) -> datetime | None:
        return None if x is None else x.astimezone(UTC).replace(tzinfo=None)

    summary = {
        "merchant_due_at": naive(s.merchant_due_at),
        "merchant_breached": s.merchant_breached,
        "platform_since": naive(s.platform_since),
        "reopens": s.reopens,
    }
    store.append_rows([(DESK_TABLES["service_requests"], [request("S1", "M9", **summary)])])
    assert sums(store)[("desk_merchant_breach_rate", "M9")] == (1.0, 1.0)


def test_without_desk_rows_the_desk_metrics_are_not_measured(store: Store) -> None:
    assert measured_metrics(store, DESK_METRICS) == []
    assert sums(store) == {}


def test_catalog_runs_without_the_desk_tables(store: Store) -> None:
    """A Parquet folder (Spark) may hold no desk file: the desk's metrics have no rows."""
    tables = {k: v for k, v in store_tables(store).items() if k not in DESK_TABLES}
    expr = daily_partials(tables, CONFIG, start=START, end=END, metrics=DESK_METRICS)
    assert expr.to_pyarrow().num_rows == 0


def _policy_without_desk_breach(tmp_path: Path) -> Any:
    from importlib import resources

    text = resources.files("tiyan").joinpath("policies/default.yaml").read_text("utf-8")
    kept = [ln for ln in text.splitlines() if "desk_merchant_breach_rate:" not in ln]
    assert len(kept) == len(text.splitlines()) - 1
    path = tmp_path / "before.yaml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return load_policy(path)


def test_the_desk_breach_rate_is_scored_in_the_service_dimension() -> None:
    scoring = load_policy().scoring
    assert scoring.dimensions["service"].metrics["desk_merchant_breach_rate"] == 1
    assert CATALOG["desk_merchant_breach_rate"].definition.scored
    assert DEFAULT_POLICY  # the shipped policy is the one read above


def _market(with_desk: bool) -> list[MerchantMetrics]:
    out = []
    for i in range(12):
        sums = {
            "valid_orders": (200.0, 200.0),
            "complaint_rate": (float(i % 5), 200.0),
            "dispute_liability_rate": (float(i % 3), 40.0),
            "im_3min_reply_rate": (150.0 + i, 180.0),
            "ship_timeout_rate": (float(i), 190.0),
            "negative_review_rate": (float(12 - i), 150.0),
        }
        if with_desk:
            sums["desk_merchant_breach_rate"] = (float(i % 4), 10.0)
        out.append(MerchantMetrics(f"M{i:02d}", "food", "specialty", 200, sums))
    return out


def test_scores_without_desk_data_are_exactly_as_before(tmp_path: Path) -> None:
    before = _policy_without_desk_breach(tmp_path).scoring
    now = load_policy().scoring
    assert "desk_merchant_breach_rate" not in before.dimensions["service"].metrics
    market = _market(with_desk=False)
    assert score_merchants(market, now) == score_merchants(market, before)
    # With desk data the metric counts: the scores move (the test can fail).
    desk = _market(with_desk=True)
    assert score_merchants(desk, now) != score_merchants(desk, before)
    explained = {m.metric_id for m in score_merchants(desk, now)[0].metrics}
    assert "desk_merchant_breach_rate" in explained
