"""On a simulated market of ~200k orders, bad archetypes score below good merchants of their
category in the dimension they damage (the simulator's ground truth is ``sim_truth``)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARCHETYPE_MARKET
from tiyan.jobs.scoring import run_scoring
from tiyan.sim import SimConfig
from tiyan.store import open_store

pytestmark = pytest.mark.slow

CONFIG = SimConfig(**ARCHETYPE_MARKET)
AS_OF = CONFIG.start + timedelta(days=CONFIG.days)

#: Archetype -> the dimension it damages, and the metric that carries the damage.
DAMAGE = {
    "slow_shipper": ("logistics", "pickup_timely_weighted"),
    "fake_shipper": ("logistics", "fake_shipment_rate"),
    "malicious_non_shipper": ("logistics", "merchant_cancel_rate"),
    "fake_inventory": ("logistics", "merchant_cancel_rate"),
    "presale_abuser": ("logistics", "presale_timeout_rate"),
    "passive_service": ("service", "im_3min_reply_rate"),
    "low_quality": ("product", "negative_review_rate"),
}


def auc(bad: list[tuple[str, float]], good: list[tuple[str, float]], lower_is_worse: bool) -> float:
    """P(a good merchant of the same category is better than a bad one); ties count half."""
    pairs = wins = 0.0
    for category, b in bad:
        for cat, g in good:
            if cat != category:
                continue
            pairs += 1
            if g == b:
                wins += 0.5
            elif (g > b) == lower_is_worse:
                wins += 1
    assert pairs > 0
    return wins / pairs


@pytest.fixture(scope="module")
def scored(archetype_store: Path) -> dict[str, Any]:
    with open_store(str(archetype_store)) as store:
        summary = run_scoring(store, as_of=AS_OF)
        scores = store.query(
            "SELECT s.merchant_id, t.archetype, s.category, s.product, s.logistics, s.service "
            "FROM scores s JOIN sim_truth t USING (merchant_id) "
            "WHERE s.as_of = ? AND s.status = 'scored'",
            (AS_OF,),
        )
        values = store.query(
            "SELECT subject_id, metric_id, value FROM metric_values "
            "WHERE as_of = ? AND scope = 'merchant' AND value IS NOT NULL",
            (AS_OF,),
        )
    return {"summary": summary, "scores": scores, "values": values}


@pytest.mark.parametrize("archetype", sorted(DAMAGE))
def test_archetypes_score_below_good_merchants(archetype: str, scored: dict[str, Any]) -> None:
    dimension, metric_id = DAMAGE[archetype]
    column = {"product": 3, "logistics": 4, "service": 5}[dimension]
    rows = scored["scores"]
    bad = [(r[2], r[column]) for r in rows if r[1] == archetype]
    good = [(r[2], r[column]) for r in rows if r[1] == "good"]
    assert len(bad) >= 8, f"too few {archetype} merchants scored"
    dim_auc = auc(bad, good, lower_is_worse=True)
    assert dim_auc >= 0.9, f"{archetype}: {dimension} AUC {dim_auc:.3f}"

    from tiyan.metrics.catalog import DEFINITIONS

    category = {r[0]: r[2] for r in rows}
    arche = {r[0]: r[1] for r in rows}
    metric = [(m, v) for m, mid, v in scored["values"] if mid == metric_id and m in category]
    bad_m = [(category[m], v) for m, v in metric if arche[m] == archetype]
    good_m = [(category[m], v) for m, v in metric if arche[m] == "good"]
    higher_is_better = DEFINITIONS[metric_id].direction.value == "higher"
    metric_auc = auc(bad_m, good_m, lower_is_worse=higher_is_better)
    print(f"{archetype}: {dimension} AUC {dim_auc:.3f}, {metric_id} AUC {metric_auc:.3f}")
    assert metric_auc >= 0.9, f"{archetype}: {metric_id} AUC {metric_auc:.3f}"


def test_most_merchants_are_scored(scored: dict[str, Any]) -> None:
    summary = scored["summary"]
    assert summary.merchants == CONFIG.merchants
    assert summary.scored >= 0.85 * CONFIG.merchants
    assert date(2024, 7, 30) == AS_OF
