"""SLA clocks of the service desk, against the cases in tests/desk_cases/clock.yaml (expected
deadlines derived by hand from docs/service-desk.md) and against a reference written from that
page alone (tests/reference/sla_clock_reference.py), on random calendars, starts and pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import sla_clock_reference as ref
from tiyan.service_desk.clock import (
    Pause,
    ServiceCalendar,
    after,
    deadline,
    elapsed,
    remaining,
)

CASES = yaml.safe_load((Path(__file__).parents[1] / "desk_cases" / "clock.yaml").read_text())[
    "cases"
]


def _calendar(raw: dict[str, Any] | None) -> ServiceCalendar:
    raw = dict(raw or {})
    for key in ("opens", "closes"):
        if key in raw:
            raw[key] = time.fromisoformat(str(raw[key]))
    for key in ("holidays", "extra_days"):
        if key in raw:
            raw[key] = frozenset(date.fromisoformat(str(d)) for d in raw[key])
    if "weekdays" in raw:
        raw["weekdays"] = frozenset(raw["weekdays"])
    return ServiceCalendar(**raw)


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def _pauses(raw: list[dict[str, Any]] | None) -> list[Pause]:
    return [Pause(start=_at(p["start"]), end=_at(p.get("end"))) for p in raw or []]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    cal = _calendar(case.get("calendar"))
    start = _at(case["start"])
    assert start is not None
    pauses = _pauses(case.get("pauses"))
    due = deadline(cal, start, hours=case["hours"], pauses=pauses)
    expected = _at(case["due"])
    assert due == expected, case.get("why")
    if due is not None:
        assert due.utcoffset() == timedelta(0)
    if "remaining_minutes" in case:
        now = _at(case["now"])
        assert now is not None
        left = remaining(cal, start, now, hours=case["hours"], pauses=pauses)
        assert left == timedelta(minutes=case["remaining_minutes"]), case.get("why")


def test_cases_cover_the_rules() -> None:
    assert len(CASES) >= 24
    assert {c["hours"] for c in CASES} >= {0, 2, 12, 24}
    assert any(c["due"] is None for c in CASES)


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        ServiceCalendar(zone="Mars/Olympus")
    with pytest.raises(ValueError, match="opens"):
        ServiceCalendar(opens=time(21), closes=time(9))
    with pytest.raises(ValueError, match="both a holiday"):
        ServiceCalendar(holidays={date(2024, 10, 1)}, extra_days={date(2024, 10, 1)})
    with pytest.raises(ValueError, match="no time zone"):
        deadline(ServiceCalendar(), datetime(2024, 6, 3, 10), hours=2)


# -- against the reference, on random inputs ---------------------------------------------------

ZONES = ("Asia/Shanghai", "America/Sao_Paulo", "Europe/Berlin", "UTC")
BASE = datetime(2024, 3, 25, tzinfo=UTC)  # a week before Berlin's DST change


@st.composite
def calendars(draw: st.DrawFn) -> ServiceCalendar:
    opens = draw(st.integers(0, 22 * 60))
    closes = draw(st.integers(opens + 1, 24 * 60 - 1))
    days = [BASE.date() + timedelta(days=i) for i in range(21)]
    return ServiceCalendar(
        zone=draw(st.sampled_from(ZONES)),
        opens=time(opens // 60, opens % 60),
        closes=time(closes // 60, closes % 60),
        weekdays=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        holidays=frozenset(draw(st.sets(st.sampled_from(days[:10]), max_size=3))),
        extra_days=frozenset(draw(st.sets(st.sampled_from(days[10:]), max_size=2))),
    )


minutes = st.integers(0, 14 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m))


@st.composite
def pause_lists(draw: st.DrawFn) -> list[Pause]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(minutes)
        length = draw(st.none() | st.integers(0, 3 * 24 * 60))
        end = None if length is None else start + timedelta(minutes=length)
        out.append(Pause(start=start, end=end))
    return out


def _as_reference(cal: ServiceCalendar) -> dict[str, Any]:
    return {
        "zone": cal.zone,
        "opens": cal.opens,
        "closes": cal.closes,
        "weekdays": set(cal.weekdays),
        "holidays": set(cal.holidays),
        "extra_days": set(cal.extra_days),
    }


def _in_service(cal: ServiceCalendar, at: datetime) -> bool:
    """``at`` lies in a service window, its closing included."""
    local = at.astimezone(ZoneInfo(cal.zone))
    return cal.is_service_day(local.date()) and cal.opens <= local.time() <= cal.closes


@settings(max_examples=150, deadline=None)
@given(calendars(), minutes, st.integers(0, 30 * 60), pause_lists())
def test_agrees_with_the_reference(
    cal: ServiceCalendar, start: datetime, span_minutes: int, pauses: list[Pause]
) -> None:
    span = timedelta(minutes=span_minutes)
    plain = [(p.start, p.end) for p in pauses]
    due = after(cal, start, span, pauses)
    assert due == ref.after(_as_reference(cal), start, span, plain)
    probe = start + span * 2
    assert elapsed(cal, start, probe, pauses) == ref.elapsed(
        _as_reference(cal), start, probe, plain
    )
    if due is not None:
        # a deadline never falls outside service hours, and exactly the span has run by it
        assert _in_service(cal, due)
        assert elapsed(cal, start, due, pauses) == span
