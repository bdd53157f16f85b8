"""Sources: finding input files and reading them into the staging connection.

A source is one file of one canonical table — CSV, Parquet or JSON Lines, gzip accepted for
CSV and JSON Lines — named after its table (``orders.csv``, ``orders.2024-06.csv.gz``,
``shipments.parquet``), or one query of a mapping. Reading a source creates a staging table
whose columns are the file's own, plus ``__source`` and ``__line`` (where each row came from).
Lines that cannot be parsed at all (a CSV line with the wrong number of fields or a quote
never closed, a line that is not UTF-8, a JSON Lines line that is not a JSON object) are kept
aside as *malformed* rows, to be quarantined: every physical line of a text file is accounted
for (see :mod:`tiyan.ingest.lines`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from tiyan.domain.errors import SourceError, UnknownNameError
from tiyan.domain.model import TABLES
from tiyan.ingest.lines import (
    NUL_SHOWN,
    Malformed,
    TextScan,
    header_of,
    read_bytes,
    scan_text,
    split_csv,
    text_lines,
)
from tiyan.store.schema import quote

#: The longest line DuckDB's reader takes; a longer one sends the file to the exact reader.
_MAX_LINE = 8 << 20


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "csv",
    ".tsv.gz": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}


@dataclass
class Source:
    """One input of a load: a file of one table, or one query of a mapping."""

    table: str
    name: str  # how the quarantine and the log name it: the path, or "mapping:<name>/<table>"
    format: str  # csv | parquet | jsonl | query
    path: Path | None = None
    query: str | None = None
    checksum: str = ""
    extra_columns: list[str] = field(default_factory=list)
    #: A column of the source naming each row for the quarantine (default: its line), so a
    #: row sent again in another batch is the same quarantine entry (the events API).
    row_id_column: str | None = None
    #: Set when reading found no NUL byte in the file: its text needs no NUL check.
    nul_free: bool = False


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def table_of(path: Path) -> str:
    """The canonical table a file holds, from its name (``orders.2024.csv`` -> ``orders``)."""
    stem = path.name.split(".", 1)[0]
    if stem not in TABLES:
        raise SourceError(str(UnknownNameError("table", stem, TABLES)), path=str(path))
    return stem


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def discover(paths: list[Path]) -> tuple[list[Source], list[Path]]:
    """The sources under ``paths`` (files, or folders of files named after tables).

    Returns the sources and the files of a folder that were skipped because they are not
    data files (README, .DS_Store, ...). A missing path, a file of unknown format or of an
    unknown table is an error: nothing is loaded.
    """
    sources: list[Source] = []
    skipped: list[Path] = []
    for path in paths:
        if not path.exists():
            raise SourceError("no such file or directory", path=str(path))
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file())
            for file in files:
                if file_format(file) is not None:
                    sources.append(_file_source(file))
                elif file.name.split(".", 1)[0] in TABLES:
                    # named after a table, so meant as data: an unknown format is an error
                    raise SourceError(_unknown_format(), path=str(file))
                else:
                    skipped.append(file)
        else:
            if file_format(path) is None:
                raise SourceError(_unknown_format(), path=str(path))
            sources.append(_file_source(path))
    seen: set[Path] = set()
    unique = []
    for src in sources:  # the same file named twice is read once
        assert src.path is not None
        if src.path.resolve() not in seen:
            seen.add(src.path.resolve())
            unique.append(src)
    sources = unique
    if not sources:
        raise SourceError(
            "no data files found (expected files like orders.csv)", path=", ".join(map(str, paths))
        )
    return sources, skipped


def _unknown_format() -> str:
    return f"unknown format (expected one of {', '.join(sorted(FORMATS))})"


def _file_source(path: Path) -> Source:
    fmt = file_format(path)
    assert fmt is not None
    return Source(
        table=table_of(path), name=str(path), format=fmt, path=path, checksum=sha256_of(path)
    )


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def read_source(con: Any, source: Source, raw: str, malformed: str) -> None:
    """Create staging tables ``raw`` (rows) and ``malformed`` (lines that did not parse).

    ``raw`` has the source's columns plus ``__source`` and ``__line``; ``malformed`` has
    ``__source``, ``__line``, ``code``, ``message`` and ``raw_text``.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {malformed} (__source VARCHAR, __line BIGINT, "
        "code VARCHAR, message VARCHAR, raw_text VARCHAR)"
    )
    name = source.name.replace("'", "''")
    if source.format == "query":
        assert source.query is not None
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT '{name}' AS __source, "
            f"row_number() OVER () AS __line, * FROM ({source.query})"
        )
        return
    assert source.path is not None
    if source.path.stat().st_size == 0:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} (__source VARCHAR, __line BIGINT)")
        return
    try:
        if source.format == "parquet":
            # a view, not a copy: Parquet numbers its rows itself, and validation reads it once
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT '{name}' AS __source, "
                f"file_row_number + 1 AS __line, * EXCLUDE (file_row_number) "
                f"FROM read_parquet({_literal(source.path)}, file_row_number = true)"
            )
        elif source.format == "csv":
            _read_csv(con, source, raw, malformed, name)
        else:
            _read_jsonl(con, source, raw, malformed, name)
    except SourceError:
        raise
    except Exception as exc:  # duckdb raises many kinds for an unreadable file
        raise SourceError(f"cannot read {source.format}: {exc}", path=source.name) from None


