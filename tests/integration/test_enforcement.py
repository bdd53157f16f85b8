"""Enforcement on a store, on DuckDB and on PostgreSQL: idempotent (enforcing twice changes
nothing), deterministic (the order rows were loaded in does not matter), the same on both
engines, and append-only (a later run adds, never rewrites)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tiyan.domain.errors import UsageError
from tiyan.ingest.load import ingest
from tiyan.jobs.appeals import appealable_violations, create_appeal, decide_appeal, get_appeal
from tiyan.jobs.desk import import_history, read_histories
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.policy.files import load_policy
from tiyan.policy.pipeline import evaluate_policy
from tiyan.policy.privileges import Conditions, ScoreMeasure
from tiyan.sim import SimConfig, write_parquet
from tiyan.sim.desk import write_desk
from tiyan.store import Store, open_store
from tiyan.store.governance import load_snapshot, write_outcome

# Small, yet every detector finds something in it (checked below).
CONFIG = SimConfig(merchants=30, orders=8000, days=40, seed=7)
AS_OF = CONFIG.start + timedelta(days=CONFIG.days)
NOW = datetime(2024, 9, 1)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The market's Parquet files, and the same rows in reverse order in another folder."""
    folder = tmp_path_factory.mktemp("enforce")
    write_parquet(CONFIG, folder / "data")
    shuffled = folder / "reversed"
    shuffled.mkdir()
    for path in (folder / "data").glob("*.parquet"):
        table = pq.read_table(path)
        order = pa.array(range(table.num_rows - 1, -1, -1), type=pa.int64())
        pq.write_table(table.take(order), shuffled / path.name)
    return {"data": folder / "data", "reversed": shuffled}


def ledger(store: Store) -> list[tuple[Any, ...]]:
    """Every recorded violation and action."""
    violations = store.query(
        "SELECT violation_id, rule_id, ledger, merchant_id, subject, order_id, occurred_at, "
        "day, amount, evidence, policy_version, detected_as_of FROM violations"
    )
    actions = store.query(
        "SELECT action_id, kind, merchant_id, violation_id, rule_id, ledger, points, amount, "
        "measure, day, as_of, policy_version, detail FROM actions"
    )
    return sorted(violations) + sorted(actions)


def loaded(url: str, folder: Path, *, desk: bool = False) -> Store:
    """The market ingested; with ``desk``, the service desk's requests that follow it too
    (simulated once from the market's rows: the same requests for every store)."""
    store = open_store(url)
    report = ingest(store, [folder], now=NOW)
    assert report.status == "loaded"
    if desk:
        histories = folder.parent / "desk.jsonl"
        if not histories.exists():
            write_desk(folder.parent / "data", histories, seed=3)
        policy = load_policy()
        lines = histories.read_text(encoding="utf-8").splitlines()
        parsed, refused = read_histories(lines, source="desk")
        done = import_history(store, policy.desk, parsed, policy_version=policy.version, now=NOW)
        assert not refused and not done.rejected
    return store


def test_enforcing_twice_changes_nothing_and_later_runs_only_add(
    store_url: str, market: dict[str, Path]
) -> None:
    with loaded(store_url, market["data"]) as store:
        earlier = run_enforcement(store, as_of=AS_OF - timedelta(days=3))
        assert earlier.new > 0
        before = ledger(store)
        first = run_enforcement(store, as_of=AS_OF)
        after_first = ledger(store)
        again = run_enforcement(store, as_of=AS_OF)
        assert again.new == 0
        assert ledger(store) == after_first
        # The later run found the earlier run's violations again and kept them (and their
        # consequences) as they were; it only added.
        assert set(before) <= set(after_first)
        violations = store.count("violations")
        assert violations == earlier.new + first.new
        days = store.query("SELECT DISTINCT detected_as_of FROM violations")
        assert {d for (d,) in days} == {AS_OF - timedelta(days=3), AS_OF}
        kinds = dict(store.query("SELECT kind, count(*) FROM actions GROUP BY 1"))
        assert kinds["compensation"] > 0 and kinds["points"] > 0
        # one points entry per violation whose rule has points (every rule, by default)
        assert kinds["points"] == violations
        # the same compensation whether counted from the summaries or the ledger
        (paid,) = store.query("SELECT sum(amount) FROM actions WHERE kind = 'compensation'")[0]
        assert paid == earlier.compensation + first.compensation


