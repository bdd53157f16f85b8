"""The service desk on a store (DuckDB and PostgreSQL): requests opened and routed, steps
appended with their state, the queue's clocks, and breaches escalated once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tiyan.domain.errors import ConflictError, NotFoundError, UsageError
from tiyan.jobs.desk import (
    NewRequest,
    open_request,
    queue,
    request_with_trail,
    sweep_breaches,
    take_step,
)
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.requests import State, Step
from tiyan.store.base import Store
from tiyan.store.desk import append_step, get_request, load_trail

SH = ZoneInfo("Asia/Shanghai")
DESK = DeskPolicy()
T0 = datetime(2024, 6, 3, 10, 0, tzinfo=SH)


def new(request_id: str, merchant: str = "M1", type_id: str = "refund") -> NewRequest:
    return NewRequest(request_id=request_id, type_id=type_id, merchant_id=merchant, order_id="O1")


def test_a_request_routed_to_the_merchant_and_answered(store: Store) -> None:
    opened = open_request(store, DESK, new("SR1"), at=T0, merchant_reachable=True)
    assert opened.state == "waiting_merchant"
    (first,) = queue(store, DESK, now=T0 + timedelta(minutes=30))
    assert first.request.request_id == "SR1"
    assert first.left == timedelta(hours=1, minutes=30)
    assert first.clock.due == T0 + timedelta(hours=2)
    assert not first.warning  # a quarter of the 2 hours is left from 11:30 on
    (soon,) = queue(store, DESK, now=T0 + timedelta(hours=1, minutes=30))
    assert soon.warning and not soon.breached and soon.left == timedelta(minutes=30)
    state = take_step(store, DESK, "SR1", actor="merchant", action="answer",
                      at=T0 + timedelta(hours=1), note="退款已同意")  # fmt: skip
    assert state is State.WAITING_PLATFORM
    request, trail = request_with_trail(store, "SR1")
    assert request.state == "waiting_platform"
    assert [s.action for s in trail] == ["create", "route_merchant", "answer"]
    assert trail[-1].note == "退款已同意" and trail[-1].at == T0 + timedelta(hours=1)
    (answered,) = queue(store, DESK, now=T0 + timedelta(days=3))
    assert not answered.breached and answered.left == timedelta(hours=1)


def test_the_offline_merchants_request_goes_to_the_platform(store: Store) -> None:
    opened = open_request(store, DESK, new("SR2"), at=T0.replace(hour=20, minute=30),
                          merchant_reachable=False)  # fmt: skip
    assert opened.state == "waiting_platform"
    (item,) = queue(store, DESK, now=T0 + timedelta(days=1))
    assert item.clock.due is None and item.left is None and not item.breached


def test_a_breach_is_escalated_once_at_the_deadline(store: Store) -> None:
    open_request(store, DESK, new("SR3"), at=T0, merchant_reachable=True)
    open_request(store, DESK, new("SR4", type_id="courier_related"), at=T0,
                 merchant_reachable=True)  # fmt: skip
    take_step(store, DESK, "SR3", actor="consumer", action="message", at=T0 + timedelta(hours=3),
              note="还没处理吗?")  # fmt: skip
    now = T0 + timedelta(hours=4)
    assert [i.request.request_id for i in queue(store, DESK, now=now)] == ["SR3", "SR4"]
    assert queue(store, DESK, now=now)[0].breached
    assert [i.request.request_id for i in queue(store, DESK, now=now, limit=1)] == ["SR3"]
    assert sweep_breaches(store, DESK, now=now) == ["SR3"]  # SR4 has 24 service hours
    assert sweep_breaches(store, DESK, now=now + timedelta(hours=1)) == []
    request, trail = request_with_trail(store, "SR3")
    assert request.state == "waiting_platform"
    assert (trail[-1].actor, trail[-1].action) == ("system", "breach")
    # at the deadline, or at the consumer's later message
    assert trail[-1].at == T0 + timedelta(hours=3)


def test_refused_steps_and_requests(store: Store) -> None:
    open_request(store, DESK, new("SR5", merchant="M2"), at=T0, merchant_reachable=True)
    with pytest.raises(ConflictError, match="ask_consumer is not possible"):
        take_step(store, DESK, "SR5", actor="platform", action="ask_consumer", at=T0)
    with pytest.raises(UsageError, match="record it as a resolution"):
        take_step(store, DESK, "SR5", actor="platform", action="resolve", at=T0)
    with pytest.raises(ConflictError, match="before the request's last"):
        take_step(store, DESK, "SR5", actor="merchant", action="answer", at=T0 - timedelta(hours=1))
    with pytest.raises(UsageError, match="unknown action"):
        take_step(store, DESK, "SR5", actor="merchant", action="teleport", at=T0)
    with pytest.raises(ConflictError, match="exists already"):
        open_request(store, DESK, new("SR5"), at=T0, merchant_reachable=True)
    with pytest.raises(UsageError, match="unknown request type"):
        open_request(store, DESK, new("SR6", type_id="teleport"), at=T0, merchant_reachable=True)
    with pytest.raises(NotFoundError):
        take_step(store, DESK, "SR404", actor="merchant", action="answer", at=T0)
    # a writer that read the trail before another step was added is refused
    stale = Step(at=T0 + timedelta(minutes=5), actor="merchant", action="answer")
    take_step(store, DESK, "SR5", actor="consumer", action="message", at=T0 + timedelta(minutes=1))
    with pytest.raises(ConflictError, match="changed meanwhile"):
        append_step(store, get_request(store, "SR5"), stale, position=3)
    assert len(load_trail(store, "SR5")) == 3
    assert [i.request.request_id for i in queue(store, DESK, now=T0, merchant_id="M2")] == ["SR5"]
    assert queue(store, DESK, now=T0, merchant_id="M1") == []


def test_a_writer_that_lost_the_race_gets_a_conflict_not_an_error(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two service workers on PostgreSQL read the trail at once: the second one's insert
    collides on the step's primary key (its check came before the first one's write) and is
    a ConflictError. (On DuckDB the store is one process's, and the service's lock runs its
    writes one at a time: the position check is enough.)"""
    import tiyan.store.desk as desk_store
    from tiyan.store import open_store

    store = open_store(pg_url)
    open_request(store, DESK, new("SR7"), at=T0, merchant_reachable=True)
    take_step(store, DESK, "SR7", actor="consumer", action="message", at=T0)
    monkeypatch.setattr(desk_store, "check_position", lambda *a, **k: None)  # read too early
    late = Step(at=T0 + timedelta(minutes=5), actor="merchant", action="answer")
    with pytest.raises(ConflictError, match="changed meanwhile"):
        append_step(store, get_request(store, "SR7"), late, position=3)
    assert [s.action for s in load_trail(store, "SR7")] == ["create", "route_merchant", "message"]
    store.close()


