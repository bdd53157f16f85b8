"""Synthetic marketplace with ground truth: merchants of known archetypes and their orders.

The simulator writes the canonical tables (:mod:`tiyan.domain.model`) directly, so the
whole pipeline can be developed, demonstrated and benchmarked without real data, and every
detector can be scored against ``sim_truth``::

    >>> from tiyan.domain.model import TABLES
    >>> from tiyan.sim import SimConfig, simulate
    >>> cfg = SimConfig(merchants=20, orders=1_000, days=30, seed=1)
    >>> sorted({name for name, _ in simulate(cfg)}) == sorted(TABLES)
    True

Output is byte-identical for the same config, and the rows do not depend on
``chunk_orders`` (only how they are cut into chunks); see :mod:`tiyan.sim.rand`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tiyan.sim.aftermath import Experience, after_sales, cs_sessions
from tiyan.sim.arrow import arrow_schema
from tiyan.sim.config import BEHAVIOURS, Behaviour, Response, SimConfig
from tiyan.sim.feedback import complaints, platform_contacts, reviews, surveys
from tiyan.sim.orders import make_orders, misconduct, orders_table
from tiyan.sim.shipping import TrackingMemory, shipments_table, tracking_table
from tiyan.sim.world import (
    MISCONDUCT,
    build_world,
    consumer_tables,
    merchant_tables,
    product_tables,
    truth_tables,
)
from tiyan.sim.writer import write_parquet

__all__ = [
    "BEHAVIOURS",
    "Behaviour",
    "Response",
    "SimConfig",
    "arrow_schema",
    "simulate",
    "write_parquet",
]


def simulate(cfg: SimConfig) -> Iterator[tuple[str, Any]]:
    """Yield ``(canonical table name, pyarrow.Table)`` chunks of the whole market.

    Entity tables first (merchants, consumers, products), then for each chunk of
    ``cfg.chunk_orders`` orders every fact table, and last ``sim_truth`` (it counts the
    misconduct committed in all the orders). Memory stays bounded by the chunk size (plus
    the entities), so tens of millions of orders can be generated.
    """
    world = build_world(cfg)
    rows = cfg.chunk_orders
    yield from merchant_tables(world, rows)
    yield from consumer_tables(world, rows)
    yield from product_tables(world, rows)
    memory = TrackingMemory(cfg.merchants)
    counts = {name: np.zeros(cfg.merchants, np.int64) for name in MISCONDUCT}
    for start in range(0, cfg.orders, rows):
        o = make_orders(world, start, min(rows, cfg.orders - start), memory)
        for name, chunk_counts in misconduct(world, o).items():
            counts[name] += chunk_counts
        yield "orders", orders_table(world, o)
        yield "shipments", shipments_table(world, o.index, o.parcels)
        yield "tracking_events", tracking_table(world, o.parcels)
        x = Experience.of(world, o)
        cases_table, cases = after_sales(world, o, x)
        yield "after_sales", cases_table
        sessions, silent = cs_sessions(world, o, x, cases)
        yield "cs_sessions", sessions
        yield "reviews", reviews(world, o, x)
        yield "complaints", complaints(world, o, x, cases, silent)
        yield "platform_contacts", platform_contacts(world, o, x, cases)
        yield "surveys", surveys(world, o, x, cases, silent)
    # Last: the truth counts the misconduct of every order.
    yield from truth_tables(world, counts, rows)
