"""Privileges for good merchants, granted and revoked with hysteresis.

Each privilege of the policy's ``privileges`` section has two sets of conditions: ``grant``
(what a merchant must reach to get it) and ``keep`` (the looser bar under which a holder
loses it). A merchant between the two keeps what it has: scores that wobble around a line
do not make a privilege flap from day to day. Each change is an ``actions`` entry
(``privilege_grant`` / ``privilege_revoke``) citing the score, the metric values and the
violations behind it.

Conditions: a minimum score (of ``scores`` for the run's date), metric bounds (merchant
values of ``metric_values``), and no B-class violation in the last N days.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tiyan.policy.standing import (
    MEASURE_KINDS,
    PRIVILEGE_KINDS,
    MerchantStanding,
    StandingConfig,
    may_be_granted,
    must_revoke,
)


class Bound(BaseModel):
    """A metric's bounds. ``missing``: what a merchant without a value of the metric gets —
    ``fail`` (the default: no value, no evidence of meeting it) or ``pass`` (for a defect
    rate of something the merchant may not do at all: no presale orders, no presale
    overdue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None
    max: float | None = None
    missing: Literal["fail", "pass"] = "fail"


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float | None = Field(default=None, ge=0, le=100)
    #: At most this score (for score-based measures: "below a level").
    max_score: float | None = Field(default=None, ge=0, le=100)
    metrics: dict[str, Bound] = {}
    #: No B-class violation (occurred) in this many days before the run's date.
    no_b_violation_days: int | None = Field(default=None, ge=1)

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: dict[str, Bound]) -> dict[str, Bound]:
        from tiyan.domain.errors import UnknownNameError
        from tiyan.metrics.catalog import DEFINITIONS

        for metric_id in value:
            if metric_id not in DEFINITIONS:
                raise ValueError(str(UnknownNameError("metric", metric_id, DEFINITIONS)))
        return value


class Privilege(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = ""
    grant: Conditions
    keep: Conditions


class ScoreMeasure(BaseModel):
    """A score-based measure (a restriction): applied when the merchant meets ``apply``,
    lifted when it no longer meets ``keep`` — the same hysteresis as a privilege."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = ""
    apply: Conditions
    keep: Conditions

    def as_privilege(self) -> Privilege:
        return Privilege(zh=self.zh, grant=self.apply, keep=self.keep)


#: Ledger kinds of (getting, losing) a privilege, and of (applying, lifting) a measure:
#: ``PRIVILEGE_KINDS``, ``MEASURE_KINDS`` (from :mod:`tiyan.policy.standing`).
__all__ = ["MEASURE_KINDS", "PRIVILEGE_KINDS", "changes", "meets", "privilege_rows"]


@dataclass(frozen=True)
class Standing:
    """What the conditions look at, for one merchant on one date."""

    score: float | None
    values: Mapping[str, float | None]
    last_b_violation: date | None


def meets(c: Conditions, s: Standing, as_of: date) -> tuple[bool, list[str]]:
    """Whether ``s`` meets ``c``, and the reasons it does not."""
    why = []
    if c.min_score is not None and (s.score is None or s.score < c.min_score):
        why.append(f"score {s.score if s.score is not None else 'none'} < {c.min_score:g}")
    if c.max_score is not None and (s.score is None or s.score > c.max_score):
        why.append(f"score {s.score if s.score is not None else 'none'} > {c.max_score:g}")
    for metric_id, bound in sorted(c.metrics.items()):
        value = s.values.get(metric_id)
        if value is None:
            if bound.missing == "fail":
                why.append(f"{metric_id} has no value")
        elif bound.min is not None and value < bound.min:
            why.append(f"{metric_id} {value:.4g} < {bound.min:g}")
        elif bound.max is not None and value > bound.max:
            why.append(f"{metric_id} {value:.4g} > {bound.max:g}")
    days, last = c.no_b_violation_days, s.last_b_violation
    if days is not None and last is not None and last >= as_of - timedelta(days=days):
        why.append(f"B-class violation on {last}")
    return not why, why


def changes(
    privileges: Mapping[str, Privilege],
    standings: Mapping[str, Standing],
    held: Mapping[tuple[str, str], bool],
    *,
    as_of: date,
    status: Mapping[str, MerchantStanding] | None = None,
    config: StandingConfig | None = None,
) -> list[tuple[str, str, bool, list[str]]]:
    """(merchant, privilege, granted?, reasons) for every change on ``as_of``: a merchant
    without the privilege gets it when it meets ``grant`` and its standing allows a grant;
    a holder loses it when it fails ``keep`` or its standing (``status``: merchant ->
    :class:`MerchantStanding`) is one that revokes every privilege. Pure."""
    out: list[tuple[str, str, bool, list[str]]] = []
    config = config or StandingConfig()
    status = status or {}
    merchants = sorted(set(standings) | {m for m, _ in held if m in status})
    for merchant_id in merchants:
        s = standings.get(merchant_id, Standing(None, {}, None))
        st = status.get(merchant_id)
        for name, p in sorted(privileges.items()):
            has = held.get((merchant_id, name), False)
            if not has:
                if merchant_id not in standings or not may_be_granted(st, config):
                    continue
                ok, _ = meets(p.grant, s, as_of)
                if ok:
                    out.append((merchant_id, name, True, []))
            elif st is not None and must_revoke(st, config):
                out.append((merchant_id, name, False, [f"{st.status} by {st.cause}"]))
            elif merchant_id in standings:
                ok, why = meets(p.keep, s, as_of)
                if not ok:
                    out.append((merchant_id, name, False, why))
    return out


def privilege_rows(
    privileges: Mapping[str, Privilege], standings: Mapping[str, Standing],
    held: Mapping[tuple[str, str], bool], *, as_of: date, policy_version: str,
    kinds: tuple[str, str] = PRIVILEGE_KINDS,
    status: Mapping[str, MerchantStanding] | None = None, config: StandingConfig | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The ``actions`` rows (as dicts) of :func:`changes`: one per grant or revocation (or
    measure applied or lifted, by ``kinds``), each citing the score, the values and the
    conditions that failed, and the penalty behind a revocation by standing. Pure."""
    rows = []
    found = changes(privileges, standings, held, as_of=as_of, status=status, config=config)
    for merchant_id, name, granted, why in found:
        s = standings.get(merchant_id, Standing(None, {}, None))
        st = (status or {}).get(merchant_id)
        kind = kinds[0] if granted else kinds[1]
        rows.append(
            {
                "action_id": f"{kind}:{merchant_id}:{name}:{as_of}",
                "kind": kind,
                "merchant_id": merchant_id,
                "violation_id": None,
                "rule_id": None,
                "ledger": None,
                "points": None,
                "amount": None,
                "measure": name,
                "day": as_of,
                "as_of": as_of,
                "policy_version": policy_version,
                "detail": json.dumps(
                    {
                        "score": s.score,
                        "values": dict(sorted(s.values.items())),
                        "last_b_violation": s.last_b_violation,
                        "failed": why,
                        **(
                            {"standing": st.status, "penalty_id": st.cause}
                            if st is not None
                            and st.cause
                            and not granted
                            and must_revoke(st, config or StandingConfig())
                            else {}
                        ),
                    },
                    default=str,
                    ensure_ascii=False,
                    sort_keys=True,
                ),
            }
        )
    return rows
