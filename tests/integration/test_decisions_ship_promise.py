"""The ship-promise decision against an independent plain-Python count on generated data:
orders in and out of the window, presale and gift orders, cancellations before and after
pickup, split shipments, unshipped orders, pickups after the cutoff."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tiyan.decisions import ShipPromiseRequest, decide_ship_promise
from tiyan.decisions._ship_promise import clear_category_baselines
from tiyan.domain.model import TABLES
from tiyan.policy.files import load_policy
from tiyan.store import Store

POLICY = load_policy()
NOW = datetime(2024, 6, 10, 4)  # 12:00 local
CUTOFF = datetime(2024, 6, 9, 16)  # local midnight starting 2024-06-10, in UTC
START = CUTOFF - timedelta(days=30)
MERCHANTS = {"M1": "home", "M2": "home", "M3": "home", "M4": "food"}


def generate(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    orders, shipments = [], []
    for i in range(600):
        merchant = rng.choice(list(MERCHANTS))
        paid = START - timedelta(days=3) + timedelta(minutes=rng.randrange(36 * 24 * 60))
        order = {
            "order_id": f"O{i}",
            "merchant_id": merchant,
            "amount": Decimal(rng.choice(["1.00", "50.00", "120.00"])),
            "paid_at": paid,
            "status": "paid",
            "presale": rng.random() < 0.1,
            "is_gift": rng.random() < 0.05,
            "cancelled_at": None,
        }
        scale = {"M1": 20, "M2": 40, "M3": 90, "M4": 30}[merchant]
        for j in range(rng.choice([0, 1, 1, 1, 2])):
            shipments.append(
                {
                    "shipment_id": f"S{i}-{j}",
                    "order_id": order["order_id"],
                    "carrier": "SF",
                    "tracking_no": f"T{i}-{j}",
                    "pickup_at": paid + timedelta(hours=rng.expovariate(1 / scale)),
                }
            )
        if rng.random() < 0.1:
            order["cancelled_at"] = paid + timedelta(hours=rng.uniform(0, 80))
            order["status"] = "cancelled"
        orders.append(order)
    return orders, shipments


def reference(
    orders: list[dict[str, Any]], shipments: list[dict[str, Any]], merchants: set[str], hours: int
) -> tuple[int, int]:
    """(met, counted) for a promise, written out plainly from the docstring's rules."""
    met = counted = 0
    for o in orders:
        if o["merchant_id"] not in merchants or o["presale"] or o["is_gift"]:
            continue
        if not START <= o["paid_at"] < CUTOFF or o["amount"] < Decimal("2"):
            continue
        pickups = [
            s["pickup_at"]
            for s in shipments
            if s["order_id"] == o["order_id"] and s["pickup_at"] < CUTOFF
        ]
        first = min(pickups) if pickups else None
        c = o["cancelled_at"]
        if c is not None and c < CUTOFF and (first is None or c < first):
            continue
        if first is not None and (first - o["paid_at"]).total_seconds() <= hours * 3600:
            met += 1
            counted += 1
        elif (CUTOFF - o["paid_at"]).total_seconds() > hours * 3600:
            counted += 1
    return met, counted


def _rows(table: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r.get(c) for c in TABLES[table].column_names) for r in rows]


@pytest.mark.parametrize("seed", [1, 2])
def test_ship_promise_matches_a_plain_count(store: Store, seed: int) -> None:
    clear_category_baselines()
    orders, shipments = generate(seed)
    merchants = [{"merchant_id": m, "name": m, "category": c} for m, c in MERCHANTS.items()]
    store.replace_rows(TABLES["merchants"], _rows("merchants", merchants), "1 = 0")
    store.replace_rows(TABLES["orders"], _rows("orders", orders), "1 = 0")
    store.replace_rows(TABLES["shipments"], _rows("shipments", shipments), "1 = 0")
    strength = POLICY.decisions.ship_promise.prior_strength
    for merchant_id, category in MERCHANTS.items():
        peers = {m for m, c in MERCHANTS.items() if c == category}
        for hours in (24, 30, 48, 72):
            request = ShipPromiseRequest(merchant_id=merchant_id, promise_hours=hours)
            d = decide_ship_promise(store, request, policy=POLICY, now=NOW, requested_by=None)
            met, n = reference(orders, shipments, {merchant_id}, hours)
            cmet, cn = reference(orders, shipments, peers, hours)
            assert (d.details["met"], d.details["orders"]) == (met, n), (merchant_id, hours)
            assert (d.details["category"]["met"], d.details["category"]["orders"]) == (cmet, cn)
            if n >= POLICY.decisions.ship_promise.min_orders:
                expected = (met + strength * cmet / cn) / (n + strength)
                assert d.details["probability"] == pytest.approx(expected)
                lo, hi = d.details["interval"]
                assert lo <= d.details["probability"] <= hi
                assert d.outcome == ("credible" if expected >= 0.95 else "not_credible")
            else:
                assert d.outcome == "insufficient_data"
