"""Each merchant archetype leaves the trace in the data that a detector should find.

Every check compares the merchants of one archetype (from ``sim_truth``) with the good
merchants of the same market, on the observable tables only, as governance would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tiyan.sim import SimConfig, simulate
from tiyan.sim.clock import promo_window

#: A fixed seed, so the market (and every figure below) is the same on every run.
CFG = SimConfig(merchants=160, orders=40_000, days=90, seed=11)
#: Local time (Asia/Shanghai) of a UTC timestamp column.
LOCAL = "({} + INTERVAL 8 HOUR)"


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    chunks: dict[str, list[Any]] = {}
    for name, chunk in simulate(CFG):
        chunks.setdefault(name, []).append(chunk)
    con = duckdb.connect()
    for name, parts in chunks.items():
        con.register(name, pa.concat_tables(parts))
    con.sql("CREATE TEMP TABLE o AS SELECT * FROM orders JOIN sim_truth USING (merchant_id)")
    con.sql(
        "CREATE TEMP TABLE first_pickup AS "
        "SELECT order_id, min(pickup_at) AS pickup_at FROM shipments GROUP BY 1"
    )
    yield con
    con.close()


def by_archetype(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, float]:
    """``sql`` must return (archetype, value) rows."""
    return {a: float(v) for a, v in con.sql(sql).fetchall() if v is not None}


def test_every_archetype_is_present(db: duckdb.DuckDBPyConnection) -> None:
    counts = by_archetype(db, "SELECT archetype, count(*) FROM o GROUP BY 1")
    assert len(counts) == 8
    assert min(counts.values()) >= 300  # enough orders to compare


def test_slow_shippers_pick_up_later(db: duckdb.DuckDBPyConnection) -> None:
    hours = by_archetype(
        db,
        "SELECT archetype, median(epoch(f.pickup_at - o.paid_at) / 3600) FROM o "
        "JOIN first_pickup f USING (order_id) WHERE NOT presale GROUP BY 1",
    )
    assert hours["slow_shipper"] > 2 * hours["good"]
    assert hours["slow_shipper"] > 40


def test_fake_shippers_upload_numbers_without_a_pickup_scan(
    db: duckdb.DuckDBPyConnection,
) -> None:
    # Only parcels handed over a week before the data ends: the rest may still be scanned.
    no_scan = by_archetype(
        db,
        "SELECT archetype, avg((s.pickup_at IS NULL)::int) FROM shipments s "
        "JOIN o USING (order_id) WHERE s.shipped_at < (SELECT max(paid_at) FROM orders) "
        "- INTERVAL 7 DAY GROUP BY 1",
    )
    assert no_scan["fake_shipper"] > 0.15
    assert no_scan["good"] < 0.01
    # A reused number belongs to another order of the same merchant, another consumer.
    reused = db.sql(
        "SELECT list(DISTINCT archetype), count(DISTINCT consumer_id) = count(*) "
        "FROM shipments s JOIN o USING (order_id) WHERE (carrier, tracking_no) IN "
        "(SELECT (carrier, tracking_no) FROM shipments GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert reused is not None
    assert reused[0] == ["fake_shipper"]
    fake_complaints = by_archetype(
        db,
        "SELECT archetype, count(*) FILTER (WHERE type = 'fake_shipment') / "
        "(SELECT count(*) FROM o o2 WHERE o2.archetype = o.archetype) "
        "FROM complaints c JOIN o USING (order_id) GROUP BY 1",
    )
    assert fake_complaints["fake_shipper"] > 10 * fake_complaints.get("good", 0.0) + 0.01


def test_malicious_non_shippers_cancel_in_bursts(db: duckdb.DuckDBPyConnection) -> None:
    rate = by_archetype(
        db,
        "SELECT archetype, avg(coalesce(cancelled_by = 'merchant', false)::int) FROM o GROUP BY 1",
    )
    assert rate["malicious_non_shipper"] > 4 * rate["good"]
    # Share of merchant cancellations on "burst days": a merchant cancelling at least two
    # orders and a third of the day's orders. Ordinary cancellations are scattered.
    bursty = by_archetype(
        db,
        f"""
        WITH days AS (
            SELECT archetype, merchant_id, date_trunc('day', {LOCAL.format("paid_at")}) AS day,
                count(*) AS orders,
                count(*) FILTER (WHERE cancelled_by = 'merchant'
                                 AND cancel_reason = 'unable_to_ship') AS cancels
            FROM o GROUP BY ALL
        )
        SELECT archetype,
            coalesce(sum(cancels) FILTER (WHERE cancels >= 2 AND cancels >= orders / 3), 0)
                / sum(cancels)
        FROM days GROUP BY 1 HAVING sum(cancels) > 0
        """,
    )
    assert bursty["malicious_non_shipper"] > 0.4
    assert bursty["good"] < 0.15


def test_fake_inventory_cancels_as_out_of_stock(db: duckdb.DuckDBPyConnection) -> None:
    oos = by_archetype(
        db,
        "SELECT archetype, avg(coalesce(cancel_reason = 'out_of_stock', false)::int) "
        "FROM o GROUP BY 1",
    )
    assert oos["fake_inventory"] > 0.05
    assert oos["fake_inventory"] > 10 * oos["good"]


def test_presale_abusers_pick_up_after_the_presale_deadline(
    db: duckdb.DuckDBPyConnection,
) -> None:
    late = by_archetype(
        db,
        "SELECT archetype, avg((f.pickup_at IS NULL OR f.pickup_at > promised_ship_by)::int) "
        "FROM o JOIN first_pickup f USING (order_id) WHERE presale "
        "AND promised_ship_by < (SELECT max(paid_at) FROM orders) GROUP BY 1",
    )
    assert late["presale_abuser"] > 0.3
    assert late["presale_abuser"] > 4 * late["good"]
    share = by_archetype(db, "SELECT archetype, avg(presale::int) FROM o GROUP BY 1")
    assert share["presale_abuser"] > 3 * share["good"]
    long = by_archetype(
        db,
        "SELECT archetype, count(*) FROM products JOIN sim_truth USING (merchant_id) "
        "WHERE presale_days > 15 GROUP BY 1",
    )
    assert set(long) == {"presale_abuser"}


def test_passive_service_leaves_consumers_waiting(db: duckdb.DuckDBPyConnection) -> None:
    im = by_archetype(
        db,
        "SELECT archetype, avg((first_response_at IS NULL "
        "OR first_response_at > started_at + INTERVAL 3 MINUTE)::int) "
        "FROM cs_sessions JOIN sim_truth USING (merchant_id) GROUP BY 1",
    )
    assert im["passive_service"] > im["good"] + 0.4
    timeouts = by_archetype(
        db,
        "SELECT archetype, avg(coalesce(resolved_by = 'timeout', false)::int) "
        "FROM after_sales a JOIN o USING (order_id) WHERE NOT a.express GROUP BY 1",
    )
    assert timeouts["passive_service"] > timeouts["good"] + 0.15
    unanswered = db.sql(
        "SELECT count(*) FROM after_sales WHERE resolved_by = 'timeout' "
        "AND (merchant_responded_at IS NOT NULL "
        "OR resolved_at < requested_at + INTERVAL 48 HOUR)"
    ).fetchone()
    assert unanswered == (0,)


def test_low_quality_merchants_get_returns_and_bad_reviews(
    db: duckdb.DuckDBPyConnection,
) -> None:
    returns = by_archetype(
        db,
        "SELECT archetype, count(*) FILTER (WHERE reason IN ('quality', 'not_as_described')) "
        "/ (SELECT count(*) FROM o o2 WHERE o2.archetype = o.archetype) "
        "FROM after_sales JOIN o USING (order_id) GROUP BY 1",
    )
    assert returns["low_quality"] > 3 * returns["good"]
    negative = by_archetype(
        db,
        "SELECT archetype, avg((rating <= 2)::int) FROM reviews "
        "JOIN sim_truth USING (merchant_id) GROUP BY 1",
    )
    assert negative["low_quality"] > 2 * negative["good"]


def test_bad_experiences_lower_the_nps(db: duckdb.DuckDBPyConnection) -> None:
    nps = by_archetype(
        db,
        "SELECT archetype, avg(score) FROM surveys JOIN sim_truth USING (merchant_id) GROUP BY 1",
    )
    assert nps["fake_shipper"] < nps["good"] - 1
    assert nps["good"] > 7.5


def test_promotion_week_sells_several_times_a_normal_week(
    db: duckdb.DuckDBPyConnection,
) -> None:
    window = promo_window(CFG)
    assert window is not None
    assert CFG.start + timedelta(days=window[0]) == date(2024, 6, 12)

    def week(first: date) -> int:
        row = db.sql(
            f"SELECT count(*) FROM orders WHERE {LOCAL.format('paid_at')} "
            f"BETWEEN TIMESTAMP '{first}' AND TIMESTAMP '{first + timedelta(days=7)}'"
            f" - INTERVAL 1 MICROSECOND"
        ).fetchone()
        assert row is not None
        return int(row[0])

    promo = week(date(2024, 6, 12))
    normal = week(date(2024, 5, 22))
    assert promo > 3 * normal
    # Strained fulfilment: good merchants pick up later during the promotion.
    strain = db.sql(
        f"SELECT median(epoch(f.pickup_at - paid_at)) FILTER (WHERE {LOCAL.format('paid_at')} "
        "BETWEEN TIMESTAMP '2024-06-12' AND TIMESTAMP '2024-06-18'), "
        f"median(epoch(f.pickup_at - paid_at)) FILTER (WHERE {LOCAL.format('paid_at')} "
        "BETWEEN TIMESTAMP '2024-05-22' AND TIMESTAMP '2024-05-28') "
        "FROM o JOIN first_pickup f USING (order_id) WHERE archetype = 'good' AND NOT presale"
    ).fetchone()
    assert strain is not None
    assert strain[0] > 1.2 * strain[1]
