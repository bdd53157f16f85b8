"""Privileges with hysteresis (pure): granted at the grant bar, kept down to the keep bar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tiyan.policy.files import load_policy
from tiyan.policy.privileges import Conditions, Privilege, Standing, changes

PRESALE = load_policy().privileges["presale"]
DAY = date(2024, 7, 1)


def standing(score: float | None, timeout: float | None = 0.01,
             last_b: date | None = None) -> Standing:  # fmt: skip
    return Standing(score, {"ship_timeout_rate": timeout}, last_b)


def walk(scores: list[tuple[float | None, float | None, date | None]]) -> list[bool]:
    """Whether the merchant holds presale after each day of ``scores``."""
    held: dict[tuple[str, str], bool] = {}
    out = []
    for i, (score, timeout, last_b) in enumerate(scores):
        day = DAY + timedelta(days=i)
        for merchant, name, granted, _why in changes(
            {"presale": PRESALE}, {"M1": standing(score, timeout, last_b)}, held, as_of=day
        ):
            held[(merchant, name)] = granted
        out.append(held.get(("M1", "presale"), False))
    return out


def test_scores_wobbling_between_the_bars_do_not_flap() -> None:
    # grant at 93, keep down to 90
    days = [(92, .01, None), (94, .01, None), (91, .01, None), (90, .01, None),
            (89, .01, None), (91, .01, None), (92.9, .01, None), (93, .01, None)]  # fmt: skip
    assert walk(days) == [False, True, True, True, False, False, False, True]


def test_metric_bars_have_their_own_hysteresis() -> None:
    # ship-timeout rate: grant at <= 5%, keep up to 8%
    days = [(93, .06, None), (93, .05, None), (93, .079, None), (93, .081, None),
            (93, .06, None)]  # fmt: skip
    assert walk(days) == [False, True, True, False, False]


def test_a_serious_violation_takes_it_away_for_the_policy_s_days() -> None:
    b = DAY + timedelta(days=1)
    days = [(93, 0.01, None), (93, 0.01, b), (93, 0.01, b)]
    assert walk(days) == [True, False, False]
    bar = PRESALE.grant.no_b_violation_days
    assert bar == 90  # the default policy: the scoring window
    assert walk([(93, 0.01, DAY - timedelta(days=bar))]) == [False]
    assert walk([(93, 0.01, DAY - timedelta(days=bar + 1))]) == [True]


def test_no_score_no_privilege_and_the_reasons_are_given() -> None:
    held = {("M1", "presale"): True}
    (change,) = changes({"presale": PRESALE}, {"M1": standing(None, None)}, held, as_of=DAY)
    merchant, name, granted, why = change
    assert (merchant, name, granted) == ("M1", "presale", False)
    assert "score none < 90" in why and "ship_timeout_rate has no value" in why


def test_presale_overdue_bars_presale_and_no_presale_orders_is_no_evidence() -> None:
    # §2.1: presale overdue is abuse that revokes presale; a merchant without presale orders
    # has no presale_timeout_rate, and ``missing: pass`` does not hold that against it
    def held_after(presale_rate: float | None) -> bool:
        s = Standing(95, {"ship_timeout_rate": 0.01, "presale_timeout_rate": presale_rate}, None)
        return any(g for _m, _n, g, _w in changes({"presale": PRESALE}, {"M1": s}, {}, as_of=DAY))

    assert held_after(None) and held_after(0.1)
    assert not held_after(0.11) and not held_after(0.6)
    keep = Standing(95, {"ship_timeout_rate": 0.01, "presale_timeout_rate": 0.16}, None)
    (change,) = changes({"presale": PRESALE}, {"M1": keep}, {("M1", "presale"): True}, as_of=DAY)
    assert change[2] is False and change[3] == ["presale_timeout_rate 0.16 > 0.15"]


def test_rewards_need_fulfilment_whatever_the_score() -> None:
    privileges = load_policy().privileges
    late = Standing(99, {"ship_timeout_rate": 0.3, "presale_timeout_rate": None}, None)
    on_time = Standing(99, {"ship_timeout_rate": 0.02, "presale_timeout_rate": None}, None)
    for name in ("commission_rebate", "traffic_boost", "excellent_badge"):
        rules = {name: privileges[name]}
        assert changes(rules, {"M1": late}, {}, as_of=DAY) == []
        assert changes(rules, {"M1": on_time}, {}, as_of=DAY) == [("M1", name, True, [])]


def test_unknown_metric_in_a_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="ship_timeout_rate"):
        Privilege(grant=Conditions(metrics={"ship_timeout": {"max": 0.1}}),
                  keep=Conditions())  # type: ignore[dict-item]  # fmt: skip


def test_a_score_measure_applies_below_a_level_and_lifts_with_a_margin() -> None:
    measure = load_policy().score_measures["no_campaign_signup"].as_privilege()
    held: dict[tuple[str, str], bool] = {}
    seen = []
    for i, score in enumerate([80, 75, 77, 78, 78.5, 76]):
        day = DAY + timedelta(days=i)
        for merchant, name, applied, _why in changes(
            {"no_campaign_signup": measure}, {"M1": standing(score)}, held, as_of=day
        ):
            held[(merchant, name)] = applied
        seen.append(held.get(("M1", "no_campaign_signup"), False))
    # applied at <= 75, kept up to 78, lifted above; not applied again at 76 (> 75)
    assert seen == [False, True, True, True, False, False]
