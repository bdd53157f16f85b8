"""The governance repository: what the standing of merchants needs, read from the store.

The SQL lives here; :func:`tiyan.policy.standing.resolve_standing` is pure and gets values.

Example::

    with open_store("tiyan.duckdb") as store:
        standing = load_standings(store, as_of=date(2024, 7, 30), config=StandingConfig(),
                                  window=90, merchant_id="M000042")["M000042"]
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tiyan.domain.model import GOVERNANCE_TABLES
from tiyan.policy.ledger import RATE_METRIC, Consequences, Ladder, Violation
from tiyan.policy.pipeline import (
    STANDING_KINDS,
    Outcome,
    Snapshot,
    consequence_window,
    parse_detail,
)
from tiyan.policy.privileges import (
    MEASURE_KINDS,
    PRIVILEGE_KINDS,
)
from tiyan.policy.schema import Policy
from tiyan.policy.standing import LedgerEntry, MerchantStanding, StandingConfig, resolve_standing
from tiyan.scoring.score import ViolationRecord
from tiyan.store.base import Store

#: The ledger kinds the standing reads row by row (points are summed in SQL).
_KINDS = tuple(k for k in STANDING_KINDS if k != "points")


def _ledger_entries(
    store: Store, *, as_of: date, merchant_id: str | None = None
) -> dict[str, list[LedgerEntry]]:
    """Merchant -> the ledger entries its standing reads on ``as_of``: penalties, reversals,
    privileges and measures row by row, this year's points summed per ledger (one entry)."""
    only = " AND merchant_id = ?" if merchant_id is not None else ""
    one: tuple[Any, ...] = (merchant_id,) if merchant_id is not None else ()
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    marks = ", ".join("?" for _ in _KINDS)
    for m, action_id, kind, ledger, points, measure, day, detail in store.query(
        "SELECT merchant_id, action_id, kind, ledger, points, measure, day, "
        "CASE WHEN kind = 'penalty' THEN detail END FROM actions "
        f"WHERE kind IN ({marks}) AND day <= ?{only}",
        (*_KINDS, as_of, *one),
    ):
        entries[m].append(
            LedgerEntry(action_id, kind, ledger, points, measure, day, parse_detail(detail))
        )
    # This year's points per ledger, summed here (one synthetic entry per ledger).
    for m, ledger, total in store.query(
        "SELECT merchant_id, ledger, sum(points) FROM actions WHERE kind = 'points' "
        "AND points IS NOT NULL AND day <= ? AND day >= ?" + only + " GROUP BY 1, 2",
        (as_of, date(as_of.year, 1, 1), *one),
    ):
        entries[m].append(
            LedgerEntry(f"points-total:{ledger}", "points", ledger, float(total), None,
                        date(as_of.year, 1, 1))
        )  # fmt: skip
    return entries


def _latest_scores(
    store: Store, *, as_of: date, window: int, merchant_id: str | None = None
) -> dict[str, tuple[float | None, str | None]]:
    """Merchant -> (score, level) of the latest scoring run on or before ``as_of``."""
    only = " AND merchant_id = ?" if merchant_id is not None else ""
    one: tuple[Any, ...] = (merchant_id,) if merchant_id is not None else ()
    scores: dict[str, tuple[float | None, str | None]] = {}
    latest = store.query(
        "SELECT max(as_of) FROM scores WHERE as_of <= ? AND window_days = ?", (as_of, window)
    )
    if latest and latest[0][0] is not None:
        for m, score, level in store.query(
            "SELECT merchant_id, score, level FROM scores WHERE as_of = ? AND window_days = ?"
            + only,
            (latest[0][0], window, *one),
        ):
            scores[m] = (score, level)
    return scores


def _merchants(store: Store, merchant_id: str | None = None) -> list[str]:
    one: tuple[Any, ...] = (merchant_id,) if merchant_id is not None else ()
    return [
        r[0]
        for r in store.query(
            "SELECT merchant_id FROM merchants" + (" WHERE merchant_id = ?" if one else ""), one
        )
    ]


