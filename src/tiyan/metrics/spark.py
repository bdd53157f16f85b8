"""Run the metric catalog on Apache Spark: canonical tables from Parquet, as Ibis tables.

The catalog's Ibis expressions run unchanged on Spark; this module only supplies the
tables. ``spark_tables(folder)`` reads ``folder/<table>.parquet`` for each canonical table
that has a file, casts every column to the model's type (:mod:`tiyan.domain.model`) and
returns an Ibis PySpark backend with the tables::

    from tiyan.metrics.spark import spark_tables, stop_local_session

    con, tables = spark_tables(Path("market"))  # a local session unless one is given
    expr = daily_partials(tables, CatalogConfig(), start=..., end=...)
    rows = expr.to_pyarrow()
    stop_local_session()

Timestamps come out as naive UTC, exactly as the DuckDB and PostgreSQL stores hold them:
Parquet timestamps marked UTC (as the simulator writes them) and naive ones alike are read
as the same UTC wall-clock time, so ``.date()`` and durations agree across engines.

PySpark is an optional extra, imported on first use: ``pip install 'tiyan[spark]'``.
"""

from __future__ import annotations

import importlib
import os
import uuid
from pathlib import Path
from typing import Any

from tiyan.domain.errors import SourceError, UsageError
from tiyan.domain.model import DESK_TABLES, TABLES, ColumnType

__all__ = [
    "INSTALL_HINT",
    "LOCAL_CONF",
    "local_session",
    "spark_tables",
    "stop_local_session",
]

INSTALL_HINT = "pip install 'tiyan[spark]'"

#: Settings of the local session: a laptop or CI machine, not a cluster.
LOCAL_CONF: dict[str, str] = {
    # Naive timestamps hold UTC; every conversion Spark makes must be the identity.
    "spark.sql.session.timeZone": "UTC",
    # The default of 200 shuffle partitions turns a small market into thousands of tiny
    # tasks; a handful is faster on a few cores.
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Local mode runs everything in the driver JVM.
    "spark.driver.memory": "2g",
    # Temp views only: no Hive metastore or spark-warehouse folder in the working directory.
    "spark.sql.catalogImplementation": "in-memory",
    # A local session talks to itself only, whatever the host name resolves to.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

# Spark SQL type of each logical column type. Timestamps are TIMESTAMP_NTZ (wall-clock, like
# the stores' naive UTC): Spark's plain TIMESTAMP is an instant whose .date() and .hour()
# follow the session time zone, so results would shift if anyone changed it.
_SPARK_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "string",
    ColumnType.INT: "bigint",
    ColumnType.MONEY: "decimal(18,2)",
    ColumnType.FLOAT: "double",
    ColumnType.BOOL: "boolean",
    ColumnType.TIMESTAMP: "timestamp_ntz",
}


def _pyspark_sql() -> Any:
    # import_module keeps mypy from requiring PySpark where the extra is not installed
    try:
        return importlib.import_module("pyspark.sql")
    except ImportError:
        raise UsageError(f"the spark engine needs PySpark: {INSTALL_HINT}") from None


def local_session(*, cores: int | None = None, driver_memory: str | None = None) -> Any:
    """The local SparkSession of this process, started with :data:`LOCAL_CONF` if none runs.

    ``cores`` bounds the worker threads (default: every core); ``driver_memory`` (e.g.
    ``"4g"``) overrides the default heap. Both only apply when the session is started here.
    """
    sql = _pyspark_sql()
    conf = dict(LOCAL_CONF)
    if driver_memory is not None:
        conf["spark.driver.memory"] = driver_memory
    # Read by the JVM at launch (before any conf): bind to loopback without a warning.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = sql.SparkSession.builder.master(f"local[{cores or '*'}]").appName("tiyan")
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_local_session() -> None:
    """Stop this process's active SparkSession, if any (and with it the JVM's context)."""
    try:
        sql = _pyspark_sql()
    except UsageError:
        return
    session = sql.SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def spark_tables(folder: Path, *, session: Any | None = None) -> tuple[Any, dict[str, Any]]:
    """An Ibis PySpark backend and ``table name -> Ibis table`` over ``folder``: the canonical
    tables and the service desk's (`DESK_TABLES`, exported from a store).

    Each ``folder/<table>.parquet`` that exists is registered as a temporary view with the
    model's columns, in the model's order and types; columns the file lacks are null (a
    missing *required* column is a :class:`SourceError`), extra columns are left out.
    ``session`` defaults to :func:`local_session`. Each call registers views of its own,
    so two folders can be read in one session.
    """
    _pyspark_sql()
    import ibis

    session = session if session is not None else local_session()
    # Connecting sets spark.sql.session.timeZone to UTC, on which the casts below rely.
    con = ibis.pyspark.connect(session)
    token = uuid.uuid4().hex[:8]
    tables: dict[str, Any] = {}
    for name, table in {**TABLES, **DESK_TABLES}.items():  # (the desk's, where exported)
        path = Path(folder) / f"{name}.parquet"
        if not path.exists():
            continue
        frame = session.read.parquet(str(path))
        present = set(frame.columns)
        columns = []
        for column in table.columns:
            spark_type = _SPARK_TYPES[column.type]
            if column.name in present:
                columns.append(f"CAST(`{column.name}` AS {spark_type}) AS `{column.name}`")
            elif column.required:
                raise SourceError(f"required column {column.name!r} is missing", path=str(path))
            else:
                columns.append(f"CAST(NULL AS {spark_type}) AS `{column.name}`")
        view = f"tiyan_{token}_{name}"
        frame.selectExpr(*columns).createOrReplaceTempView(view)
        tables[name] = con.table(view)
    return con, tables
