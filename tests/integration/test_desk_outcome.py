"""Issue 15's outcome on a simulated market: the desk's requests follow the market, passive-
service merchants breach their deadlines far more often than good merchants, and through
the merchant breach rate the service dimension of the score ranks them lower (AUC ≥ 0.9),
lower than it did without the desk."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARCHETYPE_MARKET
from tests.integration.test_score_archetypes import auc
from tiyan.jobs.desk import import_history, read_histories, sweep_breaches
from tiyan.jobs.scoring import run_scoring
from tiyan.policy.files import load_policy
from tiyan.sim import SimConfig
from tiyan.sim.desk import write_desk
from tiyan.store import open_store

pytestmark = pytest.mark.slow

CONFIG = SimConfig(**ARCHETYPE_MARKET)
AS_OF = CONFIG.start + timedelta(days=CONFIG.days)


def _scores(store: Any) -> dict[str, tuple[str, str, float]]:
    return {
        m: (archetype, category, service)
        for m, archetype, category, service in store.query(
            "SELECT s.merchant_id, t.archetype, s.category, s.service "
            "FROM scores s JOIN sim_truth t USING (merchant_id) "
            "WHERE s.as_of = ? AND s.status = 'scored'",
            (AS_OF,),
        )
    }


@pytest.fixture(scope="module")
def desk_market(archetype_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("desk_market")
    db = folder / "tiyan.duckdb"
    shutil.copy(archetype_store, db)
    data = archetype_store.parent / "data"
    now = datetime(2024, 9, 1, tzinfo=UTC)
    policy = load_policy(as_of=AS_OF)
    with open_store(str(db)) as store:
        run_scoring(store, as_of=AS_OF, policy=policy)
        before = _scores(store)
        count = write_desk(data, folder / "desk.jsonl", seed=5, desk=policy.desk)
        parsed, refused = read_histories(
            (folder / "desk.jsonl").read_text(encoding="utf-8").splitlines(), source="desk.jsonl"
        )
        report = import_history(store, policy.desk, parsed, policy_version=policy.version,
                                now=now)  # fmt: skip
        swept = sweep_breaches(store, policy.desk, now=now)
        run_scoring(store, as_of=AS_OF, policy=policy)
        after = _scores(store)
        breach = {
            subject: num / den
            for subject, num, den in store.query(
                "SELECT subject_id, numerator, denominator FROM metric_values "
                "WHERE as_of = ? AND scope = 'merchant' AND metric_id = ? AND denominator > 0",
                (AS_OF, "desk_merchant_breach_rate"),
            )
        }
    return {"count": count, "refused": refused, "report": report, "swept": swept,
            "before": before, "after": after, "breach": breach}  # fmt: skip


def test_the_desk_follows_the_market_and_imports_whole(desk_market: dict[str, Any]) -> None:
    orders = CONFIG.orders
    assert 0.005 * orders <= desk_market["count"] <= 0.04 * orders
    assert desk_market["refused"] == [] and desk_market["report"].rejected == []
    assert desk_market["report"].imported == desk_market["count"]


def test_passive_merchants_breach_more_and_score_lower_in_service(
    desk_market: dict[str, Any],
) -> None:
    after, breach = desk_market["after"], desk_market["breach"]
    bad = [
        (after[m][1], breach[m]) for m in breach if m in after and after[m][0] == "passive_service"
    ]
    good = [(after[m][1], breach[m]) for m in breach if m in after and after[m][0] == "good"]
    assert len(bad) >= 8, "too few passive merchants with a measured breach rate"
    # a higher breach rate is worse: lower_is_worse=False
    assert auc(bad, good, lower_is_worse=False) >= 0.9
    service = [(c, s) for a, c, s in after.values() if a == "passive_service"]
    good_service = [(c, s) for a, c, s in after.values() if a == "good"]
    assert auc(service, good_service, lower_is_worse=True) >= 0.9


def test_the_breach_rate_enters_the_service_dimension(desk_market: dict[str, Any]) -> None:
    before, after = desk_market["before"], desk_market["after"]
    passive = [m for m, (a, _, _) in after.items() if a == "passive_service" and m in before]
    drops = [before[m][2] - after[m][2] for m in passive]
    assert drops and sum(drops) / len(drops) > 0, "passive merchants' service score did not drop"
