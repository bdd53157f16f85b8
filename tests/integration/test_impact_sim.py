"""The impact estimate against a known true effect, on a simulated market.

The market starts a week before the 618 promotion, so the first penalties fall right after
it: the merchants' "before" holds the promotion's strained fulfilment and their "after" does
not — the seasonal confound of the seeds' naive before/after (and regression to the mean
besides). Enforcement runs every 14 days under the default policy with the A ladder's step
halved (6 points): a market this small then has a few dozen penalised merchants instead of
a dozen, among them the big shops the promotion overwhelmed.

1. The market is simulated without any response (the placebo: the true effect is 0) and
   enforced; each merchant's first ship-timeout or fake-shipment penalty is taken.
2. The same seed is simulated again with those merchants responding from their penalty day
   on (``tiyan.sim.Response``: half of their orders prepared at a good merchant's pace, or
   half of their fake shipments shipped for real), and enforced the same way. A merchant
   penalised under both rules gets no response, so that neither response moves the other
   rule's metric (a fake shipment is also a missed pickup).
3. The true effect is exact: the mean over the treated of (their metric after the penalty
   with the response - the same without it), from the two stores' ``metric_daily``.

Checked on seeds 3, 5 and 8 while developing (figures in docs/impact.md): every assertion
below holds on all three; each comment gives the margins measured. The test runs seed 3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tiyan.ingest.load import ingest
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.files import load_policy
from tiyan.policy.rules import TARGET_METRIC
from tiyan.policy.schema import Policy
from tiyan.reports.impact import RuleImpact, estimate_impact, first_penalties
from tiyan.sim import Response, SimConfig, write_parquet
from tiyan.store import Store, open_store

pytestmark = pytest.mark.slow

CONFIG = SimConfig(merchants=500, orders=150_000, days=120, seed=3, start=date(2024, 6, 5))
AS_OF = CONFIG.start + timedelta(days=CONFIG.days)
ENFORCE_EVERY = 14
DAYS = 30
#: The known improvement of each validated rule's penalised merchants.
RESPONSE = {"ship_timeout": {"ships_on_time": 0.5}, "fake_shipment": {"stops_faking": 0.5}}


def policy() -> Policy:
    """The default policy with the A ladder's step halved (module docstring)."""
    base = load_policy()
    ladder = base.consequences.ladder
    ladder = ladder.model_copy(update={"a_every": ladder.a_every.model_copy(update={"points": 6})})
    return base.model_copy(
        update={"consequences": base.consequences.model_copy(update={"ladder": ladder})}
    )


def build(cfg: SimConfig, folder: Path) -> Path:
    """Simulate, ingest, enforce every ENFORCE_EVERY days, compute the daily partials."""
    write_parquet(cfg, folder / "data")
    db = folder / "tiyan.duckdb"
    with open_store(str(db)) as store:
        report = ingest(store, [folder / "data"], now=datetime(2024, 12, 1))
        assert report.status == "loaded"
        rules = policy()
        day = cfg.start + timedelta(days=ENFORCE_EVERY)
        while day <= AS_OF:
            run_enforcement(store, as_of=day, policy=rules)
            day += timedelta(days=ENFORCE_EVERY)
        run_scoring(store, as_of=AS_OF)
    return db


def window_value(store: Store, metric_id: str, merchant_id: str, first: date, last: date) -> Any:
    """The metric over local days first..last, straight from metric_daily."""
    num, den = store.query(
        "SELECT sum(num), sum(den) FROM metric_daily WHERE metric_id = ? AND merchant_id = ? "
        "AND day BETWEEN ? AND ?",
        (metric_id, merchant_id, first, last),
    )[0]
    return DEFINITIONS[metric_id].value(num, den)


@dataclass(frozen=True)
class Validation:
    placebo: dict[str, RuleImpact]
    response: dict[str, RuleImpact]
    #: Rule -> (true effect, merchants it is the mean over).
    true: dict[str, tuple[float, int]]
    same_penalties: bool


