"""One load: read the sources, validate them in bulk, and write everything in one transaction.

::

    sources ─► staging DuckDB ─► parse + row rules ─► batch rules ─┬─► accepted ─► insert/update
                                                                   └─► rejected ─► quarantine
    ingest_log: read = accepted + quarantined, per source

Nothing reaches the store until every table of the load is validated; then the inserts,
updates, quarantine entries and log rows are written in one transaction, so a crash, a kill
or Ctrl-C leaves the store exactly as before. Loading the same data twice writes no data row
(every row is *unchanged*) and re-quarantines the same bad rows under the same ids.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from tiyan.domain.errors import UsageError
from tiyan.domain.model import INGEST_LOG, QUARANTINE, TABLES, Column, Table
from tiyan.ingest.mapping import Mapping, create_source_views, load_mapping
from tiyan.ingest.sources import Source, discover, read_source, sha256_of
from tiyan.ingest.validate import (
    Lookup,
    batch_query,
    parse_query,
    sql_str,
    unlisted_checks,
    warning_checks,
)
from tiyan.store.base import Store, WritePlan
from tiyan.store.platform import META, platform_rows
from tiyan.store.schema import quote

DEFAULT_TIMEZONE = "Asia/Shanghai"

#: ``progress(step, done, total)`` — called as each table is validated and once when written.
Progress = Callable[[str, int, int], None]


@dataclass
class TableReport:
    """What a load did to one canonical table."""

    table: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    reasons: list[dict[str, Any]] = field(default_factory=list)
    #: Accepted rows that carry a warning (``ambiguous_time``, ``unlisted_value``): code,
    #: column, rows and an example, by code and column.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class LoadReport:
    """The outcome of one ``tiyan ingest``."""

    load_id: str
    store: str
    status: str  # loaded | rejected
    tables: dict[str, TableReport]
    skipped_files: list[str] = field(default_factory=list)
    mapping: str | None = None
    max_reject_rate: float | None = None
    #: A mapping's source file -> its lines that did not parse (quarantined as
    #: ``malformed_line`` under ``source:<view>``; they feed no table). Files without any
    #: are left out.
    malformed_source_lines: dict[str, int] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(t.read for t in self.tables.values()) + sum(self.malformed_source_lines.values())

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values()) + sum(
            self.malformed_source_lines.values()
        )

    @property
    def reject_rate(self) -> float:
        return self.quarantined / self.read if self.read else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["read"] = self.read
        out["quarantined"] = self.quarantined
        out["reject_rate"] = round(self.reject_rate, 6)
        for name, table in self.tables.items():
            out["tables"][name]["accepted"] = table.accepted
        return out


def ingest(
    store: Store,
    paths: Sequence[Path],
    *,
    now: datetime,
    mapping: str | Path | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    max_reject_rate: float | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Load ``paths`` (files, folders, or a mapping's source folder) into ``store``.

    ``now`` (UTC) stamps the log and quarantine entries; the core reads no clock.
    If more than ``max_reject_rate`` of the rows read are rejected, no data row is written
    (the quarantine and the log still are) and the report's status is ``"rejected"``.
    """
    spec = load_mapping(mapping) if mapping is not None else None
    tz = spec.timezone if spec is not None and spec.timezone else timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {tz!r} (use an IANA name like Asia/Shanghai)"
        ) from None
    with store.staging(tz) as staging:
        return _Load(store, staging, now, tz, progress).run(
            [Path(p) for p in paths], spec, max_reject_rate
        )


#: ``finish(staging, plan, problems)`` — called once a load is validated, before it is
#: written: may add steps to the plan (they are written in the same transaction).
#: ``problems[table][line]`` lists the rejected rows' problems ``{code, column, message}``.
Finish = Callable[[Any, WritePlan, dict[str, dict[int, list[dict[str, Any]]]]], None]


