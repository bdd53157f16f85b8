"""Random draws that depend only on (seed, stream, draw name, row) — never on chunking.

Each named draw is its own PCG64 stream, advanced to the chunk's first row, so row ``i``
of a draw gets the same number whether the rows are generated in one chunk or in a hundred:
a chunked simulation is row-for-row equal to an unchunked one. Only uniform variates are
used (one 64-bit output per row), because ``PCG64.advance`` counts outputs and the numpy
samplers that reject candidates would consume a variable number of them.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]
_SCALE = 2.0**-53


class Draws:
    """Uniform-based random variates for rows ``start .. start + n`` of one stream."""

    def __init__(self, seed: int, stream: str, start: int, n: int) -> None:
        self.seed = seed
        self.stream = stream
        self.start = start
        self.n = n
        self._used: set[str] = set()
        self._rows: Arr | None = None

    def take(self, rows: Arr) -> Draws:
        """The same draws restricted to ``rows`` (names stay shared with this object)."""
        sub = Draws(self.seed, self.stream, self.start, self.n)
        sub._used = self._used
        sub._rows = rows if self._rows is None else self._rows[rows]
        return sub

    def u(self, name: str) -> Arr:
        """Uniform in the open interval (0, 1), safe for ``log``."""
        if name in self._used:
            # The same name gives the same numbers: two decisions would be correlated.
            raise ValueError(f"draw {self.stream}/{name} used twice")
        self._used.add(name)
        key = zlib.crc32(f"{self.stream}/{name}".encode())
        bits = np.random.PCG64(np.random.SeedSequence([self.seed, key]))
        bits.advance(self.start)
        raw = bits.random_raw(self.n)
        if self._rows is not None:
            raw = raw[self._rows]
        return ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * _SCALE

    def uniform(self, name: str, low: float | Arr, high: float | Arr) -> Arr:
        return low + (high - low) * self.u(name)

    def chance(self, name: str, p: float | Arr) -> Arr:
        """True with probability ``p`` (a scalar or one per row)."""
        return self.u(name) < p

    def exponential(self, name: str, mean: float | Arr) -> Arr:
        return -np.log(self.u(name)) * mean

    def normal(self, name: str) -> Arr:
        """Standard normal by Box-Muller (two uniforms per row)."""
        r = np.sqrt(-2.0 * np.log(self.u(name + ".r")))
        return r * np.cos(2.0 * np.pi * self.u(name + ".a"))

    def lognormal(self, name: str, median: float | Arr, sigma: float) -> Arr:
        return median * np.exp(sigma * self.normal(name))

    def choice(self, name: str, weights: Arr) -> Arr:
        """Index into ``weights`` (one distribution for all rows), as int64."""
        return pick(self.u(name), weights)

    def choice_rows(self, name: str, weights: Arr, row: Arr) -> Arr:
        """Index into ``weights[row[i]]``: a distribution chosen per row."""
        cdf = np.cumsum(weights, axis=1)
        cdf = cdf / cdf[:, -1:]
        u = self.u(name)
        return np.asarray((u[:, None] > cdf[row]).sum(axis=1), dtype=np.int64)


def pick(u: Arr, weights: Arr) -> Arr:
    """Map uniforms to indices of ``weights`` by its cumulative distribution."""
    cdf = np.cumsum(weights, dtype=np.float64)
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, u, side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)
