"""The metric catalog gives the same daily partials on DuckDB, PostgreSQL and Spark.

One small simulated market is written to Parquet once; DuckDB (the reference) and
PostgreSQL compute ``daily_partials`` from a store the Parquet was ingested into, Spark
straight from the Parquet files (:func:`tiyan.metrics.spark.spark_tables`). Every row
(metric, merchant, day, numerator, denominator) must be identical: the numbers are whole
counts and seconds held in float64, so any difference is a real disagreement between engines.

Spark tests need ``pip install 'tiyan[spark]'`` and a Java runtime; without them they are
skipped — unless ``TIYAN_REQUIRE_SPARK=1`` (set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import export_tables, import_simulated_desk
from tiyan.domain.errors import SourceError, UsageError
from tiyan.domain.metrics import CatalogConfig
from tiyan.domain.model import TABLES
from tiyan.ingest.load import ingest
from tiyan.metrics.catalog import METRICS
from tiyan.metrics.daily import PARTIAL_COLUMNS, daily_partials
from tiyan.sim import SimConfig, write_parquet
from tiyan.sim.config import CUT_DAYS
from tiyan.store import open_store

# A few thousand orders: enough for every metric to have rows, small enough for Spark's
# planner (the catalog is one large union) to stay within seconds.
MARKET = SimConfig(merchants=30, orders=3_000, days=30, seed=11)
# Every local day that can hold an event: the day before the first order (UTC vs local)
# through the data cut.
START = MARKET.start - timedelta(days=1)
END = MARKET.start + timedelta(days=MARKET.days + CUT_DAYS + 1)
NOW = datetime(2024, 7, 1, tzinfo=UTC)

SPARK_HOW_TO = "pip install 'tiyan[spark]' and a Java 17+ runtime run them (CI does)"

Row = tuple[Any, ...]

pytestmark = [
    pytest.mark.slow,
    # PySpark 4.0 and ibis 12 convert Spark results through pandas, with calls that pandas 3
    # deprecates (removed only in pandas 4, which ibis 12 excludes); results are unaffected.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The 'future.infer_string' option is deprecated:DeprecationWarning"
    ),
    # PySpark reads each result from a local socket that it leaves to the garbage collector
    # to close (pyspark/util.py: "automatically closed when garbage-collected").
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


def partial_rows(expr: Any) -> list[Row]:
    """The rows of a partials expression, as plain Python tuples in a total order."""
    table = expr.to_pyarrow()
    assert tuple(table.column_names) == PARTIAL_COLUMNS
    rows = [tuple(r[c] for c in PARTIAL_COLUMNS) for r in table.to_pylist()]
    # merchant_id may be null: sort nulls first without comparing None to str
    return sorted(rows, key=lambda r: (r[0], r[1] is not None, r[1] or "", *r[2:]))


def compute(tables: Mapping[str, Any]) -> list[Row]:
    return partial_rows(daily_partials(tables, CatalogConfig(), start=START, end=END))


def store_tables(backend: Any) -> dict[str, Any]:
    return {name: backend.table(name) for name in backend.list_tables()}


def require_spark() -> None:
    """Skip (or, with TIYAN_REQUIRE_SPARK=1, fail) when PySpark or Java is missing."""
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed"
    if missing is None and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        missing = "no Java runtime (java on PATH or JAVA_HOME)"
    if missing is not None:
        if os.environ.get("TIYAN_REQUIRE_SPARK") == "1":
            pytest.fail(f"TIYAN_REQUIRE_SPARK=1 but {missing}: pip install 'tiyan[spark]'")
        pytest.skip(f"Spark tests are off ({missing}): {SPARK_HOW_TO}")


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("market")
    write_parquet(MARKET, folder)
    return folder


@pytest.fixture(scope="module")
def desk_file(market: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service desk's activity that follows the market, as ``tiyan desk import`` reads."""
    return tmp_path_factory.mktemp("desk") / "desk.jsonl"


