"""An independent, plain-Python reference for the service desk's SLA clocks.

Written from ``docs/service-desk.md`` (section "SLA clocks") alone, without reading
:mod:`tiyan.service_desk`. Standard library only (``datetime``, ``zoneinfo``), so an
agreement between the two is evidence that both read the definitions the same way.

The method is the plainest one: explicit lists of half-open UTC intervals.

* A calendar day ``D`` (local, in the calendar's ``zone``) is a *service day* when
  ``D.weekday() in weekdays and D not in holidays``, or when ``D in extra_days``.
* Its *window* is ``[D opens, D closes)`` local time, each end converted to an instant on
  its own (``datetime.combine(D, t, tzinfo=zone)``, ``fold=0``), so a desk keeps its local
  hours across a DST change and the window's real length may differ from day to day.
* From a window we cut away every pause ``[a, b)`` (``b is None`` = "to the end of time");
  what remains, clipped to ``[S, ...)``, are the instants at which the clock runs.
* ``elapsed`` sums the lengths of those pieces inside ``[S, T)``.
* ``after`` walks the pieces in time order: for ``span == 0`` it answers the start of the
  first piece; otherwise the instant ``x + r`` inside the piece ``[x, y)`` where the
  remaining ``r`` runs out (``r == y - x`` gives ``y``: a deadline that ends exactly at a
  closing *is* the closing). It answers ``None`` once a pause without end has begun before
  the time ran out, or when the walk goes through 367 consecutive local dates (today and the
  366 that follow) none of which is a service day.

Readings of the text where it leaves room (see the report that came with this file):

* the doc's example "opened 10:00, paused 11:00-15:00, 2 h -> due 15:00" contradicts its
  own definitions (one hour runs 10:00-11:00, the second 15:00-16:00); this reference
  follows the definitions and answers 16:00;
* "no service day within 366 days" is applied at every point of the walk, not only from
  ``S``: a run of 367 consecutive non-service dates ends it with ``None``;
* a window end that falls in a DST gap or fold takes ``fold=0`` (Python's default).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["DEFAULTS", "after", "elapsed", "is_service_day", "window"]

DEFAULTS: dict = {
    "zone": "Asia/Shanghai",
    "opens": time(9, 0),
    "closes": time(21, 0),
    "weekdays": frozenset(range(7)),
    "holidays": frozenset(),
    "extra_days": frozenset(),
}

_NO_SERVICE_DAY_WITHIN = 366  # days


def _calendar(cal: dict | None) -> dict:
    out = dict(DEFAULTS)
    for key, value in (cal or {}).items():
        if value is not None:
            out[key] = value
    out["weekdays"] = frozenset(out["weekdays"])
    out["holidays"] = frozenset(out["holidays"])
    out["extra_days"] = frozenset(out["extra_days"])
    if not out["opens"] < out["closes"]:
        raise ValueError("opens must be before closes")
    if out["holidays"] & out["extra_days"]:
        raise ValueError("a date may not be both a holiday and an extra day")
    return out


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime: {moment!r}")
    return moment.astimezone(UTC)


def _pauses(pauses) -> list[tuple[datetime, datetime | None]]:
    return [(_utc(a), None if b is None else _utc(b)) for a, b in (pauses or [])]


def is_service_day(cal: dict, day: date) -> bool:
    c = _calendar(cal)
    return _is_service_day(c, day)


def _is_service_day(c: dict, day: date) -> bool:
    if day in c["extra_days"]:
        return True
    return day.weekday() in c["weekdays"] and day not in c["holidays"]


def window(cal: dict, day: date) -> tuple[datetime, datetime]:
    """The service window of local date ``day`` as a pair of UTC instants."""
    c = _calendar(cal)
    return _window(c, day)


def _window(c: dict, day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(c["zone"])
    lo = datetime.combine(day, c["opens"], tzinfo=zone).astimezone(UTC)
    hi = datetime.combine(day, c["closes"], tzinfo=zone).astimezone(UTC)
    return lo, hi


def _cut(pieces: list[tuple[datetime, datetime]], pause: tuple[datetime, datetime | None]):
    """``pieces`` minus the half-open pause ``[a, b)`` (``b is None``: unbounded)."""
    a, b = pause
    out = []
    for x, y in pieces:
        left_end = min(y, a)
        if x < left_end:
            out.append((x, left_end))
        if b is not None:
            right_start = max(x, b)
            if right_start < y:
                out.append((right_start, y))
    return sorted(out)


def _running_pieces(c: dict, day: date, lo: datetime, pauses) -> list[tuple[datetime, datetime]]:
    """The intervals of local date ``day`` in which the clock runs, clipped to ``[lo, ...)``."""
    if not _is_service_day(c, day):
        return []
    w0, w1 = _window(c, day)
    w0 = max(w0, lo)
    if not w0 < w1:
        return []
    pieces = [(w0, w1)]
    for pause in pauses:
        pieces = _cut(pieces, pause)
    return pieces


def _local_date(c: dict, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(c["zone"])).date()


def elapsed(cal: dict, start: datetime, until: datetime, pauses) -> timedelta:
    """Length of the part of ``[start, until)`` inside service windows and outside pauses."""
    c = _calendar(cal)
    s, t = _utc(start), _utc(until)
    ps = _pauses(pauses)
    total = timedelta(0)
    if t <= s:
        return total
    day = _local_date(c, s) - timedelta(days=1)
    last = _local_date(c, t) + timedelta(days=1)
    while day <= last:
        for x, y in _running_pieces(c, day, s, ps):
            x, y = max(x, s), min(y, t)
            if x < y:
                total += y - x
        day += timedelta(days=1)
    return total


def after(cal: dict, start: datetime, span: timedelta, pauses) -> datetime | None:
    """The instant (UTC) at which ``span`` of running time since ``start`` has gone by."""
    if span < timedelta(0):
        raise ValueError("span must not be negative")
    c = _calendar(cal)
    s = _utc(start)
    ps = _pauses(pauses)
    open_ended = [a for a, b in ps if b is None]
    stop_for_good = min(open_ended) if open_ended else None

    remaining = span
    first = _local_date(c, s)
    day = first - timedelta(days=1)  # safety margin; it never counts towards the gap
    gap = 0
    while True:
        if day >= first:
            if _is_service_day(c, day):
                gap = 0
            else:
                gap += 1
                if gap > _NO_SERVICE_DAY_WITHIN:
                    return None
        for x, y in _running_pieces(c, day, s, ps):
            if span == timedelta(0):
                return x
            if y - x >= remaining:
                return x + remaining
            remaining -= y - x
        if stop_for_good is not None and _is_service_day(c, day):
            _, w1 = _window(c, day)
            if w1 >= stop_for_good:
                return None  # every later window starts after the open pause began
        day += timedelta(days=1)
