"""Incremental daily partials give exactly what a full recomputation gives, on both engines.

One simulated market is written to Parquet once and ingested once per engine; every test then
drives :func:`refresh_partials` / :func:`compute_metric_values` / :func:`run_scoring` on that
store and compares whole tables (sorted rows) with a ``full=True`` run. The numbers are whole
counts and seconds held in float64, so the comparisons are exact.

The last test loads more orders (for days already computed) into the shared store; it stays
last in the file, and ``reference`` (the full partials of the original data) is computed
before it runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import import_simulated_desk, postgres_url
from tiyan.domain.metrics import LAG_DAYS, CatalogConfig, WindowKind, window_days
from tiyan.ingest.load import ingest
from tiyan.jobs.scoring import run_scoring
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.daily import utc_bounds
from tiyan.metrics.runner import DEFAULT_RESTATE_DAYS, compute_metric_values, refresh_partials
from tiyan.sim import SimConfig, write_parquet
from tiyan.store import Store, open_store
from tiyan.store.scores import load_merchant_metrics

MARKET = SimConfig(merchants=40, orders=6_000, days=60, seed=5)
NOW = datetime(2024, 8, 1, tzinfo=UTC)
CONFIG = CatalogConfig()
#: The first run date, and the last after five more days (all within the simulated data).
D = date(2024, 6, 20)
LAST = D + timedelta(days=5)
WINDOW = 30

pytestmark = pytest.mark.slow

Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("market")
    write_parquet(MARKET, folder)
    return folder


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, market: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The market ingested once per engine (a module-scoped twin of conftest's ``store``)."""
    schema = None
    if request.param == "duckdb":
        url = str(tmp_path_factory.mktemp("duckdb") / "tiyan.duckdb")
    else:
        base = postgres_url()
        schema = f"tiyan_test_{uuid.uuid4().hex[:12]}"
        url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    s = open_store(url)
    try:
        assert ingest(s, [market], now=NOW).status == "loaded"
        # the desk's requests too, so that its metrics are compared like every other
        import_simulated_desk(s, market, tmp_path_factory.mktemp("desk") / "desk.jsonl")
        yield s
    finally:
        s.close()
        if schema is not None:
            with psycopg.connect(postgres_url(), autocommit=True) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def daily_rows(store: Store) -> list[Row]:
    """The whole ``metric_daily`` table, sorted."""
    rows = store.query(
        "SELECT metric_id, merchant_id, day, num, den FROM metric_daily "
        "ORDER BY metric_id, merchant_id, day"
    )
    return [tuple(r) for r in rows]


def value_rows(store: Store, as_of: date, window: int = WINDOW) -> list[Row]:
    """``metric_values`` of one run, sorted."""
    rows = store.query(
        "SELECT metric_id, scope, subject_id, window_start, window_end, numerator, denominator, "
        "value FROM metric_values WHERE as_of = ? AND window_days = ? "
        "ORDER BY metric_id, scope, subject_id",
        (as_of, window),
    )
    return [tuple(r) for r in rows]


def values(store: Store, as_of: date, window: int = WINDOW) -> list[Row]:
    compute_metric_values(store, as_of=as_of, window=window)
    return value_rows(store, as_of, window)


@pytest.fixture(scope="module")
def reference(store: Store) -> tuple[list[Row], list[Row]]:
    """Partials and metric values of a full recomputation as of ``LAST``."""
    report = refresh_partials(store, CONFIG, as_of=LAST, full=True)
    assert report.full and report.computed_from == report.first_day
    daily = daily_rows(store)
    # Every metric has partials, and the compared period holds data on every day.
    assert {r[0] for r in daily} == set(DEFINITIONS)
    assert {r[2] for r in daily} >= {D - timedelta(days=i) for i in range(-4, 30)}
    return daily, values(store, LAST)


@pytest.mark.parametrize("restate_days", [DEFAULT_RESTATE_DAYS, 0])
def test_day_by_day_refresh_equals_a_full_recomputation(
    store: Store, reference: tuple[list[Row], list[Row]], restate_days: int
) -> None:
    first = refresh_partials(store, CONFIG, as_of=D, full=True)
    assert first.full and first.last_day == D - timedelta(days=1)
    for day in range(1, 6):
        as_of = D + timedelta(days=day)
        report = refresh_partials(store, CONFIG, as_of=as_of, restate_days=restate_days)
        assert not report.full
        assert report.last_day == as_of - timedelta(days=1)
        # the new day, plus the last `restate_days` days already computed
        assert report.computed_from == as_of - timedelta(days=1 + restate_days)
        assert report.first_day == first.first_day
    daily, metric_values = reference
    assert daily_rows(store) == daily
    assert values(store, LAST) == metric_values