def ingest_relations(
    store: Store,
    relations: dict[str, Any],
    *,
    now: datetime,
    source: str,
    timezone: str = DEFAULT_TIMEZONE,
    finish: Finish | None = None,
    load_id: str | None = None,
    row_id: str = "__row_id",
) -> tuple[LoadReport, dict[str, dict[int, list[dict[str, Any]]]]]:
    """Load in-memory rows — ``relations[table]`` is a PyArrow table of text columns, row
    ``i`` being line ``i + 1`` — with exactly the rules of a file load (the HTTP events API).

    Returns the report and each rejected row's problems by table and line. The source of
    table ``t`` is named ``<source>/<t>`` in the log and the quarantine; its checksum is the
    rows' SHA-256. A text column named ``row_id`` (not loaded: its name starts with ``__``)
    names each row in the quarantine, so a row rejected again is the same entry.
    """
    import pyarrow.ipc as ipc

    sources = []
    # the API sends a batch after a batch with the same staging names: no cleanup between
    with store.staging(timezone, cleanup=False) as staging:
        for table, rows in relations.items():
            if table not in TABLES:
                raise UsageError(f"unknown table {table!r}")
            name = f"__tiyan_in_{table}"
            staging.register(name, rows)
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows)
            checksum = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
            sources.append(
                Source(
                    table=table,
                    name=f"{source}/{table}",
                    format="query",
                    query=f"SELECT * FROM {name}",
                    checksum=checksum,
                    row_id_column=row_id if row_id in rows.column_names else None,
                )
            )
        load = _Load(store, staging, now, timezone, None, collect=True)
        if load_id is not None:
            load.load_id = load_id
        try:
            report = load.run_sources(sources, [], None, None, finish)
        finally:
            for table in relations:
                staging.unregister(f"__tiyan_in_{table}")
        return report, load.problems


