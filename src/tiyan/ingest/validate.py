"""Validation rules, as SQL over a whole batch (never a Python loop per row).

Every rule is a :data:`Check`: a SQL condition that marks a row bad and the problem
``{code, column, message}`` to report; each row carries the list of its problems, built only
for rows where some condition holds, and a row is accepted when the list is empty.

Row rules (:func:`parse_query`), from the model's column definitions:

=================  ==========================================================================
code               when
=================  ==========================================================================
missing_column     a required column is absent from the source
missing_value      a required value is empty
bad_type           a value that cannot be read as the column's type: a number not in plain
                   decimal notation (``1e3``, ``1_000``, ``0x10``), a UTC offset beyond ±14:00,
                   a local time that does not exist (the hour skipped when clocks go
                   forward)
bad_text           text holding a NUL byte (U+0000), which PostgreSQL cannot store (the same
                   code as the events API's)
not_allowed        a value outside a closed column's enumeration (one a metric or rule tests);
                   the message names the codes and the mapping's ``values:`` table
out_of_range       a number outside [minimum, maximum]; a timestamp outside 2000–2100
time_order         a time earlier than the time it must follow (same row)
=================  ==========================================================================

Batch rules (:func:`batch_query`), over all sources of a table in one load:

=================  ==========================================================================
duplicate_key      the same primary key more than once in the load
unknown_reference  a reference to a row that is neither in the load nor in the store
rejected_reference a reference to a row of this load that was itself rejected
time_order         a time earlier than the referenced row's time (a pickup before payment)
=================  ==========================================================================

Malformed lines (``malformed_line``) are found while reading (:mod:`tiyan.ingest.sources`).

Warnings (:func:`warning_checks`) mark an accepted row without rejecting it, and are counted
in the load report: ``ambiguous_time``, a local time that occurs twice (the hour repeated
when clocks go back), read as the later of the two instants (standard time);
``unlisted_value``, a value of a descriptive column (``Column.descriptive``: store type, risk
tier, cancel reason, contact topic) that is none of tiyan's codes, kept as given.

A mapping's ``values:`` tables (:func:`mapped_values`) turn a source's own values into
tiyan's codes before any rule runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tiyan.domain.model import Column, ColumnType, Table, TimeOrder
from tiyan.store.schema import SQL_TYPES, quote

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
_TS_MIN, _TS_MAX = "2000-01-01", "2100-01-01"
_TYPE_WORDS = {
    ColumnType.STRING: "text",
    ColumnType.INT: "a whole number in plain decimal notation",
    ColumnType.MONEY: "an amount in plain decimal notation with at most 2 decimals",
    ColumnType.FLOAT: "a number in plain decimal notation",
    ColumnType.BOOL: "true or false",
    ColumnType.TIMESTAMP: "a timestamp (e.g. 2024-06-18 20:15:00 or 2024-06-18T12:15:00Z; "
    "an offset within ±14:00; a local time that exists in the time zone)",
    ColumnType.DATE: "a date (e.g. 2024-06-18)",
}


#: Numbers as text are read in plain decimal notation only: TRY_CAST alone would read
#: ``1e3``, ``1_000`` or ``inf`` as numbers nobody meant.
_PLAIN_NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
#: A UTC offset tiyan reads: Z, or within ±14:00 with minutes below 60 (one regex, not an
#: extraction and arithmetic: most exports give every timestamp an offset).
_GOOD_OFFSET = r"(Z|[+-](0[0-9]|1[0-3])(:?[0-5][0-9])?|[+-]14(:?00)?)$"
#: Any offset after a time of day (a bare date's ``-18`` is its day, not an offset).
_ANY_OFFSET = r"[0-9]:[0-9][0-9](:[0-9][0-9](\.[0-9]*)?)? ?[+-][0-9][0-9](:?[0-9][0-9])?$"

#: A rule as SQL: (condition that marks a row bad, the problem struct to report).
Check = tuple[str, str]


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _problem(code: str, column: str | None, message: str) -> str:
    col = sql_str(column) if column else "NULL"
    return f"{{'code': {sql_str(code)}, 'column': {col}, 'message': {message}}}"


def _show(expr: str) -> str:
    """A value as it appears in a message: quoted and cut to 60 characters."""
    # no NUL in a message: PostgreSQL text cannot hold one
    shown = f"replace(left(CAST({expr} AS VARCHAR), 60), chr(0), '\\0')"
    return f"coalesce('''' || {shown} || '''', 'empty')"


@functools.cache
def fixed_offset(tz: str) -> int | None:
    """The zone's UTC offset in seconds if it is the same at every time tiyan accepts
    (Asia/Shanghai: +8 h since 1992), else None (a zone with daylight saving time)."""
    zone = ZoneInfo(tz)
    offsets = {
        datetime(year, month, 15, tzinfo=zone).utcoffset()
        for year in range(int(_TS_MIN[:4]), int(_TS_MAX[:4]))
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    only = offsets.pop()
    return None if only is None else int(only.total_seconds())


def _utc_to_local(expr: str, tz: str) -> str:
    return f"timezone({sql_str(tz)}, timezone('UTC', {expr}))"


def local_to_utc(expr: str, tz: str) -> str:
    """SQL turning naive local timestamp ``expr`` (time zone ``tz``) into naive UTC.

    NULL for a local time that does not exist (in the hour skipped when clocks go forward:
    ICU would silently move it by an hour); a local time that occurs twice is the later
    instant (see :func:`ambiguous_local`).
    """
    offset = fixed_offset(tz)
    if offset is not None:  # plain arithmetic: ~8x faster than an ICU conversion per row
        return f"({expr} - INTERVAL ({offset}) SECOND)"
    utc = f"timezone('UTC', timezone({sql_str(tz)}, {expr}))"
    return f"(CASE WHEN {_utc_to_local(utc, tz)} = {expr} THEN {utc} END)"


def ambiguous_local(expr: str, tz: str) -> str | None:
    """SQL: is naive local timestamp ``expr`` one that occurs twice in ``tz``? (None: never,
    the zone has one offset.)"""
    if fixed_offset(tz) is not None:
        return None
    utc = f"timezone('UTC', timezone({sql_str(tz)}, {expr}))"
    return (
        f"({_utc_to_local(f'{utc} - INTERVAL 1 HOUR', tz)} = {expr} "
        f"OR {_utc_to_local(f'{utc} + INTERVAL 1 HOUR', tz)} = {expr})"
    )


def duck_type(col: Column) -> str:
    return SQL_TYPES["duckdb"][col.type]


def parse_expr(col: Column, source_type: str, tz: str) -> str:
    """SQL reading column ``col`` from a source column of DuckDB type ``source_type``.

    Gives NULL for a value that does not fit (the caller reports it as ``bad_type``).
    """
    x = f"r.{quote(col.name)}"
    src = source_type.upper()
    text = src in {"VARCHAR", "JSON"}
    if col.type is ColumnType.STRING:
        return f"NULLIF(CAST({x} AS VARCHAR), '')"
    if col.type is ColumnType.TIMESTAMP:
        if src.startswith("TIMESTAMP WITH TIME ZONE"):
            # an instant: its epoch microseconds are UTC (plain arithmetic, no ICU lookup)
            return f"make_timestamp(epoch_us({x}))"
        if src.startswith("TIMESTAMP") or src == "DATE":
            # A naive timestamp is local time of the platform (or of the mapping's sources).
            return local_to_utc(f"CAST({x} AS TIMESTAMP)", tz)
        v = f"trim(CAST({x} AS VARCHAR))"
        # TRY_CAST(... AS TIMESTAMP) would drop an offset, so text with one goes through
        # TIMESTAMPTZ (which takes any offset, +99:00 too: beyond ±14:00 is an error);
        # text without one is local time.
        return (
            f"CASE WHEN regexp_matches({v}, {sql_str(_GOOD_OFFSET)}) "
            f"THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) "
            f"WHEN regexp_matches({v}, {sql_str(_ANY_OFFSET)}) THEN NULL "
            f"ELSE {local_to_utc(f'TRY_CAST({v} AS TIMESTAMP)', tz)} END"
        )
    if col.type is ColumnType.BOOL:
        if src == "BOOLEAN":
            return x
        v = f"lower(trim(CAST({x} AS VARCHAR)))"
        return f"CASE WHEN {v} IN {_TRUE} THEN true WHEN {v} IN {_FALSE} THEN false END"
    plain = (
        f"regexp_full_match(trim(CAST({x} AS VARCHAR)), {sql_str(_PLAIN_NUMBER)}) AND "
        if text
        else ""
    )
    if col.type is ColumnType.INT:
        # TRY_CAST('3.5' AS BIGINT) rounds to 4; a count that is not whole is an error.
        d = (
            f"TRY_CAST(trim(CAST({x} AS VARCHAR)) AS DOUBLE)"
            if text
            else f"TRY_CAST({x} AS DOUBLE)"
        )
        return (
            f"CASE WHEN {plain}isfinite({d}) AND {d} = trunc({d}) AND abs({d}) < 9e15 "
            f"THEN CAST({d} AS BIGINT) END"
        )
    if col.type is ColumnType.MONEY:
        # DECIMAL(18,6) (not 38): 64-bit arithmetic, 20x faster, amounts up to 10^12 - 1.
        # More than 2 decimals is an error rather than a silent rounding.
        m = (
            f"TRY_CAST(trim(CAST({x} AS VARCHAR)) AS DECIMAL(18,6))"
            if text
            else (f"TRY_CAST({x} AS DECIMAL(18,6))")
        )
        return f"CASE WHEN {plain}{m} = round({m}, 2) THEN CAST({m} AS DECIMAL(18,2)) END"
    # FLOAT
    f = f"TRY_CAST(trim(CAST({x} AS VARCHAR)) AS DOUBLE)" if text else f"TRY_CAST({x} AS DOUBLE)"
    return f"CASE WHEN {plain}isfinite({f}) THEN {f} END"


def _has_offset(text: str) -> str:
    return f"regexp_matches({text}, '(Z|[+-][0-9][0-9](:?[0-9][0-9])?)$')"


def _is_text(source_type: str) -> bool:
    return source_type.upper() in {"VARCHAR", "JSON"}


def warning_checks(table: Table, source_types: dict[str, str], tz: str) -> list[Check]:
    """The warnings of ``table``'s rows (accepted all the same), as conditions over the
    source row ``r`` and problems over the parsed row ``p``: local times that occur twice
    in ``tz``."""
    checks: list[Check] = []
    for col in table.columns:
        st = source_types.get(col.name, "")
        if col.type is not ColumnType.TIMESTAMP or not st:
            continue
        x = f"r.{quote(col.name)}"
        upper = st.upper()
        cond: str | None
        if _is_text(st):
            v = f"trim(CAST({x} AS VARCHAR))"
            twice = ambiguous_local(f"TRY_CAST({v} AS TIMESTAMP)", tz)
            cond = None if twice is None else f"NOT {_has_offset(v)} AND {twice}"
        elif upper.startswith("TIMESTAMP WITH TIME ZONE") or not (
            upper.startswith("TIMESTAMP") or upper == "DATE"
        ):
            cond = None
        else:
            cond = ambiguous_local(f"CAST({x} AS TIMESTAMP)", tz)
        if cond is None:
            continue
        message = (
            f"{sql_str(col.name + ' ')} || {_show('p.' + quote('__raw_' + col.name))} || "
            + sql_str(f" occurs twice in {tz} (clocks go back): read as the later instant")
        )
        checks.append((f"coalesce({cond}, false)", _problem("ambiguous_time", col.name, message)))
    return checks


def _codes(col: Column) -> str:
    assert col.allowed is not None
    return ", ".join(sql_str(a) for a in col.allowed)


def unlisted_checks(table: Table, source_types: dict[str, str]) -> list[Check]:
    """The warnings of descriptive columns: a value that is none of tiyan's codes is kept as
    given (a label a rule tests for a code by equality never takes it for one)."""
    checks: list[Check] = []
    for col in table.columns:
        st = source_types.get(col.name, "")
        if not (col.descriptive and col.allowed and st):
            continue
        value = f"NULLIF(CAST(r.{quote(col.name)} AS VARCHAR), '')"  # as parse_expr reads it
        cond = f"coalesce({value} NOT IN ({_codes(col)}), false)"
        message = f"{sql_str(col.name + ' ')} || {_show('p.' + quote(col.name))} || " + sql_str(
            " is none of tiyan's codes (" + ", ".join(col.allowed) + "): kept as given "
            "(a mapping's values: table can map it to one)"
        )
        checks.append((cond, _problem("unlisted_value", col.name, message)))
    return checks


def mapped_values(expr: str, values: dict[str, str | None]) -> str:
    """SQL: ``expr`` as text, with a mapping's ``values:`` table applied — a source value
    (surrounding spaces trimmed) the table names becomes its code (or NULL); any other value
    passes through unchanged, for validation to judge.

    >>> print(mapped_values("s", {"已签收": "signed"}))
    CASE trim(CAST(s AS VARCHAR)) WHEN '已签收' THEN 'signed' ELSE CAST(s AS VARCHAR) END
    """
    text = f"CAST({expr} AS VARCHAR)"
    whens = " ".join(
        f"WHEN {sql_str(k)} THEN {'NULL' if v is None else sql_str(v)}" for k, v in values.items()
    )
    return f"CASE trim({text}) {whens} ELSE {text} END" if values else text


def _present(col: Column, source_type: str) -> str:
    x = f"r.{quote(col.name)}"
    if source_type.upper() in {"VARCHAR", "JSON"}:
        return f"({x} IS NOT NULL AND trim(CAST({x} AS VARCHAR)) <> '')"
    return f"({x} IS NOT NULL)"


def _row_problems(table: Table, source_types: dict[str, str], nul_free: bool) -> list[Check]:
    """The row rules of ``table`` over columns ``p.<col>`` (parsed) and ``p.__present_<col>``."""
    checks: list[Check] = []
    for col in table.columns:
        name = col.name
        c = f"p.{quote(name)}"
        if name not in source_types:
            if col.required:
                message = f"{name} is required but the source has no such column"
                checks.append(("true", _problem("missing_column", name, sql_str(message))))
            continue
        present = f"p.{quote('__present_' + name)}"
        raw = f"p.{quote('__raw_' + name)}"
        if col.required:
            message = sql_str(f"{name} is required but empty")
            checks.append((f"NOT {present}", _problem("missing_value", name, message)))
        if col.type is not ColumnType.STRING:
            message = f"{sql_str(name + ' ')} || {_show(raw)} || " + sql_str(
                " is not " + _TYPE_WORDS[col.type]
            )
            checks.append((f"{present} AND {c} IS NULL", _problem("bad_type", name, message)))
        elif _is_text(source_types[name]) and not nul_free:
            # DuckDB text holds U+0000, PostgreSQL's cannot: the row is refused on every engine
            message = f"{sql_str(name + ' ')} || {_show(raw)} || " + sql_str(
                " holds a NUL byte (U+0000), which text cannot"
            )
            checks.append((f"contains({c}, chr(0))", _problem("bad_text", name, message)))
        if col.allowed and not col.descriptive:
            message = f"{sql_str(name + ' ')} || {_show(c)} || " + sql_str(
                " is not one of: " + ", ".join(col.allowed) + " (a mapping's values: table "
                "can map a source's own values to these, see docs/mappings.md)"
            )
            checks.append((f"{c} NOT IN ({_codes(col)})", _problem("not_allowed", name, message)))
        bounds: list[tuple[str, str, str]] = []
        if col.minimum is not None:
            bounds.append(("<", repr(col.minimum), f"below the minimum {col.minimum:g}"))
        if col.maximum is not None:
            bounds.append((">", repr(col.maximum), f"above the maximum {col.maximum:g}"))
        if col.type is ColumnType.TIMESTAMP:
            bounds.append(("<", f"TIMESTAMP '{_TS_MIN}'", f"before {_TS_MIN}"))
            bounds.append((">=", f"TIMESTAMP '{_TS_MAX}'", f"not before {_TS_MAX}"))
        for op, bound, words in bounds:
            message = f"{sql_str(name + ' ')} || {_show(c)} || {sql_str(' is ' + words)}"
            checks.append((f"{c} {op} {bound}", _problem("out_of_range", name, message)))
    for rule in table.time_order:
        if rule.via is not None or not {rule.later, rule.earlier} <= set(source_types):
            continue
        later, earlier = f"p.{quote(rule.later)}", f"p.{quote(rule.earlier)}"
        message = (
            f"{sql_str(rule.later + ' ')} || {_show(later)} || "
            f"{sql_str(' is before ' + rule.earlier + ' ')} || {_show(earlier)}"
        )
        checks.append((f"{later} < {earlier}", _problem("time_order", rule.later, message)))
    return checks


_NO_PROBLEMS = '[]::STRUCT(code VARCHAR, "column" VARCHAR, message VARCHAR)[]'


def _list(checks: list[Check]) -> str:
    """The problems of a row, as a list; the messages are only built for rows that have one."""
    if not checks:
        return _NO_PROBLEMS
    any_bad = " OR ".join(f"({cond})" for cond, _ in checks)
    items = ", ".join(f"CASE WHEN {cond} THEN {problem} END" for cond, problem in checks)
    return (
        f"CASE WHEN {any_bad} THEN list_filter([{items}], x -> x IS NOT NULL) "
        f"ELSE {_NO_PROBLEMS} END"
    )


def parse_query(
    table: Table,
    raw: str,
    source_types: dict[str, str],
    tz: str,
    *,
    nul_free: bool = False,
    values: dict[str, dict[str, str | None]] | None = None,
) -> str:
    """Typed canonical columns of staging table ``raw`` and each row's row-rule problems
    (``nul_free``: the source is known to hold no NUL, e.g. a file whose bytes were read;
    ``values``: a mapping's ``values:`` tables by column, applied before every rule)."""
    mapped = {c: v for c, v in (values or {}).items() if c in source_types}
    if mapped:
        replaced = ", ".join(
            f"{mapped_values(quote(c), v)} AS {quote(c)}" for c, v in mapped.items()
        )
        raw = f"(SELECT * REPLACE ({replaced}) FROM {raw})"
        source_types = {**source_types, **dict.fromkeys(mapped, "VARCHAR")}
    inner = ["r.__source", "r.__line"]
    for col in table.columns:
        if col.name in source_types:
            st = source_types[col.name]
            inner.append(f"{parse_expr(col, st, tz)} AS {quote(col.name)}")
            inner.append(f"{_present(col, st)} AS {quote('__present_' + col.name)}")
            inner.append(f"r.{quote(col.name)} AS {quote('__raw_' + col.name)}")
        else:
            inner.append(f"CAST(NULL AS {duck_type(col)}) AS {quote(col.name)}")
    warnings = warning_checks(table, source_types, tz) + unlisted_checks(table, source_types)
    for i, (cond, _) in enumerate(warnings):
        inner.append(f"{cond} AS __warn_{i}")
    outer = ["p.__source", "p.__line"] + [f"p.{quote(c.name)}" for c in table.columns]
    outer.append(f"{_list(_row_problems(table, source_types, nul_free))} AS __problems")
    outer.append(
        _list([(f"p.__warn_{i}", problem) for i, (_, problem) in enumerate(warnings)])
        + " AS __warnings"
    )
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {raw} r) p"


