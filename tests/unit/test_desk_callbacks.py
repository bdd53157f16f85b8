"""Callbacks that persist: when the desk calls next, which number, and when it stops."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiyan.service_desk.callbacks import (
    Attempt,
    CallbackPolicy,
    CallbackTask,
    Contact,
    plan,
    reach_rate,
)

SH = ZoneInfo("Asia/Shanghai")
POLICY = CallbackPolicy()
MOTHER = Contact(token="c-mother", masked="139****0001")
OWN = Contact(token="c-own", masked="138****5678")
EVENING = datetime(2024, 6, 3, 20, 30, tzinfo=SH)


def task(
    *attempts: tuple[datetime, str, str], contacts: tuple[Contact, ...] = (MOTHER,)
) -> CallbackTask:
    return CallbackTask(
        contacts=contacts,
        opened=EVENING,
        attempts=tuple(Attempt(at=a, token=t, outcome=o) for a, t, o in attempts),  # type: ignore[arg-type]
    )


def test_the_seed_story_keeps_calling_until_reached() -> None:
    """Called at once, again after 30 minutes — which is 21:00, so the next morning —, then
    2 hours later, then the next day, until the consumer is reached."""
    first = plan(task(), POLICY)
    assert (first.status, first.call_at, first.token) == ("pending", EVENING, "c-mother")
    one = (EVENING, "c-mother", "no_answer")
    second = plan(task(one), POLICY)
    assert second.call_at == datetime(2024, 6, 4, 9, 0, tzinfo=SH)  # not at 21:00
    two = (datetime(2024, 6, 4, 9, 0, tzinfo=SH), "c-mother", "busy")
    assert plan(task(one, two), POLICY).call_at == datetime(2024, 6, 4, 11, 0, tzinfo=SH)
    three = (datetime(2024, 6, 4, 11, 0, tzinfo=SH), "c-mother", "no_answer")
    assert plan(task(one, two, three), POLICY).call_at == datetime(2024, 6, 5, 9, 0, tzinfo=SH)
    reached = (datetime(2024, 6, 5, 9, 0, tzinfo=SH), "c-mother", "reached")
    assert plan(task(one, two, three, reached), POLICY).status == "reached"


def test_a_wrong_person_moves_to_the_next_number_at_once() -> None:
    wrong = (datetime(2024, 6, 4, 10, 0, tzinfo=SH), "c-own", "wrong_person")
    nxt = plan(task(wrong, contacts=(OWN, MOTHER)), POLICY)
    assert (nxt.token, nxt.call_at) == ("c-mother", wrong[0])


def test_numbers_are_tried_as_often_as_allowed_then_the_task_is_exhausted() -> None:
    policy = CallbackPolicy(per_number=2, max_attempts=3)
    t = datetime(2024, 6, 4, 10, 0, tzinfo=SH)
    a1 = (t, "c-own", "no_answer")
    a2 = (t + timedelta(hours=1), "c-own", "no_answer")
    assert plan(task(a1, a2, contacts=(OWN, MOTHER)), policy).token == "c-mother"
    a3 = (t + timedelta(hours=2), "c-mother", "busy")
    done = plan(task(a1, a2, a3, contacts=(OWN, MOTHER)), policy)
    assert done.status == "exhausted" and "3 attempts" in done.reason
    assert reach_rate([task(a1, a2, a3, contacts=(OWN, MOTHER)), task()], policy) == (0, 1)


def test_inputs_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 7 digits"):
        Contact(token="x", masked="13812345678")
    with pytest.raises(ValueError, match="does not hold"):
        task((EVENING, "c-unknown", "busy"))
    with pytest.raises(ValueError, match="before the one it follows"):
        task((EVENING, "c-mother", "busy"), (EVENING - timedelta(minutes=1), "c-mother", "busy"))
    with pytest.raises(ValueError, match="positive"):
        CallbackPolicy(waits=(timedelta(0),))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2000), st.sampled_from(["no_answer", "busy", "wrong_person"])),
        max_size=12,
    )
)
def test_every_planned_call_is_in_calling_hours_and_after_the_last(
    raw: list[tuple[int, str]],
) -> None:
    """Following the plan with failed attempts: every call it plans is in the permitted
    hours and not before the previous attempt, and the task always ends (exhausted) within
    the policy's attempts."""
    contacts = (OWN, MOTHER)
    attempts: list[Attempt] = []
    for delay, outcome in raw:
        p = plan(CallbackTask(contacts=contacts, opened=EVENING, attempts=tuple(attempts)), POLICY)
        if p.status != "pending":
            break
        assert p.call_at is not None and p.token is not None
        local = p.call_at.astimezone(SH)
        assert POLICY.calling_hours.opens <= local.time() < POLICY.calling_hours.closes
        if attempts:
            assert p.call_at >= attempts[-1].at
        # the agent calls at the planned time or a little later (still within hours, or not)
        at = p.call_at + timedelta(minutes=delay % 5)
        attempts.append(Attempt(at=at, token=p.token, outcome=outcome))  # type: ignore[arg-type]
    assert len(attempts) <= POLICY.max_attempts
