"""The merchant standing (tiyan.policy.standing) and what it forbids in the privilege review:
on plain values, no store."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tiyan.policy.privileges import Conditions, Privilege, Standing, changes
from tiyan.policy.standing import LedgerEntry, StandingConfig, resolve_standing

AS_OF = date(2024, 7, 30)
CONFIG = StandingConfig()
REBATE = {"commission_rebate": Privilege(grant=Conditions(min_score=90),
                                         keep=Conditions(min_score=87))}  # fmt: skip


def penalty(
    measure: str, day: date, ledger: str = "B", node: float = 4, **detail: int
) -> LedgerEntry:
    action_id = f"penalty:M1:{ledger}:{day.year}:{node:g}:{measure}"
    return LedgerEntry(action_id, "penalty", ledger, None, measure, day,
                       {"node_points": node, **detail})  # fmt: skip


def grant(name: str, day: date) -> LedgerEntry:
    return LedgerEntry(f"privilege_grant:M1:{name}:{day}", "privilege_grant", None, None, name, day)


def test_no_penalty_is_active() -> None:
    s = resolve_standing("M1", [grant("presale", date(2024, 7, 1))], as_of=AS_OF, config=CONFIG)
    assert (s.status, s.privileges, s.node, s.cause) == ("active", ("presale",), None, None)


def test_clearance_is_terminal_for_the_year() -> None:
    entries = [penalty("clearance", date(2024, 3, 1), node=12)]
    assert resolve_standing("M1", entries, as_of=AS_OF, config=CONFIG).status == "cleared"
    # points and clearance reset on 12-31 (§3.1)
    assert resolve_standing("M1", entries, as_of=date(2025, 1, 2), config=CONFIG).status == (
        "active"
    )


def test_suspension_then_rectification_then_active() -> None:
    day = date(2024, 7, 1)
    entries = [penalty("suspension", day, suspension_days=7), penalty("deposit_deduction", day)]

    def status(on: date) -> tuple[str, date | None]:
        s = resolve_standing("M1", entries, as_of=on, config=CONFIG)
        return s.status, s.until

    assert status(day) == ("suspended", day + timedelta(days=7))
    assert status(day + timedelta(days=6)) == ("suspended", day + timedelta(days=7))
    # after the suspension, the rectification period: the later deadline of the two
    assert status(day + timedelta(days=7)) == ("rectifying", day + timedelta(days=37))
    assert status(day + timedelta(days=37)) == ("active", None)
    assert status(day - timedelta(days=1)) == ("active", None)  # nothing before it happened


def test_a_reversed_penalty_is_not_in_force() -> None:
    p = penalty("clearance", date(2024, 7, 1), node=12)
    lifted = LedgerEntry(f"reversal:{p.action_id}", "reversal", "B", None, "clearance",
                         date(2024, 7, 5))  # fmt: skip
    assert resolve_standing("M1", [p, lifted], as_of=AS_OF, config=CONFIG).status == "active"
    # the reversal counts only from its day
    assert resolve_standing("M1", [p, lifted], as_of=date(2024, 7, 3), config=CONFIG).status == (
        "cleared"
    )


def test_suspended_holder_loses_every_privilege_citing_the_penalty() -> None:
    p = penalty("suspension", AS_OF, suspension_days=7)
    s = resolve_standing("M1", [p, grant("commission_rebate", date(2024, 6, 1))], as_of=AS_OF,
                         config=CONFIG)  # fmt: skip
    assert s.status == "suspended" and s.privileges == ("commission_rebate",)
    # a score of 99 does not keep the privilege of a suspended merchant
    found = changes(REBATE, {"M1": Standing(99.0, {}, None)}, {("M1", "commission_rebate"): True},
                    as_of=AS_OF, status={"M1": s}, config=CONFIG)  # fmt: skip
    assert found == [("M1", "commission_rebate", False, [f"suspended by {p.action_id}"])]
    # and a suspended merchant without scores is revoked all the same
    found = changes(REBATE, {}, {("M1", "commission_rebate"): True}, as_of=AS_OF,
                    status={"M1": s}, config=CONFIG)  # fmt: skip
    assert found[0][2] is False


statuses = st.sampled_from(["none", "warning", "suspension", "clearance"])


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.tuples(statuses, st.integers(0, 60)), max_size=4),
    score=st.floats(0, 100),
    held=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_properties(kinds: list[tuple[str, int]], score: float, held: bool, seed: int) -> None:
    """No merchant suspended or cleared holds a privilege after the review or is granted one;
    nobody is granted anything while not active; the order of ledger rows changes nothing;
    the review applied to its own result changes nothing more."""
    entries = [
        penalty(kind, AS_OF - timedelta(days=ago), node=4 + i, suspension_days=7)
        for i, (kind, ago) in enumerate(kinds)
        if kind != "none"
    ]
    shuffled = entries[:]
    random.Random(seed).shuffle(shuffled)
    s = resolve_standing("M1", entries, as_of=AS_OF, config=CONFIG)
    assert s == resolve_standing("M1", shuffled, as_of=AS_OF, config=CONFIG)
    holding = {("M1", "commission_rebate"): held}
    found = changes(REBATE, {"M1": Standing(score, {}, None)}, holding, as_of=AS_OF,
                    status={"M1": s}, config=CONFIG)  # fmt: skip
    after = dict(holding)
    for m, name, granted, _ in found:
        after[(m, name)] = granted
    if s.status in ("suspended", "cleared"):
        assert not after[("M1", "commission_rebate")]
    if s.status != "active":
        assert not any(granted for *_, granted, _ in found)
    again = changes(REBATE, {"M1": Standing(score, {}, None)}, after, as_of=AS_OF,
                    status={"M1": s}, config=CONFIG)  # fmt: skip
    assert again == []
    # more penalties never bring more privileges
    worse = resolve_standing(
        "M1", [*entries, penalty("clearance", AS_OF, node=12)], as_of=AS_OF, config=CONFIG
    )
    assert worse.status == "cleared"
