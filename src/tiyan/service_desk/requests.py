"""Service requests (服务单): their states, the audit trail that moves them, and their clocks.

A request is what its audit trail says: every step (who, when, what) is kept, and the state
is the trail replayed from the first step — so a stored state can always be checked against
its history, and a changed calendar recomputes every clock of the past.

States, after WeChat 小店's complaint tickets (reference §4.4: 待商家处理 → 待平台处理 → 已完结)
and the issue's desk::

    open ──route_merchant──▶ waiting_merchant ──answer / escalate / breach──▶ waiting_platform
      └───route_platform (the merchant is offline: 离线留言)────────────────▶ waiting_platform
    waiting_platform ──ask_merchant──▶ waiting_merchant
    waiting_platform ──ask_consumer──▶ waiting_consumer
    waiting_consumer ──consumer_reply / no_reply──▶ waiting_platform
    waiting_platform ──resolve──▶ resolved ──close──▶ closed
    resolved, closed ──reopen──▶ waiting_platform

``message`` adds to the thread in any state but ``closed`` without moving the request.
Each action may be taken only by the actors listed in :data:`TRANSITIONS`; anything else is a
:class:`TransitionError` naming the state, the action and who tried.

Clocks (:func:`merchant_clock`): the merchant's deadline for the request's type runs from the
first time the request waits on the merchant, in service hours, and stops while it waits on
anyone else (the platform took it over, or asked the consumer); it is breached when the time
runs out before the merchant's first answer.

Example::

    trail = [Step(at=t0, actor="consumer", action="create"),
             Step(at=t0, actor="system", action="route_merchant")]
    replay(trail)                  # State.WAITING_MERCHANT
    merchant_clock(trail, calendar, hours=2).due   # 2 service hours after t0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from tiyan.service_desk.clock import Pause, ServiceCalendar, deadline

Actor = Literal["consumer", "merchant", "platform", "system"]


class State(StrEnum):
    OPEN = "open"
    WAITING_MERCHANT = "waiting_merchant"
    WAITING_PLATFORM = "waiting_platform"
    WAITING_CONSUMER = "waiting_consumer"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: (state, action) -> (the state it leads to, the actors who may take it).
TRANSITIONS: dict[tuple[State, str], tuple[State, frozenset[str]]] = {
    (State.OPEN, "route_merchant"): (State.WAITING_MERCHANT, frozenset({"system", "platform"})),
    (State.OPEN, "route_platform"): (State.WAITING_PLATFORM, frozenset({"system", "platform"})),
    (State.WAITING_MERCHANT, "answer"): (State.WAITING_PLATFORM, frozenset({"merchant"})),
    (State.WAITING_MERCHANT, "escalate"): (
        State.WAITING_PLATFORM,
        frozenset({"consumer", "platform"}),
    ),
    (State.WAITING_MERCHANT, "breach"): (State.WAITING_PLATFORM, frozenset({"system"})),
    (State.WAITING_PLATFORM, "ask_merchant"): (State.WAITING_MERCHANT, frozenset({"platform"})),
    (State.WAITING_PLATFORM, "ask_consumer"): (State.WAITING_CONSUMER, frozenset({"platform"})),
    (State.WAITING_CONSUMER, "consumer_reply"): (State.WAITING_PLATFORM, frozenset({"consumer"})),
    (State.WAITING_CONSUMER, "no_reply"): (State.WAITING_PLATFORM, frozenset({"system"})),
    (State.WAITING_PLATFORM, "resolve"): (State.RESOLVED, frozenset({"platform"})),
    (State.RESOLVED, "close"): (State.CLOSED, frozenset({"consumer", "platform", "system"})),
    (State.RESOLVED, "reopen"): (State.WAITING_PLATFORM, frozenset({"consumer", "platform"})),
    (State.CLOSED, "reopen"): (State.WAITING_PLATFORM, frozenset({"consumer", "platform"})),
}
#: Actions that add to the thread without moving the request (any state but closed).
THREAD_ACTIONS = frozenset({"message"})
ACTIONS = frozenset({a for _, a in TRANSITIONS} | THREAD_ACTIONS | {"create"})


class TransitionError(ValueError):
    """A step the request's state does not allow."""


