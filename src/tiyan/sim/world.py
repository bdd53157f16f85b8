"""The market's entities: merchants (with their hidden archetype), products and consumers.

Entities are small next to orders (thousands of merchants, ~10 products each, one consumer
per four orders), so their attributes are kept as compact numpy arrays for the whole run;
orders look them up by index. Entity tables are still emitted in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc

from tiyan.domain.model import ARCHETYPES, CATEGORIES, RISK_TIERS, STORE_TYPES
from tiyan.sim import catalog as cat
from tiyan.sim import geo
from tiyan.sim.arrow import enum_array, id_array, int_array, make_table, money_array
from tiyan.sim.clock import DAY, Clock
from tiyan.sim.config import BEHAVIOUR_FIELDS, BEHAVIOURS, SimConfig
from tiyan.sim.rand import Draws, pick

Arr = npt.NDArray[Any]

#: Upper bound of products (ids are P + 7 digits).
MAX_PRODUCTS = 9_999_999
#: Pool of creators (达人) who sell for merchants in live streams and videos.
CREATORS_PER_MERCHANT = 0.5
#: At most this share of a day's orders is drawn into burst surges (tiny test markets).
MAX_SURGE_SHARE = 0.5


@dataclass(frozen=True)
class Surge:
    """Orders drawn to merchants on their burst days, as a lookup for each order's day.

    An order paid on day ``t`` joins a surge with probability ``share[t]``; it then goes to
    one of the merchants bursting that day, in proportion to their surge: the pairs
    ``lo[t] .. hi[t]`` of ``cum`` (cumulative surge sizes) and ``merchant`` (sorted by day).
    """

    share: Arr
    lo: Arr
    hi: Arr
    cum: Arr
    merchant: Arr

    def reassign(self, day: Arr, joins: Arr, u: Arr, merchant: Arr) -> Arr:
        """``merchant`` with the orders that ``joins`` (drawn with ``share[day]``) moved to a
        merchant bursting on their ``day``, picked by the uniforms ``u``."""
        rows = np.flatnonzero(joins)
        if not len(rows):
            return merchant
        t = day[rows]
        target = self.lo[t] + u[rows] * (self.hi[t] - self.lo[t])
        pair = np.minimum(np.searchsorted(self.cum, target, side="right"), len(self.cum) - 1)
        out = merchant.copy()
        out[rows] = self.merchant[pair]
        return out


@dataclass(frozen=True)
class Merchants:
    """Per-merchant attributes; ``behaviour[field]`` holds each archetype knob per merchant."""

    archetype: Arr
    category: Arr
    store_type: Arr
    region: Arr
    opened: Arr
    #: Cumulative share of orders (heavy tailed: a few big merchants, many small ones).
    order_cdf: Arr
    main_carrier: Arr
    behaviour: dict[str, Arr]
    #: ``burst[m, day]``: a day on which merchant ``m`` cancels in bulk.
    burst: Arr
    #: The rush of orders each burst day draws in.
    surge: Surge


@dataclass(frozen=True)
class Products:
    first: Arr  # first product index of each merchant
    count: Arr  # products of each merchant
    merchant: Arr
    category: Arr
    price: Arr  # cents
    list_price: Arr  # cents
    presale_days: Arr  # 0 = in stock
    promise_hours: Arr
    hype: Arr  # exaggerated title


@dataclass(frozen=True)
class Consumers:
    region: Arr
    tier: Arr


@dataclass(frozen=True)
class World:
    cfg: SimConfig
    clock: Clock
    merchants: Merchants
    products: Products
    consumers: Consumers

    @property
    def creators(self) -> int:
        return max(10, int(self.cfg.merchants * CREATORS_PER_MERCHANT))


def assign_archetypes(cfg: SimConfig) -> Arr:
    """Archetype of each merchant: exact quotas (largest remainder), shuffled by the seed.

    Quotas rather than independent draws so that even a 50-merchant test market has every
    archetype at least once.
    """
    shares = np.array([BEHAVIOURS[a].share for a in ARCHETYPES])
    exact = shares * cfg.merchants
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: cfg.merchants - counts.sum()]] += 1
    if cfg.merchants >= len(ARCHETYPES):
        for a in range(1, len(ARCHETYPES)):
            if counts[a] == 0:
                counts[a], counts[0] = 1, counts[0] - 1
    labels = np.repeat(np.arange(len(ARCHETYPES)), counts)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([cfg.seed, 0xA7C4])))
    return rng.permutation(labels).astype(np.int8)


def _merchants(cfg: SimConfig, clock: Clock) -> Merchants:
    n = cfg.merchants
    d = Draws(cfg.seed, "merchants", 0, n)
    arch = assign_archetypes(cfg)
    size = d.lognormal("size", 1.0, 1.4)
    category = d.choice("category", cat.CATEGORY_SHARE)
    big = size >= np.quantile(size, 0.95)
    # Big merchants are more often brand flagships.
    flagship = d.chance("flagship", np.where(big, 0.5, 0.0))
    store = np.where(flagship, 0, d.choice("store_type", cat.STORE_TYPE_SHARE))
    region = d.choice("region", geo.SELLERS)
    opened = clock.start - clock.seconds(d.uniform("opened", 30.0, 6 * 365.0) * DAY)
    # Jewellery and electronics merchants favour SF for valuable parcels.
    carrier = np.where(
        d.chance(
            "sf", np.where((category == cat.ELECTRONICS) | (category == cat.JEWELLERY), 0.5, 0)
        ),
        geo.SF,
        d.choice("carrier", geo.CARRIER_SHARE),
    )
    behaviour = {
        f: np.array([getattr(BEHAVIOURS[a], f) for a in ARCHETYPES])[arch] for f in BEHAVIOUR_FIELDS
    }
    # Merchants of one archetype differ too: spread the continuous knobs per merchant.
    for field, sigma in (
        ("ready_hours", 0.3),
        ("im_reply_seconds", 0.5),
        ("after_sale_hours", 0.5),
        ("defect", 0.4),
    ):
        behaviour[field] = behaviour[field] * np.exp(sigma * d.normal("spread." + field))
    order_cdf = np.cumsum(size) / size.sum()
    burst = _burst_days(cfg, clock, behaviour["burst_days"])
    return Merchants(
        archetype=arch,
        category=category,
        store_type=store,
        region=region,
        opened=opened,
        order_cdf=order_cdf,
        main_carrier=carrier,
        behaviour=behaviour,
        burst=burst,
        surge=_surge(cfg, clock, np.diff(order_cdf, prepend=0.0), burst, behaviour),
    )


def _burst_days(cfg: SimConfig, clock: Clock, burst_days: Arr) -> Arr:
    """Days of mass cancellation per merchant; one falls in the promotion when there is one."""
    burst = np.zeros((cfg.merchants, cfg.days), bool)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([cfg.seed, 0xB0257])))
    for m in np.flatnonzero(burst_days > 0):  # a handful of merchants: a loop is fine
        days = rng.choice(cfg.days, size=min(int(burst_days[m]), cfg.days), replace=False)
        if clock.promo is not None:
            days[0] = rng.integers(clock.promo[0], clock.promo[1] + 1)
        burst[m, days] = True
    return burst


def _surge(cfg: SimConfig, clock: Clock, share: Arr, burst: Arr, b: dict[str, Arr]) -> Surge:
    """How many orders each burst day draws in: ``burst_surge`` times the merchant's expected
    orders of that day, at least ``burst_surge_min`` (so that a small shop's burst shows)."""
    weights = clock.day_weights()
    per_day = cfg.orders * weights / weights.sum()  # expected orders of each day
    merchant, day = np.nonzero(burst)
    order = np.argsort(day, kind="stable")
    merchant, day = merchant[order], day[order]
    size = np.maximum(
        b["burst_surge"][merchant] * share[merchant] * per_day[day], b["burst_surge_min"][merchant]
    ).astype(np.float64)
    wanted = np.bincount(day, weights=size, minlength=cfg.days)
    cum = np.concatenate([[0.0], np.cumsum(size)])
    first = np.searchsorted(day, np.arange(cfg.days), side="left")
    last = np.searchsorted(day, np.arange(cfg.days), side="right")
    return Surge(
        share=np.minimum(wanted / np.maximum(per_day, 1e-9), MAX_SURGE_SHARE),
        lo=cum[first],
        hi=cum[last],
        cum=cum[1:],
        merchant=merchant,
    )


def _products(cfg: SimConfig, m: Merchants) -> Products:
    n_m = cfg.merchants
    dm = Draws(cfg.seed, "catalogue", 0, n_m)
    size = np.diff(np.concatenate([[0.0], m.order_cdf])) * n_m  # 1 = an average merchant
    count = np.clip(np.round(dm.lognormal("count", 6.0, 0.6) * size**0.3), 1, 400).astype(np.int64)
    if count.sum() > MAX_PRODUCTS:
        count = np.maximum(1, count * MAX_PRODUCTS // count.sum() - 1)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    merchant = np.repeat(np.arange(n_m), count)
    d = Draws(cfg.seed, "products", 0, len(merchant))
    b = m.behaviour
    own = d.chance("own_category", 0.93)
    category = np.where(own, m.category[merchant], d.choice("category", cat.CATEGORY_SHARE))
    yuan = d.lognormal("price", cat.CATEGORY_PRICE[category], 0.7)
    price = np.maximum(np.round(yuan) * 100 - 10, 90)  # ¥xx.90
    loss_leader = d.chance("loss_leader", 0.01)  # 引流款: a few products under ¥2
    price = np.where(loss_leader, np.floor(d.uniform("cheap", 1, 200)), price).astype(np.int64)
    markup = np.where(d.chance("no_markup", 0.3), 0.0, d.uniform("markup", 0.1, 0.8))
    list_price = (np.ceil(price * (1 + markup) / 100) * 100).astype(np.int64)
    list_price = np.maximum(list_price, price)
    presale = d.chance("presale", b["presale_products"][merchant])
    # A merchant that sells mostly on presale (the presale abuser) has its hit product, its
    # first listing, on presale: an abuser that never sold presale would abuse nothing.
    hit = np.zeros(len(merchant), dtype=bool)
    hit[first] = True
    presale |= hit & (b["presale_products"][merchant] >= 0.5)
    long = d.chance("long_presale", b["long_presale"][merchant])
    days = np.where(
        long,
        np.floor(d.uniform("long_days", 20, 46)),
        np.where(d.chance("five_days", 0.6), 5, 15),
    )
    presale_days = np.where(presale, days, 0).astype(np.int64)
    # In stock: most promise 48 h, some 24 h or 72 h; presale: the presale period.
    stock_hours = np.array([48, 24, 72])[d.choice("promise", np.array([0.75, 0.15, 0.10]))]
    promise = np.where(presale, presale_days * 24, stock_hours).astype(np.int64)
    return Products(
        first=first,
        count=count,
        merchant=merchant,
        category=category,
        price=price,
        list_price=list_price,
        presale_days=presale_days,
        promise_hours=promise,
        hype=d.chance("hype", b["hype_titles"][merchant]),
    )


def _consumers(cfg: SimConfig) -> Consumers:
    n = cfg.consumers
    region = np.empty(n, np.int8)
    tier = np.empty(n, np.int8)
    step = 1 << 20  # bounded temporaries even for tens of millions of consumers
    for start in range(0, n, step):
        d = Draws(cfg.seed, "consumers", start, min(step, n - start))
        region[start : start + d.n] = pick(d.u("region"), geo.POPULATION)
        tier[start : start + d.n] = pick(d.u("tier"), cat.RISK_TIER_SHARE)
    return Consumers(region=region, tier=tier)


def build_world(cfg: SimConfig) -> World:
    clock = Clock(cfg)
    merchants = _merchants(cfg, clock)
    return World(cfg, clock, merchants, _products(cfg, merchants), _consumers(cfg))


def _join(*parts: Any) -> Any:
    return pc.binary_join_element_wise(*parts, "")


def _words(words: tuple[str, ...], u: Arr) -> Any:
    return enum_array(words, np.minimum((u * len(words)).astype(np.int64), len(words) - 1))


def merchant_tables(world: World, rows: int) -> Iterator[tuple[str, Any]]:
    """``merchants`` chunks."""
    m, n = world.merchants, world.cfg.merchants
    d = Draws(world.cfg.seed, "merchant_names", 0, n)
    number = np.arange(1, n + 1)
    cat_zh = tuple(cat.CATEGORY_INFO[c].zh for c in CATEGORIES)
    name = _join(
        _words(cat.SHOP_WORDS, d.u("shop")),
        _words(cat.BRAND_WORDS, d.u("brand")),
        enum_array(cat_zh, m.category),
        enum_array(cat.STORE_TYPE_ZH, m.store_type),
    )
    merchants = make_table(
        "merchants",
        {
            "merchant_id": id_array("M", number, 6),
            "name": name,
            "category": enum_array(CATEGORIES, m.category),
            "store_type": enum_array(STORE_TYPES, m.store_type),
            "region": enum_array(geo.REGION_NAMES, m.region),
            "opened_at": world.clock.column(m.opened),
        },
    )
    for start in range(0, n, rows):
        yield "merchants", merchants.slice(start, rows)


#: The misconduct counted into ``sim_truth`` (see :func:`tiyan.sim.orders.misconduct`).
MISCONDUCT = ("burst_cancellations", "fake_shipments", "out_of_stock_cancellations")


def truth_tables(world: World, counts: dict[str, Arr], rows: int) -> Iterator[tuple[str, Any]]:
    """``sim_truth`` chunks: each merchant's archetype and the misconduct it committed
    (``counts``: per merchant, summed over every order of the market)."""
    m, n = world.merchants, world.cfg.merchants
    truth = make_table(
        "sim_truth",
        {
            "merchant_id": id_array("M", np.arange(1, n + 1), 6),
            "archetype": enum_array(ARCHETYPES, m.archetype),
            "seed": int_array(np.full(n, world.cfg.seed)),
            **{name: int_array(counts[name]) for name in MISCONDUCT},
        },
    )
    for start in range(0, n, rows):
        yield "sim_truth", truth.slice(start, rows)


def consumer_tables(world: World, rows: int) -> Iterator[tuple[str, Any]]:
    c, n = world.consumers, world.cfg.consumers
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        d = Draws(world.cfg.seed, "consumer_dates", start, stop - start)
        registered = world.clock.start - world.clock.seconds(
            d.uniform("registered", 1.0, 2000.0) * DAY
        )
        yield (
            "consumers",
            make_table(
                "consumers",
                {
                    "consumer_id": id_array("C", np.arange(start + 1, stop + 1), 8),
                    "region": enum_array(geo.REGION_NAMES, c.region[start:stop]),
                    "risk_tier": enum_array(RISK_TIERS, c.tier[start:stop]),
                    "registered_at": world.clock.column(registered),
                },
            ),
        )


def product_tables(world: World, rows: int) -> Iterator[tuple[str, Any]]:
    p = world.products
    n = len(p.merchant)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sl = slice(start, stop)
        d = Draws(world.cfg.seed, "product_titles", start, stop - start)
        category = p.category[sl]
        nouns = [cat.CATEGORY_INFO[c].nouns for c in CATEGORIES]
        flat = tuple(w for ws in nouns for w in ws)
        offset = np.cumsum([0] + [len(ws) for ws in nouns])[category]
        width = np.array([len(ws) for ws in nouns])[category]
        noun = enum_array(flat, offset + (d.u("noun") * width).astype(np.int64))
        hype = p.hype[sl]
        title = _join(
            _words(cat.TITLE_WORDS, d.u("adjective")),
            noun,
            enum_array(
                ("", *(" " + w for w in cat.HYPE_WORDS)),
                np.where(hype, 1 + (d.u("hype") * len(cat.HYPE_WORDS)).astype(np.int64), 0),
            ),
        )
        presale = p.presale_days[sl] > 0
        yield (
            "products",
            make_table(
                "products",
                {
                    "product_id": id_array("P", np.arange(start + 1, stop + 1), 7),
                    "merchant_id": id_array("M", p.merchant[sl] + 1, 6),
                    "category": enum_array(CATEGORIES, category),
                    "title": title,
                    "description": _words(cat.DESCRIPTION_WORDS, d.u("description")),
                    "price": money_array(p.price[sl]),
                    "list_price": money_array(p.list_price[sl]),
                    "presale_days": int_array(p.presale_days[sl], presale),
                    "ship_promise_hours": int_array(p.promise_hours[sl]),
                },
            ),
        )
