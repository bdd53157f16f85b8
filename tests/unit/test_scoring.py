"""The score's properties, checked on generated merchants (no store)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiyan.domain.metrics import Direction
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.files import load_policy
from tiyan.scoring.score import (
    INSUFFICIENT,
    SCORED,
    MerchantMetrics,
    ViolationRecord,
    score_merchants,
)

SCORING = load_policy().scoring
SCORED_METRICS = [m for dim in SCORING.dimensions.values() for m in dim.metrics]
VOLUME = "valid_orders"


def merchant(
    merchant_id: str, category: str, orders: int, sums: dict[str, tuple[float, float]]
) -> MerchantMetrics:
    return MerchantMetrics(
        merchant_id, category, "specialty", orders, {VOLUME: (orders, orders), **sums}
    )


@st.composite
def markets(draw: st.DrawFn) -> list[MerchantMetrics]:
    """A few categories of merchants with random sums for every scored metric."""
    count = draw(st.integers(2, 14))
    out = []
    for i in range(count):
        orders = draw(st.integers(0, 400))
        sums: dict[str, tuple[float, float]] = {}
        for metric_id in SCORED_METRICS:
            if draw(st.booleans()):
                continue  # no data for this metric
            den = draw(st.integers(1, 300))
            share = DEFINITIONS[metric_id].unit.value == "share"
            num = draw(st.integers(0, den)) if share else draw(st.integers(0, den * 200_000))
            if metric_id == "pickup_timely_weighted":
                num = draw(st.integers(0, den * 100))
            sums[metric_id] = (float(num), float(den))
        out.append(merchant(f"m{i:02d}", draw(st.sampled_from(["food", "home"])), orders, sums))
    return out


@settings(max_examples=150, deadline=None)
@given(markets())
def test_scores_stay_in_range(market: list[MerchantMetrics]) -> None:
    for s in score_merchants(market, SCORING):
        if s.status == INSUFFICIENT:
            assert s.score is None and s.level is None
            assert s.valid_orders < SCORING.min_valid_orders
            continue
        assert s.score is not None
        assert SCORING.points_floor <= s.score <= 100
        for value in s.dimensions.values():
            assert value is None or 0 <= value <= 100
        assert s.display_score is not None and 3.0 <= s.display_score <= 5.0
        assert s.level == SCORING.level_of(s.score)
        for m in s.metrics:
            assert m.percentile is not None and 0 <= m.percentile <= 1
        assert len(s.improvements) <= 3
        assert all(i.gain > 0 for i in s.improvements)


@settings(max_examples=150, deadline=None)
@given(markets(), st.randoms(use_true_random=False))
def test_scores_do_not_depend_on_row_order(
    market: list[MerchantMetrics], rnd: random.Random
) -> None:
    shuffled = list(market)
    rnd.shuffle(shuffled)
    assert score_merchants(shuffled, SCORING) == score_merchants(market, SCORING)


@settings(max_examples=200, deadline=None)
@given(markets(), st.sampled_from(SCORED_METRICS), st.integers(1, 50), st.data())
def test_more_defects_never_score_higher(
    market: list[MerchantMetrics], metric_id: str, extra: int, data: st.DataObject
) -> None:
    """Two merchants alike in everything but one metric: the one with more defects (a
    worse numerator over the same denominator) never scores higher."""
    base = data.draw(st.sampled_from(market))
    if base.valid_orders < SCORING.min_valid_orders:
        return
    den = data.draw(st.integers(1, 300))
    num = data.draw(
        st.integers(0, den - 1 if DEFINITIONS[metric_id].unit.value == "share" else den)
    )
    higher_is_better = DEFINITIONS[metric_id].direction is Direction.HIGHER
    if metric_id == "pickup_timely_weighted":
        num = data.draw(st.integers(0, den * 100 - 1))
    scale_room = den * 100 if metric_id == "pickup_timely_weighted" else den
    worse_num = max(0, num - extra) if higher_is_better else num + extra
    if DEFINITIONS[metric_id].unit.value == "share":
        worse_num = min(worse_num, scale_room)
    better = MerchantMetrics(
        "twin-a", base.category, base.store_type, base.valid_orders,
        {**base.sums, metric_id: (float(num), float(den))},
    )  # fmt: skip
    worse = MerchantMetrics(
        "twin-b", base.category, base.store_type, base.valid_orders,
        {**base.sums, metric_id: (float(worse_num), float(den))},
    )  # fmt: skip
    scores = {s.merchant_id: s for s in score_merchants([*market, better, worse], SCORING)}
    a, b = scores["twin-a"], scores["twin-b"]
    assert a.score is not None and b.score is not None
    assert b.score <= a.score + 1e-9
    for dim in a.dimensions:
        assert (b.dimensions[dim] or 0) <= (a.dimensions[dim] or 0) + 1e-9


def test_small_merchants_get_no_score_and_a_provisional_one() -> None:
    market = [merchant(f"m{i}", "food", 100, {"ship_timeout_rate": (i, 100)}) for i in range(6)]
    market.append(MerchantMetrics("new", "food", "flagship", 29, {VOLUME: (29, 29)}))
    market.append(MerchantMetrics("tiny", "food", None, 3, {VOLUME: (3, 3)}))
    scores = {s.merchant_id: s for s in score_merchants(market, SCORING)}
    assert scores["new"].status == INSUFFICIENT and scores["new"].provisional_score == 70
    assert scores["tiny"].provisional_score == 65
    assert scores["m0"].status == SCORED


def test_shrinkage_pulls_small_merchants_toward_their_peers() -> None:
    """The same 20% timeout rate costs a 10-order merchant fewer points than a 1,000-order
    one: its rate is less certain, so it is pulled toward the peers' 2%."""
    peers = [merchant(f"p{i}", "food", 500, {"ship_timeout_rate": (10, 500)}) for i in range(8)]
    small = merchant("small", "food", 500, {"ship_timeout_rate": (2, 10)})
    large = merchant("large", "food", 500, {"ship_timeout_rate": (200, 1000)})
    scores = {s.merchant_id: s for s in score_merchants([*peers, small, large], SCORING)}
    shrunk = {
        name: next(m for m in scores[name].metrics if m.metric_id == "ship_timeout_rate")
        for name in ("small", "large")
    }
    assert shrunk["small"].value == shrunk["large"].value == pytest.approx(0.2)
    assert shrunk["small"].shrunk is not None and shrunk["large"].shrunk is not None
    assert shrunk["small"].shrunk < shrunk["large"].shrunk
    assert 0.02 < shrunk["small"].shrunk < 0.2
    assert scores["small"].score is not None and scores["large"].score is not None
    assert scores["small"].score > scores["large"].score


