"""A request's whole history, and what its trail says of it.

:class:`History` is one request as a whole: the request, its audit trail from ``create``,
the resolutions its ``resolve`` steps recorded, its callback tasks and the consumer's
survey. It is what ``tiyan desk import`` reads (one JSON object a line), what the simulator
writes, and what a desk migrating from another helpdesk sends: every history is checked by
replaying its trail before anything of it is stored.

:func:`summarize` is what the listings and the desk's metrics read of a request — the
merchant's deadline and whether it was kept, when the platform took the request and first
answered, whether it resolved the request within its own hours — computed from the trail
and the calendar alone, so a changed calendar recomputes history.

Example::

    s = summarize(trail, desk.calendar, hours=2, resolve_hours=desk.resolve_hours)
    s.merchant_breached      # True: the deadline passed before the merchant's answer
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tiyan.service_desk.callbacks import Attempt, CallbackTask, Contact
from tiyan.service_desk.clock import Pause, ServiceCalendar, elapsed
from tiyan.service_desk.requests import Actor, State, Step, TransitionError, merchant_clock, states
from tiyan.service_desk.resolution import Resolution


@dataclass(frozen=True)
class Summary:
    """What the trail says of a request (module docstring); every instant aware, UTC."""

    #: The merchant's deadline (None: the request never waited on it, or its clock stopped
    #: for good before the time ran out).
    merchant_due_at: datetime | None
    merchant_answered_at: datetime | None
    #: True: the deadline passed before the merchant's answer (the ``breach`` step, or a late
    #: answer); False: answered in time; None: no clock, still running, or the platform
    #: took the request over before the time ran out.
    merchant_breached: bool | None
    #: When the request first waited on the platform, and the platform's first step after.
    platform_since: datetime | None
    first_platform_at: datetime | None
    resolved_at: datetime | None
    #: Resolved within ``resolve_hours`` of service time from ``platform_since``, the time
    #: spent waiting on the consumer not counted; None until resolved.
    resolved_in_time: bool | None
    reopens: int


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)


def _consumer_waits(timeline: Sequence[tuple[datetime, State]]) -> list[Pause]:
    pauses: list[Pause] = []
    since: datetime | None = None
    for at, state in timeline:
        if state is State.WAITING_CONSUMER and since is None:
            since = at
        elif state is not State.WAITING_CONSUMER and since is not None:
            pauses.append(Pause(start=since, end=at))
            since = None
    if since is not None:
        pauses.append(Pause(start=since, end=None))
    return pauses


def summarize(
    trail: Sequence[Step],
    calendar: ServiceCalendar,
    *,
    hours: float,
    resolve_hours: float,
) -> Summary:
    """The request's :class:`Summary` from its trail (which must replay)."""
    timeline = states(trail)
    clock = merchant_clock(trail, calendar, hours=hours)
    breached: bool | None = None
    if clock.answered is not None and clock.due is not None:
        breached = clock.answered > clock.due
    elif clock.answered is None and any(s.action == "breach" for s in trail):
        breached = True
    platform_since = next((at for at, state in timeline if state is State.WAITING_PLATFORM), None)
    first_platform = None
    if platform_since is not None:
        first_platform = next(
            (s.at for s in trail if s.actor == "platform" and s.at >= platform_since), None
        )
    resolves = [s.at for s, (_, state) in zip(trail, timeline, strict=True)
                if s.action == "resolve" and state is State.RESOLVED]  # fmt: skip
    resolved_at = resolves[-1] if resolves and timeline[-1][1] in (
        State.RESOLVED, State.CLOSED) else None  # fmt: skip
    in_time = None
    if resolved_at is not None and platform_since is not None:
        spent = elapsed(calendar, platform_since, resolved_at,
                        pauses=_consumer_waits(timeline))  # fmt: skip
        in_time = spent <= timedelta(hours=resolve_hours)
    return Summary(
        merchant_due_at=_utc(clock.due),
        merchant_answered_at=_utc(clock.answered),
        merchant_breached=breached,
        platform_since=_utc(platform_since),
        first_platform_at=_utc(first_platform),
        resolved_at=_utc(resolved_at),
        resolved_in_time=in_time,
        reopens=sum(1 for s in trail if s.action == "reopen"),
    )


class CallbackRecord(BaseModel):
    """A callback task as a whole: the numbers to try and the calls made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str = Field(min_length=1)
    opened: datetime
    contacts: tuple[Contact, ...] = Field(min_length=1)
    attempts: tuple[Attempt, ...] = ()


class Survey(BaseModel):
    """The consumer's satisfaction with a resolved request: 1 (very dissatisfied) to 5."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = None
    answered_at: datetime


class History(BaseModel):
    """One request as a whole (module docstring). ``resolutions`` holds one resolution per
    ``resolve`` step of the trail, in order, each decided at its step's time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1)
    type_id: str
    merchant_id: str = Field(min_length=1)
    order_id: str | None = None
    consumer_id: str | None = None
    case_id: str | None = None
    complaint_id: str | None = None
    language: str = "zh"
    set_hours: float | None = None
    trail: tuple[Step, ...] = Field(min_length=2)
    resolutions: tuple[Resolution, ...] = ()
    callbacks: tuple[CallbackRecord, ...] = ()
    survey: Survey | None = None

    @model_validator(mode="after")
    def _consistent(self) -> History:
        from tiyan.service_desk.requests import replay

        try:
            final = replay(self.trail)
        except TransitionError as exc:
            raise ValueError(f"the trail does not replay: {exc}") from None
        first: Actor = self.trail[0].actor
        if self.trail[0].action != "create" or first == "merchant":
            raise ValueError("a trail starts with a create by the consumer, platform or system")
        resolves = [s for s in self.trail if s.action == "resolve"]
        if len(resolves) != len(self.resolutions):
            raise ValueError(
                f"{len(resolves)} resolve steps but {len(self.resolutions)} resolutions"
            )
        for s, r in zip(resolves, self.resolutions, strict=True):
            if r.decided_at != s.at:
                raise ValueError(f"a resolution decided at {r.decided_at}, its step at {s.at}")
        if self.survey is not None:
            if final not in (State.RESOLVED, State.CLOSED):
                raise ValueError("a survey answers a resolved request")
            if resolves and self.survey.answered_at < resolves[-1].at:
                raise ValueError("the survey is answered before the resolution")
        for task in self.callbacks:
            try:  # the checks of a task: numbers listed once, attempts in order on them
                CallbackTask(contacts=task.contacts, opened=task.opened, attempts=task.attempts)
            except ValueError as exc:
                raise ValueError(f"callback {task.task_id}: {exc}") from None
        if len({t.task_id for t in self.callbacks}) != len(self.callbacks):
            raise ValueError("a callback task id is repeated")
        return self
