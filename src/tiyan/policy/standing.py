"""A merchant's standing (经营状态) as of a date: one status, derived from the ledger.

Every question "what may this merchant do" reads the standing: the privilege review, the
decision API (presale), the CLI's ``tiyan standing`` and the API's
``GET /v1/merchants/{id}/standing``. Pure: ledger entries in, a :class:`MerchantStanding` out.

The status, strictest first (reference §3.1: "the strictest measure applies"):

* ``cleared`` (清退) — a clearance penalty of the policy year (points reset on 12-31), not
  reversed on appeal: terminal for the year;
* ``suspended`` (停业整顿) — a suspension penalty in force: from its day for its
  ``suspension_days``;
* ``rectifying`` (整改) — any other penalty in force, or the ``rectification_days`` after a
  penalty (or a suspension's end): warned, with a deadline (``until``);
* ``active`` — none of these.

A suspended or cleared merchant holds no privilege (the review revokes every one in the same
run, citing the penalty); a merchant that is not active is granted none.

Example::

    >>> from datetime import date
    >>> entries = [LedgerEntry("penalty:M1:B:2024:12:clearance", "penalty", "B", None,
    ...                        "clearance", date(2024, 7, 1), {})]
    >>> resolve_standing("M1", entries, as_of=date(2024, 7, 30), config=StandingConfig()).status
    'cleared'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["active", "rectifying", "suspended", "cleared"]
#: Strictest last.
STATUS_ORDER: tuple[Status, ...] = ("active", "rectifying", "suspended", "cleared")
PRIVILEGE_KINDS = ("privilege_grant", "privilege_revoke")
MEASURE_KINDS = ("measure_apply", "measure_lift")
#: Days a suspension lasts when its ledger entry does not say (the ladder's default).
DEFAULT_SUSPENSION_DAYS = 7


class StandingConfig(BaseModel):
    """The policy's ``standing`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Days after a penalty (after a suspension's end) during which the merchant is
    #: ``rectifying`` and is granted no privilege (tiyan: the 30-day lookback of the rules,
    #: so a merchant must show a clean month before it is rewarded again).
    rectification_days: int = Field(default=30, ge=0, le=366)
    #: Statuses in which every privilege held is revoked (reference §3.1: suspension and
    #: clearance stop the store; tiyan: they stop its rewards too).
    revoke_in: list[Literal["rectifying", "suspended", "cleared"]] = ["suspended", "cleared"]
    #: Statuses in which no privilege is granted (tiyan).
    no_grant_in: list[Literal["rectifying", "suspended", "cleared"]] = [
        "rectifying",
        "suspended",
        "cleared",
    ]


@dataclass(frozen=True)
class LedgerEntry:
    """One ``actions`` row, as far as the standing needs it."""

    action_id: str
    kind: str
    ledger: str | None
    points: float | None
    measure: str | None
    day: date
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MerchantStanding:
    merchant_id: str
    as_of: date
    status: Status
    #: The day the status ends (suspension's end, rectification deadline); None: open-ended.
    until: date | None = None
    #: The penalty that set the status (the strictest in force), if any.
    cause: str | None = None
    #: This year's points per ledger, after reversals.
    points: Mapping[str, float] = field(default_factory=lambda: {"A": 0.0, "B": 0.0})
    #: The highest ladder node reached this year, e.g. "B:8" (None: none).
    node: str | None = None
    #: Penalty ids in force (not reversed, not ended).
    penalties: tuple[str, ...] = ()
    #: Penalty measures and score-based measures in force.
    measures: tuple[str, ...] = ()
    #: Privileges held.
    privileges: tuple[str, ...] = ()
    score: float | None = None
    level: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "until": None if self.until is None else self.until.isoformat(),
            "cause": self.cause,
            "score": self.score,
            "level": self.level,
            "privileges": list(self.privileges),
            "measures": list(self.measures),
            "points": dict(self.points),
            "node": self.node,
            "penalties": list(self.penalties),
        }


