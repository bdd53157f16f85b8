"""Routing a request to the merchant or the platform desk, and choosing a platform agent."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tiyan.service_desk.clock import ServiceCalendar
from tiyan.service_desk.routing import Agent, Need, assign, route

SH = ZoneInfo("Asia/Shanghai")
HOURS = ServiceCalendar(opens=time(9), closes=time(18))


def test_the_seed_story_goes_to_the_platform_after_the_merchant_went_home() -> None:
    evening = datetime(2024, 6, 3, 20, 30, tzinfo=SH)
    assert route(evening, merchant_hours=HOURS, agents_online=3) == "platform"
    morning = datetime(2024, 6, 4, 10, 0, tzinfo=SH)
    assert route(morning, merchant_hours=HOURS, agents_online=3) == "merchant"
    assert route(morning, merchant_hours=HOURS, agents_online=0) == "platform"
    assert route(evening, merchant_hours=None, agents_online=1) == "merchant"
    assert route(datetime(2024, 6, 4, 18, 0, tzinfo=SH), merchant_hours=HOURS, agents_online=1) == (
        "platform"
    )


def test_the_least_loaded_agent_with_the_skills_takes_it() -> None:
    agents = [
        Agent(agent_id="a1", categories={"complaint"}, open_requests=4),
        Agent(agent_id="a2", categories={"complaint", "after_sales"}, open_requests=2),
        Agent(agent_id="a3", categories={"after_sales"}, open_requests=0),
        Agent(agent_id="a4", categories={"complaint"}, open_requests=0, online=False),
        Agent(agent_id="a5", categories={"complaint"}, languages={"en"}, open_requests=0),
    ]
    assert assign(Need(category="complaint"), agents) == "a2"
    assert assign(Need(category="complaint", language="en"), agents) == "a5"
    assert assign(Need(category="chase"), agents) is None
    full = [Agent(agent_id="a1", categories={"complaint"}, open_requests=8)]
    assert assign(Need(category="complaint"), full) is None


@given(
    st.lists(
        st.tuples(st.integers(0, 10), st.integers(1, 10), st.booleans(), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_an_agent_is_chosen_only_with_skills_and_room_and_the_same_whatever_the_order(
    raw: list[tuple[int, int, bool, bool]],
) -> None:
    agents = [
        Agent(
            agent_id=f"a{i}",
            categories={"complaint"} if skilled else {"other"},
            open_requests=min(load, cap),
            max_requests=cap,
            online=online,
        )
        for i, (load, cap, skilled, online) in enumerate(raw)
    ]
    chosen = assign(Need(category="complaint"), agents)
    assert chosen == assign(Need(category="complaint"), list(reversed(agents)))
    if chosen is not None:
        agent = next(a for a in agents if a.agent_id == chosen)
        assert agent.online and "complaint" in agent.categories
        assert agent.open_requests < agent.max_requests
    else:
        assert not any(
            a.online and "complaint" in a.categories and a.open_requests < a.max_requests
            for a in agents
        )
