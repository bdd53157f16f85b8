"""The decisions package: its public API, request bodies, the Beta quantiles, the pure
verdicts, and its policy section (errors name the line and key)."""

from __future__ import annotations

import ast
import math
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

import tiyan.decisions
from tiyan.decisions import ExpressRefundRequest, PresaleRequest, ShipPromiseRequest
from tiyan.decisions._beta import beta_cdf, beta_ppf
from tiyan.decisions._ship_promise import PickupRecord, evaluate_ship_promise, tally_pickups
from tiyan.domain.errors import PolicyError
from tiyan.policy.files import load_policy, parse_policy

PACKAGE = Path(tiyan.decisions.__file__).parent
DEFAULT = (resources.files("tiyan") / "policies" / "default.yaml").read_text(encoding="utf-8")


def test_the_public_api() -> None:
    assert sorted(tiyan.decisions.__all__) == sorted(
        [
            "Decision",
            "Reason",
            "ExpressRefundRequest",
            "PresaleRequest",
            "ShipPromiseRequest",
            "decide_express_refund",
            "decide_presale",
            "decide_ship_promise",
            "decision_to_dict",
            "read_decision",
        ]
    )
    for name in tiyan.decisions.__all__:
        assert getattr(tiyan.decisions, name) is not None


def test_no_web_framework_cli_or_driver_inside() -> None:
    forbidden = {"fastapi", "starlette", "typer", "duckdb", "psycopg", "ibis"}
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, (path.name, name)
                if name.startswith("tiyan."):
                    assert name.split(".")[1] in {"decisions", "domain", "policy", "store"}, name


def test_request_bodies_are_strict_and_documented() -> None:
    for model in (ExpressRefundRequest, PresaleRequest, ShipPromiseRequest):
        schema = model.model_json_schema()
        assert schema["examples"], model
        assert all("description" in p for p in schema["properties"].values()), model
        for example in schema["examples"]:
            model.model_validate(example)
    with pytest.raises(ValidationError, match="extra"):
        PresaleRequest.model_validate({"merchant_id": "M1", "colour": "red"})
    base = {"order_id": "O1", "type": "refund_only", "reason": "other"}
    for bad in ("0", "-1", "1.001"):
        with pytest.raises(ValidationError):
            ExpressRefundRequest.model_validate({**base, "amount": bad})
    with pytest.raises(ValidationError):
        ExpressRefundRequest.model_validate({**base, "amount": "1", "type": "gift"})
    for hours in (0, 721):
        with pytest.raises(ValidationError):
            ShipPromiseRequest(merchant_id="M1", promise_hours=hours)
    r = ExpressRefundRequest.model_validate(
        {**base, "amount": "9.90", "requested_at": "2024-06-10T12:00:00+08:00"}
    )
    assert r.requested_at == datetime(2024, 6, 10, 4) and r.amount == Decimal("9.90")


def _integral_cdf(x: float, a: float, b: float, steps: int = 200_000) -> float:
    """P(X ≤ x) by the midpoint rule over the density (independent of the fraction)."""
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    h = x / steps
    total = 0.0
    for i in range(steps):
        t = (i + 0.5) * h
        total += math.exp(log_norm + (a - 1) * math.log(t) + (b - 1) * math.log1p(-t))
    return total * h


@pytest.mark.parametrize(("x", "a", "b"), [(0.3, 2.0, 5.0), (0.9, 19.5, 1.5), (0.6, 3.5, 3.5)])
def test_beta_cdf_against_integration(x: float, a: float, b: float) -> None:
    assert beta_cdf(x, a, b) == pytest.approx(_integral_cdf(x, a, b), abs=1e-6)


def test_beta_quantiles() -> None:
    assert beta_ppf(0.5, 3.0, 3.0) == pytest.approx(0.5, abs=1e-9)
    # Beta(1, b): cdf 1 − (1 − x)^b, so the quantile is 1 − (1 − q)^(1/b)
    assert beta_ppf(0.025, 1.0, 4.0) == pytest.approx(1 - 0.975**0.25, abs=1e-9)
    for q in (0.025, 0.5, 0.975):
        assert beta_cdf(beta_ppf(q, 19.5, 1.5), 19.5, 1.5) == pytest.approx(q, abs=1e-8)


