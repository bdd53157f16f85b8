"""Service requests: the state machine, replaying the audit trail, the merchant's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiyan.service_desk.clock import ServiceCalendar
from tiyan.service_desk.requests import (
    ACTIONS,
    State,
    Step,
    TransitionError,
    merchant_clock,
    replay,
    states,
    step,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = ServiceCalendar()
T0 = datetime(2024, 6, 3, 10, 0, tzinfo=SH)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def s(minutes: float, actor: str, action: str) -> Step:
    return Step(at=at(minutes), actor=actor, action=action)  # type: ignore[arg-type]


OPENED = [s(0, "consumer", "create"), s(0, "system", "route_merchant")]


def test_a_request_the_merchant_answers_in_time() -> None:
    trail = [*OPENED, s(90, "merchant", "answer"), s(100, "platform", "resolve")]
    assert replay(trail) is State.RESOLVED
    clock = merchant_clock(trail, CAL, hours=2)
    assert clock.started == at(0)
    assert clock.due == at(120)
    assert clock.answered == at(90)
    assert not clock.breached(at(10_000))


def test_an_answer_after_the_deadline_is_a_breach() -> None:
    trail = [*OPENED, s(150, "merchant", "answer")]
    clock = merchant_clock(trail, CAL, hours=2)
    assert clock.breached(at(150))
    # with no answer yet, breached once the deadline has passed
    assert not merchant_clock(OPENED, CAL, hours=2).breached(at(119))
    assert merchant_clock(OPENED, CAL, hours=2).breached(at(121))


def test_the_clock_waits_while_the_platform_asks_the_consumer() -> None:
    trail = [
        *OPENED,
        s(30, "consumer", "escalate"),  # waiting_platform: the merchant's clock stops
        s(40, "platform", "ask_consumer"),
        s(60 * 24, "consumer", "consumer_reply"),  # the next morning
        s(60 * 24 + 5, "platform", "ask_merchant"),  # back to the merchant
    ]
    assert replay(trail) is State.WAITING_MERCHANT
    clock = merchant_clock(trail, CAL, hours=2)
    # 30 minutes ran before the escalation, 90 more from 10:05 the next day
    assert clock.due == at(60 * 24 + 5 + 90)


def test_an_evening_request_is_due_the_next_morning() -> None:
    evening = T0.replace(hour=20)
    trail = [
        Step(at=evening, actor="consumer", action="create"),
        Step(at=evening, actor="system", action="route_merchant"),
    ]
    assert merchant_clock(trail, CAL, hours=2).due == evening.replace(day=4, hour=10)


def test_a_request_routed_to_the_platform_has_no_merchant_clock() -> None:
    """The seed story: the merchant had gone home; the request went to the platform desk."""
    trail = [s(0, "consumer", "create"), s(0, "system", "route_platform")]
    assert replay(trail) is State.WAITING_PLATFORM
    clock = merchant_clock(trail, CAL, hours=2)
    assert clock.due is None and not clock.breached(at(10_000))


@pytest.mark.parametrize(
    ("trail", "message"),
    [
        ([s(0, "merchant", "create")], "a merchant cannot open"),
        ([s(0, "consumer", "route_merchant")], "starts with create"),
        ([*OPENED, s(1, "merchant", "resolve")], "resolve is not possible while"),
        ([*OPENED, s(1, "consumer", "answer")], "a consumer cannot answer"),
        ([*OPENED, s(1, "consumer", "create")], "exists already"),
        ([*OPENED, s(-1, "merchant", "answer")], "is before step"),
        (
            [
                *OPENED,
                s(1, "merchant", "answer"),
                s(2, "platform", "resolve"),
                s(3, "system", "close"),
                s(4, "consumer", "message"),
            ],
            "closed",
        ),
        ([], "empty trail"),
    ],
)
def test_steps_the_state_does_not_allow_are_refused(trail: list[Step], message: str) -> None:
    with pytest.raises(TransitionError, match=message):
        replay(trail)


def test_unknown_actions_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Step(at=T0, actor="consumer", action="teleport")
    with pytest.raises(ValueError, match="no time zone"):
        Step(at=datetime(2024, 6, 3, 10), actor="consumer", action="create")


ACTORS = ("consumer", "merchant", "platform", "system")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.sampled_from(ACTORS), st.sampled_from(sorted(ACTIONS))),
        max_size=25,
    )
)
def test_the_machine_never_leaves_its_states_and_replay_reproduces_them(
    raw: list[tuple[int, str, str]],
) -> None:
    """Steps taken one by one, the refused ones dropped (as the desk refuses them): every
    state reached is a defined one, replaying the accepted trail gives the state tracked
    step by step, and the merchant's deadline, if any, lies in service hours."""
    trail: list[Step] = [s(0, "consumer", "create")]
    state: State | None = State.OPEN
    minute = 0
    for gap, actor, action in raw:
        minute += gap
        candidate = s(minute, actor, action)
        try:
            state = step(state, candidate)
        except TransitionError:
            continue
        assert state in set(State)
        trail.append(candidate)
        assert replay(trail) is state
        assert states(trail)[-1] == (candidate.at, state)
    clock = merchant_clock(trail, CAL, hours=2)
    if clock.due is not None:
        local = clock.due.astimezone(SH)
        assert CAL.opens <= local.time() <= CAL.closes
        assert clock.started is not None and clock.due >= clock.started


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_walks_through_allowed_steps_replay_to_the_same_state(data: st.DataObject) -> None:
    """Walks that take only allowed steps (so every state and reopening is reached): the
    trail replays to the state walked to, and the merchant's clock is due in service
    hours, never before it started."""
    from tiyan.service_desk.requests import THREAD_ACTIONS, TRANSITIONS

    trail = [s(0, "consumer", "create")]
    state = State.OPEN
    minute = 0
    for _ in range(data.draw(st.integers(0, 30))):
        moves = sorted(
            (action, actor)
            for (st_, action), (_, actors) in TRANSITIONS.items()
            if st_ is state
            for actor in actors
        )
        if state is not State.CLOSED:
            moves += [(a, "consumer") for a in sorted(THREAD_ACTIONS)]
        action, actor = data.draw(st.sampled_from(moves))
        minute += data.draw(st.integers(0, 900))
        trail.append(s(minute, actor, action))
        state = step(state, trail[-1])
    assert replay(trail) is state
    clock = merchant_clock(trail, CAL, hours=data.draw(st.sampled_from([0, 2, 12, 24])))
    if clock.due is not None:
        local = clock.due.astimezone(SH)
        assert CAL.opens <= local.time() <= CAL.closes
        assert clock.started is not None and clock.due >= clock.started
