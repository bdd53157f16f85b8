"""Resolutions, callbacks, attachments, surveys and imported histories on a store (DuckDB and
PostgreSQL): what governance gets of a resolution (through the ingest pipeline, with the
ledger, in one transaction), what is refused and that nothing of it is then written, and that
importing the same histories twice changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import write_csv
from tiyan.domain.errors import ConflictError, UsageError
from tiyan.ingest.load import ingest
from tiyan.jobs.desk import (
    NewRequest,
    answer_survey,
    attach,
    attachment,
    callbacks,
    import_history,
    log_attempt,
    open_callback,
    open_request,
    read_histories,
    recompute,
    request_with_trail,
    resolve,
    take_step,
)
from tiyan.service_desk.callbacks import Attempt, Contact
from tiyan.service_desk.clock import ServiceCalendar
from tiyan.service_desk.history import CallbackRecord, History, Survey
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.requests import Step
from tiyan.service_desk.resolution import Resolution
from tiyan.store.base import Store

SH = ZoneInfo("Asia/Shanghai")
DESK = DeskPolicy()
T0 = datetime(2024, 6, 3, 10, 0, tzinfo=SH)
NOW = datetime(2024, 6, 10, tzinfo=UTC)
V = "test-1"


@pytest.fixture
def market(store: Store, tmp_path: Path) -> Store:
    """Two merchants, three orders, an after-sales case and a complaint filed elsewhere."""
    write_csv(tmp_path, "merchants.csv", [
        {"merchant_id": m, "name": f"shop {m}", "category": "beauty"} for m in ("M1", "M2")
    ])  # fmt: skip
    write_csv(tmp_path, "consumers.csv", [{"consumer_id": "C1", "region": "浙江"}])
    write_csv(tmp_path, "orders.csv", [
        {"order_id": f"O{i}", "merchant_id": "M1", "consumer_id": "C1", "amount": "88.00",
         "paid_at": "2024-06-01T10:00:00+08:00", "status": "signed"} for i in (1, 2, 3)
    ])  # fmt: skip
    write_csv(tmp_path, "after_sales.csv", [
        {"case_id": "A1", "order_id": "O2", "type": "refund_only", "reason": "quality",
         "requested_at": "2024-06-02T10:00:00+08:00"}
    ])  # fmt: skip
    write_csv(tmp_path, "complaints.csv", [
        {"complaint_id": "Q1", "order_id": "O3", "merchant_id": "M1", "consumer_id": "C1",
         "type": "quality", "created_at": "2024-06-03T09:00:00+08:00", "upheld": None}
    ])  # fmt: skip
    ingest(store, [tmp_path], now=NOW)
    return store


def _open(store: Store, rid: str, type_id: str, **kw: object) -> None:
    new = NewRequest(request_id=rid, type_id=type_id, merchant_id="M1", consumer_id="C1", **kw)  # type: ignore[arg-type]
    open_request(store, DESK, new, at=T0, merchant_reachable=False)


def _resolution(at: datetime, **kw: object) -> Resolution:
    return Resolution(decided_at=at, **kw)  # type: ignore[arg-type]


def test_a_merchant_liable_compensation_reaches_the_complaints_and_the_ledger(
    market: Store,
) -> None:
    _open(market, "SR1", "risky_product", order_id="O1")
    at = T0 + timedelta(hours=3)
    done = resolve(market, DESK, "SR1", _resolution(at, outcome="compensation",
                   liability="merchant", amount=Decimal("30.00"), paid_by="merchant"),
                   policy_version=V, now=NOW)  # fmt: skip
    assert done.state == "resolved" and done.liability == "merchant"
    assert done.resolved_in_time is True  # 3 service hours of the platform's 24
    assert market.query(
        "SELECT merchant_id, type, upheld FROM complaints WHERE complaint_id = 'desk:SR1'"
    ) == [("M1", "quality", True)]
    assert market.query(
        "SELECT merchant_id, kind, amount, day FROM actions WHERE action_id = ?",
        ("compensation:desk:SR1",),
    ) == [("M1", "compensation", Decimal("30.00"), at.date())]
    assert market.query("SELECT topic FROM platform_contacts WHERE contact_id = 'desk:SR1'") == [
        ("quality",)
    ]
    request, trail = request_with_trail(market, "SR1")
    assert trail[-1].action == "resolve" and request.state == "resolved"
    # resolved once: a second resolution is refused and writes nothing
    with pytest.raises(ConflictError, match="resolve is not possible"):
        resolve(market, DESK, "SR1", _resolution(at, outcome="no_fault", liability="none"),
                policy_version=V, now=NOW)  # fmt: skip
    assert market.query("SELECT count(*) FROM actions WHERE action_id LIKE ?",
                        ("compensation:desk%",)) == [(1,)]  # fmt: skip


def test_an_after_sales_request_restates_its_case_and_a_complaint_its_complaint(
    market: Store,
) -> None:
    _open(market, "SR2", "refund", order_id="O2", case_id="A1")
    resolve(market, DESK, "SR2", _resolution(T0 + timedelta(hours=1),
            outcome="merchant_refunds", liability="merchant", amount=Decimal("88.00")),
            policy_version=V, now=NOW)  # fmt: skip
    assert market.query(
        "SELECT platform_intervened, liability, resolved_by, resolution, reason "
        "FROM after_sales WHERE case_id = 'A1'"
    ) == [(True, "merchant", "platform", "refunded", "quality")]
    _open(market, "SR3", "risky_product", order_id="O3", complaint_id="Q1")
    resolve(market, DESK, "SR3", _resolution(T0 + timedelta(hours=1), outcome="no_fault",
            liability="none"), policy_version=V, now=NOW)  # fmt: skip
    # the complaint filed elsewhere is judged (not upheld), not filed a second time
    assert market.query("SELECT complaint_id, upheld FROM complaints ORDER BY 1") == [("Q1", False)]


def test_a_refused_governance_row_writes_nothing(market: Store) -> None:
    _open(market, "SR4", "refund", order_id="O2", case_id="A404")
    with pytest.raises(UsageError, match="A404"):
        resolve(market, DESK, "SR4", _resolution(T0 + timedelta(hours=1), outcome="no_fault",
                liability="none"), policy_version=V, now=NOW)  # fmt: skip
    # a resolution about a merchant the store does not know: the ingest refuses its rows
    open_request(market, DESK, NewRequest(request_id="SR5", type_id="merchant_service",
                 merchant_id="M-NOBODY"), at=T0, merchant_reachable=False)  # fmt: skip
    before = market.query("SELECT count(*) FROM complaints")
    with pytest.raises(UsageError, match=r"refused: complaints\.merchant_id"):
        resolve(market, DESK, "SR5", _resolution(T0 + timedelta(hours=1), outcome="no_fault",
                liability="none"), policy_version=V, now=NOW)  # fmt: skip
    assert request_with_trail(market, "SR5")[0].state == "waiting_platform"
    assert market.query("SELECT count(*) FROM complaints") == before
    assert market.query("SELECT count(*) FROM request_resolutions") == [(0,)]
    assert market.query("SELECT count(*) FROM quarantine WHERE source LIKE ?", ("desk%",)) == [(0,)]


def test_a_merchant_breach_is_judged_in_the_consumers_favour(market: Store) -> None:
    """Reference §4.4: a merchant's timeout is judged for the consumer — after a breach the
    platform may not find no fault, nor the consumer liable (policy
    desk.breach_judged_for_consumer)."""
    open_request(market, DESK, NewRequest(request_id="SR10", type_id="refund", merchant_id="M1",
                 order_id="O1"), at=T0, merchant_reachable=True)  # fmt: skip
    sweep = T0 + timedelta(hours=3)
    from tiyan.jobs.desk import sweep_breaches

    assert sweep_breaches(market, DESK, now=sweep) == ["SR10"]
    assert request_with_trail(market, "SR10")[0].merchant_breached is True
    for outcome, liability in (("no_fault", "none"), ("consumer_withdraws", "consumer")):
        with pytest.raises(UsageError, match="judged in the consumer's favour"):
            resolve(market, DESK, "SR10", _resolution(sweep, outcome=outcome, liability=liability),
                    policy_version=V, now=NOW)  # fmt: skip
    lenient = DESK.model_copy(update={"breach_judged_for_consumer": False})
    resolve(market, lenient, "SR10", _resolution(sweep, outcome="no_fault", liability="none"),
            policy_version=V, now=NOW)  # fmt: skip
    assert request_with_trail(market, "SR10")[0].state == "resolved"


def test_callbacks_keep_calling_within_the_hours_until_reached(market: Store) -> None:
    _open(market, "SR6", "merchant_service", order_id="O1")
    contacts = [Contact(token="ct-mother", masked="139****0021"),
                Contact(token="ct-own", masked="186****4410")]  # fmt: skip
    view = open_callback(market, DESK, "SR6", task_id="CB1", contacts=contacts, at=T0)
    assert view.plan.status == "pending" and view.plan.token == "ct-mother"
    with pytest.raises(UsageError, match="outside the permitted calling hours"):
        log_attempt(market, DESK, "CB1", at=T0.replace(hour=22), token="ct-mother",
                    outcome="no_answer")  # fmt: skip
    with pytest.raises(UsageError, match="holds no number"):
        log_attempt(market, DESK, "CB1", at=T0, token="ct-nobody", outcome="no_answer")
    view = log_attempt(market, DESK, "CB1", at=T0, token="ct-mother", outcome="no_answer")
    assert view.plan.call_at == T0 + timedelta(minutes=30)  # +30 min (the policy's first wait)
    view = log_attempt(market, DESK, "CB1", at=T0 + timedelta(minutes=30), token="ct-mother",
                       outcome="wrong_person")  # fmt: skip
    assert view.plan.token == "ct-own"  # the wrong person: the next number at once
    view = log_attempt(market, DESK, "CB1", at=T0 + timedelta(minutes=31), token="ct-own",
                       outcome="reached")  # fmt: skip
    assert view.plan.status == "reached"
    with pytest.raises(ConflictError, match="has ended"):
        log_attempt(market, DESK, "CB1", at=T0 + timedelta(hours=1), token="ct-own",
                    outcome="reached")  # fmt: skip
    (stored,) = callbacks(market, DESK, "SR6")
    assert [a.outcome for a in stored.attempts] == ["no_answer", "wrong_person", "reached"]
    assert market.query("SELECT status, next_at FROM request_callbacks") == [("reached", None)]
    # no digits beyond the mask anywhere in the desk's tables
    assert not market.query("SELECT 1 FROM callback_attempts WHERE masked NOT LIKE ?", ("%*%",))


def test_attachments_are_kept_once_by_their_hash(market: Store) -> None:
    _open(market, "SR7", "risky_product", order_id="O1")
    photo = b"\xff\xd8\xff\xe0" + bytes(range(200))
    first = attach(market, "SR7", name="rash.jpg", content_type="image/jpeg", content=photo,
                   at=T0, actor="consumer")  # fmt: skip
    again = attach(market, "SR7", name="rash-again.jpg", content_type="image/jpeg",
                   content=photo, at=T0 + timedelta(minutes=1), actor="consumer")  # fmt: skip
    assert first == again and first.size == len(photo)
    assert attachment(market, "SR7", first.sha256) == ("image/jpeg", photo)
    with pytest.raises(UsageError, match="not image/png"):
        attach(market, "SR7", name="x.png", content_type="image/png", content=photo, at=T0,
               actor="consumer")  # fmt: skip
    assert market.query("SELECT count(*) FROM attachment_files") == [(1,)]


def test_a_survey_answers_a_resolved_request_once(market: Store) -> None:
    _open(market, "SR8", "merchant_service", order_id="O1")
    survey = Survey(score=5, comment="很耐心", answered_at=T0 + timedelta(hours=5))
    with pytest.raises(ConflictError, match="answers a resolved request"):
        answer_survey(market, "SR8", survey)
    resolve(market, DESK, "SR8", _resolution(T0 + timedelta(hours=2), outcome="no_fault",
            liability="none"), policy_version=V, now=NOW)  # fmt: skip
    assert answer_survey(market, "SR8", survey) is True
    assert answer_survey(market, "SR8", survey) is False  # the same answer: nothing new
    with pytest.raises(ConflictError, match="survey answer already"):
        answer_survey(market, "SR8", survey.model_copy(update={"score": 1}))


def _history(rid: str, *, reopened: bool = False) -> History:
    steps = [
        Step(at=T0, actor="consumer", action="create"),
        Step(at=T0, actor="system", action="route_merchant"),
        Step(at=T0 + timedelta(hours=2), actor="system", action="breach"),
        Step(at=T0 + timedelta(hours=3), actor="platform", action="resolve"),
    ]
    res = [_resolution(T0 + timedelta(hours=3), outcome="compensation", liability="merchant",
                       amount=Decimal("10.00"), paid_by="merchant")]  # fmt: skip
    if reopened:
        steps += [Step(at=T0 + timedelta(hours=4), actor="consumer", action="reopen"),
                  Step(at=T0 + timedelta(hours=5), actor="platform", action="resolve")]  # fmt: skip
        res.append(_resolution(T0 + timedelta(hours=5), outcome="compensation",
                               liability="merchant", amount=Decimal("5.00"),
                               paid_by="merchant"))  # fmt: skip
    task = CallbackRecord(task_id=f"CB-{rid}", opened=T0 + timedelta(hours=2, minutes=10),
                          contacts=(Contact(token="ct-x", masked="138****0000"),),
                          attempts=(Attempt(at=T0 + timedelta(hours=2, minutes=10), token="ct-x",
                                            outcome="reached"),))  # fmt: skip
    return History(request_id=rid, type_id="merchant_service", merchant_id="M1", order_id="O1",
                   consumer_id="C1", trail=tuple(steps), resolutions=tuple(res),
                   callbacks=(task,),
                   survey=Survey(score=2, answered_at=T0 + timedelta(hours=6)))  # fmt: skip


def test_imported_histories_once_and_the_bad_lines_named(market: Store) -> None:
    good = [_history("H1"), _history("H2", reopened=True)]
    lines = [h.model_dump_json() for h in good]
    lines.insert(1, '{"request_id": "H3", "type_id": "refund", "merchant_id": "M1", '
                    '"trail": [{"at": "2024-06-03T10:00:00+08:00", "actor": "merchant", '
                    '"action": "answer"}]}')  # fmt: skip
    lines.append("not json")
    lines.append(_history("H4").model_copy(update={"type_id": "teleport"}).model_dump_json())
    parsed, refused = read_histories(lines, source="desk.jsonl")
    assert [n for n, _ in parsed] == [1, 3, 5]
    assert [(n, r) for n, r, _ in refused] == [(2, "H3"), (4, None)]
    assert "desk.jsonl:2: trail" in refused[0][2]
    report = import_history(market, DESK, parsed, policy_version=V, now=NOW)
    assert report.imported == 2 and report.existing == []
    assert [(n, r) for n, r, _ in report.rejected] == [(5, "H4")]
    assert "unknown request type" in report.rejected[0][2]
    h2, trail = request_with_trail(market, "H2")
    assert (h2.state, h2.reopens, h2.merchant_breached, h2.liability) == (
        "resolved", 1, True, "merchant")  # fmt: skip
    assert len(trail) == 6
    assert market.query("SELECT action_id, amount FROM actions WHERE action_id LIKE ? ORDER BY 1",
                        ("compensation:desk:H%",)) == [
        ("compensation:desk:H1", Decimal("10.00")), ("compensation:desk:H2", Decimal("10.00")),
        ("compensation:desk:H2:2", Decimal("5.00"))]  # fmt: skip
    assert market.query("SELECT count(*) FROM complaints WHERE complaint_id IN "
                        "('desk:H1', 'desk:H2')") == [(2,)]  # fmt: skip
    tables = ("service_requests", "request_steps", "request_resolutions", "request_callbacks",
              "callback_attempts", "request_surveys", "complaints", "actions",
              "platform_contacts")  # fmt: skip
    counts = [market.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables]
    again = import_history(market, DESK, parsed, policy_version=V, now=NOW)
    assert again.imported == 0 and again.existing == ["H1", "H2"]
    assert [market.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables] == counts


def test_a_changed_calendar_recomputes_the_deadlines(market: Store) -> None:
    _open(market, "SR9", "refund", order_id="O1")
    take_step(market, DESK, "SR9", actor="platform", action="ask_merchant",
              at=T0.replace(hour=20))  # fmt: skip
    request, _ = request_with_trail(market, "SR9")
    assert request.merchant_due_at == datetime(2024, 6, 4, 10, tzinfo=SH)  # 1 h + 1 h next day
    longer = DeskPolicy(calendar=ServiceCalendar(opens=T0.time().replace(hour=8),
                                                 closes=T0.time().replace(hour=22)))  # fmt: skip
    assert recompute(market, longer) == 1
    request, _ = request_with_trail(market, "SR9")
    assert request.merchant_due_at == T0.replace(hour=22)  # the 2 h end at 22:00 the same day
    assert recompute(market, longer) == 0


@pytest.fixture(scope="module")
def walk_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One DuckDB store with a merchant, for the walks below (each walk its own request)."""
    from tiyan.store import open_store

    folder = tmp_path_factory.mktemp("walks")
    write_csv(folder / "data", "merchants.csv",
              [{"merchant_id": "M1", "name": "shop", "category": "beauty"}])  # fmt: skip
    store = open_store(str(folder / "tiyan.duckdb"))
    ingest(store, [folder / "data"], now=NOW)
    yield store
    store.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_stored_requests_are_what_their_trails_replay_to(walk_store: Store, data: Any) -> None:
    """Random walks through the desk's jobs (steps, resolutions, reopens) on a real store:
    the stored state is the stored trail replayed, the stored summary is the trail's
    (`recompute` finds nothing to change), and a stored deadline lies in service hours."""
    from tiyan.service_desk.history import summarize
    from tiyan.service_desk.requests import THREAD_ACTIONS, TRANSITIONS, State, replay

    store = walk_store
    rid = f"W{uuid.uuid4().hex[:10]}"
    type_id = data.draw(st.sampled_from(["refund", "exchange", "merchant_service"]))
    at = T0 + timedelta(minutes=data.draw(st.integers(0, 24 * 60)))
    open_request(store, DESK, NewRequest(request_id=rid, type_id=type_id, merchant_id="M1"),
                 at=at, merchant_reachable=data.draw(st.booleans()))  # fmt: skip
    for _ in range(data.draw(st.integers(0, 12))):
        state = State(request_with_trail(store, rid)[0].state)
        moves = sorted((a, actor) for (s_, a), (_, actors) in TRANSITIONS.items() if s_ is state
                       for actor in actors if a != "create")  # fmt: skip
        if state is not State.CLOSED:
            moves += [(a, "consumer") for a in sorted(THREAD_ACTIONS)]
        action, actor = data.draw(st.sampled_from(moves))
        at += timedelta(minutes=data.draw(st.integers(0, 600)))
        if action == "resolve":
            resolve(store, DESK, rid, _resolution(at, outcome="consumer_withdraws",
                    liability="none"), policy_version=V, now=NOW)  # fmt: skip
        else:
            take_step(store, DESK, rid, actor=actor, action=action, at=at)  # type: ignore[arg-type]
    request, trail = request_with_trail(store, rid)  # (raises when state and trail differ)
    assert request.state == replay(trail).value
    summary = summarize(trail, DESK.calendar, hours=DESK.hours_for(type_id),
                        resolve_hours=DESK.resolve_hours)  # fmt: skip
    assert request.with_summary(summary) == request
    if request.merchant_due_at is not None:
        local = request.merchant_due_at.astimezone(SH).time()
        assert DESK.calendar.opens <= local <= DESK.calendar.closes
