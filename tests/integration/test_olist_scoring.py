"""Scoring the Olist fixture: metrics exist where Olist has the data, and only there; days
are Sao Paulo days and money is reais.

The fixture (``tests/fixtures/olist``, see ``test_olist_mapping.py``) is ingested through the
shipped ``olist`` mapping on both engines and scored with the default policy, with a window
long enough to hold all of its 2018 orders. Olist fills merchants, consumers, products,
orders, shipments and reviews only: metrics built on IM sessions, after-sales cases, surveys
or carrier scans must be absent for every seller (no value), never a perfect 0; so must the
merchant-cancellation rate, since Olist says neither who cancelled nor why.

Hand-checked numbers (Olist local times; every order is in the score's population):

* d0e9f767: 2 valid orders (its third order, 36008e7d, has no approval time and is
  quarantined); both picked up 27.8 h and 37.8 h after payment (none within 24 h).
* 3df829b5: 4 valid orders (one cancelled, one only shipped); 3 picked up, one of them (order
  e5627785) 18.4 h after payment.
* 802a30bb: 2 valid orders (one cancelled, one invoiced), never shipped, never reviewed.
* e5a7c9b1: 4 valid orders, all delivered and picked up before their ship deadline:
  a1c3e5f7, whose approval Olist logged 7 h 40 min after the carrier took the parcel (paid
  at its purchase time, picked up 23.5 h later); b2d4f6a8, delivered two days after its
  estimated date (the one late delivery of the fixture's 8 signed orders); c3e5a7b9,
  delivered on its estimated day (on time); d4f6b8c0, paid at 00:35 on 2018-01-10 in
  Brazilian summer time (UTC-2), which tiyan's fixed -03:00 day counts on 2018-01-09.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import postgres_url
from tiyan.ingest.load import ingest
from tiyan.jobs.scoring import ScoreSummary, run_scoring
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.files import load_policy
from tiyan.reports.kpis import parse_period
from tiyan.reports.report import build_report, render_report, render_scorecard
from tiyan.store import Store, open_store
from tiyan.store.platform import Platform, platform_of
from tiyan.store.scorecard import scorecard

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "olist"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
# The shipped policy applies to any date; ten years back from 2020 covers all of Olist.
AS_OF = date(2020, 1, 1)
WINDOW = 3650

D0, S3, S8, N = (
    "d0e9f767ad383adf091bae1193e19372",
    "3df829b5397ca8b2a34e09163e89bb88",
    "802a30bba44a8a29bc2733bcc3dc3f0e",
    "e5a7c9b1d3f5e7a9c1b3d5f7e9a1c3b5",
)
#: Sellers with shipments, and with signed orders (reviews count over sign-offs).
SHIPPED, SIGNED = {D0, S3, N}, {D0, S3, N}
#: The Olist order whose payment approval is logged after the carrier took the parcel.
LATE_APPROVAL = "a1c3e5f7b9d1a3c5e7f9b1d3a5c7e9f1"

#: Metrics whose source tables Olist has no data for (IM sessions, after-sales cases,
#: surveys, tracking uploads): no seller may have a value for them.
NO_SOURCE = {
    "im_3min_reply_rate",
    "im_first_response_minutes",
    "cs_dissatisfaction_rate",
    "dispute_liability_rate",
    "refund_only_hours",
    "return_refund_hours",
    "after_sales_timeout_rate",
    "express_refund_share",
    "nps",
    "fake_shipment_rate",
    "presale_days_mean",
}
#: Metrics whose source fields Olist leaves empty in a table it does fill: orders without
#: cancelled_by or cancel_reason cannot say a merchant cancelled.
NO_SOURCE_FIELD = {"merchant_cancel_rate"}
#: Rates of complaints, contacts and refunds over paid orders: Olist has none of those
#: records either, so they are absent too, not 0 over the paid orders.
NO_NUMERATOR_SOURCE = {
    "complaint_rate",
    "product_complaint_rate",
    "ccr",
    "cpo",
    "refund_rate",
    "quality_return_rate",
}

Sums = dict[str, dict[str, tuple[float, float, float | None]]]


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    schema = None
    if request.param == "duckdb":
        url = str(tmp_path_factory.mktemp("olist") / "tiyan.duckdb")
    else:
        base = postgres_url()
        schema = f"tiyan_test_{uuid.uuid4().hex[:12]}"
        url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    s = open_store(url)
    try:
        report = ingest(s, [FIXTURE], now=NOW, mapping="olist")
        assert report.status == "loaded"
        yield s
    finally:
        s.close()
        if schema is not None:
            with psycopg.connect(postgres_url(), autocommit=True) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def summary(store: Store) -> ScoreSummary:
    return run_scoring(store, as_of=AS_OF, window=WINDOW)


@pytest.fixture(scope="module")
def sums(store: Store, summary: ScoreSummary) -> Sums:
    """Merchant -> metric -> (numerator, denominator, value) of the run."""
    out: Sums = {}
    for merchant_id, metric_id, num, den, value in store.query(
        "SELECT subject_id, metric_id, numerator, denominator, value FROM metric_values "
        "WHERE as_of = ? AND window_days = ? AND scope = 'merchant'",
        (AS_OF, WINDOW),
    ):
        out.setdefault(merchant_id, {})[metric_id] = (num, den, value)
    return out


def sellers(store: Store) -> set[str]:
    return {r[0] for r in store.query("SELECT merchant_id FROM merchants")}


def test_every_seller_has_its_order_metrics(
    store: Store, summary: ScoreSummary, sums: Sums
) -> None:
    assert sellers(store) == {D0, S3, S8, N}
    assert summary.merchants == 4
    assert summary.refresh.full
    assert {m: s["valid_orders"] for m, s in sums.items()} == {
        D0: (2.0, 2.0, 2.0),
        S3: (4.0, 4.0, 4.0),
        S8: (2.0, 2.0, 2.0),
        N: (4.0, 4.0, 4.0),
    }
    for merchant_id in sellers(store):
        own = sums[merchant_id]
        for metric_id in ("in_stock_share", "ship_timeout_rate"):
            _num, den, value = own[metric_id]
            assert den > 0 and value is not None, (merchant_id, metric_id)
        # pickup metrics exactly where there are shipments, review metrics where there are
        # sign-offs
        picked = {"pickup_24h_rate", "pickup_48h_rate", "pickup_timely_weighted"}
        picked |= {"pay_to_pickup_hours"}
        assert (picked & set(own)) == (picked if merchant_id in SHIPPED else set()), merchant_id
        assert ("negative_review_rate" in own) == (merchant_id in SIGNED)
        assert ("delivery_hours" in own) == (merchant_id in SHIPPED)
    assert sums[D0]["pickup_24h_rate"] == (0.0, 2.0, 0.0)
    assert sums[S3]["pickup_24h_rate"] == (1.0, 3.0, pytest.approx(1 / 3))
    assert sums[S3]["pickup_48h_rate"] == (3.0, 3.0, 1.0)
    assert sums[D0]["negative_review_rate"] == (1.0, 2.0, 0.5)


def test_metrics_without_source_data_are_absent_not_zero(store: Store, sums: Sums) -> None:
    assert set(DEFINITIONS) >= NO_SOURCE | NO_NUMERATOR_SOURCE
    for merchant_id in sellers(store):
        assert not NO_SOURCE & set(sums.get(merchant_id, {})), merchant_id
    # nor for a category or the platform
    rows = store.query(
        "SELECT DISTINCT metric_id FROM metric_values WHERE as_of = ? AND window_days = ?",
        (AS_OF, WINDOW),
    )
    assert not NO_SOURCE & {r[0] for r in rows}


def test_rates_of_records_olist_lacks_are_absent_not_zero(sums: Sums) -> None:
    for merchant_id, own in sums.items():
        assert not NO_NUMERATOR_SOURCE & set(own), (
            merchant_id,
            sorted(NO_NUMERATOR_SOURCE & set(own)),
        )


def test_every_seller_has_a_score_row(store: Store, summary: ScoreSummary) -> None:
    rows = store.query(
        "SELECT merchant_id, status, valid_orders, score, level, provisional_score "
        "FROM scores WHERE as_of = ? AND window_days = ?",
        (AS_OF, WINDOW),
    )
    assert {r[0] for r in rows} == sellers(store)
    by_id = {r[0]: r for r in rows}
    assert {m: r[2] for m, r in by_id.items()} == {D0: 2, S3: 4, S8: 2, N: 4}
    for merchant_id, status, _valid, score, level, provisional in rows:
        assert status in {"scored", "insufficient_data"}, merchant_id
        if status == "insufficient_data":
            # Fewer valid orders than the policy's minimum: no score, a provisional one.
            assert score is None and level is None and provisional is not None
        else:
            assert score is not None and level is not None
    assert summary.scored == sum(1 for r in rows if r[1] == "scored")


def test_a_metric_whose_source_field_olist_lacks_is_absent(store: Store, sums: Sums) -> None:
    # Olist has orders, cancelled ones too, but never says who cancelled or why: the
    # merchant-cancellation rate is unknown, not 0 (a 0 was scored, costing every seller).
    for merchant_id in sellers(store):
        assert not NO_SOURCE_FIELD & set(sums[merchant_id]), merchant_id
    rows = store.query(
        "SELECT DISTINCT metric_id FROM metric_values WHERE as_of = ? AND window_days = ?",
        (AS_OF, WINDOW),
    )
    assert not NO_SOURCE_FIELD & {r[0] for r in rows}
    for (explanation,) in store.query(
        "SELECT explanation FROM scores WHERE as_of = ? AND window_days = ? "
        "AND explanation IS NOT NULL",
        (AS_OF, WINDOW),
    ):
        assert "merchant_cancel_rate" not in explanation


def test_late_delivery_rate(store: Store, sums: Sums) -> None:
    # Signed after the estimated day (read as its end, 23:59:59 local): only b2d4f6a8 of the
    # 8 signed orders; c3e5a7b9, delivered on its estimated day, is on time.
    assert sums[N]["late_delivery_rate"] == (1.0, 4.0, 0.25)
    assert sums[D0]["late_delivery_rate"] == (0.0, 2.0, 0.0)
    assert sums[S3]["late_delivery_rate"] == (0.0, 2.0, 0.0)
    assert "late_delivery_rate" not in sums[S8]  # nothing delivered
    ((num, den, value),) = store.query(
        "SELECT numerator, denominator, value FROM metric_values WHERE as_of = ? AND "
        "window_days = ? AND scope = 'platform' AND metric_id = 'late_delivery_rate'",
        (AS_OF, WINDOW),
    )
    assert (num, den, value) == (1.0, 8.0, 0.125)


def test_an_approval_logged_after_the_carrier_keeps_the_order_shipped(
    store: Store, sums: Sums
) -> None:
    order_id = f"{LATE_APPROVAL}-{N}"
    assert not store.query(
        "SELECT table_name, reason FROM quarantine WHERE raw LIKE ?", (f"%{LATE_APPROVAL}%",)
    )
    ((paid_at, pickup_at),) = store.query(
        "SELECT o.paid_at, s.pickup_at FROM orders o JOIN shipments s ON s.order_id = o.order_id "
        "WHERE o.order_id = ?",
        (order_id,),
    )
    # paid at its purchase time (09:00 Sao Paulo), picked up 23.5 h later
    assert (paid_at.isoformat(), pickup_at.isoformat()) == (
        "2018-06-11T12:00:00",
        "2018-06-12T11:30:00",
    )
    # shipped, in time, with complete evidence: not unknown, not unshipped
    assert sums[N]["evidence_incomplete_orders"][:2] == (0.0, 4.0)
    assert sums[N]["ship_timeout_rate"] == (0.0, 4.0, 0.0)
    assert sums[N]["pickup_24h_rate"] == (1.0, 4.0, 0.25)


def test_days_are_sao_paulo_days(store: Store, summary: ScoreSummary) -> None:
    assert platform_of(store) == Platform("America/Sao_Paulo", "BRL")
    days = {
        (m, d.isoformat()): n
        for m, d, n in store.query(
            "SELECT merchant_id, day, num FROM metric_daily WHERE metric_id = 'valid_orders'"
        )
    }
    assert days == {
        (D0, "2018-04-03"): 1.0,
        # paid 21:15 local on 2018-05-14: 2018-05-15 in UTC and in Shanghai
        (D0, "2018-05-14"): 1.0,
        (S3, "2018-05-14"): 2.0,
        (S3, "2018-06-02"): 1.0,
        (S3, "2018-08-20"): 1.0,
        (S8, "2018-07-07"): 1.0,
        (S8, "2018-09-03"): 1.0,  # 14:20 local, 01:20 the next day in Shanghai
        (N, "2018-06-11"): 1.0,
        (N, "2018-07-02"): 1.0,  # 20:15 local
        (N, "2018-08-01"): 1.0,
        # 00:35 local in summer time (UTC-2): the fixed -03:00 day is the day before
        (N, "2018-01-09"): 1.0,
    }


def test_report_and_scorecard_are_in_reais_and_sao_paulo_days(
    store: Store, summary: ScoreSummary
) -> None:
    policy = load_policy()
    period = parse_period("2018")
    data = build_report(store, period=period, policy=policy)
    assert data.utc_offset == "-03:00"
    assert data.orders == 12
    late = next(k for k in data.headline if k.definition.id == "late_delivery_rate")
    assert late.value == 0.125
    html = render_report(store, period=period, policy=policy)
    assert 'data-timezone="America/Sao_Paulo"' in html and 'data-currency="BRL"' in html
    assert "UTC-03:00" in html
    assert "Compensation paid (R$)" in html
    assert "¥" not in html
    card = scorecard(store, D0, as_of=AS_OF, window=WINDOW)
    assert card is not None
    assert (card["currency"], card["timezone"]) == ("BRL", "America/Sao_Paulo")
    page = render_scorecard(store, D0, policy=policy)
    assert 'data-currency="BRL"' in page and "R$0.00" in page
    assert "¥" not in page


def test_a_refused_load_records_no_platform(tmp_path: Path) -> None:
    s = open_store(str(tmp_path / "refused.duckdb"))
    try:
        # two rows of the fixture are quarantined: a zero tolerance refuses the load
        refused = ingest(s, [FIXTURE], now=NOW, mapping="olist", max_reject_rate=0.0)
        assert refused.status == "rejected"
        assert platform_of(s) == Platform()  # the default platform: the policy's days, ¥
        assert ingest(s, [FIXTURE], now=NOW, mapping="olist").status == "loaded"
        assert platform_of(s) == Platform("America/Sao_Paulo", "BRL")
    finally:
        s.close()
