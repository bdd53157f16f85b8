"""Arrow columns built straight from numpy buffers, and tables checked against the model.

Building strings row by row is what would make a million-order simulation slow, so ids are
written as fixed-width ASCII into one byte matrix (numpy arithmetic per digit) and handed to
Arrow as the data buffer of a string array; enumerations are ``take`` from a small array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tiyan.domain.model import TABLES, ColumnType, Table

Arr = npt.NDArray[Any]

ARROW_TYPES: dict[ColumnType, Any] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT: pa.int64(),
    ColumnType.MONEY: pa.decimal128(18, 2),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    # Naive, holding UTC (the model's convention for stored timestamps).
    ColumnType.TIMESTAMP: pa.timestamp("us"),
    ColumnType.DATE: pa.date32(),
}


@cache
def arrow_schema(table: Table | str) -> Any:
    """The Arrow schema of a canonical table: the model's columns, order and types.

    Required columns are non-nullable fields, so a Parquet reader sees them as REQUIRED.
    """
    t = TABLES[table] if isinstance(table, str) else table
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in t.columns]
    )


def make_table(name: str, columns: Mapping[str, Any]) -> Any:
    """A ``pa.Table`` of canonical table ``name``; fails on a missing, extra or mistyped column."""
    schema = arrow_schema(name)
    if set(columns) != set(schema.names):
        missing = sorted(set(schema.names) - set(columns))
        extra = sorted(set(columns) - set(schema.names))
        raise ValueError(f"{name}: columns missing {missing}, unexpected {extra}")
    arrays = [columns[f.name] for f in schema]
    rows = {len(a) for a in arrays}
    if len(rows) > 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(rows)}")
    for field, array in zip(schema, arrays, strict=True):
        if array.type != field.type:
            raise TypeError(f"{name}.{field.name} is {array.type}, the model says {field.type}")
        if not field.nullable and array.null_count:
            raise ValueError(f"{name}.{field.name} is required but has nulls")
    return pa.Table.from_arrays(arrays, schema=schema)


def _bitmap(valid: Arr | None) -> Any:
    if valid is None or bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _fixed(type_: Any, values: Arr, valid: Arr | None) -> Any:
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(type_, len(values), [_bitmap(valid), pa.py_buffer(values)])


def int_array(values: Arr, valid: Arr | None = None) -> Any:
    return _fixed(pa.int64(), values.astype(np.int64, copy=False), valid)


def timestamp_array(utc_us: Arr, valid: Arr | None = None) -> Any:
    """Microseconds since the epoch (UTC) as a naive ``timestamp[us]`` column."""
    return _fixed(pa.timestamp("us"), utc_us.astype(np.int64, copy=False), valid)


def money_array(cents: Arr, valid: Arr | None = None) -> Any:
    """Whole cents as ``decimal128(18, 2)``: the 128-bit unscaled value is the cents."""
    cents = cents.astype(np.int64, copy=False)
    words = np.empty((len(cents), 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension of the high word
    return _fixed(pa.decimal128(18, 2), words, valid)


def bool_array(values: Arr, valid: Arr | None = None) -> Any:
    mask = None if valid is None else ~valid
    return pa.array(values.astype(bool, copy=False), type=pa.bool_(), mask=mask)


def enum_array(labels: Sequence[str], codes: Arr, valid: Arr | None = None) -> Any:
    """``labels[codes[i]]`` as a string column (null where not ``valid``)."""
    indices = _fixed(pa.int32(), codes.astype(np.int32), valid)
    return pa.array(labels, pa.string()).take(indices)


def digits(prefix: str | Arr, numbers: Arr, width: int) -> Arr:
    """Fixed-width ASCII ids ``prefix + zero-padded number`` as an (n, len) byte matrix.

    ``prefix`` is a string for all rows or an (n, k) byte matrix (one prefix per row).
    """
    n = len(numbers)
    pre = np.frombuffer(prefix.encode(), np.uint8) if isinstance(prefix, str) else prefix
    k = pre.shape[-1]
    out = np.empty((n, k + width), np.uint8)
    out[:, :k] = pre
    x = numbers.astype(np.int64)
    if n and (int(x.min()) < 0 or int(x.max()) >= 10**width):
        raise ValueError(f"ids do not fit {width} digits")
    # Two digits per division halves the arithmetic over a million ids.
    pairs = np.frombuffer(b"".join(b"%02d" % i for i in range(100)), np.uint8).reshape(100, 2)
    col = k + width
    while col - k >= 2:
        x, r = np.divmod(x, 100)
        out[:, col - 2 : col] = pairs[r]
        col -= 2
    if col > k:
        out[:, k] = 48 + x % 10
    return out


def string_array(matrix: Arr, valid: Arr | None = None) -> Any:
    """Rows of a fixed-width byte matrix as a string column."""
    n, w = matrix.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    data = np.ascontiguousarray(matrix)
    return pa.Array.from_buffers(
        pa.string(), n, [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def id_array(prefix: str | Arr, numbers: Arr, width: int, valid: Arr | None = None) -> Any:
    """Ids like ``O000000001`` for ``numbers`` (null where not ``valid``)."""
    if valid is not None:
        numbers = np.where(valid, numbers, 0)
    return string_array(digits(prefix, numbers, width), valid)