@dataclass(frozen=True)
class Lookup:
    """A staging relation of referenced rows: key ``k``, flag ``ok`` and extra columns."""

    column: Column
    relation: str
    alias: str


def batch_query(
    table: Table, batch: str, lookups: list[Lookup], cross_rules: list[TimeOrder]
) -> str:
    """Add the batch rules' problems to ``batch`` (the parsed rows of all sources)."""
    pk = [quote(k) for k in table.primary_key]
    key_text = " || '/' || ".join(f"CAST(b.{k} AS VARCHAR)" for k in pk)
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in pk)
    keys = ", ".join(pk)
    # Find the duplicated keys first; only their rows pay for listing where they occur.
    joins = [
        f"LEFT JOIN (SELECT {keys}, count(*) AS n, "
        "string_agg(__source || ' line ' || __line, ', ' ORDER BY __source, __line) AS places "
        f"FROM {batch} WHERE ({keys}) IN (SELECT ({keys}) FROM {batch} WHERE {not_null} "
        f"GROUP BY ALL HAVING count(*) > 1) GROUP BY ALL) d "
        f"ON {' AND '.join(f'd.{k} = b.{k}' for k in pk)}"
    ]
    dup_message = (
        f"{sql_str(', '.join(table.primary_key) + ' ')} || {_show(key_text)} || "
        "' appears ' || d.n || ' times in this load (' || d.places || ')'"
    )
    checks: list[Check] = [
        ("d.n IS NOT NULL", _problem("duplicate_key", table.primary_key[0], dup_message))
    ]
    for lk in lookups:
        col = lk.column
        assert col.references is not None
        c, a = f"b.{quote(col.name)}", lk.alias
        joins.append(f"LEFT JOIN {lk.relation} {a} ON {a}.k = {c}")
        parent = col.references.table.rstrip("s").replace("_", " ")
        shown = f"{sql_str(col.name + ' ')} || {_show(c)}"
        unknown = f" is not a known {parent} (neither in this load nor in the store)"
        checks.append(
            (
                f"{c} IS NOT NULL AND {a}.k IS NULL",
                _problem("unknown_reference", col.name, f"{shown} || {sql_str(unknown)}"),
            )
        )
        rejected = f" refers to a {parent} that this load rejected"
        checks.append(
            (
                f"{a}.k IS NOT NULL AND NOT {a}.ok",
                _problem("rejected_reference", col.name, f"{shown} || {sql_str(rejected)}"),
            )
        )
        for rule in cross_rules:
            if rule.via != col.name:
                continue
            target = rule.earlier.split(".", 1)[1]
            later, earlier = f"b.{quote(rule.later)}", f"{a}.{quote(target)}"
            message = (
                f"{sql_str(rule.later + ' ')} || {_show(later)} || "
                f"{sql_str(f' is before the {parent} {target} ')} || {_show(earlier)}"
            )
            checks.append(
                (f"{a}.ok AND {later} < {earlier}", _problem("time_order", rule.later, message))
            )
    return (
        f"SELECT b.* EXCLUDE (__problems), list_concat(b.__problems, {_list(checks)}) "
        f"AS __problems FROM {batch} b {' '.join(joins)}"
    )
