"""SLA clocks of the platform's service desk: time that counts only in service hours.

Douyin's platform customer service sends requests to merchants from 09:00 to 21:00; "if a
deadline would fall after 21:00, the remaining time resumes from 09:00 the next day"
(reference §4.1). So a request's clock runs only inside the desk's service windows — each
service day's opening to closing, local time, holidays closed — and not while the request
waits on the consumer (a pause). A request opened at 20:00 with 2 hours to answer is due at
10:00 the next day; one opened at 22:00 starts counting at 09:00.

Everything here is pure: instants are timezone-aware datetimes, the calendar names its zone,
and the pauses are given (the desk derives them from a request's audit trail, so a changed
calendar recomputes every deadline of the past).

Boundaries: service time accrues on ``[open, close)`` of each window, minus the pauses; a
deadline that the time reaches exactly at closing *is* closing (it does not fall after it).
A pause still running (``end`` None) stops the clock for good: no deadline until it ends.

Example::

    cal = ServiceCalendar(zone="Asia/Shanghai", holidays=[date(2024, 10, 1)])
    due = deadline(cal, opened_at, hours=2)            # 2 service hours after opening
    left = remaining(cal, opened_at, now, hours=2)     # service time still left, seconds
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A calendar with no service day in this many days in a row (after a start's own day) is
#: closed for good: nothing comes due.
MAX_DAYS = 366


class Pause(BaseModel):
    """The clock stopped from ``start`` to ``end`` (None: still stopped)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Pause:
        _aware(self.start, "start")
        if self.end is not None:
            _aware(self.end, "end")
            if self.end < self.start:
                raise ValueError(f"a pause ends ({self.end}) before it starts ({self.start})")
        return self


class ServiceCalendar(BaseModel):
    """When the desk's clocks run: ``opens``–``closes`` local time in ``zone`` on each
    ``weekdays`` day (Monday = 0) that is not a holiday, and on each ``extra_days``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zone: str = Field(default="Asia/Shanghai", description="IANA time zone of the desk.")
    opens: time = Field(default=time(9), description="Opening, local (reference §4.1: 09:00).")
    closes: time = Field(default=time(21), description="Closing, local (reference §4.1: 21:00).")
    weekdays: frozenset[int] = Field(
        default=frozenset(range(7)), description="Service days of the week, Monday = 0."
    )
    holidays: frozenset[date] = Field(default=frozenset(), description="Closed dates.")
    extra_days: frozenset[date] = Field(
        default=frozenset(), description="Open dates outside ``weekdays`` (调休 working days)."
    )

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, days: frozenset[int]) -> frozenset[int]:
        if not days <= set(range(7)):
            raise ValueError(f"weekdays are 0 (Monday) to 6, not {sorted(days - set(range(7)))}")
        return days

    @model_validator(mode="after")
    def _opens_before_closing(self) -> ServiceCalendar:
        if self.opens >= self.closes:
            raise ValueError(f"the desk opens ({self.opens}) at or after it closes ({self.closes})")
        if self.holidays & self.extra_days:
            both = sorted(self.holidays & self.extra_days)
            raise ValueError(f"{both[0]} is both a holiday and an extra service day")
        return self

    def is_service_day(self, day: date) -> bool:
        if day in self.extra_days:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def windows(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The service windows (UTC instants) that end after ``since``, in order; the first
        is cut to start at ``since``. Stops when ``MAX_DAYS`` days in a row after the day of
        ``since`` and that day itself are all closed (the calendar is closed for good)."""
        _aware(since, "since")
        tz = ZoneInfo(self.zone)
        first = since.astimezone(tz).date()
        day = first - timedelta(days=1)  # a window may span midnight UTC
        idle = 0
        while idle <= MAX_DAYS:
            if self.is_service_day(day):
                idle = 0
                start = datetime.combine(day, self.opens, tzinfo=tz)
                end = datetime.combine(day, self.closes, tzinfo=tz)
                if end > since:  # (in UTC: arithmetic on local times ignores DST)
                    yield max(start, since).astimezone(UTC), end.astimezone(UTC)
            elif day >= first:
                idle += 1
            day += timedelta(days=1)


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} ({at}) has no time zone: instants must be aware")


def _running(
    calendar: ServiceCalendar, start: datetime, pauses: Sequence[Pause]
) -> Iterator[tuple[datetime, datetime]]:
    """The intervals from ``start`` on in which the clock runs: service windows minus
    pauses, in order. Ends at a pause that never ends."""
    stops = sorted(
        (Pause(start=p.start.astimezone(UTC), end=p.end and p.end.astimezone(UTC)) for p in pauses),
        key=lambda p: p.start,
    )
    for lo, hi in calendar.windows(start):
        cursor = lo
        for pause in stops:
            if pause.end is not None and pause.end <= cursor:
                continue
            if pause.start >= hi:
                break
            if pause.start > cursor:
                yield cursor, pause.start
            if pause.end is None:
                return
            cursor = max(cursor, pause.end)
            if cursor >= hi:
                break
        if cursor < hi:
            yield cursor, hi


def elapsed(
    calendar: ServiceCalendar, start: datetime, until: datetime, pauses: Sequence[Pause] = ()
) -> timedelta:
    """Service time the clock ran from ``start`` to ``until`` (zero if ``until`` is not
    after ``start``)."""
    _aware(start, "start")
    _aware(until, "until")
    total = timedelta()
    for lo, hi in _running(calendar, start, pauses):
        if lo >= until:
            break
        total += min(hi, until) - lo
    return total


def after(
    calendar: ServiceCalendar, start: datetime, span: timedelta, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """The instant (UTC) at which ``span`` of service time has run since ``start`` (None: a
    pause that never ends, or ``MAX_DAYS`` closed days in a row, stop it first). A zero
    span is due when the clock first runs."""
    _aware(start, "start")
    if span < timedelta():
        raise ValueError(f"a negative span of service time ({span})")
    left = span
    for lo, hi in _running(calendar, start, pauses):
        if hi - lo >= left:
            return lo + left
        left -= hi - lo
    return None


def deadline(
    calendar: ServiceCalendar, start: datetime, *, hours: float, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """When ``hours`` of service time have run since ``start``: the request is due."""
    return after(calendar, start, timedelta(hours=hours), pauses)


def remaining(
    calendar: ServiceCalendar,
    start: datetime,
    now: datetime,
    *,
    hours: float,
    pauses: Sequence[Pause] = (),
) -> timedelta:
    """Service time left before the deadline at ``now`` (negative once it has passed:
    how far over, in service time)."""
    return timedelta(hours=hours) - elapsed(calendar, start, now, pauses)
