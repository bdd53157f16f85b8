"""A quarantined or missing record never creates a violation (Hypothesis, on a simulated market).

The market is simulated once, with every archetype, so the detectors find violations of every
rule. Each example then moves a random handful of records out of the tables, as validation
would: into the quarantine (an order row with its parcels and their tracking, a parcel with
its tracking, a tracking event, an IM session, an after-sales case), or drops them without a
trace of a parcel of a signed order. The violations found afterwards must be a subset of
those found before: taking evidence away can only take violations away.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiyan.domain.metrics import CatalogConfig
from tiyan.domain.model import QUARANTINE
from tiyan.policy.detect import detect
from tiyan.policy.files import load_policy
from tiyan.sim import SimConfig, write_parquet
from tiyan.sim.arrow import arrow_schema

CONFIG = SimConfig(merchants=24, orders=5000, days=35, seed=4242)
AS_OF = CONFIG.start + timedelta(days=CONFIG.days)
Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    paths = write_parquet(CONFIG, tmp_path_factory.mktemp("evidence_market"))
    return {name: pq.read_table(path).to_pylist() for name, path in paths.items()}


def violations(rows: Rows, quarantine: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    policy = load_policy()
    con = ibis.duckdb.connect()
    tables = {}
    for name, data in rows.items():
        con.con.register(name, pa.Table.from_pylist(data, schema=arrow_schema(name)))
        tables[name] = con.table(name)
    con.con.register(
        "quarantine", pa.Table.from_pylist(quarantine, schema=arrow_schema(QUARANTINE))
    )
    tables["quarantine"] = con.table("quarantine")
    config: CatalogConfig = policy.population.catalog_config()
    found = detect(tables, policy.rules, config, as_of=AS_OF)
    out = set()
    for rule_id, expr in found.items():
        for r in con.to_pyarrow(expr.select("merchant_id", "subject")).to_pylist():
            out.add((rule_id, r["merchant_id"], r["subject"]))
    return out


def quarantined(table: str, row: dict[str, Any], n: int) -> dict[str, Any]:
    raw = {k: (None if v is None else str(v)) for k, v in row.items()}
    return {
        "quarantine_id": f"Q{n}", "load_id": "L1", "table_name": table,
        "source": f"{table}.csv", "line": n + 2, "column_name": None,
        "reason_code": "time_order", "reason": "rejected", "problems": "[]",
        "raw": json.dumps(raw), "quarantined_at": None,
    }  # fmt: skip


@pytest.fixture(scope="module")
def before(market: Rows) -> set[tuple[str, str, str]]:
    found = violations(market, [])
    # the market is rich enough for the property to bite: most rules find something
    assert len({rule for rule, _m, _s in found}) >= 6, found
    return found


KINDS = ("order", "shipment", "tracking_event", "cs_session", "after_sale", "drop_signed_parcel")


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 10**9)), min_size=1, max_size=12
    )
)
def test_taking_records_away_never_adds_a_violation(
    market: Rows, before: set[tuple[str, str, str]], picks: list[tuple[str, int]]
) -> None:
    rows = {name: list(data) for name, data in market.items()}
    quarantine: list[dict[str, Any]] = []

    def take(table: str, pred: Any, into_quarantine: bool = True) -> list[dict[str, Any]]:
        gone = [r for r in rows[table] if pred(r)]
        rows[table] = [r for r in rows[table] if not pred(r)]
        if into_quarantine:
            quarantine.extend(quarantined(table, r, len(quarantine)) for r in gone)
        return gone

    for kind, k in picks:
        if kind == "order" and rows["orders"]:
            oid = rows["orders"][k % len(rows["orders"])]["order_id"]
            take("orders", lambda r, o=oid: r["order_id"] == o)
            parcels = take("shipments", lambda r, o=oid: r["order_id"] == o)
            numbers = {p["tracking_no"] for p in parcels}
            take("tracking_events", lambda r, n=numbers: r["tracking_no"] in n)
            take("after_sales", lambda r, o=oid: r["order_id"] == o)
        elif kind == "shipment" and rows["shipments"]:
            p = rows["shipments"][k % len(rows["shipments"])]
            take("shipments", lambda r, s=p["shipment_id"]: r["shipment_id"] == s)
            take("tracking_events", lambda r, n=p["tracking_no"]: r["tracking_no"] == n)
        elif kind == "tracking_event" and rows["tracking_events"]:
            e = rows["tracking_events"][k % len(rows["tracking_events"])]
            take("tracking_events", lambda r, e=e: r is e)
        elif kind == "cs_session" and rows["cs_sessions"]:
            c = rows["cs_sessions"][k % len(rows["cs_sessions"])]
            take("cs_sessions", lambda r, c=c: r is c)
        elif kind == "after_sale" and rows["after_sales"]:
            a = rows["after_sales"][k % len(rows["after_sales"])]
            take("after_sales", lambda r, a=a: r is a)
        elif kind == "drop_signed_parcel":
            signed = [
                o["order_id"] for o in rows["orders"] if o["status"] in ("signed", "completed")
            ]
            if signed:
                oid = signed[k % len(signed)]
                parcels = take("shipments", lambda r, o=oid: r["order_id"] == o, False)
                numbers = {p["tracking_no"] for p in parcels}
                take("tracking_events", lambda r, n=numbers: r["tracking_no"] in n, False)
    after = violations(rows, quarantine)
    assert after <= before, sorted(after - before)[:10]