def validate(cfg: SimConfig, folder: Path) -> Validation:
    """Steps 1-3 of the module docstring."""
    db0 = build(cfg, folder / "placebo")
    with open_store(str(db0)) as store:
        first = first_penalties(store, as_of=AS_OF, days=DAYS)
        placebo = {r.rule_id: r for r in estimate_impact(store, as_of=AS_OF, days=DAYS)}
    both = set(first.get("ship_timeout", {})) & set(first.get("fake_shipment", {}))
    responses = tuple(
        Response(merchant_id, day, **RESPONSE[rule_id])
        for rule_id in sorted(RESPONSE)
        for merchant_id, day in first.get(rule_id, {}).items()
        if merchant_id not in both
    )
    db1 = build(replace(cfg, responses=responses), folder / "response")
    true: dict[str, tuple[float, int]] = {}
    with open_store(str(db0)) as s0, open_store(str(db1)) as s1:
        first1 = first_penalties(s1, as_of=AS_OF, days=DAYS)
        response = {r.rule_id: r for r in estimate_impact(s1, as_of=AS_OF, days=DAYS)}
        for rule_id in RESPONSE:
            metric_id = TARGET_METRIC[rule_id]
            gains = []
            for merchant_id, day in first1.get(rule_id, {}).items():
                before = (day - timedelta(days=DAYS), day - timedelta(days=1))
                after = (day + timedelta(days=1), day + timedelta(days=DAYS))
                with_response = window_value(s1, metric_id, merchant_id, *after)
                if window_value(s1, metric_id, merchant_id, *before) is None or (
                    with_response is None
                ):
                    continue  # not measured by the estimator either
                gains.append(with_response - window_value(s0, metric_id, merchant_id, *after))
            true[rule_id] = (sum(gains) / len(gains), len(gains))
    same = all(first.get(r) == first1.get(r) for r in RESPONSE)
    return Validation(placebo, response, true, same)


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> Validation:
    return validate(CONFIG, tmp_path_factory.mktemp("impact"))


def test_responses_leave_the_penalties_they_answer_unchanged(validation: Validation) -> None:
    # A response starts after its penalty: the treated merchants and days are the same in
    # both worlds, so the estimates compare like with like.
    assert validation.same_penalties
    for rule_id in RESPONSE:
        assert validation.response[rule_id].treated == validation.true[rule_id][1]
        assert validation.placebo[rule_id].treated == validation.true[rule_id][1]


def test_ship_timeout_interval_holds_the_true_effect_and_the_naive_overstates_it(
    validation: Validation,
) -> None:
    r = validation.response["ship_timeout"]
    true, _ = validation.true["ship_timeout"]
    print(f"ship_timeout: true {true:+.4f}, {r}")
    assert true < -0.1  # a real improvement (seed 3: -0.18; seeds 5, 8: -0.11, -0.13)
    assert r.ci_low <= true <= r.ci_high
    # The naive before/after adds the season's and chance's improvement to the true one
    # (seed 3: -0.28 against -0.18; at least 0.06 more on seeds 3, 5 and 8).
    # The estimate is nearer the truth (off by 0.04, 0.04, 0.01 on seeds 3, 5, 8).
    assert r.naive < true - 0.04
    assert abs(r.effect - true) < abs(r.naive - true)


def test_ship_timeout_placebo_interval_holds_zero_while_the_naive_improves(
    validation: Validation,
) -> None:
    r = validation.placebo["ship_timeout"]
    print(f"ship_timeout placebo: {r}")
    assert r.ci_low <= 0.0 <= r.ci_high
    # Nobody changed, yet the penalised merchants "improved" (seed 3: -0.11, -20 %; seeds 5
    # and 8: -0.06, -15 % and -0.12, -26 %), while the estimate stays near 0 (-0.04, +0.04,
    # +0.01).
    assert r.naive < -0.04
    assert r.naive_relative is not None and r.naive_relative < -0.08
    assert abs(r.effect) < abs(r.naive)


def test_fake_shipment_interval_holds_the_true_effect_and_zero_in_the_placebo(
    validation: Validation,
) -> None:
    # Fake shipping has no season in the simulator and fake shippers fake steadily, so the
    # naive figure is not inflated here: only the intervals are checked.
    r, p = validation.response["fake_shipment"], validation.placebo["fake_shipment"]
    true, _ = validation.true["fake_shipment"]
    print(f"fake_shipment: true {true:+.4f}, {r}\n  placebo {p}")
    # Diluted: fake shippers also penalised for ship timeouts get no response (seed 3: -0.05;
    # seeds 5, 8: -0.02, -0.13).
    assert true < -0.02
    assert r.ci_low <= true <= r.ci_high
    assert p.ci_low <= 0.0 <= p.ci_high
