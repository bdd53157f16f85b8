"""Write a simulated market to Parquet: one file per canonical table, one row group per chunk.

Files are written under a temporary name and renamed only when the whole market is done,
so an interrupted run never leaves a half-written table that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tiyan.domain.model import TABLES
from tiyan.sim.arrow import arrow_schema

if TYPE_CHECKING:
    from tiyan.sim.config import SimConfig

Progress = Callable[[str, int], None]


def file_schema(name: str) -> Any:
    """The schema of ``name`` as written to Parquet: timestamps marked as UTC.

    The simulator's timestamps hold UTC (the model's convention). Naive Parquet timestamps
    would be read as platform-local time by ingestion, so the files say UTC explicitly.
    """
    schema = arrow_schema(name)
    return pa.schema(
        [
            f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
            for f in schema
        ]
    )


def write_parquet(
    cfg: SimConfig, out_dir: str | os.PathLike[str], progress: Progress | None = None
) -> dict[str, Path]:
    """Simulate ``cfg`` into ``out_dir/<table>.parquet``; returns the path of each table.

    ``progress(table, rows_written_so_far)`` is called after each chunk.
    """
    from tiyan.sim import simulate

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in TABLES}
    partial = {name: path.with_name(path.name + ".partial") for name, path in paths.items()}
    writers: dict[str, Any] = {}
    written = dict.fromkeys(TABLES, 0)
    try:
        for name in TABLES:
            writers[name] = pq.ParquetWriter(partial[name], file_schema(name), compression="zstd")
        for name, chunk in simulate(cfg):
            if chunk.num_rows:
                table = chunk.cast(file_schema(name))
                writers[name].write_table(table, row_group_size=chunk.num_rows)
                written[name] += chunk.num_rows
            if progress is not None:
                progress(name, written[name])
    except BaseException:
        for writer in writers.values():
            writer.close()
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    for writer in writers.values():
        writer.close()
    for name, path in paths.items():
        os.replace(partial[name], path)
    return paths
