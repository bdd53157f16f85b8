"""Run the catalog against a store: keep the daily partials current, then sum windows.

* :func:`refresh_partials` brings ``metric_daily`` up to the day before ``as_of``. The
  first run (or a run after the configuration changed, or ``full=True``) computes every day
  since the first order; later runs recompute only the days since the last run plus a
  *restatement horizon* (``restate_days``, default 7), so records that arrive a few days
  late are still counted. Each refresh replaces its days in one transaction.
* :func:`compute_metric_values` sums the partials over each metric's window (trailing or
  lagged) for every merchant, every category and the whole platform, and stores them in
  ``metric_values`` for that ``as_of`` and window length, replacing an earlier run.

Both run inside the store's engine (DuckDB or PostgreSQL): nothing is fetched into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tiyan.domain.errors import UsageError
from tiyan.domain.metrics import CatalogConfig, WindowKind, window_days
from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.metrics.daily import daily_partials
from tiyan.metrics.facts import NO_MERCHANT
from tiyan.store.base import Store
from tiyan.store.schema import quote

#: tiyan_meta keys of the partials' state.
_CONFIG_KEY = "metric_daily.config"
_FIRST_KEY = "metric_daily.first_day"
_LAST_KEY = "metric_daily.last_day"
_RESTATE_KEY = "metric_daily.restate_from"

DEFAULT_RESTATE_DAYS = 7

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RefreshReport:
    """What :func:`refresh_partials` did."""

    first_day: date | None
    last_day: date | None
    computed_from: date | None
    full: bool
    rows: int

    @property
    def days(self) -> int:
        if self.computed_from is None or self.last_day is None:
            return 0
        return (self.last_day - self.computed_from).days + 1


def store_tables(store: Store) -> dict[str, Any]:
    """Canonical table name -> Ibis table of the store, ``quarantine`` (what validation
    rejected tells the facts which records may be missing) and the service desk's tables
    (its requests, callbacks and surveys feed the desk's metrics)."""
    backend = store.ibis()
    names = set(backend.list_tables())
    from tiyan.domain.model import DESK_TABLES, QUARANTINE, TABLES

    wanted = [*TABLES, QUARANTINE.name, *DESK_TABLES]
    return {name: backend.table(name) for name in wanted if name in names}


def _meta(store: Store) -> dict[str, str]:
    rows = store.query(
        "SELECT key, value FROM tiyan_meta WHERE key IN (?, ?, ?, ?)",
        (_CONFIG_KEY, _FIRST_KEY, _LAST_KEY, _RESTATE_KEY),
    )
    return {str(k): str(v) for k, v in rows}


def restate_from(store: Store, day: date) -> None:
    """Records from ``day`` on arrived or changed (e.g. a service desk's history imported):
    the next refresh recomputes the partials from that day, not only its usual horizon."""
    found = _meta(store).get(_RESTATE_KEY)
    if found is not None and date.fromisoformat(found) <= day:
        return
    store.run_in_transaction(
        [
            ("DELETE FROM tiyan_meta WHERE key = ?", (_RESTATE_KEY,)),
            ("INSERT INTO tiyan_meta (key, value) VALUES (?, ?)", (_RESTATE_KEY, str(day))),
        ]
    )


def _first_data_day(store: Store, config: CatalogConfig) -> date | None:
    (first,) = store.query("SELECT min(paid_at) FROM orders")[0]
    if first is None:
        return None
    local = first + timedelta(minutes=config.utc_offset_minutes)
    return date(local.year, local.month, local.day)


def refresh_partials(
    store: Store,
    config: CatalogConfig,
    *,
    as_of: date,
    full: bool = False,
    restate_days: int = DEFAULT_RESTATE_DAYS,
    progress: Progress | None = None,
) -> RefreshReport:
    """Bring ``metric_daily`` up to the day before ``as_of`` (see the module docstring)."""
    if restate_days < 0:
        raise UsageError(f"restate_days must not be negative, not {restate_days}")
    say = progress or (lambda _msg: None)
    through = as_of - timedelta(days=1)
    meta = _meta(store)
    first_data = _first_data_day(store, config)
    if first_data is None or first_data > through:
        return RefreshReport(None, None, None, full, 0)
    stored_first = date.fromisoformat(meta[_FIRST_KEY]) if _FIRST_KEY in meta else None
    if (
        full
        or meta.get(_CONFIG_KEY) != config.fingerprint()
        or stored_first is None
        or first_data < stored_first  # older data arrived: recompute from there
    ):
        start, full = first_data, True
    else:
        # The new days, plus the last `restate_days` days already computed (late records).
        last = min(date.fromisoformat(meta[_LAST_KEY]), through)
        start = max(stored_first, last + timedelta(days=1 - restate_days))
        if _RESTATE_KEY in meta:  # records of earlier days arrived (restate_from)
            start = min(start, max(stored_first, date.fromisoformat(meta[_RESTATE_KEY])))
        start = min(start, through)
    first_day = first_data if full else stored_first
    assert first_day is not None
    say(f"computing daily partials {start} .. {through} ({(through - start).days + 1} days)")
    # A full run reads everything anyway: narrowing the facts would only cost time.
    expr = daily_partials(store_tables(store), config, start=start, end=through, restrict=not full)
    select_sql = store.ibis().compile(expr)
    table = quote("metric_daily")
    cols = ", ".join(quote(c.name) for c in GOVERNANCE_TABLES["metric_daily"].columns)
    delete = f"DELETE FROM {table}" if full else f"DELETE FROM {table} WHERE day >= '{start}'"
    store.run_in_transaction(
        [
            delete,
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ({select_sql}) AS partials",
            "DELETE FROM tiyan_meta WHERE key IN "
            f"('{_CONFIG_KEY}', '{_FIRST_KEY}', '{_LAST_KEY}', '{_RESTATE_KEY}')",
            "INSERT INTO tiyan_meta (key, value) VALUES "
            f"('{_CONFIG_KEY}', '{config.fingerprint()}'), ('{_FIRST_KEY}', '{first_day}'), "
            f"('{_LAST_KEY}', '{through}')",
        ]
    )
    rows = int(store.query(f"SELECT count(*) FROM {table} WHERE day >= ?", (start,))[0][0])
    return RefreshReport(first_day, through, start, full, rows)


def _window_filter(length: int, as_of: date, metric_ids: Iterable[str]) -> str:
    """SQL condition selecting each metric's window of partials."""
    by_kind: dict[WindowKind, list[str]] = {}
    for mid in metric_ids:
        by_kind.setdefault(DEFINITIONS[mid].window, []).append(mid)
    terms = []
    for kind, ids in by_kind.items():
        first, last = window_days(kind, length, as_of)
        listed = ", ".join(f"'{i}'" for i in ids)
        terms.append(f"(metric_id IN ({listed}) AND day BETWEEN '{first}' AND '{last}')")
    return " OR ".join(terms)


def _value_sql() -> str:
    """``value`` from the sums, per metric (scale, counts); null for an empty denominator."""
    whens = []
    for mid, d in DEFINITIONS.items():
        expr = "numerator" if d.is_count else f"numerator * {d.scale!r} / denominator"
        whens.append(f"WHEN metric_id = '{mid}' THEN {expr}")
    return f"CASE WHEN denominator = 0 THEN NULL {' '.join(whens)} END"


def _bounds_sql(length: int, as_of: date) -> str:
    """``window_start`` / ``window_end`` per metric."""
    starts, ends = [], []
    for mid, d in DEFINITIONS.items():
        first, last = window_days(d.window, length, as_of)
        starts.append(f"WHEN metric_id = '{mid}' THEN DATE '{first}'")
        ends.append(f"WHEN metric_id = '{mid}' THEN DATE '{last}'")
    return f"CASE {' '.join(starts)} END AS window_start, CASE {' '.join(ends)} END AS window_end"


def measured_metrics(store: Store, metric_ids: Iterable[str]) -> list[str]:
    """``metric_ids`` minus those the store cannot measure: a metric whose records come from
    a table with no row at all (the source does not have it), or whose source fields
    (``MetricDef.fields``) hold no value on any row (the source has the table but not the
    field: Olist's orders carry no cancellation party or reason), has no value, not 0."""
    ids = list(metric_ids)
    needed = sorted({t for mid in ids for t in DEFINITIONS[mid].records})
    empty = {t for t in needed if not store.query(f"SELECT 1 FROM {quote(t)} LIMIT 1")}
    filled: dict[tuple[str, ...], bool] = {}
    for fields in {DEFINITIONS[mid].fields for mid in ids if DEFINITIONS[mid].fields}:
        filled[fields] = _any_filled(store, fields)
    return [
        mid
        for mid in ids
        if not empty & set(DEFINITIONS[mid].records) and filled.get(DEFINITIONS[mid].fields, True)
    ]


def _any_filled(store: Store, fields: tuple[str, ...]) -> bool:
    """Whether some row holds a value in one of ``fields`` (``"table.column"``)."""
    by_table: dict[str, list[str]] = {}
    for field in fields:
        table, column = field.split(".", 1)
        by_table.setdefault(table, []).append(column)
    for table, columns in sorted(by_table.items()):
        present = " OR ".join(f"{quote(c)} IS NOT NULL" for c in columns)
        if store.query(f"SELECT 1 FROM {quote(table)} WHERE {present} LIMIT 1"):
            return True
    return False


def compute_metric_values(
    store: Store, *, as_of: date, window: int, metrics: Iterable[str] | None = None
) -> int:
    """Sum partials over each metric's window into ``metric_values`` (see module docstring).

    Returns the number of rows written for this ``as_of`` and ``window``.
    """
    if window < 1:
        raise UsageError(f"a window has at least one day, not {window}")
    ids = measured_metrics(store, list(DEFINITIONS) if metrics is None else list(metrics))
    if not ids:
        store.run_in_transaction(
            [f"DELETE FROM metric_values WHERE as_of = '{as_of}' AND window_days = {window}"]
        )
        return 0
    where = _window_filter(window, as_of, ids)
    # The window is summed once per merchant, then rolled up to categories and the platform
    # (merchant_id '' holds records about no merchant: the platform's only).
    sums = (
        f"WITH m AS MATERIALIZED (SELECT merchant_id, metric_id, sum(num) AS numerator, "
        f"sum(den) AS denominator FROM metric_daily WHERE ({where}) "
        f"GROUP BY merchant_id, metric_id) "
        f"SELECT 'merchant' AS scope, merchant_id AS subject_id, metric_id, numerator, "
        f"denominator FROM m WHERE merchant_id <> '{NO_MERCHANT}' "
        f"UNION ALL SELECT 'category', c.category, m.metric_id, sum(m.numerator), "
        f"sum(m.denominator) FROM m JOIN merchants c ON c.merchant_id = m.merchant_id "
        f"GROUP BY c.category, m.metric_id "
        f"UNION ALL SELECT 'platform', 'all', metric_id, sum(numerator), sum(denominator) "
        f"FROM m GROUP BY metric_id"
    )
    cols = ", ".join(quote(c.name) for c in GOVERNANCE_TABLES["metric_values"].columns)
    store.run_in_transaction(
        [
            f"DELETE FROM metric_values WHERE as_of = '{as_of}' AND window_days = {window}",
            f"INSERT INTO metric_values ({cols}) SELECT DATE '{as_of}', {window}, metric_id, "
            f"scope, subject_id, {_bounds_sql(window, as_of)}, numerator, denominator, "
            f"{_value_sql()} FROM ({sums}) AS s",
        ]
    )
    return int(
        store.query(
            "SELECT count(*) FROM metric_values WHERE as_of = ? AND window_days = ?",
            (as_of, window),
        )[0][0]
    )