@pytest.fixture(scope="module")
def duckdb_store(market: Path, desk_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The market ingested into DuckDB, with the desk's requests imported."""
    path = tmp_path_factory.mktemp("duckdb") / "tiyan.duckdb"
    with open_store(str(path)) as store:
        report = ingest(store, [market], now=NOW)
        assert report.status == "loaded"
        assert import_simulated_desk(store, market, desk_file) > 0
    return path


@pytest.fixture(scope="module")
def duckdb_rows(duckdb_store: Path) -> list[Row]:
    """The reference: DuckDB's partials over the ingested market and its desk."""
    with open_store(str(duckdb_store), read_only=True) as store:
        rows = compute(store_tables(store.ibis()))
    metrics = {r[0] for r in rows}
    # Parity over an empty or partial result would prove little.
    assert metrics == {m.id for m in METRICS}, "the market is too small for some metrics"
    return rows


@pytest.fixture(scope="module")
def spark_folder(duckdb_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB store's tables as Parquet (the desk restates some complaints and cases, so
    Spark reads what the store holds, desk tables included)."""
    with open_store(str(duckdb_store), read_only=True) as store:
        return export_tables(store, tmp_path_factory.mktemp("spark"))


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the module (starting the JVM takes seconds)."""
    require_spark()
    from tiyan.metrics.spark import local_session, stop_local_session

    session = local_session(cores=2)
    yield session
    stop_local_session()


@pytest.mark.postgres
def test_postgres_partials_match_duckdb(
    pg_url: str, market: Path, desk_file: Path, duckdb_rows: list[Row]
) -> None:
    with open_store(pg_url) as store:
        assert ingest(store, [market], now=NOW).status == "loaded"
        import_simulated_desk(store, market, desk_file.with_suffix(".pg.jsonl"))
        rows = compute(store_tables(store.ibis()))
    assert rows == duckdb_rows


@pytest.mark.spark
def test_spark_partials_match_duckdb(
    spark_session: Any, spark_folder: Path, duckdb_rows: list[Row]
) -> None:
    from tiyan.metrics.spark import spark_tables

    _, tables = spark_tables(spark_folder, session=spark_session)
    assert compute(tables) == duckdb_rows


@pytest.mark.spark
def test_spark_reads_timestamps_as_naive_utc(
    spark_session: Any, market: Path, tmp_path: Path
) -> None:
    """Parquet timestamps marked UTC and naive ones both read as the same naive UTC values."""
    from tiyan.metrics.spark import spark_tables

    stamped = pq.read_table(market / "cs_sessions.parquet")
    naive = stamped.cast(
        pa.schema(
            [
                f.with_type(pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
                for f in stamped.schema
            ]
        )
    )
    pq.write_table(naive, tmp_path / "cs_sessions.parquet")
    expected = sorted(
        (r["session_id"], r["started_at"].replace(tzinfo=None))
        for r in stamped.select(["session_id", "started_at"]).to_pylist()
    )
    for folder in (market, tmp_path):
        _, tables = spark_tables(folder, session=spark_session)
        sessions = tables["cs_sessions"]
        assert sessions.started_at.type().timezone is None
        got = sessions.select("session_id", "started_at").to_pyarrow().to_pylist()
        assert sorted((r["session_id"], r["started_at"]) for r in got) == expected


@pytest.mark.spark
def test_spark_tables_cast_to_the_model_and_refuse_a_missing_required_column(
    spark_session: Any, tmp_path: Path
) -> None:
    from tiyan.metrics.spark import spark_tables

    # score as int32, no consumer_id: cast to int64, the optional column filled with nulls
    surveys = {
        "response_id": ["V1"],
        "score": pa.array([9], pa.int32()),
        "created_at": pa.array([datetime(2024, 5, 1, 12)], pa.timestamp("us", tz="UTC")),
        "unknown": [1],
    }
    pq.write_table(pa.table(surveys), tmp_path / "surveys.parquet")
    _, tables = spark_tables(tmp_path, session=spark_session)
    assert set(tables) == {"surveys"}
    t = tables["surveys"]
    assert t.columns == TABLES["surveys"].column_names
    assert str(t.score.type()) == "int64"
    assert t.to_pyarrow().to_pylist() == [
        {
            "response_id": "V1",
            "consumer_id": None,
            "merchant_id": None,
            "order_id": None,
            "score": 9,
            "created_at": datetime(2024, 5, 1, 12),
        }
    ]

    del surveys["response_id"]
    pq.write_table(pa.table(surveys), tmp_path / "surveys.parquet")
    with pytest.raises(SourceError, match="response_id"):
        spark_tables(tmp_path, session=spark_session)


def test_spark_without_pyspark_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tiyan.metrics import spark

    monkeypatch.setitem(sys.modules, "pyspark", None)  # makes `import pyspark` fail
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(UsageError, match=r"pip install 'tiyan\[spark\]'"):
        spark.spark_tables(tmp_path)
