"""The simulator's output obeys the canonical model: schemas, keys, references, time order.

Every check iterates the model (:data:`tiyan.domain.model.TABLES`) rather than naming
tables, so a column or rule added to the model is checked here without a new test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tiyan.domain.model import TABLES, ColumnType, Table
from tiyan.sim import SimConfig, arrow_schema, simulate, write_parquet
from tiyan.sim.config import CUT_DAYS

CFG = SimConfig(merchants=50, orders=20_000, days=90, seed=7, chunk_orders=6_000)
ENTITIES = ("merchants", "consumers", "products")


def collect(cfg: SimConfig) -> tuple[dict[str, Any], list[str]]:
    """All chunks of a simulation concatenated per table, and the order they came in."""
    chunks: dict[str, list[Any]] = {name: [] for name in TABLES}
    seen: list[str] = []
    for name, chunk in simulate(cfg):
        chunks[name].append(chunk)
        seen.append(name)
    tables = {n: pa.concat_tables(c) if c else None for n, c in chunks.items()}
    return tables, seen


@pytest.fixture(scope="module")
def market() -> tuple[dict[str, Any], list[str]]:
    return collect(CFG)


@pytest.fixture(scope="module")
def db(market: tuple[dict[str, Any], list[str]]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for name, table in market[0].items():
        con.register(name, table)
    yield con
    con.close()


def q(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.sql(sql).fetchone()
    assert row is not None
    return row[0]


def test_every_table_is_produced_with_the_model_schema(
    market: tuple[dict[str, Any], list[str]],
) -> None:
    tables, seen = market
    assert set(seen) == set(TABLES)
    for name, table in tables.items():
        assert table is not None
        assert table.schema == arrow_schema(TABLES[name]), name
        assert table.schema.names == list(TABLES[name].column_names)
    # Entities first, so a loader meets referenced rows before the rows referring to them;
    # sim_truth (it refers to merchants only) last, as it counts what every order did.
    last_entity = max(i for i, n in enumerate(seen) if n in ENTITIES)
    first_fact = min(i for i, n in enumerate(seen) if n not in ENTITIES)
    assert last_entity < first_fact
    assert seen.index("sim_truth") > max(i for i, n in enumerate(seen) if n != "sim_truth")


def test_row_counts(market: tuple[dict[str, Any], list[str]]) -> None:
    tables = market[0]
    assert tables["orders"].num_rows == CFG.orders
    assert tables["merchants"].num_rows == CFG.merchants
    assert tables["sim_truth"].num_rows == CFG.merchants
    assert tables["consumers"].num_rows == CFG.consumers
    for name in TABLES:
        assert tables[name].num_rows > 0, name


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_primary_keys_are_unique(db: duckdb.DuckDBPyConnection, table: Table) -> None:
    key = ", ".join(table.primary_key)
    dupes = q(
        db,
        f"SELECT count(*) FROM (SELECT {key} FROM {table.name} GROUP BY ALL HAVING count(*) > 1)",
    )
    assert dupes == 0


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_columns_obey_required_enumerations_and_ranges(
    db: duckdb.DuckDBPyConnection, table: Table
) -> None:
    for col in table.columns:
        c = f"{table.name}.{col.name}"
        if col.required:
            assert q(db, f"SELECT count(*) FROM {table.name} WHERE {col.name} IS NULL") == 0, c
        if col.allowed:
            values = ", ".join(f"'{v}'" for v in col.allowed)
            bad = f"SELECT count(*) FROM {table.name} WHERE {col.name} NOT IN ({values})"
            assert q(db, bad) == 0, c
        if col.minimum is not None:
            assert (
                q(db, f"SELECT count(*) FROM {table.name} WHERE {col.name} < {col.minimum}") == 0
            ), c
        if col.maximum is not None:
            assert (
                q(db, f"SELECT count(*) FROM {table.name} WHERE {col.name} > {col.maximum}") == 0
            ), c
        if col.type is ColumnType.TIMESTAMP:
            outside = (
                f"SELECT count(*) FROM {table.name} WHERE {col.name} < TIMESTAMP '1990-01-01' "
                f"OR {col.name} >= TIMESTAMP '2100-01-01'"
            )
            assert q(db, outside) == 0, c


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_every_reference_resolves(db: duckdb.DuckDBPyConnection, table: Table) -> None:
    for col in table.references:
        assert col.references is not None
        parent, key = col.references.table, col.references.column
        dangling = (
            f"SELECT count(*) FROM {table.name} t WHERE t.{col.name} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = t.{col.name})"
        )
        assert q(db, dangling) == 0, f"{table.name}.{col.name} -> {parent}"


@pytest.mark.parametrize(
    "table",
    [t for t in TABLES.values() if t.time_order],
    ids=[n for n, t in TABLES.items() if t.time_order],
)
def test_every_time_order_holds(db: duckdb.DuckDBPyConnection, table: Table) -> None:
    for rule in table.time_order:
        if rule.via is None:
            sql = f"SELECT count(*) FROM {table.name} WHERE {rule.later} < {rule.earlier}"
        else:
            parent, column = rule.earlier.split(".")
            ref = table.column(rule.via).references
            assert ref is not None
            sql = (
                f"SELECT count(*) FROM {table.name} t JOIN {parent} p "
                f"ON p.{ref.column} = t.{rule.via} WHERE t.{rule.later} < p.{column}"
            )
        assert q(db, sql) == 0, f"{table.name}: {rule.later} before {rule.earlier}"


def test_orders_are_paid_inside_the_horizon_and_nothing_happens_after_the_cut(
    db: duckdb.DuckDBPyConnection,
) -> None:
    # Timestamps hold UTC: local midnight in Asia/Shanghai is 16:00 UTC the day before.
    start = datetime.combine(CFG.start, datetime.min.time()) - timedelta(hours=8)
    end = start + timedelta(days=CFG.days)
    cut = end + timedelta(days=CUT_DAYS)
    paid = db.sql("SELECT min(paid_at), max(paid_at) FROM orders").fetchone()
    assert paid is not None
    assert start <= paid[0] and paid[1] < end
    for table in TABLES.values():
        for col in table.columns:
            if col.type is ColumnType.TIMESTAMP and col.name not in (
                "promised_ship_by",
                "promised_delivery_by",
            ):
                late = f"SELECT count(*) FROM {table.name} WHERE {col.name} >= TIMESTAMP '{cut}'"
                assert q(db, late) == 0, f"{table.name}.{col.name}"


def test_orders_are_consistent_with_their_products_shipments_and_status(
    db: duckdb.DuckDBPyConnection,
) -> None:
    checks = {
        "product of another merchant": "SELECT count(*) FROM orders o JOIN products p "
        "USING (product_id) WHERE p.merchant_id <> o.merchant_id",
        "cancelled order shipped": "SELECT count(*) FROM orders o JOIN shipments s "
        "USING (order_id) WHERE o.status = 'cancelled'",
        "cancellation incomplete": "SELECT count(*) FROM orders WHERE (status = 'cancelled') "
        "<> (cancelled_at IS NOT NULL AND cancelled_by IS NOT NULL AND cancel_reason IS NOT NULL)",
        "signed without time": "SELECT count(*) FROM orders WHERE status IN ('signed', "
        "'completed') AND signed_at IS NULL",
        "completed without time": "SELECT count(*) FROM orders WHERE (status = 'completed') "
        "<> (completed_at IS NOT NULL)",
        "shipped without shipment": "SELECT count(*) FROM orders o WHERE status = 'shipped' "
        "AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.order_id)",
        "paid but shipped": "SELECT count(*) FROM orders o WHERE status = 'paid' "
        "AND EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.order_id)",
        "two reviews of an order": "SELECT count(*) - count(DISTINCT order_id) FROM reviews",
        "review before signing": "SELECT count(*) FROM reviews r JOIN orders o USING (order_id) "
        "WHERE o.signed_at IS NULL OR r.created_at < o.signed_at",
        "reused number with own scans": "SELECT count(*) FROM (SELECT carrier, tracking_no "
        "FROM shipments GROUP BY ALL HAVING count(DISTINCT order_id) > 1 "
        "AND count(pickup_at) <> 1)",
        "first response before start": "SELECT count(*) FROM cs_sessions "
        "WHERE first_response_at < started_at",
    }
    for what, sql in checks.items():
        assert q(db, sql) == 0, what


def test_market_has_its_realistic_features(db: duckdb.DuckDBPyConnection) -> None:
    def share(sql: str) -> float:
        return float(q(db, sql))

    assert share("SELECT avg((category = 'apparel')::int) FROM products") > 0.1
    assert share("SELECT count(*) FROM orders WHERE amount < 2") > 0
    assert share("SELECT count(*) FROM orders WHERE is_gift") > 0
    assert 0.01 < share("SELECT avg(presale::int) FROM orders") < 0.5
    split = "SELECT avg((n = 2)::int) FROM (SELECT order_id, count(*) n FROM shipments GROUP BY 1)"
    assert 0.005 < share(split) < 0.05
    reused = (
        "SELECT count(*) FROM (SELECT tracking_no FROM shipments GROUP BY 1 HAVING count(*) > 1)"
    )
    assert share(reused) > 0
    # Few orders at night (01-07 local), the most in the evening (20-23 local).
    by_hour = "SELECT avg((hour(paid_at + INTERVAL 8 HOUR) BETWEEN {} AND {})::int) FROM orders"
    assert share(by_hour.format(1, 6)) < 0.06
    assert share(by_hour.format(20, 22)) > 0.2
    assert share("SELECT avg((channel IN ('live', 'video'))::int) FROM orders") > 0.6
    reviewed = (
        "SELECT count(*) / (SELECT count(*) FROM orders WHERE signed_at IS NOT NULL) FROM reviews"
    )
    assert 0.25 < share(reviewed) < 0.45
    assert 0.005 < share("SELECT avg(platform_intervened::int) FROM after_sales") < 0.1
    # Big merchants: the top tenth sells far more than a tenth of the orders.
    top = (
        "SELECT sum(n) FILTER (WHERE r <= 5) / sum(n) FROM (SELECT count(*) n, "
        "row_number() OVER (ORDER BY count(*) DESC) r FROM orders GROUP BY merchant_id)"
    )
    assert share(top) > 0.3
    # Scans: origin region at pickup, destination at signing.
    pickups = (
        "SELECT avg((e.region = m.region)::int) FROM tracking_events e JOIN shipments s "
        "USING (carrier, tracking_no) JOIN orders o USING (order_id) JOIN merchants m "
        "ON m.merchant_id = o.merchant_id WHERE e.status = 'pickup' AND s.pickup_at IS NOT NULL"
    )
    assert share(pickups) == 1.0
    signing = (
        "SELECT avg((e.region = s.destination_region)::int) FROM tracking_events e "
        "JOIN shipments s USING (carrier, tracking_no) "
        "WHERE e.status = 'signed' AND s.pickup_at IS NOT NULL"  # a reused number is not its own
    )
    assert share(signing) == 1.0


def test_same_config_gives_identical_data_and_another_seed_does_not() -> None:
    small = SimConfig(merchants=20, orders=3_000, days=30, seed=3)
    a, _ = collect(small)
    b, _ = collect(small)
    c, _ = collect(SimConfig(merchants=20, orders=3_000, days=30, seed=4))
    for name in TABLES:
        assert a[name].equals(b[name]), name
    assert not a["orders"].equals(c["orders"])
    assert not a["sim_truth"].equals(c["sim_truth"]) or not a["merchants"].equals(c["merchants"])


def test_chunk_size_does_not_change_the_rows(market: tuple[dict[str, Any], list[str]]) -> None:
    whole, _ = collect(SimConfig(**{**CFG.__dict__, "chunk_orders": 1_000_000}))
    chunked = market[0]
    for name in TABLES:
        assert whole[name].equals(chunked[name]), name


def test_write_parquet_writes_one_readable_file_per_table(tmp_path: Path) -> None:
    cfg = SimConfig(merchants=20, orders=5_000, days=30, seed=5, chunk_orders=2_000)
    calls: list[tuple[str, int]] = []
    paths = write_parquet(cfg, tmp_path / "market", progress=lambda t, n: calls.append((t, n)))
    assert set(paths) == set(TABLES)
    expected, _ = collect(cfg)
    for name, path in paths.items():
        assert path == tmp_path / "market" / f"{name}.parquet"
        read = pq.read_table(path)
        assert read.num_rows == expected[name].num_rows, name
        assert read.schema.names == list(TABLES[name].column_names)
    assert pq.ParquetFile(paths["orders"]).num_row_groups == 3  # one per chunk
    assert ("orders", 5_000) in calls
    assert not list((tmp_path / "market").glob("*.partial"))
    # The files say that their timestamps are UTC, so a reader does not take them as local.
    orders = pq.read_table(paths["orders"])
    assert orders.schema.field("paid_at").type == pa.timestamp("us", tz="UTC")
    same = orders.column("paid_at").cast(pa.timestamp("us"))
    assert same.equals(expected["orders"].column("paid_at"))
    again = write_parquet(cfg, tmp_path / "again")
    for name in TABLES:
        assert paths[name].read_bytes() == again[name].read_bytes(), name


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="merchants"):
        SimConfig(merchants=0)
    with pytest.raises(ValueError, match="orders"):
        SimConfig(orders=0)
    with pytest.raises(ValueError, match="chunk_orders"):
        SimConfig(chunk_orders=0)
    with pytest.raises(Exception, match="Nowhere"):
        SimConfig(timezone="Nowhere/City")
