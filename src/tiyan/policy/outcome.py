"""Judge a policy by its outcome: on a market whose truth is known (the simulator's
``sim_truth``), who is rewarded, who is punished, and whether the detectors find the right
merchants. Pure: standings, archetypes and flagged merchants in, a table out.

Per archetype: merchants, scored merchants, the share of scored merchants at each level, the
share of scored merchants holding each privilege (and one of the four rewards that matter most:
presale, traffic boost, commission rebate, the badge), at a ladder node, in each status, and
the suspended or cleared holding a privilege (must be 0). Per rule with a target archetype:
precision and recall over merchants with a violation that earned points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tiyan.policy.standing import MerchantStanding

#: The four rewards the outcome checks look at.
REWARDS = ("presale", "traffic_boost", "commission_rebate", "excellent_badge")
#: Rule -> the archetype it is meant to find.
TARGET_ARCHETYPE = {
    "fake_shipment": "fake_shipper",
    "malicious_non_shipment": "malicious_non_shipper",
    "fake_inventory": "fake_inventory",
    "presale_overrun": "presale_abuser",
    "passive_service": "passive_service",
    "ship_timeout": "slow_shipper",
    "service_request_timeout": "passive_service",
}
LEVELS = ("excellent", "good", "fair", "poor", "critical")


@dataclass(frozen=True)
class ArchetypeOutcome:
    archetype: str
    merchants: int
    scored: int
    #: Level -> share of the scored merchants.
    levels: dict[str, float]
    #: Privilege -> share of the scored merchants holding it; "any_reward": one of REWARDS.
    privileges: dict[str, float]
    at_node: float
    statuses: dict[str, int]
    #: Suspended or cleared merchants holding a privilege (must be 0).
    barred_holding: int


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    archetype: str
    flagged: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class Outcome:
    archetypes: list[ArchetypeOutcome] = field(default_factory=list)
    rules: list[RuleOutcome] = field(default_factory=list)


def _share(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def evaluate_outcome(
    standings: Mapping[str, MerchantStanding],
    archetypes: Mapping[str, str],
    flagged: Mapping[str, Iterable[str]],
    privileges: Iterable[str],
) -> Outcome:
    """The outcome table (module docstring). ``flagged``: rule -> merchants with a
    violation of it that earned points; ``privileges``: the policy's privilege names."""
    names = sorted(set(privileges))
    groups: dict[str, list[MerchantStanding]] = {}
    for m, a in sorted(archetypes.items()):
        if m in standings:
            groups.setdefault(a, []).append(standings[m])
    out = []
    for a, members in sorted(groups.items()):
        scored = [s for s in members if s.score is not None]
        levels = Counter(s.level for s in scored)
        held = {p: sum(1 for s in scored if p in s.privileges) for p in names}
        held["any_reward"] = sum(1 for s in scored if set(REWARDS) & set(s.privileges))
        out.append(
            ArchetypeOutcome(
                archetype=a,
                merchants=len(members),
                scored=len(scored),
                levels={lv: _share(levels.get(lv, 0), len(scored)) for lv in LEVELS},
                privileges={p: _share(n, len(scored)) for p, n in held.items()},
                at_node=_share(sum(1 for s in members if s.node), len(members)),
                statuses=dict(sorted(Counter(s.status for s in members).items())),
                barred_holding=sum(
                    1 for s in members if s.status in ("suspended", "cleared") and s.privileges
                ),
            )
        )
    rules = []
    for rule_id, target in sorted(TARGET_ARCHETYPE.items()):
        found = set(flagged.get(rule_id, ())) & set(archetypes)
        truth = {m for m, a in archetypes.items() if a == target}
        hits = len(found & truth)
        rules.append(
            RuleOutcome(
                rule_id, target, len(found),
                precision=_share(hits, len(found)) if found else None,
                recall=_share(hits, len(truth)) if truth else None,
            )
        )  # fmt: skip
    return Outcome(out, rules)