def test_rerunning_the_same_as_of_changes_nothing(store: Store) -> None:
    refresh_partials(store, CONFIG, as_of=LAST)
    before = daily_rows(store)
    before_values = values(store, LAST)
    for restate_days in (DEFAULT_RESTATE_DAYS, 0):
        report = refresh_partials(store, CONFIG, as_of=LAST, restate_days=restate_days)
        assert not report.full
        assert report.last_day == LAST - timedelta(days=1)
        # nothing new: only the restatement horizon (at least the last day) is recomputed
        assert report.days == max(restate_days, 1)
        assert daily_rows(store) == before
    assert values(store, LAST) == before_values  # replaced, not added to


def valid_orders_in_population(store: Store, config: CatalogConfig, as_of: date) -> float:
    """Orders of the score's population paid in the trailing window, counted directly."""
    lo, hi = utc_bounds(*window_days(WindowKind.TRAILING, WINDOW, as_of), config)
    gifts = " AND NOT coalesce(is_gift, false)" if config.exclude_gifts else ""
    return float(
        store.query(
            "SELECT count(*) FROM orders WHERE amount >= ? AND paid_at >= ? AND paid_at < ?"
            + gifts,
            (config.min_amount, lo, hi),
        )[0][0]
    )


def platform_value(rows: list[Row], metric_id: str) -> tuple[float, float]:
    (hit,) = [r for r in rows if r[0] == metric_id and r[1] == "platform"]
    return hit[5], hit[6]


def test_a_changed_configuration_recomputes_everything(
    store: Store, reference: tuple[list[Row], list[Row]]
) -> None:
    before, before_values = reference
    no_minimum = replace(CONFIG, min_amount=0.0)
    assert no_minimum.fingerprint() != CONFIG.fingerprint()
    report = refresh_partials(store, no_minimum, as_of=LAST)
    assert report.full
    assert report.computed_from == report.first_day
    changed = values(store, LAST)
    assert daily_rows(store) != before and changed != before_values
    # the orders below 2元 now count: each run gives the population's orders, counted directly
    for config, rows in ((CONFIG, before_values), (no_minimum, changed)):
        expected = valid_orders_in_population(store, config, LAST)
        assert platform_value(rows, "valid_orders") == (expected, expected)
    assert platform_value(changed, "valid_orders") > platform_value(before_values, "valid_orders")

    # back to the original configuration: recomputed again, the original numbers return
    report = refresh_partials(store, CONFIG, as_of=LAST)
    assert report.full
    assert daily_rows(store) == before
    assert values(store, LAST) == before_values


def test_an_empty_denominator_gives_no_value(store: Store) -> None:
    """A window whose denominator is empty has value NULL (not 0); no records, no row."""
    refresh_partials(store, CONFIG, as_of=LAST)
    ratios = [m for m, d in DEFINITIONS.items() if not d.is_count]
    listed = ", ".join(f"'{m}'" for m in ratios)
    # A day on which a merchant had, say, a complaint but no paid order.
    metric_id, merchant_id, day, num = store.query(
        f"SELECT metric_id, merchant_id, day, num FROM metric_daily WHERE den = 0 AND num <> 0 "
        f"AND merchant_id <> '' AND metric_id IN ({listed}) ORDER BY day, metric_id, merchant_id "
        "LIMIT 1"
    )[0]
    lag = LAG_DAYS - 1 if DEFINITIONS[metric_id].window is WindowKind.LAGGED else 0
    as_of = day + timedelta(days=1 + lag)
    assert window_days(DEFINITIONS[metric_id].window, 1, as_of) == (day, day)
    compute_metric_values(store, as_of=as_of, window=1, metrics=[metric_id, "valid_orders"])
    rows = store.query(
        "SELECT numerator, denominator, value FROM metric_values WHERE as_of = ? "
        "AND window_days = 1 AND metric_id = ? AND scope = 'merchant' AND subject_id = ?",
        (as_of, metric_id, merchant_id),
    )
    assert rows == [(num, 0.0, None)]
    assert DEFINITIONS[metric_id].value(num, 0.0) is None

    # A merchant with paid orders but no IM session that day has no IM row at all, and
    # scoring sees no value for it (not a 0% reply rate).
    hit = store.query(
        "SELECT d.merchant_id, d.day FROM metric_daily d WHERE d.metric_id = 'valid_orders' "
        "AND d.merchant_id <> '' AND d.day < ? AND NOT EXISTS (SELECT 1 FROM metric_daily i "
        "WHERE i.metric_id = 'im_3min_reply_rate' AND i.merchant_id = d.merchant_id "
        "AND i.day = d.day) ORDER BY d.day, d.merchant_id LIMIT 1",
        (LAST,),
    )
    assert hit, "the market has no merchant-day without IM sessions"
    quiet, day = hit[0]
    as_of = day + timedelta(days=1)
    compute_metric_values(store, as_of=as_of, window=1)
    got = dict(
        store.query(
            "SELECT metric_id, value FROM metric_values WHERE as_of = ? AND window_days = 1 "
            "AND scope = 'merchant' AND subject_id = ?",
            (as_of, quiet),
        )
    )
    assert got["valid_orders"] >= 1
    assert "im_3min_reply_rate" not in got
    (merchant,) = [
        m for m in load_merchant_metrics(store, as_of=as_of, window=1) if m.merchant_id == quiet
    ]
    assert "im_3min_reply_rate" not in merchant.sums
    assert merchant.valid_orders == got["valid_orders"]


