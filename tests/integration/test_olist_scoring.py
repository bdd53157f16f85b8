"""Scoring the Olist fixture: metrics exist where Olist has the data, and only there.

The fixture (``tests/fixtures/olist``, see ``test_olist_mapping.py``) is ingested through the
shipped ``olist`` mapping on both engines and scored with the default policy, with a window
long enough to hold all of its 2018 orders. Olist fills merchants, consumers, products,
orders, shipments and reviews only: metrics built on IM sessions, after-sales cases, surveys
or carrier scans must be absent for every seller (no value), never a perfect 0.

Hand-checked numbers (Olist local times; every order is in the score's population):

* d0e9f767: 2 valid orders (its third order, 36008e7d, has no approval time and is
  quarantined); both picked up 27.8 h and 37.8 h after payment (none within 24 h).
* 3df829b5: 4 valid orders (one cancelled, one only shipped); 3 picked up, one of them (order
  e5627785) 18.4 h after payment.
* 802a30bb: 2 valid orders (one cancelled, one invoiced), never shipped, never reviewed.
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
from tiyan.store import Store, open_store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "olist"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
# The default policy takes effect on 2020-01-01; ten years back covers all of 2018.
AS_OF = date(2020, 1, 1)
WINDOW = 3650

D0, S3, S8 = (
    "d0e9f767ad383adf091bae1193e19372",
    "3df829b5397ca8b2a34e09163e89bb88",
    "802a30bba44a8a29bc2733bcc3dc3f0e",
)
SHIPPED, REVIEWED = {D0, S3}, {D0, S3}

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
    assert sellers(store) == {D0, S3, S8}
    assert summary.merchants == 3
    assert summary.refresh.full
    assert {m: s["valid_orders"] for m, s in sums.items()} == {
        D0: (2.0, 2.0, 2.0),
        S3: (4.0, 4.0, 4.0),
        S8: (2.0, 2.0, 2.0),
    }
    for merchant_id in sellers(store):
        own = sums[merchant_id]
        for metric_id in ("in_stock_share", "merchant_cancel_rate", "ship_timeout_rate"):
            _num, den, value = own[metric_id]
            assert den > 0 and value is not None, (merchant_id, metric_id)
        # pickup metrics exactly where there are shipments, review metrics where there are
        # sign-offs and reviews
        picked = {"pickup_24h_rate", "pickup_48h_rate", "pickup_timely_weighted"}
        picked |= {"pay_to_pickup_hours"}
        assert (picked & set(own)) == (picked if merchant_id in SHIPPED else set()), merchant_id
        assert ("negative_review_rate" in own) == (merchant_id in REVIEWED)
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
    assert {m: r[2] for m, r in by_id.items()} == {D0: 2, S3: 4, S8: 2}
    for merchant_id, status, _valid, score, level, provisional in rows:
        assert status in {"scored", "insufficient_data"}, merchant_id
        if status == "insufficient_data":
            # Fewer valid orders than the policy's minimum: no score, a provisional one.
            assert score is None and level is None and provisional is not None
        else:
            assert score is not None and level is not None
    assert summary.scored == sum(1 for r in rows if r[1] == "scored")
