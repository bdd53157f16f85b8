"""What to simulate (:class:`SimConfig`) and how each archetype behaves (:data:`BEHAVIOURS`).

All behavioural knobs of the archetypes live in the one table :data:`BEHAVIOURS`, so the
ground truth a detector is benchmarked against can be read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from zoneinfo import ZoneInfo

from tiyan.domain.model import ARCHETYPES

#: Largest sizes the fixed-width ids (M000123, C00012345, O000000001) can number.
MAX_MERCHANTS = 999_999
MAX_ORDERS = 999_999_999
#: Events later than this many days after the last order day are not generated: the data cut.
CUT_DAYS = 10


@dataclass(frozen=True)
class Response:
    """How one merchant reacts to a penalty: a *known* effect, to validate impact estimates.

    On orders paid on a local day after ``day`` — not on ``day`` itself — the merchant:

    - ``ships_on_time``: prepares this share of its orders at a good merchant's pace (the
      ``good`` archetype's ``ready_hours``; a merchant already that fast is unchanged), and
      none of that share of its presale orders goes past the presale deadline;
    - ``stops_faking``: ships this share of the orders it would have fake-shipped for real.

    Which orders respond is drawn from a stream of its own (``response``), so every other
    draw — and every other merchant's rows — stays byte-identical to the run without it.
    Example::

        SimConfig(seed=7, responses=(Response("M000042", date(2024, 6, 20), ships_on_time=0.5),))
    """

    merchant_id: str
    day: date
    ships_on_time: float = 0.0
    stops_faking: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ships_on_time", "stops_faking"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"response {name} must be between 0 and 1")

    @property
    def merchant(self) -> int:
        """The merchant's 0-based index (``M000001`` is 0)."""
        return int(self.merchant_id[1:]) - 1


