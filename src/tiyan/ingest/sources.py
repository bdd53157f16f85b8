"""Sources: finding input files and reading them into the staging connection.

A source is one file of one canonical table — CSV, Parquet or JSON Lines, gzip accepted for
CSV and JSON Lines — named after its table (``orders.csv``, ``orders.2024-06.csv.gz``,
``shipments.parquet``), or one query of a mapping. Reading a source creates a staging table
whose columns are the file's own, plus ``__source`` and ``__line`` (where each row came from).
Lines that cannot be parsed at all (a CSV line with the wrong number of fields, a JSON Lines
line that is not a JSON object) are kept aside as *malformed* rows, to be quarantined.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiyan.domain.errors import SourceError, UnknownNameError
from tiyan.domain.model import TABLES
from tiyan.store.schema import quote

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
    assert source.path is not None
    delim = "\\t" if ".tsv" in source.path.name.lower() else ","
    con.execute("DROP TABLE IF EXISTS __tiyan_rejects")
    con.execute("DROP TABLE IF EXISTS __tiyan_reject_scans")
    # Every column as text: a bad value in one row must quarantine that row, not stop the read.
    # Rows with the wrong shape go to DuckDB's reject tables with their line number.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __tiyan_csv AS SELECT * FROM read_csv("
        f"{_literal(source.path)}, header = true, all_varchar = true, delim = E'{delim}', "
        "quote = '\"', escape = '\"', encoding = 'utf-8', store_rejects = true, "
        "rejects_table = '__tiyan_rejects', rejects_scan = '__tiyan_reject_scans', "
        "rejects_limit = 0)"
    )
    rejects = con.execute(
        "SELECT line, error_type, any_value(csv_line), string_agg(error_message, '; ') "
        "FROM __tiyan_rejects GROUP BY line, error_type ORDER BY line"
    ).fetchall()
    bad_encoding = [r for r in rejects if "ENCODING" in str(r[1]).upper()]
    if bad_encoding:
        raise SourceError(
            f"not valid UTF-8 (first bad line: {bad_encoding[0][0]}); convert the file to "
            "UTF-8 first, e.g. `iconv -f GBK -t UTF-8`",
            path=source.name,
        )
    # DuckDB numbers records (header = 1), rejected ones included; __line starts as that.
    if not rejects:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT '{name}' AS __source, "
            "rowid + 2 AS __line, * FROM __tiyan_csv"
        )
    else:
        con.execute(
            f"INSERT INTO {malformed} SELECT '{name}', line, 'malformed_line', "
            "'cannot be parsed: ' || min(error_message), "
            "any_value(csv_line) FROM __tiyan_rejects GROUP BY line"
        )
        # The good rows are in file order; skipping the rejected record numbers gives each
        # good row its own.
        total = con.execute("SELECT count(*) FROM __tiyan_csv").fetchone()[0] + len(
            {r[0] for r in rejects}
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS "
            "WITH good AS (SELECT line, row_number() OVER (ORDER BY line) - 1 AS k "
            f"  FROM range(2, {total} + 2) r(line) "
            "  WHERE line NOT IN (SELECT line FROM __tiyan_rejects)) "
            f"SELECT '{name}' AS __source, good.line AS __line, c.* "
            "FROM (SELECT rowid AS __k, * FROM __tiyan_csv) c JOIN good ON good.k = c.__k "
            "ORDER BY __line"
        )
        con.execute(f"ALTER TABLE {raw} DROP COLUMN __k")
    _record_numbers_to_lines(con, source, raw, malformed)


def _record_numbers_to_lines(con: Any, source: Source, raw: str, malformed: str) -> None:
    """Turn record numbers into physical line numbers where quoted values span lines.

    Only needed when some value holds a line break (review texts often do). A physical line
    starts a record when the quotes before it are balanced (``""`` inside a value counts twice,
    so it never changes the balance); the n-th such line is where record n starts.
    """
    assert source.path is not None
    columns = [
        row[0] for row in con.execute(f"DESCRIBE {raw}").fetchall() if not row[0].startswith("__")
    ]
    if not columns:
        return
    spans = " OR ".join(f"contains({quote(c)}, chr(10))" for c in columns)
    if not con.execute(f"SELECT coalesce(bool_or({spans}), false) FROM {raw}").fetchone()[0]:
        return
    _read_lines(con, source.path, "__tiyan_physical")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __tiyan_starts AS "
        "SELECT line, row_number() OVER (ORDER BY line) AS record FROM ("
        "  SELECT line, j, coalesce(sum(length(j) - length(replace(j, '\"', ''))) OVER ("
        "    ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS quotes "
        "  FROM __tiyan_physical) "
        "WHERE quotes % 2 = 0 AND j IS NOT NULL AND j <> ''"
    )
    for table in (raw, malformed):
        con.execute(
            f"UPDATE {table} SET __line = s.line FROM __tiyan_starts s "
            f"WHERE s.record = {table}.__line"
        )


def _read_lines(con: Any, path: Path, target: str) -> None:
    """``target(line, j)``: every physical line of ``path`` as text, numbered from 1."""
    # 0x01 as the delimiter and no quoting: each line is one value, whatever it holds.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {target}_read AS SELECT * FROM "
        f"read_csv({_literal(path)}, columns = {{'j': 'VARCHAR'}}, "
        "header = false, delim = E'\\x01', quote = '', escape = '', auto_detect = false, "
        "strict_mode = false, encoding = 'utf-8')"
    )
    # A table keeps the file's order in its rowid, so rowid + 1 is the line number.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT rowid + 1 AS line, j FROM {target}_read"
    )


def _read_jsonl(con: Any, source: Source, raw: str, malformed: str, name: str) -> None:
    assert source.path is not None
    # Each line as one text value, so a broken line is quarantined with its number instead
    # of failing the whole file (0x01 cannot occur unescaped in valid JSON).
    _read_lines(con, source.path, "__tiyan_lines")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __tiyan_json AS SELECT line, j, "
        "CASE WHEN json_valid(j) THEN json_type(j) END AS t "
        "FROM __tiyan_lines WHERE j IS NOT NULL AND trim(j) <> ''"
    )
    con.execute(
        f"INSERT INTO {malformed} SELECT '{name}', line, 'malformed_line', "
        "CASE WHEN t IS NULL THEN 'line ' || line || ' is not valid JSON' "
        "ELSE 'line ' || line || ' is a JSON ' || lower(t) || ', not an object' END, j "
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