def load_standings(
    store: Store,
    *,
    as_of: date,
    config: StandingConfig,
    window: int,
    merchant_id: str | None = None,
) -> dict[str, MerchantStanding]:
    """Merchant id -> standing on ``as_of`` for every merchant of the store (or one); the
    score and level are those of the latest scoring run on or before ``as_of``."""
    if "actions" not in store.existing_columns():
        return {}
    entries = _ledger_entries(store, as_of=as_of, merchant_id=merchant_id)
    scores = _latest_scores(store, as_of=as_of, window=window, merchant_id=merchant_id)
    out = {}
    for m in sorted(set(_merchants(store, merchant_id)) | set(entries)):
        score, level = scores.get(m, (None, None))
        out[m] = resolve_standing(
            m, entries.get(m, ()), as_of=as_of, config=config, score=score, level=level
        )
    return out


def load_violation_records(
    store: Store, *, as_of: date, window: int, ladder: Ladder
) -> dict[str, ViolationRecord]:
    """Merchant id -> its B- and A-class points (after reversals) on the ``window`` days
    before ``as_of``, and whether this year's totals before ``as_of`` reached the first B
    node / the A node."""
    if "actions" not in store.existing_columns():
        return {}
    first_node = {
        "B": min((n.points for n in ladder.b_nodes), default=None),
        "A": ladder.a_every.points,
    }
    found: dict[str, dict[str, tuple[float, bool]]] = {}
    for m, ledger, in_window, this_year in store.query(
        "SELECT merchant_id, ledger, "
        "sum(CASE WHEN day >= ? THEN points ELSE 0 END), "
        "sum(CASE WHEN day >= ? THEN points ELSE 0 END) FROM actions "
        "WHERE ledger IN ('A', 'B') AND kind IN ('points', 'reversal') "
        "AND points IS NOT NULL AND day < ? AND day >= ? GROUP BY 1, 2",
        (as_of - timedelta(days=window), date(as_of.year, 1, 1), as_of,
         min(as_of - timedelta(days=window), date(as_of.year, 1, 1))),
    ):  # fmt: skip
        node = first_node[ledger]
        year = float(this_year or 0)
        found.setdefault(m, {})[ledger] = (
            round(float(in_window or 0), 4),
            node is not None and year >= node - 1e-9,
        )
    out: dict[str, ViolationRecord] = {}
    for m, by in sorted(found.items()):
        b, b_node = by.get("B", (0.0, False))
        a, a_node = by.get("A", (0.0, False))
        if b > 1e-9 or b_node or a > 1e-9 or a_node:
            out[m] = ViolationRecord(b_points=b, at_node=b_node, a_points=a, a_at_node=a_node)
    return out


def load_rule_rates(
    store: Store, config: Consequences, *, as_of: date
) -> dict[tuple[str, str], tuple[float, float]]:
    """(merchant, rule) -> (numerator, denominator) of the rule's metric (``RATE_METRIC``)
    over the rule's ``rate_window_days`` before ``as_of``, from ``metric_daily``, for every
    rule whose points are gated by a rate."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for rule_id, points in sorted(config.points.items()):
        metric_id = RATE_METRIC.get(str(rule_id))
        if metric_id is None or not points.gated:
            continue
        for m, num, den in store.query(
            "SELECT merchant_id, sum(num), sum(den) FROM metric_daily WHERE metric_id = ? "
            "AND day >= ? AND day < ? GROUP BY 1",
            (metric_id, as_of - timedelta(days=points.rate_window_days), as_of),
        ):
            out[(m, str(rule_id))] = (float(num or 0), float(den or 0))
    return out


def latest_enforcement_day(store: Store) -> date | None:
    """The as_of of the latest enforcement run (None: none yet)."""
    if "actions" not in store.existing_columns():
        return None
    rows = store.query("SELECT max(as_of) FROM actions")
    return rows[0][0] if rows and rows[0][0] is not None else None


def load_outcome_inputs(store: Store) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The simulator's archetypes (empty without ``sim_truth``) and, per rule, the merchants
    with a violation of it that earned points (after reversals)."""
    if "sim_truth" not in store.existing_columns():
        return {}, {}
    archetypes = dict(store.query("SELECT merchant_id, archetype FROM sim_truth"))
    flagged: dict[str, set[str]] = defaultdict(set)
    for rule_id, m in store.query(
        "SELECT rule_id, merchant_id FROM actions WHERE kind IN ('points', 'reversal') "
        "AND rule_id IS NOT NULL GROUP BY 1, 2 HAVING sum(points) > 0"
    ):
        flagged[rule_id].add(m)
    return archetypes, dict(flagged)