def _read_csv(con: Any, source: Source, raw: str, malformed: str, name: str) -> None:
    """Read a CSV file in tiyan's dialect, accounting for every physical line.

    The dialect is never guessed (a sniffer judges a whole file by its first rows): comma,
    or tab for ``.tsv``; ``"`` quotes and doubles itself; UTF-8; the header names the
    columns, each read as text. DuckDB reads the file; if its records and rejected lines do
    not add up to the file's own line count — a quote left open swallows the rest of the
    file, a value spans lines, a line is blank — the exact reader of
    :mod:`tiyan.ingest.lines` reads it again, line by line.
    """
    assert source.path is not None
    delim = "\t" if ".tsv" in source.path.name.lower() else ","
    names = header_of(source.path, delim)
    scan = scan_text(source.path)
    source.nul_free = scan.nuls == 0
    if not _read_csv_fast(con, source, raw, malformed, name, names, scan):
        _read_csv_exact(con, source, raw, malformed, name, names, delim)


#: Rejects of DuckDB's reader that are exactly one line each (any other kind, e.g. an
#: unterminated quote, sends the file to the exact reader).
_ONE_LINE_REJECTS = ("TOO MANY COLUMNS", "MISSING COLUMNS", "INVALID ENCODING")


def _read_csv_fast(
    con: Any,
    source: Source,
    raw: str,
    malformed: str,
    name: str,
    names: list[str],
    scan: TextScan,
) -> bool:
    """DuckDB's own reader, if it accounts for every line; False (nothing created) if not."""
    assert source.path is not None
    delim = "\\t" if ".tsv" in source.path.name.lower() else ","
    columns = ", ".join(f"{sql_text(n)}: 'VARCHAR'" for n in names)
    con.execute("DROP TABLE IF EXISTS __tiyan_rejects")
    con.execute("DROP TABLE IF EXISTS __tiyan_reject_scans")
    # Every column as text: a bad value in one row must quarantine that row, not stop the read.
    # Rows with the wrong shape go to DuckDB's reject tables with their line number.
    read = (
        f"CREATE OR REPLACE TEMP TABLE __tiyan_csv AS SELECT * FROM read_csv("
        f"{_literal(source.path)}, columns = {{{columns}}}, header = true, "
        f"auto_detect = false, delim = E'{delim}', quote = '\"', escape = '\"', "
        "strict_mode = true, null_padding = false, encoding = 'utf-8', "
        f"max_line_size = {_MAX_LINE}, store_rejects = true, "
        "rejects_table = '__tiyan_rejects', rejects_scan = '__tiyan_reject_scans', "
        "rejects_limit = 0)"
    )
    try:
        con.execute(read)
    except Exception:  # duckdb: e.g. "state machine reached an invalid state" on a
        return False  # stray carriage return: the exact reader knows which line it is
    kinds = ", ".join(sql_text(k) for k in _ONE_LINE_REJECTS)
    good, rejected, odd = con.execute(
        "SELECT (SELECT count(*) FROM __tiyan_csv), count(DISTINCT line), "
        f"count(*) FILTER (WHERE error_type NOT IN ({kinds}) OR contains(csv_line, chr(10))) "
        "FROM __tiyan_rejects"
    ).fetchone()
    fits = odd == 0 and 1 + good + rejected == scan.lines
    if fits and scan.quotes and good:
        # a quoted value holding a line break would make the count fit by chance
        spans = " OR ".join(f"contains({quote(n)}, chr(10))" for n in names)
        fits = not con.execute(
            f"SELECT coalesce(bool_or({spans}), false) FROM __tiyan_csv"
        ).fetchone()[0]
    if not fits:
        con.execute("DROP TABLE __tiyan_csv")
        return False
    encoding = con.execute(
        "SELECT count(DISTINCT line) FROM __tiyan_rejects WHERE error_type = 'INVALID ENCODING'"
    ).fetchone()[0]
    _refuse_foreign_encoding(source, encoding, good + rejected)
    # With no record spanning lines, DuckDB's line numbers are physical lines (header = 1).
    if not rejected:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT '{name}' AS __source, "
            "rowid + 2 AS __line, * FROM __tiyan_csv"
        )
        return True
    con.execute(
        f"INSERT INTO {malformed} SELECT '{name}', line, 'malformed_line', "
        "'line ' || line || CASE WHEN bool_or(error_type = 'INVALID ENCODING') "
        "THEN ' is not valid UTF-8' ELSE ' has ' || CASE WHEN bool_or(error_type = "
        f"'TOO MANY COLUMNS') THEN 'more' ELSE 'fewer' END || ' fields than the header "
        f"({len(names)})' END, replace(any_value(csv_line), chr(0), '{NUL_SHOWN}') "
        "FROM __tiyan_rejects GROUP BY line"
    )
    # The good rows are in file order; skipping the rejected line numbers gives each
    # good row its own.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {raw} AS "
        "WITH good AS (SELECT line, row_number() OVER (ORDER BY line) - 1 AS k "
        f"  FROM range(2, {scan.lines} + 1) r(line) "
        "  WHERE line NOT IN (SELECT line FROM __tiyan_rejects)) "
        f"SELECT '{name}' AS __source, good.line AS __line, c.* "
        "FROM (SELECT rowid AS __k, * FROM __tiyan_csv) c JOIN good ON good.k = c.__k "
        "ORDER BY __line"
    )
    con.execute(f"ALTER TABLE {raw} DROP COLUMN __k")
    return True


