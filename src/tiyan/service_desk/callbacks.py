"""Callbacks that persist: the desk calls the consumer back until it reaches her.

In the seed story the platform called a consumer back the day after her request, kept
calling the number she had left (her mother's, who did not pick up) until it reached her,
and then mediated. A callback task therefore holds the numbers to try (never in plaintext:
a token the privacy layer resolves, and a masked form agents see), the attempts made (when,
which number, the outcome), and a policy: the waits between attempts, how many attempts a
number gets and in all, and the hours in which calling is permitted.

:func:`plan` is pure: given the task's attempts so far, it says whether the task is
``reached``, ``exhausted`` or ``pending``, and for a pending task when to call next and which
number. The next call is never outside the permitted calling hours: a wait that ends at 22:00
moves to the next opening.

Example::

    task = CallbackTask(contacts=[Contact(token="c1", masked="138****5678")], opened=t0)
    plan(task, CallbackPolicy())            # pending: call c1 at t0 (or the next opening)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tiyan.service_desk.clock import ServiceCalendar, after

Outcome = Literal["no_answer", "busy", "reached", "wrong_person"]


class Contact(BaseModel):
    """A number to call: a token only the privacy layer turns into digits, and the masked
    form an agent sees (e.g. ``138****5678``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str = Field(min_length=1)
    masked: str = Field(min_length=1)

    @field_validator("masked")
    @classmethod
    def _masked(cls, masked: str) -> str:
        digits = sum(ch.isdigit() for ch in masked)
        if digits > 7:
            raise ValueError("a masked number shows at most 7 digits (e.g. 138****5678)")
        return masked


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    token: str
    outcome: Outcome


class CallbackPolicy(BaseModel):
    """How the desk calls back (tiyan defaults: no marketplace publishes its own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The wait after the 1st, 2nd, ... failed attempt on a number (the last repeats);
    #: ``None`` means "at the next calling day's opening".
    waits: tuple[timedelta | None, ...] = Field(
        default=(timedelta(minutes=30), timedelta(hours=2), None),
        description="Waits between attempts on one number (tiyan: +30 min, +2 h, next day).",
    )
    per_number: int = Field(default=4, ge=1, description="Attempts one number gets.")
    max_attempts: int = Field(default=8, ge=1, description="Attempts in all, every number.")
    calling_hours: ServiceCalendar = Field(
        default=ServiceCalendar(opens=time(9), closes=time(21)),
        description="When calling is permitted (the desk's hours, reference §4.1).",
    )

    @field_validator("waits")
    @classmethod
    def _waits(cls, waits: tuple[timedelta | None, ...]) -> tuple[timedelta | None, ...]:
        if not waits:
            raise ValueError("at least one wait between attempts")
        if any(w is not None and w <= timedelta() for w in waits):
            raise ValueError("waits between attempts are positive")
        return waits


class CallbackTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contacts: tuple[Contact, ...] = Field(min_length=1)
    opened: datetime
    attempts: tuple[Attempt, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> CallbackTask:
        tokens = [c.token for c in self.contacts]
        if len(set(tokens)) != len(tokens):
            raise ValueError("a number is listed twice")
        last = self.opened
        for i, a in enumerate(self.attempts):
            if a.token not in tokens:
                raise ValueError(f"attempt {i + 1} calls a number the task does not hold")
            if a.at < last:
                raise ValueError(f"attempt {i + 1} ({a.at}) is before the one it follows")
            last = a.at
        return self


@dataclass(frozen=True)
class Plan:
    status: Literal["pending", "reached", "exhausted"]
    call_at: datetime | None = None
    token: str | None = None
    reason: str = ""


def _next_opening(policy: CallbackPolicy, at: datetime) -> datetime | None:
    """The first permitted calling instant at or after ``at``."""
    return after(policy.calling_hours, at, timedelta())


def _next_day(policy: CallbackPolicy, at: datetime) -> datetime | None:
    """The opening of the first calling day after ``at``'s own local day."""
    local = at.astimezone(ZoneInfo(policy.calling_hours.zone))
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=local.tzinfo)
    return _next_opening(policy, midnight)


def plan(task: CallbackTask, policy: CallbackPolicy) -> Plan:
    """What to do next with ``task`` (module docstring)."""
    if any(a.outcome == "reached" for a in task.attempts):
        return Plan("reached", reason="the consumer was reached")
    if len(task.attempts) >= policy.max_attempts:
        return Plan("exhausted", reason=f"{policy.max_attempts} attempts made")
    used: dict[str, list[Attempt]] = {c.token: [] for c in task.contacts}
    for a in task.attempts:
        used[a.token].append(a)
    usable = [
        c
        for c in task.contacts
        if len(used[c.token]) < policy.per_number
        and not any(a.outcome == "wrong_person" for a in used[c.token])
    ]
    if not usable:
        return Plan("exhausted", reason="every number was tried as often as allowed")
    last = task.attempts[-1] if task.attempts else None
    # Stay on the number last called while it may still be right; else the next one.
    current = next((c for c in usable if last is not None and c.token == last.token), None)
    if current is None:
        current = usable[0]
        # a new number: call it as soon as calling is permitted
        since = last.at if last is not None else task.opened
        at = _next_opening(policy, since)
        return _pending(at, current, "first call to this number")
    tries = used[current.token]
    wait = policy.waits[min(len(tries), len(policy.waits)) - 1]
    assert last is not None
    at = _next_day(policy, last.at) if wait is None else _next_opening(policy, last.at + wait)
    return _pending(at, current, f"attempt {len(tries) + 1} on this number")


def _pending(at: datetime | None, contact: Contact, reason: str) -> Plan:
    if at is None:
        return Plan("exhausted", reason="no permitted calling hours ahead")
    return Plan("pending", call_at=at, token=contact.token, reason=reason)


def reach_rate(tasks: Sequence[CallbackTask], policy: CallbackPolicy) -> tuple[int, int]:
    """(tasks reached, tasks ended): the callback reach rate's parts, pending tasks apart."""
    reached = ended = 0
    for task in tasks:
        status = plan(task, policy).status
        if status != "pending":
            ended += 1
            reached += status == "reached"
    return reached, ended
