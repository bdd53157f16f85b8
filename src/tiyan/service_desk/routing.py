"""Where a request goes: to the merchant, or — when nobody is there — to the platform desk;
and which platform agent takes it.

The seed story's consumer wrote in after the merchant had gone home: a request that arrives
while the merchant's agents are offline (outside the merchant's declared hours, or with no
agent online) is queued as an offline message (离线留言, reference §4.2) and routed to the
platform desk instead of waiting for the morning. Platform agents take requests by skill —
the request's category and language — and by load: the least loaded agent with the skills
and room under their maximum of concurrent requests (reference §4.2: the maximum per agent
is configurable). Ties go to the agent idle longest, then by id, so the same inputs always
give the same agent.

Example::

    route(at, merchant_hours=hours, agents_online=0)          # "platform"
    assign(Need(category="complaint", language="zh"), agents)  # "agent-07" or None (queue)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from tiyan.service_desk.clock import ServiceCalendar


def route(
    at: datetime, *, merchant_hours: ServiceCalendar | None, agents_online: int
) -> Literal["merchant", "platform"]:
    """``merchant`` when the merchant is reachable at ``at``: inside its declared hours (if
    it declared any) and with at least one agent online; else ``platform``."""
    if at.tzinfo is None:
        raise ValueError(f"{at} has no time zone")
    if agents_online <= 0:
        return "platform"
    if merchant_hours is not None:
        local = at.astimezone(ZoneInfo(merchant_hours.zone))
        open_now = merchant_hours.is_service_day(local.date()) and (
            merchant_hours.opens <= local.time() < merchant_hours.closes
        )
        if not open_now:
            return "platform"
    return "merchant"


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str = Field(min_length=1)
    categories: frozenset[str]
    languages: frozenset[str] = frozenset({"zh"})
    online: bool = True
    open_requests: int = Field(default=0, ge=0)
    max_requests: int = Field(default=8, ge=1, description="Concurrent requests (tiyan: 8).")
    idle_since: datetime | None = None


class Need(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    language: str = "zh"


def assign(need: Need, agents: Sequence[Agent]) -> str | None:
    """The agent who takes a request needing ``need`` (None: nobody can now; it queues)."""
    able = [
        a
        for a in agents
        if a.online
        and need.category in a.categories
        and need.language in a.languages
        and a.open_requests < a.max_requests
    ]
    if not able:
        return None
    never = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    best = min(
        able,
        key=lambda a: (a.open_requests / a.max_requests, a.idle_since or never, a.agent_id),
    )
    return best.agent_id