@dataclass(frozen=True)
class SimConfig:
    """One simulated market. The same config always gives byte-identical output.

    ``chunk_orders`` only bounds memory (orders per yielded chunk): the rows generated do
    not depend on it, only how they are cut into chunks and Parquet row groups.
    """

    merchants: int = 200
    orders: int = 100_000
    days: int = 90
    seed: int = 7
    start: date = date(2024, 5, 1)
    timezone: str = "Asia/Shanghai"
    chunk_orders: int = 250_000
    #: A 618-style promotion week with 3-4x volume and strained fulfilment.
    promo: bool = True
    #: Merchants that improve after a day (a penalty), by a known amount: see
    #: :class:`Response`. Empty: nobody responds, and the output is exactly as without it.
    responses: tuple[Response, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.merchants <= MAX_MERCHANTS:
            raise ValueError(f"merchants must be between 1 and {MAX_MERCHANTS:,}")
        if not 1 <= self.orders <= MAX_ORDERS:
            raise ValueError(f"orders must be between 1 and {MAX_ORDERS:,}")
        if not 1 <= self.days <= 3660:
            raise ValueError("days must be between 1 and 3660")
        if self.seed < 0:
            raise ValueError("seed must not be negative")
        if self.chunk_orders < 1:
            raise ValueError("chunk_orders must be at least 1")
        if not date(1995, 1, 1) <= self.start <= date(2090, 1, 1):
            raise ValueError("start must be between 1995 and 2090")
        ZoneInfo(self.timezone)  # raises for an unknown zone
        seen: set[tuple[str, str]] = set()
        for r in self.responses:
            if not (
                len(r.merchant_id) == 7
                and r.merchant_id[0] == "M"
                and r.merchant_id[1:].isdigit()
                and 1 <= int(r.merchant_id[1:]) <= self.merchants
            ):
                raise ValueError(f"response for unknown merchant {r.merchant_id!r}")
            for kind in ("ships_on_time", "stops_faking"):
                if getattr(r, kind) > 0:
                    if (r.merchant_id, kind) in seen:
                        raise ValueError(f"two {kind} responses for {r.merchant_id}")
                    seen.add((r.merchant_id, kind))

    @property
    def consumers(self) -> int:
        """Consumers in the market: about one per four orders, so many buy more than once."""
        return self.orders // 4 + 100


@dataclass(frozen=True)
class Behaviour:
    """How merchants of one archetype behave. Rates are per order unless said otherwise."""

    #: Share of merchants with this archetype.
    share: float
    #: Median hours from payment to handing an in-stock parcel to the carrier.
    ready_hours: float = 10.0
    #: Orders "shipped" with a tracking number that never gets a real pickup scan in time.
    fake_ship: float = 0.0
    #: Orders the merchant cancels as unable to ship on an ordinary day.
    cancel_unable: float = 0.004
    #: Days with a burst of merchant cancellations, and the share of those days' orders.
    burst_days: int = 0
    burst_cancel: float = 0.0
    #: Extra orders drawn in on a burst day (a price error or flash sale draws a rush of
    #: orders the merchant then refuses to ship): this multiple of the merchant's usual orders
    #: of that day, and at least ``burst_surge_min`` orders.
    burst_surge: float = 0.0
    burst_surge_min: int = 0
    #: A burst cancels as out of stock (stock listed that the merchant does not have)
    #: rather than as unable to ship.
    burst_out_of_stock: bool = False
    #: Orders cancelled as out of stock (oversold); 2.5x during the promotion.
    out_of_stock: float = 0.002
    #: Share of the merchant's products on presale, and of those beyond 15 days.
    presale_products: float = 0.06
    long_presale: float = 0.0
    #: Presale orders picked up after the presale deadline.
    presale_late: float = 0.03
    #: Median seconds to the first human IM reply, and sessions never answered.
    im_reply_seconds: float = 30.0
    im_no_reply: float = 0.02
    #: Median hours to respond to an after-sales case, and cases left to the 48 h timeout.
    after_sale_hours: float = 6.0
    after_sale_ignored: float = 0.01
    #: Orders with a quality problem (before the category's factor).
    defect: float = 0.025
    #: After-sales requests the merchant rejects.
    reject: float = 0.08
    #: Listings with exaggerated (false-marketing) titles.
    hype_titles: float = 0.02


_GOOD = Behaviour(share=0.70)
_BAD = 0.30 / (len(ARCHETYPES) - 1)

#: The archetype table: one row per ``model.ARCHETYPES`` value, in the model's order.
BEHAVIOURS: dict[str, Behaviour] = {
    "good": _GOOD,
    "slow_shipper": replace(_GOOD, share=_BAD, ready_hours=56.0, presale_late=0.25),
    "fake_shipper": replace(_GOOD, share=_BAD, fake_ship=0.35),
    "malicious_non_shipper": replace(
        _GOOD,
        share=_BAD,
        cancel_unable=0.02,
        burst_days=4,
        burst_cancel=0.75,
        burst_surge=2.0,
        burst_surge_min=12,
    ),
    # 虚设库存 to catch the promotion's traffic: one burst day, in the promotion, of orders
    # for stock it lists but does not have.
    "fake_inventory": replace(
        _GOOD,
        share=_BAD,
        out_of_stock=0.12,
        burst_days=1,
        burst_cancel=0.6,
        burst_surge=1.0,
        burst_surge_min=10,
        burst_out_of_stock=True,
    ),
    "presale_abuser": replace(
        _GOOD, share=_BAD, presale_products=0.55, long_presale=0.35, presale_late=0.55
    ),
    "passive_service": replace(
        _GOOD,
        share=_BAD,
        im_reply_seconds=420.0,
        im_no_reply=0.30,
        after_sale_hours=30.0,
        after_sale_ignored=0.35,
    ),
    "low_quality": replace(_GOOD, share=_BAD, defect=0.22, reject=0.30, hype_titles=0.25),
}
assert tuple(BEHAVIOURS) == ARCHETYPES, "one behaviour per model archetype, in model order"
assert abs(sum(b.share for b in BEHAVIOURS.values()) - 1.0) < 1e-9

BEHAVIOUR_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Behaviour))
