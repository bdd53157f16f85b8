"""No punishment without evidence, on data in the Olist layout through the shipped mapping.

Olist's export has the quirks that once turned delivered orders into "never shipped" ones:
a carrier hand-over time earlier than the payment approval (validation rejects that shipment
row, so the order has no pickup on record), delivered orders with no hand-over time at all,
and cancellations without a time. Each fixture order below is one of those, beside a control
seller whose parcels really were handed over after their deadline: enforcement must punish
the control's late orders (so the check can fail) and nothing about the others, and the
scorecard must count the evidence-incomplete orders apart.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tiyan.ingest.load import ingest
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.store import Store, open_store
from tiyan.store.scorecard import scorecard

NOW = datetime(2020, 5, 1)
AS_OF = date(2020, 4, 1)
GOOD, LATE, GONE = "a" * 32, "b" * 32, "c" * 32
T = "%Y-%m-%d %H:%M:%S"

HEADERS = {
    "olist_orders_dataset.csv": [
        "order_id", "customer_id", "order_status", "order_purchase_timestamp",
        "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ],
    "olist_order_items_dataset.csv": [
        "order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price",
        "freight_value",
    ],
    "olist_customers_dataset.csv": [
        "customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city",
        "customer_state",
    ],
    "olist_sellers_dataset.csv": [
        "seller_id", "seller_zip_code_prefix", "seller_city", "seller_state",
    ],
    "olist_products_dataset.csv": [
        "product_id", "product_category_name", "product_name_lenght",
        "product_description_lenght", "product_photos_qty", "product_weight_g",
        "product_length_cm", "product_height_cm", "product_width_cm",
    ],
    "olist_order_payments_dataset.csv": [
        "order_id", "payment_sequential", "payment_type", "payment_installments",
        "payment_value",
    ],
    "olist_order_reviews_dataset.csv": [
        "review_id", "order_id", "review_score", "review_comment_title",
        "review_comment_message", "review_creation_date", "review_answer_timestamp",
    ],
}  # fmt: skip


def fmt(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime(T)


class Olist:
    """Rows in the Olist layout, one order per (seller, kind)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[list[Any]]] = {name: [] for name in HEADERS}
        self.kinds: dict[str, str] = {}  # canonical order id -> kind
        for seller in (GOOD, LATE, GONE):
            self.rows["olist_sellers_dataset.csv"].append([seller, "13023", "campinas", "SP"])
            self.rows["olist_products_dataset.csv"].append(
                [f"p{seller[:31]}", "cama_mesa_banho", 40, 500, 1, 800, 20, 10, 15]
            )

    def order(
        self,
        seller: str,
        kind: str,
        n: int,
        *,
        status: str = "delivered",
        carrier: float | None = 20.0,  # hours after approval (negative: before it)
        delivered: float | None = 100.0,
    ) -> str:
        oid = f"{kind[:4]}{seller[0]}{n:027d}"
        cid = f"c{oid[1:]}"
        approved = datetime(2020, 3, 2, 10, 0, 0) + timedelta(days=n % 20, hours=n % 7)
        limit = approved + timedelta(hours=48)
        self.rows["olist_customers_dataset.csv"].append([cid, f"u{oid[1:]}", "01000", "sp", "SP"])
        self.rows["olist_orders_dataset.csv"].append(
            [
                oid, cid, status, fmt(approved - timedelta(minutes=10)), fmt(approved),
                fmt(None if carrier is None else approved + timedelta(hours=carrier)),
                fmt(None if delivered is None else approved + timedelta(hours=delivered)),
                fmt(datetime.combine(approved.date() + timedelta(days=20), datetime.min.time())),
            ]
        )  # fmt: skip
        self.rows["olist_order_items_dataset.csv"].append(
            [oid, 1, f"p{seller[:31]}", seller, fmt(limit), "59.90", "10.00"]
        )
        canonical = f"{oid}-{seller}"
        self.kinds[canonical] = kind
        return canonical

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, header in HEADERS.items():
            with (folder / name).open("w", newline="") as fh:
                out = csv.writer(fh)
                out.writerow(header)
                out.writerows(self.rows[name])
        return folder


