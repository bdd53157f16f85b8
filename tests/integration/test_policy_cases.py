"""Policy cases as data: each file under ``tests/policy_cases/`` is one rule's situations
and the violations they must (and must not) produce, at and around its thresholds.

A case file::

    rule: ship_timeout            # the detector under test
    as_of: 2024-06-20             # default run date of its cases
    cases:
      - name: picked up one second late
        orders: [{order_id: O1, paid_at: "2024-06-10 10:00:00"}]
        shipments: [{order_id: O1, pickup_at: "2024-06-12 10:00:01"}]
        expect: [O1]              # subjects of the rule's violations, exactly
        policy: {...}             # optional overrides of the rule's settings

A row with ``count: n`` stands for n rows whose id is suffixed 1..n (``{order_id: P,
count: 3}`` is P1, P2, P3).

Times are platform-local (UTC+8, the default policy's), as an operator reads them. Rows get
defaults for what a case does not care about (merchant M1, amount ¥100, a 48 h promise, ...).
Detectors run on an in-memory DuckDB over Arrow tables of the canonical schemas.
``quarantine: [{table_name: shipments, raw: {order_id: O1, ...}}]`` puts a rejected record
in the quarantine (its raw fields as text): evidence that the order's records are incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
import yaml

from tiyan.domain.metrics import CatalogConfig
from tiyan.domain.model import DESK_TABLES, QUARANTINE
from tiyan.policy.detect import detect
from tiyan.policy.rules import Rules
from tiyan.sim.arrow import arrow_schema

CASES = Path(__file__).resolve().parent.parent / "policy_cases"
CONFIG = CatalogConfig()
OFFSET = timedelta(minutes=CONFIG.utc_offset_minutes)
TABLES = (
    "merchants",
    "products",
    "orders",
    "shipments",
    "tracking_events",
    "after_sales",
    "cs_sessions",
    "reviews",
    "complaints",
    "platform_contacts",
    "surveys",
    "service_requests",
    "quarantine",
)
TIME_FIELDS = {
    "paid_at", "promised_ship_by", "cancelled_at", "signed_at", "completed_at", "shipped_at",
    "pickup_at", "event_at", "requested_at", "merchant_responded_at", "resolved_at",
    "started_at", "first_response_at", "ended_at", "created_at", "merchant_due_at",
    "merchant_answered_at", "updated_at",
}  # fmt: skip


def utc(local: Any) -> datetime:
    """A case's local time (text or datetime) as naive UTC."""
    value = local if isinstance(local, datetime) else datetime.fromisoformat(str(local))
    return value - OFFSET


def _times(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (utc(v) if k in TIME_FIELDS and v is not None else v) for k, v in row.items()}


def expand(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows with ``count: n`` stand for n rows, their ``key`` suffixed 1..n."""
    out = []
    for row in rows:
        n = row.get("count")
        if n is None:
            out.append(row)
            continue
        base = {k: v for k, v in row.items() if k != "count"}
        out.extend({**base, key: f"{base[key]}{i}"} for i in range(1, n + 1))
    return out


def with_defaults(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The case's rows, completed with the defaults of the module docstring."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for o in expand(rows.get("orders", []), "order_id"):
        o = _times(o)
        paid = o["paid_at"]
        out["orders"].append(
            {
                "merchant_id": "M1",
                "product_id": "P1",
                "consumer_id": f"C-{o['order_id']}",
                "amount": Decimal("100"),
                "status": "paid",
                "presale": False,
                "promised_ship_by": paid + timedelta(hours=48),
                **{k: (Decimal(str(v)) if k == "amount" else v) for k, v in o.items()},
            }
        )
    for s in expand(rows.get("shipments", []), "order_id"):
        s = _times(s)
        out["shipments"].append(
            {
                "shipment_id": f"{s['order_id']}-1",
                "carrier": "SF",
                "tracking_no": f"T{s['order_id']}",
                **s,
            }
        )
    for e in rows.get("tracking_events", []):
        out["tracking_events"].append({"carrier": "SF", **_times(e)})
    for c in rows.get("after_sales", []):
        out["after_sales"].append({"type": "refund_only", "reason": "quality", **_times(c)})
    for s in expand(rows.get("cs_sessions", []), "session_id"):
        out["cs_sessions"].append({"merchant_id": "M1", **_times(s)})
    for p in rows.get("products", []):
        out["products"].append({"merchant_id": "M1", **p})
    if not any(p["product_id"] == "P1" for p in out["products"]):
        out["products"].append({"product_id": "P1", "merchant_id": "M1", "category": "home"})
    out["merchants"].append({"merchant_id": "M1", "name": "Shop", "category": "home"})
    for r in expand(rows.get("service_requests", []), "request_id"):
        r = _times(r)
        opened = r.get("created_at") or (r["merchant_due_at"] - timedelta(hours=2))
        out["service_requests"].append(
            {"type_id": "refund", "merchant_id": "M1", "language": "zh",
             "state": "waiting_platform", "created_at": opened, "updated_at": opened,
             "reopens": 0, **r}
        )  # fmt: skip
    # A rejected record keeps its raw fields as text (local times, as loaded).
    for i, q in enumerate(rows.get("quarantine", [])):
        out["quarantine"].append(
            {
                "quarantine_id": f"Q{i}",
                "load_id": "L1",
                "table_name": q["table_name"],
                "source": f"{q['table_name']}.csv",
                "line": i + 2,
                "reason_code": q.get("reason_code", "time_order"),
                "reason": q.get("reason", "rejected"),
                "problems": "[]",
                "raw": json.dumps({k: str(v) for k, v in q["raw"].items()}),
                "quarantined_at": utc(q.get("quarantined_at", "2024-06-15 00:00:00")),
            }
        )
    return out


def run_case(rule_id: str, rows: dict[str, list[dict[str, Any]]], as_of: date,
             overrides: dict[str, Any]) -> list[str]:  # fmt: skip
    con = ibis.duckdb.connect()
    tables = {}
    for name, data in with_defaults(rows).items():
        model = {"quarantine": QUARANTINE, "service_requests": DESK_TABLES["service_requests"]}
        schema = arrow_schema(model.get(name, name))
        con.con.register(name, pa.Table.from_pylist(data, schema=schema))
        tables[name] = con.table(name)
    rules = Rules.model_validate({"lookback_days": 60, rule_id: overrides})
    detected = detect(tables, rules, CONFIG, as_of=as_of)
    if rule_id not in detected:  # switched off: the detector does not run
        return []
    return sorted(con.to_pyarrow(detected[rule_id]).column("subject").to_pylist())


def cases() -> Iterator[Any]:
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            yield pytest.param(
                spec["rule"],
                case,
                case.get("as_of", spec["as_of"]),
                id=f"{path.stem}: {case['name']}",
            )


@pytest.mark.parametrize(("rule_id", "case", "as_of"), list(cases()))
def test_policy_case(rule_id: str, case: dict[str, Any], as_of: date) -> None:
    rows = {k: v for k, v in case.items() if k in TABLES}
    got = run_case(rule_id, rows, as_of, case.get("policy", {}))
    assert got == sorted(case["expect"]), case["name"]


def test_every_rule_has_cases() -> None:
    covered = {yaml.safe_load(p.read_text(encoding="utf-8"))["rule"] for p in CASES.glob("*.yaml")}
    assert covered == set(Rules().enabled())