def test_waiting_requests_go_to_agents_by_skill_and_load(store: Store) -> None:
    """The offline queue's requests are given to the platform's agents who take their
    category and language, the least loaded first, never beyond an agent's maximum; what
    nobody can take waits until an agent has room."""
    from tiyan.domain.errors import UsageError as Usage
    from tiyan.jobs.desk import agents, assign_requests, set_agent

    set_agent(store, agent_id="tk_a", categories=["complaint"], languages=["zh"],
              max_requests=2, online=True, now=T0, desk=DESK)  # fmt: skip
    set_agent(store, agent_id="tk_b", categories=["complaint", "after_sales"],
              languages=["zh", "en"], max_requests=1, online=True, now=T0, desk=DESK)  # fmt: skip
    set_agent(store, agent_id="tk_c", categories=["after_sales"], languages=["zh"],
              max_requests=5, online=False, now=T0, desk=DESK)  # fmt: skip
    with pytest.raises(Usage, match="categories"):
        set_agent(store, agent_id="tk_d", categories=["teleport"], languages=["zh"],
                  max_requests=1, online=True, now=T0, desk=DESK)  # fmt: skip
    for i, (type_id, language) in enumerate(
        [("merchant_service", "zh"), ("merchant_service", "zh"), ("refund", "en"),
         ("merchant_service", "zh"), ("refund", "zh")]
    ):  # fmt: skip
        open_request(store, DESK, NewRequest(request_id=f"Q{i}", type_id=type_id,
                     merchant_id="M1", language=language), at=T0 + timedelta(minutes=i),
                     merchant_reachable=False)  # fmt: skip
    given = dict(assign_requests(store, DESK))
    # Q0 to a (0/2 before b's 0/1 by id), Q1 to b (0/1 < a's 1/2), Q2 (after-sales, en) to
    # nobody (b is full, c is offline), Q3 to a; Q4 (after-sales zh) waits: c is offline
    assert given == {"Q0": "tk_a", "Q1": "tk_b", "Q3": "tk_a"}
    assert {a.agent_id: a.open_requests for a in agents(store)} == {"tk_a": 2, "tk_b": 1,
                                                                    "tk_c": 0}  # fmt: skip
    assert assign_requests(store, DESK) == []  # everyone able is full
    set_agent(store, agent_id="tk_b", categories=["complaint", "after_sales"],
              languages=["zh", "en"], max_requests=2, online=True, now=T0, desk=DESK)  # fmt: skip
    assert assign_requests(store, DESK) == [("Q2", "tk_b")]
    assert get_request(store, "Q2").assigned_to == "tk_b"