def test_a_metric_below_its_minimum_volume_sits_at_the_peer_value() -> None:
    peers = [
        merchant(f"p{i}", "food", 200, {"delivery_hours": (i * 3600 * 50, 50)}) for i in range(6)
    ]
    few = merchant("few", "food", 200, {"delivery_hours": (500 * 3600 * 2, 2)})  # 2 < min 5
    scores = {s.merchant_id: s for s in score_merchants([*peers, few], SCORING)}
    metric = next(m for m in scores["few"].metrics if m.metric_id == "delivery_hours")
    assert metric.shrunk == pytest.approx(metric.peer_value)


def test_excellent_logistics_standard_floors_the_dimension() -> None:
    excellent = {
        "pickup_48h_rate": (99, 100),
        "ship_timeout_rate": (0, 100),
        "fake_shipment_rate": (0, 100),
        "pickup_timely_weighted": (5000, 100),  # 50%: last among peers
    }
    peers = [
        merchant(f"p{i}", "food", 100, {**excellent, "pickup_timely_weighted": (9000 + i, 100)})
        for i in range(6)
    ]
    star = merchant("star", "food", 100, excellent)
    lacks = merchant("lacks", "food", 100, {**excellent, "ship_timeout_rate": (5, 100)})
    scores = {s.merchant_id: s for s in score_merchants([*peers, star, lacks], SCORING)}
    assert "excellent_logistics" in scores["star"].standards_met
    assert scores["star"].dimensions["logistics"] == pytest.approx(90)
    assert "excellent_logistics" not in scores["lacks"].standards_met
    assert (scores["lacks"].dimensions["logistics"] or 100) < 90


