"""Geography and carriers: where parcels start, where they go, and how long that takes.

Transit time depends on distance, so provinces carry a rough capital position; three distance
classes (same province, near, far) are enough for the carriers' transit tables and for the
ship-promise checks the governance engine runs later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]


@dataclass(frozen=True)
class Province:
    """A mainland province (pinyin name) with its capital's position and two weights."""

    name: str
    lon: float
    lat: float
    #: Population in millions: where consumers live.
    population: float
    #: Relative density of e-commerce sellers: where merchants ship from.
    sellers: float
    #: Far west: every carrier needs extra days to get there.
    remote: bool = False


PROVINCES: tuple[Province, ...] = (
    Province("Beijing", 116.4, 39.9, 21.9, 3.0),
    Province("Tianjin", 117.2, 39.1, 13.7, 1.0),
    Province("Hebei", 114.5, 38.0, 74.2, 4.0),
    Province("Shanxi", 112.5, 37.9, 34.8, 0.6),
    Province("Neimenggu", 111.7, 40.8, 24.0, 0.4),
    Province("Liaoning", 123.4, 41.8, 42.0, 1.2),
    Province("Jilin", 125.3, 43.9, 23.8, 0.6),
    Province("Heilongjiang", 126.6, 45.8, 31.0, 0.6),
    Province("Shanghai", 121.5, 31.2, 24.9, 5.0),
    Province("Jiangsu", 118.8, 32.1, 85.3, 9.0),
    Province("Zhejiang", 120.2, 30.3, 65.8, 18.0),
    Province("Anhui", 117.3, 31.9, 61.2, 2.0),
    Province("Fujian", 119.3, 26.1, 41.9, 8.0),
    Province("Jiangxi", 115.9, 28.7, 45.2, 1.5),
    Province("Shandong", 117.0, 36.7, 101.6, 6.0),
    Province("Henan", 113.7, 34.8, 99.4, 3.0),
    Province("Hubei", 114.3, 30.6, 57.8, 2.0),
    Province("Hunan", 113.0, 28.2, 66.4, 2.0),
    Province("Guangdong", 113.3, 23.1, 126.8, 20.0),
    Province("Guangxi", 108.3, 22.8, 50.1, 1.0),
    Province("Hainan", 110.3, 20.0, 10.1, 0.3),
    Province("Chongqing", 106.5, 29.6, 32.1, 1.0),
    Province("Sichuan", 104.1, 30.7, 83.7, 2.0),
    Province("Guizhou", 106.7, 26.6, 38.6, 0.5),
    Province("Yunnan", 102.7, 25.0, 47.2, 1.0),
    Province("Xizang", 91.1, 29.7, 3.6, 0.05, remote=True),
    Province("Shaanxi", 108.9, 34.3, 39.5, 1.0),
    Province("Gansu", 103.8, 36.1, 25.0, 0.3, remote=True),
    Province("Qinghai", 101.8, 36.6, 5.9, 0.05, remote=True),
    Province("Ningxia", 106.3, 38.5, 7.2, 0.1),
    Province("Xinjiang", 87.6, 43.8, 25.9, 0.3, remote=True),
)
REGION_NAMES: tuple[str, ...] = tuple(p.name for p in PROVINCES)

#: Distance classes used by the carriers' transit tables.
SAME, NEAR, FAR = 0, 1, 2
#: Capitals closer than this are neighbours for transit purposes.
NEAR_KM = 900.0


def _distances_km() -> Arr:
    lon = np.radians([p.lon for p in PROVINCES])
    lat = np.radians([p.lat for p in PROVINCES])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * 6371.0 * np.arcsin(np.sqrt(h)))


_KM = _distances_km()
#: ``DISTANCE_CLASS[origin, destination]``: SAME, NEAR or FAR.
DISTANCE_CLASS: Arr = np.where(_KM < NEAR_KM, NEAR, FAR).astype(np.int8)
np.fill_diagonal(DISTANCE_CLASS, SAME)


def _hubs() -> Arr:
    """The province nearest to the midpoint of each route: where a far parcel is sorted."""
    lon = np.array([p.lon for p in PROVINCES])
    lat = np.array([p.lat for p in PROVINCES])
    mid_lon = (lon[:, None] + lon[None, :]) / 2
    mid_lat = (lat[:, None] + lat[None, :]) / 2
    d2 = (mid_lon[..., None] - lon) ** 2 + (mid_lat[..., None] - lat) ** 2
    return np.asarray(np.argmin(d2, axis=-1), dtype=np.int8)


#: ``HUB[origin, destination]``: the province of the in-transit scans between the two ends.
HUB: Arr = _hubs()
REMOTE: Arr = np.array([p.remote for p in PROVINCES])
POPULATION: Arr = np.array([p.population for p in PROVINCES])
SELLERS: Arr = np.array([p.sellers for p in PROVINCES])


@dataclass(frozen=True)
class Carrier:
    """An express carrier: how fast it picks up after a label is printed, and how fast it flies."""

    code: str
    #: Two letters in front of its tracking numbers.
    prefix: str
    #: Share of the market's parcels when a merchant is not tied to it.
    share: float
    #: Median hours from the merchant handing over (label uploaded) to the first scan.
    pickup_hours: float
    #: Median transit hours for a SAME, NEAR and FAR route.
    transit_hours: tuple[float, float, float]
    #: Extra hours to a remote province.
    remote_hours: float


#: SF is fast and dear, EMS slow but everywhere, the 通达系 (ZTO, YTO, YUNDA) and J&T between.
CARRIERS: tuple[Carrier, ...] = (
    Carrier("ZTO", "ZT", 0.24, 3.5, (20.0, 40.0, 64.0), 48.0),
    Carrier("YTO", "YT", 0.20, 3.5, (21.0, 42.0, 66.0), 48.0),
    Carrier("YUNDA", "YD", 0.17, 4.5, (22.0, 44.0, 72.0), 52.0),
    Carrier("JT", "JT", 0.20, 4.0, (22.0, 43.0, 70.0), 52.0),
    Carrier("SF", "SF", 0.11, 1.5, (12.0, 24.0, 38.0), 30.0),
    Carrier("EMS", "EM", 0.08, 8.0, (30.0, 55.0, 92.0), 24.0),
)
CARRIER_CODES: tuple[str, ...] = tuple(c.code for c in CARRIERS)
SF = CARRIER_CODES.index("SF")
CARRIER_SHARE: Arr = np.array([c.share for c in CARRIERS])
PICKUP_HOURS: Arr = np.array([c.pickup_hours for c in CARRIERS])
TRANSIT_HOURS: Arr = np.array([c.transit_hours for c in CARRIERS])
REMOTE_HOURS: Arr = np.array([c.remote_hours for c in CARRIERS])
#: Tracking-number prefixes as a (carriers, 2) byte matrix for vectorised id building.
CARRIER_PREFIX: Arr = np.frombuffer("".join(c.prefix for c in CARRIERS).encode(), np.uint8).reshape(
    len(CARRIERS), 2
)