class Step(BaseModel):
    """One entry of a request's audit trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    actor: Actor
    action: str
    note: str | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{at} has no time zone: steps are aware instants")
        return at

    @field_validator("action")
    @classmethod
    def _known(cls, action: str) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: one of {sorted(ACTIONS)}")
        return action


def step(state: State | None, s: Step) -> State:
    """The state after ``s`` from ``state`` (None: the request does not exist yet)."""
    if state is None:
        if s.action != "create":
            raise TransitionError(f"a request starts with create, not {s.action}")
        if s.actor not in ("consumer", "platform", "system"):
            raise TransitionError(f"a {s.actor} cannot open a request")
        return State.OPEN
    if s.action == "create":
        raise TransitionError("the request exists already")
    if s.action in THREAD_ACTIONS:
        if state is State.CLOSED:
            raise TransitionError("the request is closed: reopen it to write to it")
        return state
    found = TRANSITIONS.get((state, s.action))
    if found is None:
        allowed = sorted({a for (st, a) in TRANSITIONS if st is state} | THREAD_ACTIONS)
        raise TransitionError(
            f"{s.action} is not possible while the request is {state.value} "
            f"(possible: {', '.join(allowed) or 'nothing'})"
        )
    target, actors = found
    if s.actor not in actors:
        raise TransitionError(
            f"a {s.actor} cannot {s.action} a request (only {', '.join(sorted(actors))})"
        )
    return target


def replay(trail: Sequence[Step]) -> State:
    """The state the trail leads to. Steps must be in time order (ties keep their order)."""
    state: State | None = None
    last: datetime | None = None
    for i, s in enumerate(trail):
        if last is not None and s.at < last:
            raise TransitionError(f"step {i + 1} ({s.action} at {s.at}) is before step {i}")
        try:
            state = step(state, s)
        except TransitionError as exc:
            raise TransitionError(f"step {i + 1}: {exc}") from None
        last = s.at
    if state is None:
        raise TransitionError("an empty trail is no request")
    return state


def states(trail: Sequence[Step]) -> list[tuple[datetime, State]]:
    """Each step's instant and the state it left the request in."""
    out: list[tuple[datetime, State]] = []
    state: State | None = None
    for s in trail:
        state = step(state, s)
        out.append((s.at, state))
    return out


@dataclass(frozen=True)
class Clock:
    """The merchant's clock on a request: when it started, when it is due (None: it never
    waited on the merchant, or waits on someone else for good), and whether the merchant
    answered in time."""

    started: datetime | None
    due: datetime | None
    answered: datetime | None
    pauses: tuple[Pause, ...]

    def breached(self, now: datetime) -> bool:
        """The deadline passed without an answer (as of ``now``)."""
        if self.due is None:
            return False
        end = self.answered if self.answered is not None else now
        return end > self.due


def merchant_clock(trail: Sequence[Step], calendar: ServiceCalendar, *, hours: float) -> Clock:
    """The merchant's deadline from the trail: ``hours`` of service time while the request
    waits on the merchant, from the first time it does; paused whenever it waits on anyone
    else; the first answer by the merchant stops it."""
    timeline = states(trail)
    started: datetime | None = None
    answered: datetime | None = None
    pauses: list[Pause] = []
    paused_since: datetime | None = None
    for (at, state), s in zip(timeline, trail, strict=True):
        if started is None:
            if state is State.WAITING_MERCHANT:
                started = at
            continue
        if s.actor == "merchant" and s.action == "answer":
            answered = at
            break
        if state is State.WAITING_MERCHANT:
            if paused_since is not None:
                pauses.append(Pause(start=paused_since, end=at))
                paused_since = None
        elif paused_since is None:
            paused_since = at
    if started is None:
        return Clock(None, None, None, ())
    if paused_since is not None:  # (still waiting on someone else)
        pauses.append(Pause(start=paused_since, end=None))
    due = deadline(calendar, started, hours=hours, pauses=pauses)
    return Clock(started, due, answered, tuple(pauses))