def _read_csv_exact(
    con: Any,
    source: Source,
    raw: str,
    malformed: str,
    name: str,
    names: list[str],
    delim: str,
) -> None:
    """Every line through :func:`tiyan.ingest.lines.split_csv` (slower, and exact)."""
    assert source.path is not None
    split = split_csv(read_bytes(source.path), delim, len(names))
    _refuse_foreign_encoding(
        source, split.malformed.encoding, len(split.lines) + len(split.malformed.rows)
    )
    rows = pa.table(
        {
            "__source": pa.array([source.name] * len(split.lines), pa.string()),
            "__line": pa.array(split.lines, pa.int64()),
            **{n: pa.array(v, pa.string()) for n, v in zip(names, split.columns, strict=True)},
        }
    )
    con.register("__tiyan_split", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * FROM __tiyan_split")
    finally:
        con.unregister("__tiyan_split")
    _insert_malformed(con, malformed, name, split.malformed)


def _insert_malformed(con: Any, malformed: str, name: str, bad: Malformed) -> None:
    if not bad.rows:
        return
    lines, messages, texts = zip(*bad.rows, strict=True)
    con.register(
        "__tiyan_bad",
        pa.table(
            {
                "line": pa.array(lines, pa.int64()),
                "message": pa.array(messages, pa.string()),
                "raw_text": pa.array(texts, pa.string()),
            }
        ),
    )
    try:
        con.execute(
            f"INSERT INTO {malformed} SELECT '{name}', line, 'malformed_line', message, "
            "raw_text FROM __tiyan_bad"
        )
    finally:
        con.unregister("__tiyan_bad")


def _refuse_foreign_encoding(source: Source, bad: int, records: int) -> None:
    """A file mostly not UTF-8 is in another encoding: refused whole, with the fix. A few
    undecodable lines in a UTF-8 file are quarantined like any malformed line."""
    if bad and 2 * bad > records:
        raise SourceError(
            f"not valid UTF-8 ({bad:,} of {records:,} lines); convert the file to UTF-8 first, "
            "e.g. `iconv -f GBK -t UTF-8`",
            path=source.name,
        )


def _read_jsonl(con: Any, source: Source, raw: str, malformed: str, name: str) -> None:
    assert source.path is not None
    # Each line as one text value, so a broken line is quarantined with its number instead
    # of failing the whole file.
    numbers, texts, bad = text_lines(read_bytes(source.path))
    _refuse_foreign_encoding(source, bad.encoding, len(numbers) + len(bad.rows))
    _insert_malformed(con, malformed, name, bad)
    con.register(
        "__tiyan_text",
        pa.table({"line": pa.array(numbers, pa.int64()), "j": pa.array(texts, pa.string())}),
    )
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __tiyan_json AS SELECT line, j, "
            "CASE WHEN json_valid(j) THEN json_type(j) END AS t FROM __tiyan_text"
        )
    finally:
        con.unregister("__tiyan_text")
    con.execute(
        f"INSERT INTO {malformed} SELECT '{name}', line, 'malformed_line', "
        "CASE WHEN t IS NULL THEN 'line ' || line || ' is not valid JSON' "
        "ELSE 'line ' || line || ' is a JSON ' || lower(t) || ', not an object' END, "
        f"replace(j, chr(0), '{NUL_SHOWN}') "
        "FROM __tiyan_json WHERE t IS DISTINCT FROM 'OBJECT'"
    )
    keys = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT unnest(json_keys(j)) AS k FROM __tiyan_json "
            "WHERE t = 'OBJECT' ORDER BY k"
        ).fetchall()
    ]
    cols = "".join(
        f', j ->> \'$."{k.replace(chr(34), "")}"\' AS "{k.replace(chr(34), "")}"' for k in keys
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT '{name}' AS __source, line AS __line"
        f"{cols} FROM __tiyan_json WHERE t = 'OBJECT'"
    )