def test_what_the_store_reads_back_is_what_the_pipeline_folds_in(
    store_url: str, market: dict[str, Path]
) -> None:
    """``Snapshot.after(outcome)`` (pure, what the properties of tests/unit/test_pipeline.py
    run on) is what ``load_snapshot`` reads after ``write_outcome``: the same violations,
    ledger, holdings and reviews — so the properties hold of the store too."""
    policy = load_policy()
    with loaded(store_url, market["data"]) as store:
        run_scoring(store, as_of=AS_OF - timedelta(days=3))
        run_enforcement(store, as_of=AS_OF - timedelta(days=3))
        run_scoring(store, as_of=AS_OF)
        snapshot = load_snapshot(store, policy, as_of=AS_OF)
        outcome = evaluate_policy(snapshot, policy, as_of=AS_OF)
        assert outcome.violations and outcome.points and outcome.privileges
        write_outcome(store, outcome)
        reread = load_snapshot(store, policy, as_of=AS_OF)
    folded = snapshot.after(outcome)
    assert folded.recorded == reread.recorded
    assert sorted(v.violation_id for v in folded.violations) == sorted(
        v.violation_id for v in reread.violations
    )
    assert set(folded.actions) == set(reread.actions)
    assert folded.last_b == reread.last_b
    assert folded.held == reread.held and folded.measures_held == reread.measures_held
    assert folded.reviewed == reread.reviewed
    assert set(folded.prior_totals) == set(reread.prior_totals)
    for key, total in folded.prior_totals.items():
        assert abs(total - reread.prior_totals[key]) < Decimal("1e-6"), key
    for again in (evaluate_policy(folded, policy, as_of=AS_OF),
                  evaluate_policy(reread, policy, as_of=AS_OF)):  # fmt: skip
        assert again.violations == [] and again.actions == []
        assert again.standings == outcome.standings


def test_row_order_does_not_matter(tmp_path: Path, market: dict[str, Path]) -> None:
    ledgers = []
    for name in ("data", "reversed"):
        with loaded(str(tmp_path / f"{name}.duckdb"), market[name]) as store:
            run_enforcement(store, as_of=AS_OF)
            ledgers.append(ledger(store))
    assert ledgers[0] == ledgers[1]
    assert len(ledgers[0]) > 100


@pytest.mark.postgres
def test_duckdb_and_postgres_record_the_same_violations(
    tmp_path: Path, pg_url: str, market: dict[str, Path]
) -> None:
    ledgers = []
    for url in (str(tmp_path / "tiyan.duckdb"), pg_url):
        with loaded(url, market["data"], desk=True) as store:  # (the desk's rule too)
            summary = run_enforcement(store, as_of=AS_OF)
            ledgers.append(ledger(store))
    assert ledgers[0] == ledgers[1]
    # every rule had something to find, so the comparison covers every detector
    assert all(n > 0 for n in summary.found_by_rule.values()), summary.found_by_rule


def test_a_policy_not_yet_in_force_is_refused(tmp_path: Path, market: dict[str, Path]) -> None:
    policy = load_policy().model_copy(update={"effective_from": date(2030, 1, 1)})
    with loaded(str(tmp_path / "tiyan.duckdb"), market["data"]) as store:
        with pytest.raises(UsageError, match="takes effect on 2030-01-01") as refused:
            run_enforcement(store, as_of=AS_OF, policy=policy)
        assert "--policy FILE" in str(refused.value)  # the fix, said with the refusal
        assert ledger(store) == []


def totals(store: Store, merchant: str) -> dict[str, Any]:
    """The merchant's points per ledger (after reversals) and the penalty measures in force."""
    points = dict(
        store.query(
            "SELECT ledger, sum(points) FROM actions WHERE merchant_id = ? "
            "AND kind IN ('points', 'reversal') AND points IS NOT NULL GROUP BY 1",
            (merchant,),
        )
    )
    lifted = {
        r[0][len("reversal:") :]
        for r in store.query(
            "SELECT action_id FROM actions WHERE kind = 'reversal' AND merchant_id = ?",
            (merchant,),
        )
    }
    penalties = {
        r[0]
        for r in store.query(
            "SELECT action_id FROM actions WHERE kind = 'penalty' AND merchant_id = ?",
            (merchant,),
        )
    }
    return {"points": points, "penalties": penalties - lifted}