def test_improvements_name_the_metric_its_median_and_the_gain() -> None:
    peers = [merchant(f"p{i}", "food", 500, {"ship_timeout_rate": (10 + i, 500)}) for i in range(9)]
    late = merchant("late", "food", 500, {"ship_timeout_rate": (40, 500)})
    s = {x.merchant_id: x for x in score_merchants([*peers, late], SCORING)}["late"]
    (first,) = s.improvements
    assert first.metric_id == "ship_timeout_rate"
    assert first.current == pytest.approx(0.08) and first.target == pytest.approx(14.5 / 500)
    assert first.text.startswith("cut ship-timeout rate from 8.0% to the peer median 2.9% → +")
    assert first.text_zh.startswith("发货超时率从8.0%降至同行中位数2.9%")
    # The median is the group's, the merchant included. Moving to it is worth exactly what
    # re-scoring with the median says.
    moved = merchant("late", "food", 500, {"ship_timeout_rate": (14.5, 500)})
    again = {x.merchant_id: x for x in score_merchants([*peers, moved], SCORING)}["late"]
    assert s.score is not None and again.score is not None
    assert first.gain == pytest.approx(again.score - s.score)


def test_small_peer_groups_are_ranked_against_the_platform() -> None:
    food = [merchant(f"f{i}", "food", 100, {"ship_timeout_rate": (i, 100)}) for i in range(6)]
    lone = merchant("lone", "jewellery", 100, {"ship_timeout_rate": (3, 100)})
    scores = {s.merchant_id: s for s in score_merchants([*food, lone], SCORING)}
    assert scores["lone"].peer_group == "platform"
    assert scores["f0"].peer_group == "food"


@settings(max_examples=40, deadline=None)
@given(
    market=markets(), b_points=st.floats(0, 20), at_node=st.booleans(),
    a_points=st.floats(0, 30), a_at_node=st.booleans(),
)  # fmt: skip
def test_serious_violations_cap_the_level(
    market: list[MerchantMetrics], b_points: float, at_node: bool, a_points: float,
    a_at_node: bool,
) -> None:  # fmt: skip
    """A merchant with B-class points in the window is never excellent; one whose B total is
    at a ladder node never above fair (reference §1.3); A-class points of a third of a node
    in the window mean never excellent, the A node never above fair; more violations never
    raise a level."""
    target = market[0].merchant_id
    plain = {s.merchant_id: s for s in score_merchants(market, SCORING)}
    records = {
        target: ViolationRecord(
            b_points=b_points, at_node=at_node, a_points=a_points, a_at_node=a_at_node
        )
    }
    capped = {s.merchant_id: s for s in score_merchants(market, SCORING, records)}
    order = ("critical", "poor", "fair", "good", "excellent")
    for m, s in capped.items():
        if m != target:
            assert s == plain[m]  # the cap touches no one else
            continue
        if s.score is None:
            continue
        assert s.score <= plain[m].score  # type: ignore[operator]
        assert order.index(s.level or "critical") <= order.index(plain[m].level or "critical")
        if at_node or a_at_node:
            assert order.index(s.level or "") <= order.index("fair")
        elif b_points > 0 or a_points >= SCORING.violation_caps.a_points:
            assert s.level != "excellent"
        if s.capped_by is not None:
            assert s.ranked_score == plain[m].score and s.level == SCORING.level_of(s.score)