#: What a replay under another policy starts from nothing: everything a policy decided.
#: ``metric_daily`` stays (its fingerprint recomputes it when the population differs).
DECIDED_TABLES = (
    "metric_values", "scores", "violations", "actions", "appeals", "rectification",
    "shadow_outcomes",
)  # fmt: skip


def run_dates(store: Store, *, until: date) -> tuple[list[date], list[date]]:
    """The dates scoring ran for and the dates enforcement ran for, up to ``until``, each
    oldest first."""
    existing = store.existing_columns()
    scored: set[date] = set()
    enforced: set[date] = set()
    if "scores" in existing:
        scored = {
            r[0]
            for r in store.query("SELECT DISTINCT as_of FROM scores WHERE as_of <= ?", (until,))
        }
    if "actions" in existing:
        rows = store.query(
            "SELECT DISTINCT as_of FROM actions WHERE as_of <= ? "
            "UNION SELECT DISTINCT detected_as_of FROM violations WHERE detected_as_of <= ?",
            (until, until),
        )
        enforced = {r[0] for r in rows if r[0] is not None}
    return sorted(scored), sorted(enforced)


def forget_decisions(store: Store) -> None:
    """Delete what every policy run decided (``DECIDED_TABLES``), in one transaction: the
    copy a candidate policy is replayed on starts from the market alone."""
    from tiyan.domain.model import GOVERNANCE_TABLES
    from tiyan.store.schema import quote

    existing = store.existing_columns()
    store.run_in_transaction(
        [
            f"DELETE FROM {quote(GOVERNANCE_TABLES[name].name)}"
            for name in DECIDED_TABLES
            if name in existing
        ]
    )


def _recorded_violations(store: Store, ids: list[str]) -> set[str]:
    """Which of ``ids`` are already in ``violations``."""
    found: set[str] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        marks = ", ".join("?" for _ in chunk)
        found.update(
            r[0]
            for r in store.query(
                f"SELECT violation_id FROM violations WHERE violation_id IN ({marks})", chunk
            )
        )
    return found


def _held(store: Store, kinds: tuple[str, str]) -> dict[tuple[str, str], bool]:
    held: dict[tuple[str, str], bool] = {}
    for m, name, kind in store.query(
        "SELECT merchant_id, measure, kind FROM actions WHERE kind IN (?, ?) "
        "ORDER BY day, action_id",
        kinds,
    ):
        held[(m, name)] = kind == kinds[0]
    return held