def test_appeal_round_trip(store_url: str, market: dict[str, Path]) -> None:
    now = datetime(2024, 6, 20, 9, 0)
    with loaded(store_url, market["data"]) as store:
        run_enforcement(store, as_of=AS_OF)
        # the merchant with the most B points (its fake shipments), and one of its violations
        merchant, violation_id = store.query(
            "SELECT merchant_id, min(violation_id) FROM violations WHERE rule_id = 'fake_shipment' "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )[0]
        other = store.query(
            "SELECT min(merchant_id) FROM violations WHERE merchant_id <> ?", (merchant,)
        )[0][0]
        before = totals(store, merchant)
        (awarded,) = store.query(
            "SELECT points FROM actions WHERE action_id = ?", (f"points:{violation_id}",)
        )[0]
        (coupon,) = store.query(
            "SELECT amount FROM actions WHERE action_id = ?", (f"compensation:{violation_id}",)
        )[0]

        # Another merchant cannot appeal it: the same answer as for no such violation.
        with pytest.raises(UsageError, match="has no violation") as theirs:
            create_appeal(store, violation_id=violation_id, merchant_id=other,
                          statement="not mine", evidence=None, now=now)  # fmt: skip
        with pytest.raises(UsageError, match="has no violation") as missing:
            create_appeal(store, violation_id="fake_shipment:X:Y", merchant_id=other,
                          statement="?", evidence=None, now=now)  # fmt: skip
        assert str(theirs.value).replace(violation_id, "V") == str(missing.value).replace(
            "fake_shipment:X:Y", "V"
        )

        def appealable() -> set[str]:
            return {v["violation_id"] for v in appealable_violations(store, merchant, limit=10**6)}

        everything = {r[0] for r in store.query(
            "SELECT violation_id FROM violations WHERE merchant_id = ?", (merchant,))}  # fmt: skip
        assert appealable() == everything
        rejected = create_appeal(store, violation_id=violation_id, merchant_id=merchant,
                                 statement="the carrier lost the scan", evidence="a.jpg",
                                 now=now)  # fmt: skip
        assert appealable() == everything - {violation_id}  # open: not again
        with pytest.raises(UsageError, match="already has an open appeal"):
            create_appeal(store, violation_id=violation_id, merchant_id=merchant,
                          statement="again", evidence=None, now=now)  # fmt: skip
        assert decide_appeal(store, rejected.appeal_id, accept=False, reason="no proof",
                             by="op-1", now=now) == []  # fmt: skip
        assert totals(store, merchant) == before
        assert appealable() == everything  # rejected: it may be appealed again

        accepted = create_appeal(store, violation_id=violation_id, merchant_id=merchant,
                                 statement="here is the carrier's letter", evidence="b.pdf",
                                 now=now)  # fmt: skip
        reversals = decide_appeal(store, accepted.appeal_id, accept=True,
                                  reason="carrier confirmed", by="op-2", now=now)  # fmt: skip
        by_id = {r["action_id"]: r for r in reversals}
        assert by_id[f"reversal:points:{violation_id}"]["points"] == -awarded
        # the consumer keeps the coupon: the platform bears it, the merchant gets it back
        assert by_id[f"reversal:compensation:{violation_id}"]["amount"] == -coupon
        after = totals(store, merchant)
        assert Decimal(str(after["points"]["B"])) == Decimal(str(before["points"]["B"])) - Decimal(
            str(awarded)
        )
        assert after["penalties"] <= before["penalties"]
        assert get_appeal(store, accepted.appeal_id).status == "accepted"
        assert appealable() == everything - {violation_id}  # accepted: settled
        assert get_appeal(store, accepted.appeal_id).decided_by == "op-2"
        with pytest.raises(UsageError, match="already accepted"):
            decide_appeal(store, accepted.appeal_id, accept=False, reason="changed my mind",
                          by="op-3", now=now)  # fmt: skip

        # Enforcing again neither re-awards the points nor re-charges the coupon.
        ledger_after = ledger(store)
        again = run_enforcement(store, as_of=AS_OF)
        assert again.new == 0
        assert ledger(store) == ledger_after


def test_privileges_follow_the_scores_and_are_recorded_once(
    store_url: str, market: dict[str, Path]
) -> None:
    with loaded(store_url, market["data"]) as store:
        run_scoring(store, as_of=AS_OF)
        first = run_enforcement(store, as_of=AS_OF)
        assert first.privileges_granted > 0
        again = run_enforcement(store, as_of=AS_OF)
        assert (again.privileges_granted, again.privileges_revoked) == (0, 0)
        assert (again.measures_applied, again.measures_lifted) == (0, 0)
        # score-based measures: applied exactly to the merchants at or below the bar (here
        # the median score, so that both sides of it are populated)
        scores = sorted(
            s for (s,) in store.query(
                "SELECT score FROM scores WHERE as_of = ? AND status = 'scored'", (AS_OF,)
            )
        )  # fmt: skip
        bar = scores[len(scores) // 2]
        policy = load_policy()
        measure = ScoreMeasure(apply=Conditions(max_score=bar), keep=Conditions(max_score=bar + 3))
        policy = policy.model_copy(update={"score_measures": {"no_campaign_signup": measure}})
        first = run_enforcement(store, as_of=AS_OF, policy=policy)
        restricted = {
            m
            for (m,) in store.query(
                "SELECT merchant_id FROM actions WHERE kind = 'measure_apply' "
                "AND measure = 'no_campaign_signup'"
            )
        }
        low = {
            m
            for (m,) in store.query(
                "SELECT merchant_id FROM scores WHERE as_of = ? AND status = 'scored' "
                "AND score <= ?",
                (AS_OF, bar),
            )
        }
        assert low and restricted == low and first.measures_applied >= len(low)
        granted = store.query(
            "SELECT a.merchant_id, s.score FROM actions a JOIN scores s "
            "ON s.merchant_id = a.merchant_id AND s.as_of = a.as_of "
            "WHERE a.kind = 'privilege_grant' AND a.measure = 'presale'"
        )
        bar_presale = load_policy().privileges["presale"].grant.min_score
        assert granted and all(score >= bar_presale for _, score in granted)
        # no presale right for a merchant with a serious violation in the 30 days before
        serious = {
            m
            for (m,) in store.query(
                "SELECT DISTINCT merchant_id FROM violations WHERE ledger = 'B' AND day >= ?",
                (AS_OF - timedelta(days=30),),
            )
        }
        assert not serious & {m for m, _ in granted}
