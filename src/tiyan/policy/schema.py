"""The policy file's schema: every key, its type, its default and what it means.

Unknown keys are refused; metric ids are resolved against the catalog (with "did you
mean"). The scoring section is described in ``docs/policy.md``.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tiyan.domain.errors import UnknownNameError
from tiyan.domain.metrics import (
    SCORED_DIMENSIONS,
    CatalogConfig,
    Dimension,
    Direction,
    MetricDef,
)
from tiyan.policy.ledger import Consequences
from tiyan.policy.privileges import Privilege, ScoreMeasure
from tiyan.policy.rules import Rules
from tiyan.policy.standing import StandingConfig
from tiyan.service_desk.policy import DeskPolicy

DimensionName = Literal["product", "logistics", "service"]
LEVELS = ("excellent", "good", "fair", "poor", "critical")
Weight = Annotated[float, Field(ge=0)]


def _definitions() -> dict[str, MetricDef]:
    # The catalog module holds the Ibis expressions too; its definitions are what we need.
    from tiyan.metrics.catalog import DEFINITIONS

    return DEFINITIONS


def _known_metric(metric_id: str) -> MetricDef:
    definitions = _definitions()
    if metric_id not in definitions:
        raise ValueError(str(UnknownNameError("metric", metric_id, definitions)))
    return definitions[metric_id]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Strict):
    """Who counts: the platform's clock and the score's population of orders."""

    #: Platform time zone as a fixed UTC offset ("+08:00"): local days and business hours.
    utc_offset: str = "+08:00"
    #: Orders paid below this amount (¥) are left out of every metric (<2元, reference §1.4).
    min_amount: float = Field(default=2.0, ge=0)
    #: Gift and lucky-bag orders (福袋/赠品) are left out (reference §1.4).
    exclude_gifts: bool = True
    #: [start, end) local hours in which IM sessions count (08:00:00–22:59:59, §1.2).
    business_hours: tuple[int, int] = (8, 23)

    @field_validator("utc_offset")
    @classmethod
    def _offset(cls, value: str) -> str:
        if not re.fullmatch(r"[+-](0\d|1[0-4]):[0-5]\d", value):
            raise ValueError(f"expected an offset like +08:00 or -03:00, not {value!r}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: tuple[int, int]) -> tuple[int, int]:
        start, end = value
        if not 0 <= start < end <= 24:
            raise ValueError("business hours are [start, end) with 0 <= start < end <= 24")
        return value

    def catalog_config(self) -> CatalogConfig:
        sign = -1 if self.utc_offset.startswith("-") else 1
        hours, minutes = self.utc_offset[1:].split(":")
        return CatalogConfig(
            utc_offset_minutes=sign * (int(hours) * 60 + int(minutes)),
            min_amount=self.min_amount,
            exclude_gifts=self.exclude_gifts,
            business_hours=self.business_hours,
        )


class DimensionConfig(_Strict):
    #: Weight of the dimension in the overall score (normalised over the three).
    weight: Weight
    #: Metric id -> its weight within the dimension.
    metrics: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        for metric_id in value:
            _known_metric(metric_id)
        return value


class Condition(_Strict):
    """A threshold on a metric's value: ``min`` for higher-is-better metrics, ``max`` for
    lower-is-better ones (so meeting a standard can never reward a worse value)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self


class Standard(_Strict):
    """A fixed standard (优秀物流 / 优秀客服 ...): a merchant meeting every condition gets
    at least ``floor`` in ``dimension`` (reference §1.1, "Dec 13" row)."""

    name: str
    zh: str = ""
    dimension: DimensionName
    floor: float = Field(ge=0, le=100)
    #: Categories it applies to; empty means every category.
    categories: list[str] = []
    when: dict[str, Condition] = Field(min_length=1)

    @model_validator(mode="after")
    def _conditions(self) -> Standard:
        for metric_id, cond in self.when.items():
            d = _known_metric(metric_id)
            if cond.max is not None and d.direction is Direction.HIGHER:
                raise ValueError(f"{metric_id} is higher-is-better: give a min, not a max")
            if cond.min is not None and d.direction is Direction.LOWER:
                raise ValueError(f"{metric_id} is lower-is-better: give a max, not a min")
        return self