def load_detections(
    store: Store, policy: Policy, *, as_of: date, progress: Callable[[str], None] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Rule id -> the records its detector finds over the store for ``as_of`` (the
    detectors are Ibis expressions: they run in the store's engine)."""
    from tiyan.metrics.runner import store_tables
    from tiyan.policy.detect import detect

    say = progress or (lambda _msg: None)
    config = policy.population.catalog_config()
    found: dict[str, list[dict[str, Any]]] = {}
    shared: list[tuple[Any, str]] = []

    def share(rel: Any) -> Any:
        # The one-row-per-order relation the order-level rules share, built once in the
        # engine (a temporary table) rather than by each rule's query.
        import ibis

        say("gathering each order's parcels, sign-off and evidence")
        backend = ibis.get_backend(rel)
        name = f"tiyan_detect_orders_{uuid.uuid4().hex[:12]}"
        table = backend.create_table(name, rel, temp=True)
        shared.append((backend, name))
        return table

    try:
        exprs = detect(store_tables(store), policy.rules, config, as_of=as_of, share=share)
        for rule_id, expr in exprs.items():
            say(f"detecting {rule_id}")
            found[rule_id] = expr.to_pyarrow().to_pylist()
    finally:
        for backend, name in shared:
            backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
    return found


def write_shadow_outcomes(
    store: Store, rows: list[dict[str, Any]], *, as_of: date, policy_version: str
) -> None:
    """Replace the shadow outcomes of ``policy_version`` for ``as_of`` by ``rows``."""
    table = GOVERNANCE_TABLES["shadow_outcomes"]
    columns = [c.name for c in table.columns]
    version = policy_version.replace("'", "''")
    store.replace_rows(
        table,
        [tuple(r[c] for c in columns) for r in rows],
        f"as_of = DATE '{as_of}' AND policy_version = '{version}'",
    )


def load_snapshot(
    store: Store, policy: Policy, *, as_of: date, progress: Callable[[str], None] | None = None
) -> Snapshot:
    """What :func:`tiyan.policy.pipeline.evaluate_policy` needs for ``as_of``, read once: the
    detectors run over the store (each rule's records fetched), then the ledger, the rates,
    the scores and metric values, and what is held. ``metric_daily`` must be up to date
    for ``as_of`` (``refresh_partials``) for the rates that gate points."""
    say = progress or (lambda _msg: None)
    found = load_detections(store, policy, as_of=as_of, progress=say)
    say("reading the ledger")
    ids = sorted(
        f"{rule_id}:{r['merchant_id']}:{r['subject']}"
        for rule_id, records in found.items()
        for r in records
    )
    since = consequence_window(policy.rules.lookback_days, as_of)
    violations = [
        Violation(vid, rule, ledger, merchant, order, day,
                  None if amount is None else Decimal(str(amount)))
        for vid, rule, ledger, merchant, order, day, amount in store.query(
            "SELECT violation_id, rule_id, ledger, merchant_id, order_id, day, amount "
            "FROM violations WHERE day >= ? AND day < ?", (since, as_of))
    ]  # fmt: skip
    names = ["action_id", "kind", "merchant_id", "rule_id", "ledger", "points", "day"]
    actions = {
        r[0]: dict(zip(names, r, strict=True))
        for r in store.query(
            f"SELECT {', '.join(names)} FROM actions "
            "WHERE kind IN ('penalty', 'reversal') OR day >= ?",
            (since,),
        )
    }
    prior = {
        (m, ledger, int(year)): Decimal(str(total))
        for m, ledger, year, total in store.query(
            "SELECT merchant_id, ledger, EXTRACT(YEAR FROM day), sum(points) FROM actions "
            "WHERE kind IN ('points', 'reversal') AND points IS NOT NULL GROUP BY 1, 2, 3"
        )
    }
    window = policy.scoring.window_days
    scores = {
        m: (None if scored != "scored" else score)
        for m, scored, score in store.query(
            "SELECT merchant_id, status, score FROM scores WHERE as_of = ? AND window_days = ?",
            (as_of, window),
        )
    }
    conditions = [
        *(c for p in policy.privileges.values() for c in (p.grant, p.keep)),
        *(c for m in policy.score_measures.values() for c in (m.apply, m.keep)),
    ]
    wanted = sorted({metric_id for c in conditions for metric_id in c.metrics})
    values: dict[str, dict[str, float | None]] = {}
    if wanted and scores:
        marks = ", ".join("?" for _ in wanted)
        for m, metric_id, value in store.query(
            "SELECT subject_id, metric_id, value FROM metric_values WHERE as_of = ? AND "
            f"window_days = ? AND scope = 'merchant' AND metric_id IN ({marks})",
            (as_of, window, *wanted),
        ):
            values.setdefault(m, {})[metric_id] = value
    reviewed = {
        r[0]
        for r in store.query(
            "SELECT action_id FROM actions WHERE day = ? AND kind IN (?, ?, ?, ?)",
            (as_of, *PRIVILEGE_KINDS, *MEASURE_KINDS),
        )
    }
    return Snapshot(
        found=found,
        recorded=frozenset(_recorded_violations(store, ids)),
        violations=violations,
        last_b=dict(
            store.query(
                "SELECT merchant_id, max(day) FROM violations WHERE ledger = 'B' AND day < ? "
                "GROUP BY 1",
                (as_of,),
            )
        ),
        actions=actions,
        prior_totals=prior,
        rates=load_rule_rates(store, policy.consequences, as_of=as_of),
        ledger=_ledger_entries(store, as_of=as_of),
        merchants=_merchants(store),
        latest_scores=_latest_scores(store, as_of=as_of, window=window),
        scores=scores,
        values=values,
        held=_held(store, PRIVILEGE_KINDS),
        measures_held=_held(store, MEASURE_KINDS),
        reviewed=frozenset(reviewed),
    )


def write_outcome(store: Store, outcome: Outcome) -> None:
    """Record the day's new violations and ledger entries, in one transaction."""
    violations, actions = GOVERNANCE_TABLES["violations"], GOVERNANCE_TABLES["actions"]
    vcols = [c.name for c in violations.columns]
    acols = [c.name for c in actions.columns]
    store.append_rows(
        [
            (violations, [tuple(r[c] for c in vcols) for r in outcome.violations]),
            (actions, [tuple(r[c] for c in acols) for r in outcome.actions]),
        ]
    )
