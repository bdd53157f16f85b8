"""Enforcement as of a date: the governance day, from the store and back.

``run_enforcement(store, as_of=...)`` brings the daily partials up to date (the rates that
gate points), reads a :class:`~tiyan.policy.pipeline.Snapshot` once
(:func:`tiyan.store.governance.load_snapshot`: the detectors run there), evaluates the policy
— :func:`tiyan.policy.pipeline.evaluate_policy`, pure — and records the outcome in one
transaction (:func:`tiyan.store.governance.write_outcome`); then the rectification read
model is refreshed. Ids are deterministic and the snapshot holds what is recorded, so running
twice — or the next day over an overlapping lookback — adds nothing.

Example::

    with open_store("tiyan.duckdb") as store:
        summary = run_enforcement(store, as_of=date(2024, 7, 30))
        summary.new_by_rule  # {"ship_timeout": 1523, ...}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tiyan.domain.errors import UsageError
from tiyan.metrics.runner import refresh_partials
from tiyan.policy.files import load_policy, not_in_force
from tiyan.policy.pipeline import Outcome, evaluate_policy
from tiyan.policy.schema import Policy
from tiyan.policy.standing import MerchantStanding
from tiyan.store.base import Store
from tiyan.store.governance import load_snapshot, write_outcome
from tiyan.store.platform import store_policy
from tiyan.store.rectification import record_rectification

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EnforcementSummary:
    as_of: date
    policy_version: str
    #: Rule id -> violations the detectors found in the lookback (new or already recorded).
    found_by_rule: dict[str, int]
    #: Rule id -> violations recorded by this run.
    new_by_rule: dict[str, int]
    #: Merchants with a new B-class violation.
    merchants_with_new_b: int = 0
    ids: list[str] = field(default_factory=list, repr=False)
    #: New consequences: compensation (¥), points per ledger, (merchant, penalty measure).
    compensation: Decimal = Decimal("0.00")
    points: dict[str, float] = field(default_factory=dict)
    penalties: list[tuple[str, str]] = field(default_factory=list)
    #: Privilege changes (needs scores for as_of: run `tiyan score` first).
    privileges_granted: int = 0
    privileges_revoked: int = 0
    #: Penalties in force whose targeted metric is tracked in ``rectification``.
    rectification: int = 0
    #: Score-based measures applied and lifted.
    measures_applied: int = 0
    measures_lifted: int = 0
    #: Each merchant's standing after the run.
    standings: Mapping[str, MerchantStanding] = field(default_factory=dict, repr=False)

    @property
    def new(self) -> int:
        return sum(self.new_by_rule.values())

    @classmethod
    def of(cls, outcome: Outcome, *, rectification: int = 0) -> EnforcementSummary:
        by_rule = Counter(r["rule_id"] for r in outcome.violations)
        return cls(
            as_of=outcome.as_of,
            policy_version=outcome.policy_version,
            found_by_rule=dict(outcome.found_by_rule),
            new_by_rule={rule: by_rule.get(rule, 0) for rule in outcome.found_by_rule},
            merchants_with_new_b=len(
                {r["merchant_id"] for r in outcome.violations if r["ledger"] == "B"}
            ),
            ids=[r["violation_id"] for r in outcome.violations],
            compensation=sum((r["amount"] for r in outcome.compensation), Decimal("0.00")),
            points={
                ledger: round(sum(r["points"] for r in outcome.points if r["ledger"] == ledger), 2)
                for ledger in ("A", "B")
            },
            penalties=sorted({(r["merchant_id"], r["measure"]) for r in outcome.penalties}),
            privileges_granted=sum(1 for r in outcome.privileges if r["kind"] == "privilege_grant"),
            privileges_revoked=sum(
                1 for r in outcome.privileges if r["kind"] == "privilege_revoke"
            ),
            rectification=rectification,
            measures_applied=sum(1 for r in outcome.measures if r["kind"] == "measure_apply"),
            measures_lifted=sum(1 for r in outcome.measures if r["kind"] == "measure_lift"),
            standings=outcome.standings,
        )


def run_enforcement(
    store: Store,
    *,
    as_of: date,
    policy: Policy | None = None,
    progress: Progress | None = None,
) -> EnforcementSummary:
    """Run the governance day for ``as_of`` and record it (module docstring)."""
    policy = store_policy(store, policy or load_policy())  # days at the store's time zone
    if (refused := not_in_force(policy, as_of)) is not None:
        raise UsageError(refused)  # with the fix: a policy in force on as_of
    say = progress or (lambda _msg: None)
    say("measuring the rates that gate points")
    # The rate-type rules' points need each merchant's own rate over the days before as_of:
    # the catalog's daily partials, brought up to date (a no-op after `tiyan score`).
    refresh_partials(store, policy.population.catalog_config(), as_of=as_of, restate_days=0)
    snapshot = load_snapshot(store, policy, as_of=as_of, progress=say)
    outcome = evaluate_policy(snapshot, policy, as_of=as_of, progress=say)
    say(f"recording {len(outcome.violations):,} new violations and "
        f"{len(outcome.actions):,} ledger entries")  # fmt: skip
    write_outcome(store, outcome)
    say("measuring rectification")
    rectified = record_rectification(store, as_of=as_of)
    return EnforcementSummary.of(outcome, rectification=len(rectified))
