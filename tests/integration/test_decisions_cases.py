"""Decision cases as data: each file under ``tests/decision_cases/`` holds situations, a
request and the decision expected, at and around every threshold of one decision.

A case file::

    decision: express_refund      # express_refund | presale | ship_promise
    now: "2024-06-10 12:00:00"    # default decision time (local)
    cases:
      - name: asked 5 h 59 after payment
        orders: [{order_id: O1, paid_at: "2024-06-10 06:01:00"}]
        request: {order_id: O1, amount: "99.00", type: refund_only, reason: other}
        policy: {decisions: {express_refund: {require_privilege: true}}}   # optional, merged
        expect: {outcome: refund_now, reasons: [unshipped_express], details: {...}}

``reasons`` are the codes, in order; ``details`` a subset of the decision's details.
An order row may say ``pickup_after_hours: h`` (a shipment picked up h hours after payment)
and ``count: n`` (n orders, ids suffixed 1..n, each paid ``spacing_minutes`` after the
previous one, default 1). Times are platform-local (UTC+8), as an operator reads them; rows
get defaults for what a case does not care about (merchant M1 in category home, ¥100,
consumer tier ordinary, ...). Each case is loaded into a real store — DuckDB, and
PostgreSQL when ``TIYAN_TEST_POSTGRES_URL`` is set — and decided by the public functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiyan.decisions import (
    Decision,
    ExpressRefundRequest,
    PresaleRequest,
    ShipPromiseRequest,
    decide_express_refund,
    decide_presale,
    decide_ship_promise,
    decision_to_dict,
)
from tiyan.domain.errors import NotFoundError
from tiyan.domain.model import GOVERNANCE_TABLES, TABLES, ColumnType
from tiyan.policy.files import load_policy
from tiyan.policy.schema import Policy
from tiyan.store import Store

CASES = Path(__file__).resolve().parent.parent / "decision_cases"
OFFSET = timedelta(hours=8)
ALL = {**TABLES, **GOVERNANCE_TABLES}
LOADED = ("merchants", "products", "consumers", "orders", "shipments", "tracking_events",
          "after_sales", "actions")  # fmt: skip


def utc(local: Any) -> datetime:
    value = local if isinstance(local, datetime) else datetime.fromisoformat(str(local))
    return value - OFFSET


def _typed(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    out = []
    for col in ALL[table].columns:
        value = row.get(col.name)
        if value is not None and col.type is ColumnType.TIMESTAMP:
            value = utc(value)
        elif value is not None and col.type is ColumnType.MONEY:
            value = Decimal(str(value))
        elif value is not None and col.type is ColumnType.DATE and not isinstance(value, date):
            value = date.fromisoformat(str(value))
        elif value is not None and col.type is ColumnType.STRING and not isinstance(value, str):
            value = json.dumps(value) if isinstance(value, dict) else str(value)
        out.append(value)
    return tuple(out)


def situation(case: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The case's rows, completed with defaults."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in LOADED}
    for o in case.get("orders", []):
        n = o.get("count")
        spacing = timedelta(minutes=o.get("spacing_minutes", 1))
        base = {k: v for k, v in o.items() if k not in ("count", "spacing_minutes")}
        for i in range(n or 1):
            one = dict(base)
            if n is not None:
                one["order_id"] = f"{base['order_id']}{i + 1}"
                one["paid_at"] = datetime.fromisoformat(str(base["paid_at"])) + i * spacing
            after = one.pop("pickup_after_hours", None)
            paid = datetime.fromisoformat(str(one["paid_at"]))
            rows["orders"].append(
                {"merchant_id": "M1", "product_id": "P1", "consumer_id": "C1", "amount": 100,
                 "status": "paid", "presale": False,
                 "promised_ship_by": paid + timedelta(hours=48), **one}
            )  # fmt: skip
            if after is not None:
                rows["shipments"].append(
                    {"shipment_id": f"S-{one['order_id']}", "order_id": one["order_id"],
                     "carrier": "SF", "tracking_no": f"T{one['order_id']}",
                     "shipped_at": paid + timedelta(hours=after),
                     "pickup_at": paid + timedelta(hours=after)}
                )  # fmt: skip
    for s in case.get("shipments", []):
        rows["shipments"].append(
            {"shipment_id": f"S-{s['order_id']}-{len(rows['shipments'])}", "carrier": "SF",
             "tracking_no": f"T{s['order_id']}", **s}
        )  # fmt: skip
    for e in case.get("tracking_events", []):
        rows["tracking_events"].append({"carrier": "SF", "status": "pickup", **e})
    for c in case.get("after_sales", []):
        rows["after_sales"].append({"type": "refund_only", "reason": "other", **c})
    for a in case.get("actions", []):
        rows["actions"].append(
            {"as_of": a["day"], "policy_version": "test", "detail": "{}", **a}
        )  # fmt: skip
    rows["products"] = [{"merchant_id": "M1", "category": "home", **p}
                        for p in case.get("products", [])]  # fmt: skip
    if not any(p["product_id"] == "P1" for p in rows["products"]):
        rows["products"].append({"product_id": "P1", "merchant_id": "M1", "category": "home"})
    rows["consumers"] = case.get("consumers", [{"consumer_id": "C1", "risk_tier": "ordinary"}])
    rows["merchants"] = [
        {"name": "Shop", "category": "home", **m}
        for m in case.get("merchants", [{"merchant_id": "M1"}])
    ]
    return rows


def load(store: Store, rows: dict[str, list[dict[str, Any]]]) -> None:
    for name in LOADED:
        if rows[name]:
            store.replace_rows(ALL[name], [_typed(name, r) for r in rows[name]], "1 = 0")


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


DEFAULT_POLICY = load_policy()


def policy_for(case: dict[str, Any]) -> Policy:
    if "policy" not in case:
        return DEFAULT_POLICY
    return Policy.model_validate(merged(DEFAULT_POLICY.model_dump(), case["policy"]))


def decide(kind: str, store: Store, request: dict[str, Any], policy: Policy,
           now: datetime) -> Decision:  # fmt: skip
    if kind == "express_refund":
        return decide_express_refund(store, ExpressRefundRequest.model_validate(request),
                                     policy=policy, now=now, requested_by="tk_test")  # fmt: skip
    if kind == "presale":
        return decide_presale(store, PresaleRequest.model_validate(request), policy=policy,
                              now=now, requested_by="tk_test")  # fmt: skip
    return decide_ship_promise(store, ShipPromiseRequest.model_validate(request), policy=policy,
                               now=now, requested_by="tk_test")  # fmt: skip


def subset(expected: Any, got: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(
            k in got and subset(v, got[k]) for k, v in expected.items()
        )
    if isinstance(expected, float) and isinstance(got, float):
        return abs(expected - got) < 1e-9
    return bool(expected == got)


def cases() -> Iterator[Any]:
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            yield pytest.param(spec["decision"], case, case.get("now", spec["now"]),
                               id=f"{path.stem}: {case['name']}")  # fmt: skip


@pytest.mark.parametrize(("kind", "case", "now"), list(cases()))
def test_decision_case(store: Store, kind: str, case: dict[str, Any], now: str) -> None:
    load(store, situation(case))
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(NotFoundError) as info:
            decide(kind, store, case["request"], policy_for(case), utc(now))
        assert info.value.kind == expect["error"]
        assert store.count("decisions") == 0
        return
    decision = decide(kind, store, case["request"], policy_for(case), utc(now))
    answer = decision_to_dict(decision)
    assert (answer["outcome"], [r["code"] for r in answer["reasons"]]) == (
        expect["outcome"],
        expect["reasons"],
    ), answer
    assert subset(expect.get("details", {}), answer["details"]), answer["details"]
    json.dumps(answer)  # the HTTP answer is JSON
    # ... and the decision is in the log, once.
    (row,) = store.query(
        "SELECT kind, subject, merchant_id, outcome, reasons, inputs, policy_version, "
        "requested_by, decided_at FROM decisions WHERE decision_id = ?",
        (decision.decision_id,),
    )
    assert row[0] == kind and row[3] == expect["outcome"]
    assert [r["code"] for r in json.loads(row[4])] == expect["reasons"]
    assert json.loads(row[5])["request"]
    assert row[6] == policy_for(case).version and row[7] == "tk_test"
    assert row[8] == utc(now)
    assert store.count("decisions") == 1


def test_every_decision_has_cases() -> None:
    kinds = {
        yaml.safe_load(p.read_text(encoding="utf-8"))["decision"] for p in CASES.glob("*.yaml")
    }
    assert kinds == {"express_refund", "presale", "ship_promise"}
