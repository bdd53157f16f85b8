"""Simulated time: local wall-clock microseconds, the daily rhythm, the promotion and the data cut.

The simulation reasons in local time (people buy in the evening, carriers scan by day) as
integer microseconds since 1970-01-01 00:00 *local*. Only when a column is built is local
time turned into UTC, as the model stores it. A time that never happens is :data:`NEVER`;
anything at or after the data cut becomes null, so "not yet" and "never" look the same in
the data, as they would in a real export.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from tiyan.sim.arrow import timestamp_array
from tiyan.sim.config import CUT_DAYS, SimConfig

Arr = npt.NDArray[Any]

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
#: Far beyond any real time, yet adding days to it cannot overflow int64.
NEVER = 1 << 62

#: Orders per local hour of day: a night trough, a lunch bump, the evening live-stream peak.
HOUR_WEIGHTS = np.array(
    [
        *(0.55, 0.30, 0.14, 0.08, 0.06, 0.06, 0.10, 0.25, 0.45, 0.65, 0.80, 0.90),
        *(1.00, 0.95, 0.85, 0.85, 0.90, 0.95, 1.05, 1.25, 1.75, 2.05, 1.95, 1.20),
    ]
)
#: Daily volume over the promotion week: it builds up to the final day (618 itself).
PROMO_WEIGHTS = np.array([3.0, 3.0, 3.2, 3.4, 3.6, 4.0, 4.8])
#: Fulfilment stays strained for this many days after the promotion.
STRAIN_TAIL_DAYS = 3


def local_us(d: date) -> int:
    """Local midnight of ``d`` as microseconds on the naive local time line."""
    return (d - date(1970, 1, 1)).days * DAY


def promo_window(cfg: SimConfig) -> tuple[int, int] | None:
    """First and last day index of the promotion week, or None.

    June 12-18 when that week lies inside the simulated days, otherwise the middle week; a
    run shorter than two weeks has no promotion (nothing normal to compare it with).
    """
    if not cfg.promo or cfg.days < 14:
        return None
    for year in (cfg.start.year, cfg.start.year + 1):
        first = (date(year, 6, 12) - cfg.start).days
        if first >= 0 and first + 7 <= cfg.days:
            return first, first + 6
    first = (cfg.days - 7) // 2
    return first, first + 6


class Clock:
    """The calendar of one simulation."""

    def __init__(self, cfg: SimConfig) -> None:
        self.start = local_us(cfg.start)
        self.days = cfg.days
        self.end = self.start + cfg.days * DAY
        #: No event at or after this local time is generated (it has not happened yet).
        self.cut = self.end + CUT_DAYS * DAY
        self.promo = promo_window(cfg)
        self._cdf = self._paid_cdf()
        self._offsets_from, self._offsets = self._utc_offsets(cfg)

    def day_weights(self) -> Arr:
        """Relative order volume of each simulated day."""
        day = np.arange(self.days)
        weekday = (np.asarray(self.start // DAY + day) + 3) % 7  # 1970-01-01 was a Thursday
        weights = np.where(weekday >= 5, 1.12, np.where(weekday == 4, 1.05, 1.0))
        weights = weights * (1.0 + 0.1 * day / max(self.days - 1, 1))  # a growing market
        if self.promo is not None:
            first, last = self.promo
            weights[first : last + 1] *= PROMO_WEIGHTS
            weights[max(first - 2, 0) : first] *= 1.4  # warm-up (预热) before the promotion
            weights[last + 1 : last + 3] *= 0.85  # the hangover after it
        return np.asarray(weights)

    def _paid_cdf(self) -> Arr:
        hourly = (self.day_weights()[:, None] * HOUR_WEIGHTS[None, :]).ravel()
        cdf = np.concatenate([[0.0], np.cumsum(hourly)])
        return np.asarray(cdf / cdf[-1])

    def paid_times(self, index: Arr, u: Arr, total: int) -> Arr:
        """Payment times of orders ``index`` (0-based) of ``total``, in order-id order.

        Order ``i`` is placed at quantile ``(i + u) / total`` of the volume curve, so ids grow
        with time as on a real platform and the times of a chunk need no other chunk.
        """
        x = (index + u) / total
        hour = np.searchsorted(self._cdf, x, side="right") - 1
        hour = np.clip(hour, 0, len(self._cdf) - 2)
        low, high = self._cdf[hour], self._cdf[hour + 1]
        frac = np.clip((x - low) / np.maximum(high - low, 1e-300), 0.0, 1.0 - 1e-9)
        seconds = np.floor((hour + frac) * 3600.0).astype(np.int64)
        return np.asarray(self.start + seconds * SECOND)

    def day_index(self, t: Arr) -> Arr:
        return (t - self.start) // DAY

    def in_promo(self, t: Arr) -> Arr:
        if self.promo is None:
            return np.zeros(len(t), bool)
        day = self.day_index(t)
        return (day >= self.promo[0]) & (day <= self.promo[1])

    def strained(self, t: Arr) -> Arr:
        """Paid while warehouses and carriers are swamped: the promotion and the days after."""
        if self.promo is None:
            return np.zeros(len(t), bool)
        day = self.day_index(t)
        return (day >= self.promo[0]) & (day <= self.promo[1] + STRAIN_TAIL_DAYS)

    @staticmethod
    def hour(t: Arr) -> Arr:
        return (t % DAY) // HOUR

    @staticmethod
    def seconds(t: Arr) -> Arr:
        """Round to whole seconds, as platforms record them."""
        return (t // SECOND) * SECOND

    def working_hours(self, t: Arr, open_h: int, close_h: int, u: Arr, spread_h: float) -> Arr:
        """Move times outside ``[open_h, close_h)`` to the next opening plus a little spread.

        Warehouses hand over, couriers scan and deliver by day; ``NEVER`` stays ``NEVER``.
        """
        h = self.hour(t)
        midnight = t - t % DAY
        opening = midnight + open_h * HOUR + (u * spread_h * HOUR).astype(np.int64)
        moved = np.where(h < open_h, opening, np.where(h >= close_h, opening + DAY, t))
        return np.where(t >= NEVER, NEVER, self.seconds(moved))

    def to_utc(self, t: Arr) -> Arr:
        if len(self._offsets) == 1:
            return np.asarray(t - self._offsets[0])
        day = np.clip((t - self._offsets_from) // DAY, 0, len(self._offsets) - 1)
        return np.asarray(t - self._offsets[day])

    def column(self, t: Arr, valid: Arr | None = None, *, event: bool = True) -> Any:
        """A timestamp column (UTC) of local times ``t`` (null where not ``valid``).

        An ``event`` at or after the data cut is null: it has not happened yet. Promises
        (``event=False``) may lie beyond the cut.
        """
        ok = np.ones(len(t), bool) if valid is None else valid
        ok = ok & (t < (self.cut if event else NEVER))
        # Whole seconds, as platforms record them; flooring keeps every "not before" order.
        return timestamp_array(self.to_utc(self.seconds(np.where(ok, t, 0))), ok)

    def _utc_offsets(self, cfg: SimConfig) -> tuple[int, Arr]:
        """UTC offset (µs) of each local day from 12 years before the start to after the cut.

        One value when the zone has a fixed offset over that span (Asia/Shanghai).
        """
        zone = ZoneInfo(cfg.timezone)
        first = cfg.start - timedelta(days=12 * 366)
        count = (cfg.days + CUT_DAYS + 2) + 12 * 366
        noons = (
            datetime(first.year, first.month, first.day, 12) + timedelta(days=i)
            for i in range(count)
        )
        offsets = np.array(
            [int(n.replace(tzinfo=zone).utcoffset().total_seconds()) * SECOND for n in noons],  # type: ignore[union-attr]
            dtype=np.int64,
        )
        if (offsets == offsets[0]).all():
            offsets = offsets[:1]
        return local_us(first), offsets