def market() -> Olist:
    m = Olist()
    for n in range(8):  # the control: every parcel handed over 30 h after its deadline
        m.order(LATE, "late", n, carrier=78.0)
    for n in range(12):  # an ordinary good seller, on time
        m.order(GOOD, "ontime", n)
    for n in range(6):  # delivered, carrier time 3 h before approval: shipment rejected
        m.order(GOOD, "beforepay", 100 + n, carrier=-3.0)
    for n in range(4):  # delivered, no hand-over time at all
        m.order(GOOD, "nocarrier", 200 + n, carrier=None)
    for n in range(4):  # shipped, no hand-over time yet
        m.order(GOOD, "shippednocarrier", 300 + n, status="shipped", carrier=None, delivered=None)
    for n in range(10):  # cancelled or unavailable: Olist records no cancellation time
        status = "canceled" if n % 2 else "unavailable"
        m.order(GONE, "cancelled", n, status=status, carrier=None, delivered=None)
    return m


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Olist]:
    folder = tmp_path_factory.mktemp("evidence")
    m = market()
    store = open_store(str(folder / "tiyan.duckdb"))
    report = ingest(store, [m.write(folder / "olist")], now=NOW, mapping="olist")
    assert report.status == "loaded"
    run_scoring(store, as_of=AS_OF)
    run_enforcement(store, as_of=AS_OF)
    yield store, m
    store.close()


def test_the_quirks_are_in_the_quarantine(enforced: tuple[Store, Olist]) -> None:
    store, m = enforced
    rejected = store.query("SELECT table_name, raw FROM quarantine WHERE table_name = 'shipments'")
    before = {k for k, kind in m.kinds.items() if kind == "beforepay"}
    assert len(rejected) == len(before)
    assert all(any(oid in raw for oid in before) for _t, raw in rejected)


def test_late_handovers_are_punished(enforced: tuple[Store, Olist]) -> None:
    store, m = enforced
    late = {k for k, kind in m.kinds.items() if kind == "late"}
    found = store.query("SELECT order_id FROM violations WHERE rule_id = 'ship_timeout'")
    assert {r[0] for r in found} == late
    owed = store.query(
        "SELECT v.order_id FROM actions AS a JOIN violations AS v USING (violation_id) "
        "WHERE a.kind = 'compensation'"
    )
    assert {r[0] for r in owed} == late


def test_no_violation_without_evidence(enforced: tuple[Store, Olist]) -> None:
    store, m = enforced
    rows = store.query("SELECT rule_id, merchant_id, order_id FROM violations")
    about = [(rule, merchant, m.kinds.get(order)) for rule, merchant, order in rows]
    assert [a for a in about if a[1] != LATE] == []
    assert {kind for _r, _m, kind in about} == {"late"}
    paid = store.query(
        "SELECT count(*) FROM actions WHERE kind = 'compensation' AND merchant_id <> ?", (LATE,)
    )
    assert paid == [(0,)]


def test_scorecards_count_incomplete_evidence(enforced: tuple[Store, Olist]) -> None:
    store, _m = enforced
    counts = {}
    for seller in (GOOD, LATE, GONE):
        card = scorecard(store, seller, as_of=AS_OF)
        assert card is not None
        counts[seller] = card["evidence_incomplete_orders"]
    # 6 shipments rejected + 4 delivered and 4 shipped without a hand-over; 10 cancellations
    # without a time; the control's records are complete
    assert counts == {GOOD: 14, LATE: 0, GONE: 10}
    card = scorecard(store, GOOD, as_of=AS_OF)
    assert card is not None
    timeout = next(
        x for x in card["explanation"]["metrics"] if x["metric_id"] == "ship_timeout_rate"
    )
    assert timeout["value"] == 0.0  # over the 12 orders with complete evidence
