"""The impact estimator on small hand-built panels, checked against a plain computation of
the difference in differences; its interval's coverage; the simulator's known responses."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tiyan.domain.model import GOVERNANCE_TABLES, TABLES
from tiyan.reports.impact import _interval, _t_quantile, _Unit, estimate_impact
from tiyan.sim import Response, SimConfig, simulate
from tiyan.store import Store, open_store

D = date(2024, 7, 1)  # the penalty day of the panel
AS_OF = D + timedelta(days=50)
METRIC = "ship_timeout_rate"

#: merchant -> (category, before value, after value, before and after volume)
PANEL: dict[str, tuple[str, float, float, int]] = {
    "T1": ("apparel", 0.50, 0.20, 100),  # treated
    "T2": ("apparel", 0.30, 0.25, 100),  # treated
    "C1": ("apparel", 0.48, 0.40, 50),
    "C2": ("apparel", 0.525, 0.46, 50),
    "C3": ("apparel", 0.31, 0.30, 40),
    "C4": ("apparel", 0.285, 0.20, 40),
    "C5": ("apparel", 0.10, 0.10, 60),
    "C6": ("apparel", 0.50, 0.00, 5),  # as bad on 5 orders: below the volume floor
    "C7": ("beauty", 0.50, 0.45, 80),  # as bad, another category
    "C8": ("apparel", 0.49, 0.10, 60),  # penalised inside T1's window: not a control
    "C9": ("apparel", 0.505, 0.44, 60),  # penalised after the window: "not yet treated"
    "T3": ("apparel", 0.60, 0.30, 80),  # penalised too late for a complete after-window
    "T4": ("apparel", 0.50, 0.30, 80),  # its penalty was lifted on appeal
}
#: merchant -> penalty days (ledger A; attributed to ship_timeout by its points)
PENALTIES = {
    "T1": [D, D + timedelta(days=20)],  # the first counts
    "T2": [D],
    "C8": [D + timedelta(days=25)],
    "C9": [D + timedelta(days=45)],
    "T3": [D + timedelta(days=35)],
    "T4": [D],
}


def add(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    spec = TABLES.get(table) or GOVERNANCE_TABLES[table]
    store.replace_rows(spec, [tuple(r.get(c.name) for c in spec.columns) for r in rows], "1 = 0")


def panel_store(path: Path, panel: dict[str, tuple[str, float, float, int]]) -> Store:
    store = open_store(str(path))
    add(store, "merchants", [{"merchant_id": m, "name": m, "category": c}
                             for m, (c, *_rest) in panel.items()])  # fmt: skip
    daily = []
    for m, (_c, before, after, volume) in panel.items():
        # Spread over two days each side: a window is a sum of days.
        for day, value in (
            (D - timedelta(days=3), before),
            (D - timedelta(days=20), before),
            (D + timedelta(days=4), after),
            (D + timedelta(days=25), after),
        ):
            daily.append({"metric_id": METRIC, "merchant_id": m, "day": day,
                          "num": value * volume / 2, "den": volume / 2})  # fmt: skip
        # The penalty day itself belongs to neither side.
        daily.append(
            {"metric_id": METRIC, "merchant_id": m, "day": D, "num": volume, "den": volume}
        )
    add(store, "metric_daily", daily)
    actions = []
    for m, days in PENALTIES.items():
        if m not in panel:
            continue
        for day in days:
            actions.append({"action_id": f"points:{m}:{day}", "kind": "points", "merchant_id": m,
                            "rule_id": "ship_timeout", "ledger": "A", "points": 6.0,
                            "day": day - timedelta(days=2), "as_of": day})  # fmt: skip
            actions.append({"action_id": f"penalty:{m}:A:{day}", "kind": "penalty",
                            "merchant_id": m, "ledger": "A", "measure": "suspension",
                            "day": day, "as_of": day})  # fmt: skip
    actions.append({"action_id": f"reversal:penalty:T4:A:{D}", "kind": "reversal",
                    "merchant_id": "T4", "ledger": "A", "day": D + timedelta(days=3),
                    "as_of": D + timedelta(days=3)})  # fmt: skip
    add(store, "actions", actions)
    return store


def test_did_against_a_plain_computation(tmp_path: Path) -> None:
    with panel_store(tmp_path / "panel.duckdb", PANEL) as store:
        (r,) = estimate_impact(store, as_of=AS_OF, controls_per_treated=2)
    # By hand: T1 (0.50) -> C9 (0.505) and C1 (0.48); C2 (0.525) is farther, C6 too small,
    # C7 of another category, C8 and T4 penalised inside the window. T2 (0.30) -> C3 (0.31)
    # and C4 (0.285). T3's after-window is not complete by AS_OF.
    matches = {"T1": ["C9", "C1"], "T2": ["C3", "C4"]}

    def diff(m: str) -> float:
        return PANEL[m][2] - PANEL[m][1]

    contrasts = [diff(t) - sum(diff(c) for c in cs) / len(cs) for t, cs in matches.items()]
    assert (r.rule_id, r.metric_id) == ("ship_timeout", METRIC)
    assert r.treated == 2
    assert r.controls == 4
    assert r.before == pytest.approx((0.50 + 0.30) / 2)
    assert r.after == pytest.approx((0.20 + 0.25) / 2)
    assert r.naive == pytest.approx(r.after - r.before)
    assert r.naive_relative == pytest.approx(r.naive / r.before)
    assert r.effect == pytest.approx(sum(contrasts) / 2)
    assert r.relative == pytest.approx(r.effect / r.before)
    assert r.ci_low < r.effect < r.ci_high
    assert r.confidence == 0.95


def test_too_few_in_the_category_falls_back_to_every_category(tmp_path: Path) -> None:
    # Only T1 and three controls, two of them in beauty.
    panel = {m: PANEL[m] for m in ("T1", "C1", "C7")} | {"C10": ("beauty", 0.45, 0.45, 30)}
    with panel_store(tmp_path / "panel.duckdb", panel) as store:
        (r,) = estimate_impact(store, as_of=AS_OF, controls_per_treated=2)
    # One apparel control is too few: the nearest of all, C7 (0.50) and C1 (0.48).
    expected = (0.20 - 0.50) - ((0.45 - 0.50) + (0.40 - 0.48)) / 2
    assert r.effect == pytest.approx(expected)
    assert r.treated == 1 and r.controls == 2


def test_no_measured_penalty_no_row(tmp_path: Path) -> None:
    panel = {m: PANEL[m] for m in ("T3", "C1", "C2", "C3")}
    with panel_store(tmp_path / "panel.duckdb", panel) as store:
        assert estimate_impact(store, as_of=AS_OF) == []
        with pytest.raises(ValueError, match="confidence"):
            estimate_impact(store, as_of=AS_OF, confidence=1.5)


def test_t_quantiles_match_the_tables() -> None:
    for df, expected in ((3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042), (200, 1.972)):
        assert _t_quantile(0.975, df) == pytest.approx(expected, abs=0.004)
    assert _t_quantile(0.95, 10) == pytest.approx(1.812, abs=0.002)


def test_interval_covers_the_true_effect_at_its_level_with_shared_controls() -> None:
    # 15 treated, 5 controls each from a pool of 12: every control serves about six. The
    # contrasts then share noise; without the term for it the interval would be too narrow.
    rng = random.Random(20240618)
    reps, hits, narrow_hits = 2000, 0, 0
    for _ in range(reps):
        pool = [_Unit(f"C{j}", None, 0.0, rng.gauss(0, 1), 50) for j in range(12)]
        sets = []
        for i in range(15):
            treated = _Unit(f"T{i}", None, 0.0, 0.3 + rng.gauss(0, 1), 50)
            sets.append((treated, rng.sample(pool, 5)))
        _effect, low, high = _interval(sets, 0.95)
        hits += low <= 0.3 <= high
        contrasts = [t.diff - sum(c.diff for c in cs) / 5 for t, cs in sets]
        mean = sum(contrasts) / 15
        se = (sum((c - mean) ** 2 for c in contrasts) / (15 * 14)) ** 0.5
        narrow_hits += abs(mean - 0.3) <= _t_quantile(0.975, 14) * se
    assert 0.93 <= hits / reps <= 0.975, hits / reps
    assert narrow_hits / reps < 0.93, narrow_hits / reps  # why the term is there


# The simulator's known responses.

SMALL = SimConfig(merchants=40, orders=6_000, days=40, seed=5)
DAY = SMALL.start + timedelta(days=15)


def market(cfg: SimConfig) -> dict[str, Any]:
    chunks: dict[str, list[Any]] = {}
    for name, chunk in simulate(cfg):
        chunks.setdefault(name, []).append(chunk)
    return {name: pa.concat_tables(c) for name, c in chunks.items()}


def test_a_response_changes_only_its_merchants_later_orders() -> None:
    plain = market(SMALL)
    truth = plain["sim_truth"].to_pylist()
    slow = next(r["merchant_id"] for r in truth if r["archetype"] == "slow_shipper")
    faker = max((r for r in truth if r["archetype"] == "fake_shipper"),
                key=lambda r: r["fake_shipments"])["merchant_id"]  # fmt: skip
    responses = (Response(slow, DAY, ships_on_time=1.0), Response(faker, DAY, stops_faking=1.0))
    cfg = replace(SMALL, responses=responses)
    changed = market(cfg)
    for name in ("merchants", "products", "consumers"):
        assert changed[name].equals(plain[name])
    cut = (DAY + timedelta(days=1)).isoformat()

    def orders(tables: dict[str, Any], merchant: str | None) -> list[dict[str, Any]]:
        rows = tables["orders"].to_pylist()
        return [r for r in rows if merchant is None or r["merchant_id"] == merchant]

    # Every other merchant's orders, and the two merchants' orders up to the day, are equal.
    responding = {slow, faker}
    same = [r for r in orders(plain, None)
            if r["merchant_id"] not in responding or local_day(r["paid_at"]) < cut]  # fmt: skip
    mine = [r for r in orders(changed, None)
            if r["merchant_id"] not in responding or local_day(r["paid_at"]) < cut]  # fmt: skip
    assert same == mine
    assert orders(changed, slow) != orders(plain, slow)
    # ...and the rest of the market's misconduct counts too, while the faker fakes less.
    before = {r["merchant_id"]: r for r in truth}
    after = {r["merchant_id"]: r for r in changed["sim_truth"].to_pylist()}
    assert {m: r for m, r in after.items() if m != faker} == {
        m: r for m, r in before.items() if m != faker
    }
    assert after[faker]["fake_shipments"] < before[faker]["fake_shipments"]
    # The slow shipper hands its later parcels over faster.
    assert mean_handover_hours(changed, slow, cut) < 0.6 * mean_handover_hours(plain, slow, cut)


def local_day(t: Any) -> str:
    # paid_at is UTC; the market's local time is UTC+8.
    return str((t + timedelta(hours=8)).date())


def mean_handover_hours(tables: dict[str, Any], merchant: str, cut: str) -> float:
    paid = {r["order_id"]: r["paid_at"] for r in tables["orders"].to_pylist()
            if r["merchant_id"] == merchant and local_day(r["paid_at"]) >= cut}  # fmt: skip
    hours = [(s["shipped_at"] - paid[s["order_id"]]).total_seconds() / 3600
             for s in tables["shipments"].to_pylist()
             if s["order_id"] in paid and s["shipped_at"] is not None]  # fmt: skip
    return sum(hours) / len(hours)


def test_responses_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown merchant"):
        SimConfig(merchants=10, responses=(Response("M000011", DAY, ships_on_time=0.5),))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Response("M000001", DAY, stops_faking=1.5)
    with pytest.raises(ValueError, match="two ships_on_time"):
        SimConfig(merchants=10, responses=(Response("M000001", DAY, ships_on_time=0.5),
                                           Response("M000001", D, ships_on_time=0.2)))  # fmt: skip
    # Frozen and hashable, like every config.
    assert hash(SimConfig(responses=(Response("M000001", DAY, ships_on_time=0.5),)))
