"""Merchants' responses to a penalty (:class:`tiyan.sim.config.Response`), order by order.

Only used when the config has responses: without them no draw is made and nothing changes.
The draws come from their own stream, so which orders respond depends on the order's row
alone (never on chunking) and the rest of the market is byte-identical to the run without.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.sim.clock import Clock
from tiyan.sim.config import SimConfig
from tiyan.sim.rand import Draws

Arr = npt.NDArray[Any]


@dataclass(frozen=True)
class Reaction:
    """Per order of a chunk: whether it is prepared at a good merchant's pace, and whether a
    would-be fake shipment of it is shipped for real."""

    on_time: Arr
    genuine: Arr


def reaction(cfg: SimConfig, clock: Clock, start: int, paid: Arr, merchant: Arr) -> Reaction:
    """The responding orders among rows ``start .. start + len(paid)`` of the market."""
    n = len(paid)
    d = Draws(cfg.seed, "response", start, n)
    day = clock.day_index(paid)
    out = {}
    for kind in ("ships_on_time", "stops_faking"):
        # The day after which each merchant responds (never: past every order) and how much.
        after = np.full(cfg.merchants, np.iinfo(np.int64).max, np.int64)
        share = np.zeros(cfg.merchants)
        for r in cfg.responses:
            if getattr(r, kind) > 0:
                after[r.merchant] = (r.day - cfg.start).days
                share[r.merchant] = getattr(r, kind)
        out[kind] = (day > after[merchant]) & d.chance(kind + "?", share[merchant])
    return Reaction(on_time=out["ships_on_time"], genuine=out["stops_faking"])