class _Load:
    def __init__(
        self,
        store: Store,
        staging: Any,
        now: datetime,
        tz: str,
        progress: Progress | None,
        *,
        collect: bool = False,
    ) -> None:
        self.store = store
        self.con = staging
        # Stored timestamps are naive UTC.
        self.now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
        self.tz = tz
        self.progress = progress or (lambda step, done, total: None)
        self.load_id = uuid.uuid4().hex
        self.validated: set[str] = set()  # tables of this load already validated
        # table -> source -> counts (read, accepted, inserted, updated, ...)
        self.per_source: dict[str, dict[str, dict[str, int]]] = {}
        # table -> line -> problems of the rejected rows (kept when ``collect``)
        self.collect = collect
        self.problems: dict[str, dict[int, list[dict[str, Any]]]] = {}
        self.new_rows: dict[str, str] = {}  # table -> staging relation of its new rows
        # table -> column -> a mapping's values: table (source value -> tiyan's code)
        self.values: dict[str, dict[str, dict[str, str | None]]] = {}
        # tiyan_meta rows of the platform a mapping names (its time zone and currency)
        self.platform: list[tuple[str, str]] = []
        # a mapping's CSV sources: view -> (file, staging relation of its malformed lines)
        self.source_malformed: dict[str, list[tuple[Path, str]]] = {}

    # -- orchestration --------------------------------------------------------------------
    def run(
        self, paths: list[Path], mapping: Mapping | None, max_reject_rate: float | None
    ) -> LoadReport:
        skipped: list[Path] = []
        mapping_label: str | None = None
        if mapping is not None:
            sources, mapping_label = self._mapping_sources(paths, mapping)
            self.values = mapping.values_tables()
            self.platform = platform_rows(mapping.timezone, mapping.currency)
        else:
            sources, skipped = discover(paths)
        return self.run_sources(sources, skipped, mapping_label, max_reject_rate, None)

    def run_sources(
        self,
        sources: list[Source],
        skipped: list[Path],
        mapping_label: str | None,
        max_reject_rate: float | None,
        finish: Finish | None,
    ) -> LoadReport:
        by_table: dict[str, list[Source]] = defaultdict(list)
        for src in sources:
            by_table[src.table].append(src)
        order = [t for t in TABLES if t in by_table]
        total = len(order) + 1
        reports: dict[str, TableReport] = {}
        plan = WritePlan()
        quarantine_parts: list[str] = []
        for done, name in enumerate(order):
            self.progress(f"validating {name}", done, total)
            reports[name] = self._validate_table(TABLES[name], by_table[name], plan)
            if reports[name].quarantined:  # nothing to quarantine: no statement to build it
                quarantine_parts.extend(self._quarantine_parts(TABLES[name], by_table[name]))
        malformed_lines, parts = self._source_lines()
        quarantine_parts.extend(parts)
        report = LoadReport(
            load_id=self.load_id,
            store=self.store.url,
            status="loaded",
            tables=reports,
            skipped_files=[str(p) for p in skipped],
            mapping=mapping_label,
            max_reject_rate=max_reject_rate,
            malformed_source_lines=malformed_lines,
        )
        if max_reject_rate is not None and report.reject_rate > max_reject_rate:
            report.status = "rejected"
            plan = WritePlan()  # no data: only the quarantine and the log
        elif self.platform:
            values = ", ".join(f"({sql_str(k)}, {sql_str(v)})" for k, v in self.platform)
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE platform_new AS "
                f"SELECT * FROM (VALUES {values}) p(key, value)"
            )
            plan.upsert(META, "platform_new")
        self._finish_plan(plan, quarantine_parts, sources, report)
        if finish is not None:
            finish(self.con, plan, self.problems)
        self.progress("writing", total - 1, total)
        self.store.write(self.con, plan)
        self.progress("done", total, total)
        return report

    def _mapping_sources(self, paths: list[Path], mapping: Mapping) -> tuple[list[Source], str]:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UsageError(f"--mapping {mapping.name} takes one folder holding its source files")
        files = create_source_views(self.con, mapping, paths[0], malformed=self.source_malformed)
        digest = hashlib.sha256()
        for view in sorted(files):
            for file in files[view]:
                digest.update(sha256_of(Path(file)).encode())
        sources = []
        values = mapping.values_tables()
        for table, query in mapping.tables.items():
            # what the source is: the files, the query and the values tables it applies
            spec = query.encode()
            if table in values:
                spec += json.dumps(values[table], sort_keys=True, ensure_ascii=False).encode()
            check = hashlib.sha256(digest.digest() + spec).hexdigest()
            sources.append(
                Source(
                    table=table,
                    name=f"mapping:{mapping.name}/{table}",
                    format="query",
                    query=query,
                    checksum=check,
                )
            )
        return sources, mapping.name

    def _source_lines(self) -> tuple[dict[str, int], list[str]]:
        """The malformed lines of a mapping's source files: how many per file, and the
        quarantine's rows of them (``malformed_line`` with the line's number and raw text,
        under ``source:<view>``; the id is the file's content, name and line, so loading
        the same files again adds nothing)."""
        counts: dict[str, int] = {}
        parts = []
        now = f"TIMESTAMP '{self.now.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
        for view, entries in sorted(self.source_malformed.items()):
            for file, relation in entries:
                n = int(self.con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])
                if not n:
                    continue
                counts[str(file)] = n
                table = f"source:{view}"
                self.per_source.setdefault(table, {})[str(file)] = {
                    "read": n, "inserted": 0, "updated": 0, "unchanged": 0, "quarantined": n,
                }  # fmt: skip
                key = sql_str(f"{table}|{sha256_of(file)}|{file}|")
                parts.append(
                    f"SELECT md5({key} || CAST(q.__line AS VARCHAR)), {sql_str(self.load_id)}, "
                    f"{sql_str(table)}, q.__source, q.__line, NULL, q.code, q.message, "
                    "to_json([{'code': q.code, 'column': NULL, 'message': q.message}]), "
                    f"q.raw_text, {now} FROM {relation} q"
                )
        return counts, parts

    # -- one table ------------------------------------------------------------------------
    def _validate_table(self, table: Table, sources: list[Source], plan: WritePlan) -> TableReport:
        t = table.name
        report = TableReport(table=t, sources=[s.name for s in sources])
        parsed: list[str] = []
        warned = False
        for i, src in enumerate(sources):
            raw, mal = f"raw_{t}_{i}", f"mal_{t}_{i}"
            read_source(self.con, src, raw, mal)
            types = {
                row[0]: str(row[1])
                for row in self.con.execute(f"DESCRIBE {raw}").fetchall()
                if not str(row[0]).startswith("__")
            }
            extra = sorted(set(types) - set(table.column_names))
            if extra:
                report.ignored_columns[src.name] = extra
            known = {k: v for k, v in types.items() if k in table.column_names}
            warned = (
                warned
                or bool(warning_checks(table, known, self.tz))
                or bool(unlisted_checks(table, known))
            )
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE parsed_{t}_{i} AS "
                + parse_query(
                    table, raw, known, self.tz, nul_free=src.nul_free, values=self.values.get(t)
                )
            )
            parsed.append(f"SELECT * FROM parsed_{t}_{i}")
        # One source (the usual case) needs no copy: the batch is a view of it.
        kind = "VIEW" if len(parsed) == 1 else "TABLE"
        self.con.execute(f"CREATE OR REPLACE TEMP {kind} batch_{t} AS {' UNION ALL '.join(parsed)}")
        lookups = [self._lookup(table, col) for col in table.references]
        cross = [r for r in table.time_order if r.via is not None]
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE checked_{t} AS "
            + batch_query(table, f"batch_{t}", lookups, cross)
        )
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW accepted_{t} AS SELECT * EXCLUDE (__problems) "
            f"FROM checked_{t} WHERE len(__problems) = 0"
        )
        self.validated.add(t)
        if self.collect:
            self._collect(table, len(sources))
        self._classify(table, plan)
        self._count(table, sources, report)
        if warned:
            report.warnings = [
                {"code": code, "column": column, "rows": int(n), "example": example}
                for code, column, n, example in self.con.execute(
                    'SELECT w.code, w."column", count(*), min(w.message) FROM (SELECT '
                    f"unnest(__warnings) AS w FROM accepted_{t} WHERE len(__warnings) > 0) "
                    "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
                ).fetchall()
            ]
        return report

    def _collect(self, table: Table, n_sources: int) -> None:
        t = table.name
        found: dict[int, list[dict[str, Any]]] = {}
        sql = f"SELECT __line, to_json(__problems) FROM checked_{t} WHERE len(__problems) > 0"
        for line, problems in self.con.execute(sql).fetchall():
            found[int(line)] = json.loads(problems)
        for i in range(n_sources):
            for line, code, message in self.con.execute(
                f"SELECT __line, code, message FROM mal_{t}_{i}"
            ).fetchall():
                found[int(line)] = [{"code": code, "column": None, "message": message}]
        self.problems[t] = found

    def _lookup(self, table: Table, col: Column) -> Lookup:
        """Staging relation of the rows ``col`` may reference: this load's, then the store's."""
        ref = col.references
        assert ref is not None
        parent = TABLES[ref.table]
        k = quote(ref.column)
        c = quote(col.name)
        needed = [r.earlier.split(".", 1)[1] for r in table.time_order if r.via == col.name]
        extra = "".join(f", {quote(n)}" for n in needed)
        rel = f"look_{table.name}_{col.name}"
        parts = []
        missing = f"SELECT DISTINCT {c} AS {k} FROM batch_{table.name} WHERE {c} IS NOT NULL"
        if parent.name in self.validated:
            p = parent.name
            parts.append(f"SELECT {k} AS k, true AS ok{extra} FROM accepted_{p}")
            parts.append(
                f"SELECT DISTINCT ON ({k}) {k} AS k, false AS ok{extra} FROM checked_{p} "
                f"WHERE len(__problems) > 0 AND {k} IS NOT NULL "
                f"AND {k} NOT IN (SELECT {k} FROM accepted_{p})"
            )
            missing += f" AND {c} NOT IN (SELECT {k} FROM checked_{p} WHERE {k} IS NOT NULL)"
        fetched = f"stored_{table.name}_{col.name}"
        self.store.fetch_rows(self.con, parent, f"({missing})", fetched)
        parts.append(f"SELECT {k} AS k, true AS ok{extra} FROM {fetched}")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {rel} AS {' UNION ALL '.join(parts)}")
        return Lookup(column=col, relation=rel, alias=f"ref_{col.name}")

    def _classify(self, table: Table, plan: WritePlan) -> None:
        """Split accepted rows into new (insert), changed (update) and unchanged."""
        t = table.name
        self.store.fetch_rows(self.con, table, f"accepted_{t}", f"existing_{t}")
        on = " AND ".join(f"a.{quote(k)} = e.{quote(k)}" for k in table.primary_key)
        same = " AND ".join(
            f"a.{quote(c)} IS NOT DISTINCT FROM e.{quote(c)}" for c in table.column_names
        )
        if self.con.execute(f"SELECT count(*) FROM existing_{t}").fetchone()[0] == 0:
            # nothing of this batch is stored yet (a first load): every row is new
            # (a view, named apart from the table below: the API's loads follow one another
            # on one connection without dropping their staging, and a name keeps its kind)
            self.new_rows[t] = f"fresh_{t}"
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW fresh_{t} AS FROM accepted_{t}")
        else:
            self.new_rows[t] = f"new_{t}"
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE new_{t} AS SELECT a.* FROM accepted_{t} a "
                f"ANTI JOIN existing_{t} e ON {on}"
            )
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE changed_{t} AS SELECT a.* FROM accepted_{t} a "
            f"JOIN existing_{t} e ON {on} WHERE NOT ({same})"
        )
        cols = ", ".join(quote(c) for c in table.column_names)
        plan.insert(table, f"(SELECT {cols} FROM {self.new_rows[t]})")
        plan.upsert(table, f"(SELECT {cols} FROM changed_{t})")

    def _count(self, table: Table, sources: list[Source], report: TableReport) -> None:
        t = table.name
        per: dict[str, dict[str, int]] = {s.name: defaultdict(int) for s in sources}
        queries = {
            "read": f"SELECT __source, count(*) FROM batch_{t} GROUP BY 1",
            "accepted": f"SELECT __source, count(*) FROM accepted_{t} GROUP BY 1",
            "rejected": f"SELECT __source, count(*) FROM checked_{t} "
            "WHERE len(__problems) > 0 GROUP BY 1",
            "inserted": f"SELECT __source, count(*) FROM {self.new_rows[t]} GROUP BY 1",
            "updated": f"SELECT __source, count(*) FROM changed_{t} GROUP BY 1",
        }
        for key, sql in queries.items():
            for source, n in self.con.execute(sql).fetchall():
                per[source][key] += int(n)
        for i, src in enumerate(sources):
            n = self.con.execute(f"SELECT count(*) FROM mal_{t}_{i}").fetchone()[0]
            per[src.name]["malformed"] += int(n)
        for c in per.values():
            c["read"] += c["malformed"]
            # counted, not derived: the tests check read = accepted + quarantined
            c["quarantined"] = c["rejected"] + c["malformed"]
            c["unchanged"] = c["accepted"] - c["inserted"] - c["updated"]
        self.per_source[t] = per
        for key in ("read", "inserted", "updated", "unchanged", "quarantined"):
            setattr(report, key, sum(c[key] for c in per.values()))
        reasons_sql = (
            f"SELECT code, count(*) AS n, min(message) AS example FROM ("
            f"SELECT __problems[1].code AS code, __problems[1].message AS message "
            f"FROM checked_{t} WHERE len(__problems) > 0 "
            + "".join(
                f"UNION ALL SELECT code, message FROM mal_{t}_{i} " for i in range(len(sources))
            )
            + ") GROUP BY code ORDER BY n DESC, code LIMIT 5"
        )
        report.reasons = [
            {"code": code, "rows": int(n), "example": example}
            for code, n, example in self.con.execute(reasons_sql).fetchall()
        ]

    def _quarantine_parts(self, table: Table, sources: list[Source]) -> list[str]:
        t = table.name
        parts = []
        now = f"TIMESTAMP '{self.now.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
        for i, src in enumerate(sources):
            if src.row_id_column is not None:
                qid = f"md5({sql_str(t + '|' + src.name + '|')} || r.{quote(src.row_id_column)})"
            else:
                qid = (
                    f"md5({sql_str(t + '|' + src.checksum + '|' + src.name + '|')} || "
                    "CAST(q.__line AS VARCHAR))"
                )
            raw_cols = [
                row[0]
                for row in self.con.execute(f"DESCRIBE raw_{t}_{i}").fetchall()
                if not str(row[0]).startswith("__")
            ]
            record = (
                "to_json(struct_pack("
                + ", ".join(f"{quote(c)} := r.{quote(c)}" for c in raw_cols)
                + "))"
                if raw_cols
                else "'{}'"
            )
            head = f"{qid}, {sql_str(self.load_id)}, {sql_str(t)}, q.__source, q.__line"
            parts.append(
                f"SELECT {head}, q.__problems[1].column, q.__problems[1].code, "
                f"q.__problems[1].message, to_json(q.__problems), CAST({record} AS VARCHAR), "
                f"{now} FROM checked_{t} q JOIN raw_{t}_{i} r "
                f"ON r.__source = q.__source AND r.__line = q.__line "
                f"WHERE len(q.__problems) > 0 AND q.__source = {sql_str(src.name)}"
            )
            if src.row_id_column is not None:  # malformed rows have no raw row to name
                head = head.replace(qid, f"md5({sql_str(t + '|' + src.name + '|')} || "
                                         "CAST(q.__line AS VARCHAR))")  # fmt: skip
            parts.append(
                f"SELECT {head}, NULL, q.code, q.message, "
                "to_json([{'code': q.code, 'column': NULL, 'message': q.message}]), "
                f"q.raw_text, {now} FROM mal_{t}_{i} q"
            )
        return parts

    def _finish_plan(
        self,
        plan: WritePlan,
        quarantine_parts: list[str],
        sources: list[Source],
        report: LoadReport,
    ) -> None:
        cols = ", ".join(quote(c) for c in QUARANTINE.column_names)
        if quarantine_parts:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE quarantine_new AS SELECT * FROM ("
                + " UNION ALL ".join(quarantine_parts)
                + f") q({cols})"
            )
            plan.upsert(QUARANTINE, "quarantine_new")
        checksums = {s.name: s.checksum for s in sources}
        rows: dict[str, list[Any]] = {c: [] for c in INGEST_LOG.column_names}
        for table, per in self.per_source.items():
            for source, c in per.items():
                values = {
                    "load_id": self.load_id,
                    "source": source,
                    "checksum": checksums.get(source),
                    "table_name": table,
                    "status": report.status,
                    "read_rows": c["read"],
                    "inserted": c["inserted"] if report.status == "loaded" else 0,
                    "updated": c["updated"] if report.status == "loaded" else 0,
                    "unchanged": c["unchanged"] if report.status == "loaded" else 0,
                    "quarantined": c["quarantined"],
                    "mapping": report.mapping,
                    "started_at": self.now,
                    "finished_at": self.now,
                }
                for key, value in values.items():
                    rows[key].append(value)
        self.con.register("__tiyan_log", pa.table(rows))
        self.con.execute("CREATE OR REPLACE TEMP TABLE log_new AS SELECT * FROM __tiyan_log")
        self.con.unregister("__tiyan_log")
        plan.insert(INGEST_LOG, "log_new")