def test_tally_counts_by_the_rules() -> None:
    cutoff = datetime(2024, 6, 10)
    paid = datetime(2024, 6, 1)
    records = [
        PickupRecord(paid, paid.replace(hour=23)),  # 23 h
        PickupRecord(paid, datetime(2024, 6, 3, 1)),  # 49 h
        PickupRecord(paid, None),  # unshipped, overdue
        PickupRecord(paid, None, cancelled_at=datetime(2024, 6, 1, 5)),  # cancelled: out
        PickupRecord(paid, datetime(2024, 6, 1, 4), cancelled_at=datetime(2024, 6, 2)),  # kept
        PickupRecord(datetime(2024, 6, 9, 12), None),  # not yet due at 24 h: out
    ]
    assert tally_pickups(records, [24, 48], cutoff) == {24: (2, 4), 48: (2, 4)}
    assert tally_pickups(records, [72], cutoff) == {72: (3, 4)}


def test_jeffreys_interval_without_shrinkage() -> None:
    config = load_policy().decisions.ship_promise.model_copy(update={"prior_strength": 0.0})
    tally = {h: (19, 20) for h in [*config.grid_hours, 30]}
    verdict = evaluate_ship_promise(tally, tally, 30, config)
    lo, hi = verdict.details["interval"]
    assert verdict.details["probability"] == 0.95 and verdict.outcome == "credible"
    # The Jeffreys 95% interval of 19/20: Beta(19.5, 1.5) quantiles
    assert beta_cdf(lo, 19.5, 1.5) == pytest.approx(0.025, abs=1e-6)
    assert beta_cdf(hi, 19.5, 1.5) == pytest.approx(0.975, abs=1e-6)
    assert verdict.details["promise_95"] == 24


def test_default_policy_has_the_decision_defaults() -> None:
    d = load_policy().decisions
    assert d.express_refund.unshipped.max_hours_after_payment == 6
    assert d.express_refund.unshipped.max_amount == 300
    assert d.express_refund.shipped.tier_limits == {"premium": 1500, "ordinary": 1000}
    assert d.express_refund.review_hours == 48 and not d.express_refund.require_privilege
    assert d.ship_promise.grid_hours == [24, 48, 72, 96, 120, 168, 240, 360]
    assert (d.ship_promise.min_orders, d.ship_promise.threshold) == (20, 0.95)


def test_a_policy_without_the_section_is_valid() -> None:
    start = DEFAULT.index("\ndecisions:")
    policy = parse_policy(DEFAULT[:start] + "\n", "old.yaml")
    assert policy.decisions.ship_promise.window_days == 30


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "key", "message"),
    [
        (
            "    min_orders: 20 ",
            "    min_orders: 20\n    min_order: 30 ",
            "min_order: 30",
            "decisions.ship_promise.min_order",
            "unknown key",
        ),
        (
            "        ordinary: 1000 ",
            "        ordinary: 1000\n        vip: 2000 ",
            "vip: 2000",
            "decisions.express_refund.shipped.tier_limits.vip.[key]",
            "'premium'",
        ),
        (
            "    grid_hours: [24, 48, 72,",
            "    grid_hours: [48, 24, 72,",
            "grid_hours:",
            "decisions.ship_promise.grid_hours",
            "increasing",
        ),
        (
            "      max_hours_after_payment: 6 ",
            "      max_hours_after_payment: -6 ",
            "max_hours_after_payment: -6",
            "decisions.express_refund.unshipped.max_hours_after_payment",
            "greater than 0",
        ),
    ],
)
def test_a_mistake_in_the_decisions_section_names_its_line_and_key(
    old: str, new: str, needle: str, key: str, message: str
) -> None:
    assert old in DEFAULT, old
    text = DEFAULT.replace(old, new, 1)
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "candidate.yaml")
    found = info.value.problems
    assert (_line_of(text, needle), key) in [(line, k) for line, k, _ in found], found
    assert any(message in m for _, _, m in found), found
    assert f"candidate.yaml:{_line_of(text, needle)}: {key}" in str(info.value)