def late_orders(market: Path, folder: Path, paid_at: datetime, count: int) -> tuple[str, Path]:
    """``count`` new orders of one merchant, paid at ``paid_at`` (copies of its orders)."""
    orders = pq.read_table(market / "orders.parquet")
    ok = pc.and_(pc.greater_equal(orders["amount"], pa.scalar(10, orders["amount"].type)),
                 pc.invert(orders["is_gift"]))  # fmt: skip
    sample = orders.filter(ok)
    merchant = sample["merchant_id"][0].as_py()
    rows = sample.filter(pc.equal(sample["merchant_id"], merchant)).slice(0, count).to_pylist()
    assert len(rows) == count
    for i, row in enumerate(rows):
        row.update(order_id=f"LATE{i}", paid_at=paid_at, status="paid")
        for col in ("promised_ship_by", "promised_delivery_by", "cancelled_at", "signed_at"):
            row[col] = None
        row.update(completed_at=None, cancelled_by=None, cancel_reason=None)
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=orders.schema), folder / "orders.parquet")
    return merchant, folder


def merchant_valid_orders(store: Store, merchant_id: str, day: date) -> float:
    rows = store.query(
        "SELECT num FROM metric_daily WHERE metric_id = 'valid_orders' AND merchant_id = ? "
        "AND day = ?",
        (merchant_id, day),
    )
    return float(rows[0][0]) if rows else 0.0


def scored_valid_orders(store: Store, merchant_id: str, as_of: date) -> int:
    return int(
        store.query(
            "SELECT valid_orders FROM scores WHERE as_of = ? AND window_days = ? "
            "AND merchant_id = ?",
            (as_of, WINDOW, merchant_id),
        )[0][0]
    )


def test_late_records_within_the_restatement_horizon_are_picked_up(
    store: Store,
    reference: tuple[list[Row], list[Row]],
    market: Path,
    tmp_path: Path,
) -> None:
    # Runs last: it adds orders to the shared store (`reference` is computed before).
    run_scoring(store, as_of=LAST, window=WINDOW)
    late_day = LAST - timedelta(days=3)  # a day already computed
    paid_at = datetime(late_day.year, late_day.month, late_day.day, 4, tzinfo=UTC)  # noon local
    merchant, folder = late_orders(market, tmp_path / "late", paid_at, 3)
    before = merchant_valid_orders(store, merchant, late_day)
    loaded = ingest(store, [folder], now=NOW)
    assert loaded.status == "loaded" and loaded.tables["orders"].inserted == 3

    nxt = LAST + timedelta(days=1)
    # Without a restatement horizon the late day is not looked at again ...
    summary = run_scoring(store, as_of=nxt, window=WINDOW, restate_days=0)
    assert not summary.refresh.full and summary.refresh.computed_from == LAST
    assert merchant_valid_orders(store, merchant, late_day) == before
    missed = scored_valid_orders(store, merchant, nxt)
    # ... with one covering it, it is recomputed and the orders count.
    summary = run_scoring(store, as_of=nxt, window=WINDOW)
    assert not summary.refresh.full
    assert summary.refresh.computed_from == nxt - timedelta(days=DEFAULT_RESTATE_DAYS)
    assert merchant_valid_orders(store, merchant, late_day) == before + 3
    assert scored_valid_orders(store, merchant, nxt) == missed + 3
    incremental = daily_rows(store)
    incremental_values = value_rows(store, nxt)

    assert refresh_partials(store, CONFIG, as_of=nxt, full=True).full
    assert daily_rows(store) == incremental
    assert values(store, nxt) == incremental_values
