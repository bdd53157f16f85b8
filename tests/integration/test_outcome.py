"""The outcome a platform sees, on ground truth: who is rewarded and who is punished.

A market of ~300k orders over 120 days, on a seed no other test uses, is scored and enforced
with the default policy once a month (the demo's rhythm: each run's 30-day lookback covers
the month before it) and on its last day. At that day the outcome of ``tiyan policy
evaluate`` must meet the aims of issue 13 (docs/violations.md, "Judging a policy by its
outcome"): nobody suspended or cleared holds a privilege; the serious-fraud archetypes are
neither rewarded nor excellent; the other bad archetypes seldom are, and no presale abuser
holds presale; good merchants are seldom on the ladder and mostly rewarded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tiyan.ingest.load import ingest
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.policy.files import load_policy
from tiyan.policy.outcome import REWARDS, ArchetypeOutcome, Outcome, evaluate_outcome
from tiyan.sim import SimConfig, write_parquet
from tiyan.store import open_store
from tiyan.store.governance import load_outcome_inputs, load_standings

CONFIG = SimConfig(merchants=1500, orders=300_000, days=120, seed=20261204)
LAST = CONFIG.start + timedelta(days=CONFIG.days)
#: The first of each month after the first, then the last day (the demo's rhythm).
RUNS = [*(CONFIG.start + timedelta(days=d) for d in (31, 61, 92)), LAST]

FRAUD = ("fake_shipper", "malicious_non_shipper", "fake_inventory")
POOR_SERVICE = ("slow_shipper", "presale_abuser", "passive_service", "low_quality")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    folder: Path = tmp_path_factory.mktemp("outcome")
    write_parquet(CONFIG, folder / "data")
    store = open_store(str(folder / "tiyan.duckdb"))
    try:
        assert ingest(store, [folder / "data"], now=datetime(2024, 12, 1)).status == "loaded"
        for as_of in RUNS:
            policy = load_policy(as_of=as_of)
            run_scoring(store, as_of=as_of, policy=policy)
            run_enforcement(store, as_of=as_of, policy=policy)
        policy = load_policy(as_of=LAST)
        standings = load_standings(
            store, as_of=LAST, config=policy.standing, window=policy.scoring.window_days
        )
        archetypes, flagged = load_outcome_inputs(store)
    finally:
        store.close()
    return evaluate_outcome(standings, archetypes, flagged, policy.privileges)


def by_archetype(outcome: Outcome) -> dict[str, ArchetypeOutcome]:
    return {a.archetype: a for a in outcome.archetypes}


def test_every_archetype_is_there_and_scored(outcome: Outcome) -> None:
    groups = by_archetype(outcome)
    assert set(groups) == {"good", *FRAUD, *POOR_SERVICE}
    for a in outcome.archetypes:
        assert a.scored >= 20, a  # enough merchants for the shares below to mean something


def test_no_one_suspended_or_cleared_holds_a_privilege(outcome: Outcome) -> None:
    assert [(a.archetype, a.barred_holding) for a in outcome.archetypes if a.barred_holding] == []
    # and the ladder did suspend or clear someone, so the check bites
    assert sum(a.statuses.get("suspended", 0) + a.statuses.get("cleared", 0)
               for a in outcome.archetypes) > 0  # fmt: skip


def test_fraud_is_neither_rewarded_nor_excellent(outcome: Outcome) -> None:
    for a in outcome.archetypes:
        if a.archetype in FRAUD:
            for p in REWARDS:
                assert a.privileges.get(p, 0.0) <= 0.05, (a.archetype, p, a.privileges)
            assert a.levels["excellent"] <= 0.05, (a.archetype, a.levels)


def test_poor_service_is_seldom_rewarded_and_no_presale_abuser_holds_presale(
    outcome: Outcome,
) -> None:
    for a in outcome.archetypes:
        if a.archetype in POOR_SERVICE:
            assert a.privileges["any_reward"] <= 0.15, (a.archetype, a.privileges)
            assert a.levels["excellent"] <= 0.15, (a.archetype, a.levels)
    abusers = next(a for a in outcome.archetypes if a.archetype == "presale_abuser")
    assert abusers.privileges["presale"] == 0.0


def test_good_merchants_are_rewarded_not_punished(outcome: Outcome) -> None:
    good = next(a for a in outcome.archetypes if a.archetype == "good")
    assert good.at_node <= 0.005, good
    assert good.privileges["any_reward"] >= 0.70, good.privileges


def test_detectors_find_their_archetypes(outcome: Outcome) -> None:
    # violations that earned points, by merchant: the serious-fraud rules stay sharp
    for r in outcome.rules:
        if r.rule_id in ("fake_shipment", "malicious_non_shipment", "fake_inventory"):
            assert r.precision is not None and r.precision >= 0.9, r
            assert r.recall is not None and r.recall >= 0.9, r