def _suspension_days(entry: LedgerEntry) -> int:
    days = entry.detail.get("suspension_days")
    return int(days) if days else DEFAULT_SUSPENSION_DAYS


def resolve_standing(
    merchant_id: str,
    entries: Iterable[LedgerEntry],
    *,
    as_of: date,
    config: StandingConfig,
    score: float | None = None,
    level: str | None = None,
) -> MerchantStanding:
    """The merchant's standing on ``as_of`` from its ledger ``entries`` (module docstring).
    Entries dated after ``as_of`` are ignored; the order of ``entries`` does not matter."""
    rows = sorted((e for e in entries if e.day <= as_of), key=lambda e: (e.day, e.action_id))
    reversed_ids = {e.action_id[len("reversal:") :] for e in rows if e.kind == "reversal"}
    points = {"A": 0.0, "B": 0.0}
    for e in rows:
        in_year = e.day.year == as_of.year
        if e.kind in ("points", "reversal") and e.points and e.ledger in points and in_year:
            points[e.ledger] += float(e.points)
    best: tuple[int, date | None, str] | None = None  # (status rank, until, cause)
    penalties: list[str] = []
    measures: set[str] = set()
    node: tuple[str, float] | None = None
    rest = timedelta(days=config.rectification_days)
    for e in rows:
        if e.kind != "penalty" or e.action_id in reversed_ids or e.day.year != as_of.year:
            continue
        if e.measure == "clearance":
            status, until, in_force = "cleared", None, True
        elif e.measure == "suspension":
            end = e.day + timedelta(days=_suspension_days(e))
            if as_of < end:
                status, until, in_force = "suspended", end, True
            else:
                status, until, in_force = "rectifying", end + rest, as_of < end + rest
        else:
            status, until, in_force = "rectifying", e.day + rest, as_of < e.day + rest
        node_points = e.detail.get("node_points")
        if e.ledger and node_points is not None:
            mark = (e.ledger, float(node_points))
            if node is None or (mark[0], mark[1]) > (node[0], node[1]):
                node = mark
        if not in_force:
            continue
        penalties.append(e.action_id)
        if status in ("cleared", "suspended") or e.measure not in ("suspension",):
            measures.add(str(e.measure))
        rank = STATUS_ORDER.index(status)
        key = (rank, until, e.action_id)
        if best is None or (rank, until or date.max) > (best[0], best[1] or date.max):
            best = key
    held: dict[str, bool] = {}
    for e in rows:
        if e.measure is None:
            continue
        if e.kind in PRIVILEGE_KINDS:
            held[f"p:{e.measure}"] = e.kind == PRIVILEGE_KINDS[0]
        elif e.kind in MEASURE_KINDS:
            held[f"m:{e.measure}"] = e.kind == MEASURE_KINDS[0]
    privileges = tuple(sorted(k[2:] for k, on in held.items() if on and k.startswith("p:")))
    measures.update(k[2:] for k, on in held.items() if on and k.startswith("m:"))
    return MerchantStanding(
        merchant_id=merchant_id,
        as_of=as_of,
        status=STATUS_ORDER[best[0]] if best else "active",
        until=best[1] if best else None,
        cause=best[2] if best else None,
        points={k: round(v, 2) for k, v in points.items()},
        node=None if node is None else f"{node[0]}:{node[1]:g}",
        penalties=tuple(sorted(penalties)),
        measures=tuple(sorted(measures)),
        privileges=privileges,
        score=score,
        level=level,
    )


def may_be_granted(standing: MerchantStanding | None, config: StandingConfig) -> bool:
    """Whether a privilege may be granted to a merchant in this standing."""
    return standing is None or standing.status not in config.no_grant_in


def must_revoke(standing: MerchantStanding | None, config: StandingConfig) -> bool:
    """Whether every privilege the merchant holds must be revoked."""
    return standing is not None and standing.status in config.revoke_in