class Shrinkage(_Strict):
    """How far small merchants' rates are pulled toward their peers' (docs/scoring.md)."""

    #: Pseudo-orders of the prior for rates: "auto" fits it per peer group and metric
    #: (empirical-Bayes beta-binomial, method of moments); a number fixes it.
    prior_strength: float | None = None
    #: Bounds of the fitted strength.
    min_strength: float = Field(default=1.0, gt=0)
    max_strength: float = Field(default=1000.0, gt=0)
    #: Pseudo-observations for durations (hours, minutes), which have no binomial variance.
    mean_strength: float = Field(default=10.0, ge=0)

    @field_validator("prior_strength", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if value == "auto" else value

    @field_validator("prior_strength")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("prior_strength is 'auto' or a positive number")
        return value


class ViolationCaps(_Strict):
    """Violations on top of the ranked score (reference §1.3: from 2025-11 Douyin applies
    deductions on top): the highest level a merchant with B-class (serious) points, or with
    A-class (general) points adding up to ``a_points`` or a node, may have; the strictest
    cap that applies wins.
    The score is capped just below the next level's bound, so everything that reads the
    score (level, display, privileges) agrees."""

    #: B-class points (after reversals) on days in the scoring window before as_of.
    b_in_window: Literal["good", "fair", "poor", "critical"] | None = "good"
    #: This year's B-class total at or above the first B ladder node.
    b_at_node: Literal["good", "fair", "poor", "critical"] | None = "fair"
    #: A-class (general) points in the scoring window at or above ``a_points`` ...
    a_in_window: Literal["good", "fair", "poor", "critical"] | None = "good"
    a_points: float = Field(default=4.0, gt=0)
    #: ... and this year's A-class total at or above the A ladder's first node.
    a_at_node: Literal["good", "fair", "poor", "critical"] | None = "fair"


class Scoring(_Strict):
    """The Merchant Experience Score (商家体验分)."""

    #: Default window in days (`tiyan score --window` overrides it).
    window_days: int = Field(default=90, ge=1, le=3650)
    #: No score below this many valid orders in the window (reference §1.4: about 30).
    min_valid_orders: int = Field(default=30, ge=1)
    #: Peers: merchants of the same category, or of the same category and size band.
    peer_group: Literal["category", "category_size"] = "category"
    #: Valid-order thresholds that split a category into size bands (category_size).
    size_bands: list[Annotated[int, Field(gt=0)]] = [300, 3000]
    #: A peer group smaller than this falls back to all scored merchants of the platform.
    min_peers: int = Field(default=5, ge=1)
    #: Points of the worst merchant of a peer group on a metric (the best gets 100).
    points_floor: float = Field(default=40.0, ge=0, lt=100)
    #: points = floor + (100 − floor) × percentile ** curve. Below 1 the bottom of a peer
    #: group loses more than the top gains (a defect costs more than a lead earns).
    points_curve: float = Field(default=0.5, gt=0, le=1)
    #: Share of that range (100 − floor) lost by severity rather than by rank: a defect
    #: (the value, or 1 − value for a higher-is-better share) several times the peer
    #: group's median costs more than a last place among similar peers. 0: rank only.
    severity_share: float = Field(default=0.75, ge=0, le=1)
    #: Multiples of the peer median defect where the severity starts and where it is full.
    severity_ratio: tuple[float, float] = (2.0, 6.0)
    #: A dimension with a metric at severity_ratio[1] times the peer median or worse is
    #: capped at this (and no standard floor lifts it); None: no cap.
    severe_defect_cap: float | None = Field(default=60.0, ge=0, le=100)
    shrinkage: Shrinkage = Shrinkage()
    dimensions: dict[str, DimensionConfig]
    #: Category -> dimension weights overriding the dimensions' own.
    category_weights: dict[str, dict[str, Weight]] = {}
    standards: list[Standard] = []
    #: Level -> lowest score of that level.
    levels: dict[str, float]
    #: (score, stars) points of the piecewise-linear mapping to the 5-point display score.
    display: list[tuple[float, float]]
    #: Score shown for a merchant below min_valid_orders, by store type ("default": others).
    new_merchant_score: dict[str, float] = {}
    #: Levels capped by serious violations (reference §1.3).
    violation_caps: ViolationCaps = ViolationCaps()

    @field_validator("dimensions")
    @classmethod
    def _members(cls, value: dict[str, DimensionConfig]) -> dict[str, DimensionConfig]:
        for name, dim in value.items():
            for metric_id in dim.metrics:
                d = _known_metric(metric_id)
                if d.dimension is not Dimension(name):
                    raise ValueError(f"{metric_id} belongs to {d.dimension.value}, not {name}")
        return value

    @field_validator("severity_ratio")
    @classmethod
    def _ratio(cls, value: tuple[float, float]) -> tuple[float, float]:
        start, full = value
        if not 1 <= start < full:
            raise ValueError("severity_ratio needs start and full with 1 <= start < full")
        return value

    @field_validator("size_bands")
    @classmethod
    def _bands(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("size bands must be increasing")
        return value

    @model_validator(mode="after")
    def _check(self) -> Scoring:
        known = [d.value for d in SCORED_DIMENSIONS]
        for name in [*self.dimensions, *(d for w in self.category_weights.values() for d in w)]:
            if name not in known:
                raise ValueError(str(UnknownNameError("dimension", name, known)))
        missing = [d for d in known if d not in self.dimensions]
        if missing:
            raise ValueError(f"dimensions needs all three; missing: {', '.join(missing)}")
        if sum(d.weight for d in self.dimensions.values()) <= 0:
            raise ValueError("dimension weights add up to zero")
        for category, weights in self.category_weights.items():
            if sum(weights.values()) <= 0:
                raise ValueError(f"category_weights.{category} add up to zero")
        for name in self.levels:
            if name not in LEVELS:
                raise ValueError(str(UnknownNameError("level", name, LEVELS)))
        if set(self.levels) != set(LEVELS):
            missing = [lv for lv in LEVELS if lv not in self.levels]
            raise ValueError(f"levels needs all of {', '.join(LEVELS)}; missing {missing}")
        bounds = [self.levels[lv] for lv in LEVELS]
        if bounds != sorted(bounds, reverse=True) or self.levels["critical"] != 0:
            raise ValueError("level bounds must decrease from excellent to critical = 0")
        xs = [x for x, _ in self.display]
        if len(xs) < 2 or xs[0] != 0 or xs[-1] != 100 or xs != sorted(set(xs)):
            raise ValueError("display points must start at 0, end at 100 and increase")
        ys = [y for _, y in self.display]
        if ys != sorted(ys):
            raise ValueError("display stars must not decrease")
        return self

    def weights_for(self, category: str | None) -> dict[str, float]:
        """Dimension weights for a category."""
        own = self.category_weights.get(category or "", {})
        return {name: own.get(name, dim.weight) for name, dim in self.dimensions.items()}

    def cap_for(
        self, b_points: float, at_node: bool, a_points: float = 0.0, a_at_node: bool = False
    ) -> tuple[float, str] | None:
        """The highest score (and its reason) of a merchant with ``b_points`` B-class and
        ``a_points`` A-class points in the window and, if ``at_node`` / ``a_at_node``, this
        year's B / A total at a ladder node: the lowest of the caps that apply."""
        caps = self.violation_caps
        found = []
        if at_node and caps.b_at_node is not None:
            found.append((caps.b_at_node, "b_at_node"))
        elif b_points > 0 and caps.b_in_window is not None:
            found.append((caps.b_in_window, "b_in_window"))
        if a_at_node and caps.a_at_node is not None:
            found.append((caps.a_at_node, "a_at_node"))
        elif a_points >= caps.a_points - 1e-9 and caps.a_in_window is not None:
            found.append((caps.a_in_window, "a_in_window"))
        if not found:
            return None
        level, why = max(found, key=lambda f: LEVELS.index(f[0]))
        above = LEVELS[LEVELS.index(level) - 1]
        return self.levels[above] - 0.01, why

    def level_of(self, score: float) -> str:
        for level in LEVELS:
            if score >= self.levels[level]:
                return level
        return LEVELS[-1]

    def display_of(self, score: float) -> float:
        """The 5-point display score: piecewise linear through ``display``, 2 decimals."""
        points = self.display
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if score <= x1:
                return round(y0 + (y1 - y0) * (score - x0) / (x1 - x0), 2)
        return round(points[-1][1], 2)


# -- online decisions (docs/decisions.md) -------------------------------------------------

Money = Annotated[float, Field(gt=0)]


class UnshippedExpress(_Strict):
    """未发货极速退款: refunded at once from the merchant's funds (§2.6, 2022 spec)."""

    #: The request comes at most this many hours after payment (≤ 6 h, §2.6).
    max_hours_after_payment: float = Field(default=6, gt=0)
    #: The order's paid amount (实付) is strictly below this (< ¥300, §2.6).
    max_amount: Money = 300


class ShippedExpress(_Strict):
    """发货后极速退款: the platform advances the refund (垫资) and settles later (§2.6)."""

    #: After-sales types that qualify (退货退款, §2.6).
    types: list[Literal["refund_only", "return_refund", "exchange"]] = Field(
        default=["return_refund"], min_length=1
    )
    #: Reasons that qualify (7天无理由, §2.6).
    reasons: list[
        Literal["quality", "not_as_described", "damaged", "logistics", "no_reason_7d", "other"]
    ] = Field(default=["no_reason_7d"], min_length=1)
    #: Consumer risk tier -> the highest paid amount (¥, inclusive) advanced for it; a tier
    #: not listed is not advanced (§2.6, 2024-05 explainer, flag C).
    tier_limits: dict[Literal["premium", "ordinary", "watch", "blocked"], Money] = {
        "premium": 1500,
        "ordinary": 1000,
    }


class ExpressRefundPolicy(_Strict):
    """Express refund (极速退款 / 极速退, §2.6)."""

    #: Only merchants holding the ``express_refund`` privilege (2022: merchants opted in);
    #: off by default: since 2024 it is platform-wide (§2.6).
    require_privilege: bool = False
    unshipped: UnshippedExpress = UnshippedExpress()
    shipped: ShippedExpress = ShippedExpress()
    #: Otherwise the merchant has this many hours, then the refund is auto-approved
    #: (48 h, §2.6 plain refund, §4.3).
    review_hours: float = Field(default=48, gt=0)


PenaltyMeasure = Literal["warning", "rules_exam", "deposit_deduction", "suspension", "clearance"]


class PresalePolicy(_Strict):
    """Presale eligibility (预售): the ``presale`` privilege, no blocking penalty, the cap of
    ``rules.presale_overrun`` (§2.1)."""

    #: Penalty measures in force that forbid presale.
    blocking_measures: list[PenaltyMeasure] = ["suspension", "clearance"]


class ShipPromisePolicy(_Strict):
    """Is a ship promise (hours from payment to pickup) credible for a merchant (§2.1)?"""

    #: Orders paid in this many local days before ``as_of``.
    window_days: int = Field(default=30, ge=1, le=365)
    #: Below this many orders: insufficient_data (the category's figure is shown).
    min_orders: int = Field(default=20, ge=1)
    #: A promise is credible when the estimated share of orders it meets is at least this.
    threshold: float = Field(default=0.95, gt=0, le=1)
    #: The promise the merchant can keep: the smallest of ``grid_hours`` meeting this share.
    keep_share: float = Field(default=0.95, gt=0, le=1)
    #: Promises (hours) offered to merchants, increasing.
    grid_hours: list[Annotated[int, Field(ge=1, le=720)]] = Field(
        default=[24, 48, 72, 96, 120, 168, 240, 360], min_length=1
    )
    #: Pseudo-orders of the category's share added to the merchant's (shrinkage; 0: none).
    prior_strength: float = Field(default=10, ge=0)
    #: Probability of the equal-tailed credible interval.
    interval_level: float = Field(default=0.95, gt=0, lt=1)

    @field_validator("grid_hours")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("grid_hours must be increasing")
        return value


class Decisions(_Strict):
    """Online decisions of the service (docs/decisions.md)."""

    express_refund: ExpressRefundPolicy = ExpressRefundPolicy()
    presale: PresalePolicy = PresalePolicy()
    ship_promise: ShipPromisePolicy = ShipPromisePolicy()


class Policy(_Strict):
    """A versioned governance policy: population, scoring and violation rules."""

    version: str = Field(min_length=1)
    #: The first day this version applies (as_of >= effective_from).
    effective_from: date
    description: str = ""
    population: Population = Population()
    scoring: Scoring
    #: Violation detectors and their thresholds (docs/violations.md).
    rules: Rules = Rules()
    #: What violations cost: compensation, points, the penalty ladder (docs/violations.md).
    consequences: Consequences = Consequences()
    #: Privileges for good merchants, with hysteresis (docs/violations.md).
    privileges: dict[str, Privilege] = {}
    #: A merchant's standing (active / rectifying / suspended / cleared) and what it
    #: forbids: privileges revoked and not granted (docs/violations.md).
    standing: StandingConfig = StandingConfig()
    #: Score-based measures (restrictions below a level), with hysteresis.
    score_measures: dict[str, ScoreMeasure] = {}
    #: Online decisions: express refund, presale eligibility, ship promise (docs/decisions.md).
    decisions: Decisions = Decisions()
    #: The platform's service desk: its calendar, request types and deadlines, callbacks
    #: (docs/service-desk.md).
    desk: DeskPolicy = DeskPolicy()
