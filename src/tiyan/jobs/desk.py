"""The service desk's work, from the store and back: open a request, take a step, the queue
with its clocks, and the breaches the clocks find.

Each function reads what it needs through :mod:`tiyan.store.desk`, decides with the pure
rules of :mod:`tiyan.service_desk`, and writes through the store; the CLI and the API call
these.

Example::

    with open_store("tiyan.duckdb") as store:
        req = open_request(store, desk, NewRequest(request_id="SR-1", type_id="refund",
                           merchant_id="M1", order_id="O1"), at=now, merchant_reachable=False)
        take_step(store, "SR-1", actor="platform", action="ask_consumer", at=later)
        queue(store, desk, now=later)          # oldest breach first
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from tiyan.domain.errors import ConflictError, UsageError
from tiyan.domain.model import DESK_TABLES, GOVERNANCE_TABLES, TABLES, Table
from tiyan.ingest.events import as_text
from tiyan.ingest.load import ingest_relations
from tiyan.metrics.runner import restate_from
from tiyan.service_desk.callbacks import Attempt, CallbackTask, Contact, Outcome, Plan, plan
from tiyan.service_desk.clock import after, remaining
from tiyan.service_desk.history import CallbackRecord, History, Summary, Survey, summarize
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.requests import (
    Actor,
    Clock,
    State,
    Step,
    TransitionError,
    merchant_clock,
    replay,
    step,
)
from tiyan.service_desk.resolution import RequestFacts, Resolution, governance_records
from tiyan.service_desk.routing import Agent, Need, assign
from tiyan.sim.arrow import arrow_schema
from tiyan.store.base import Store, WritePlan
from tiyan.store.desk import (
    StoredRequest,
    add_attachment,
    add_survey,
    agent_loads,
    append_attempt,
    append_step,
    attachment_content,
    attachments_of,
    callbacks_of,
    check_position,
    create_callback,
    create_request,
    due_requests,
    existing_requests,
    get_callback,
    get_request,
    get_survey,
    list_agents,
    list_requests,
    load_trail,
    load_trails,
    raced,
    resolutions_of,
    rewrite_requests,
    set_assignments,
    step_row,
    stored_row,
    unassigned,
    upsert_agent,
)
from tiyan.store.platform import platform_of

REQUESTS = DESK_TABLES["service_requests"]
STEPS = DESK_TABLES["request_steps"]

#: States in which a request is open (on someone's queue).
OPEN_STATES = (
    State.OPEN,
    State.WAITING_MERCHANT,
    State.WAITING_PLATFORM,
    State.WAITING_CONSUMER,
)


@dataclass(frozen=True)
class NewRequest:
    request_id: str
    type_id: str
    merchant_id: str
    order_id: str | None = None
    consumer_id: str | None = None
    case_id: str | None = None
    complaint_id: str | None = None
    language: str = "zh"
    set_hours: float | None = None
    opened_by: Actor = "consumer"


@dataclass(frozen=True)
class QueueItem:
    request: StoredRequest
    clock: Clock
    #: Service time the merchant has left (negative: over), None without a merchant clock.
    left: timedelta | None
    #: The merchant's deadline passed without its answer (as of the time asked).
    breached: bool
    #: Not breached yet, but at most ``desk.warn_share`` of the merchant's time is left.
    warning: bool = False


def _hours(desk: DeskPolicy, request: StoredRequest) -> float:
    return desk.hours_for(request.type_id, request.set_hours)


def _summary(desk: DeskPolicy, request: StoredRequest, trail: Sequence[Step]) -> Summary:
    return summarize(
        trail, desk.calendar, hours=_hours(desk, request), resolve_hours=desk.resolve_hours
    )


def _moved(
    desk: DeskPolicy, request: StoredRequest, trail: Sequence[Step], state: State, **changes: Any
) -> StoredRequest:
    """``request`` after ``trail`` (whose last step left it in ``state``)."""
    return request.with_summary(
        _summary(desk, request, trail), state=state.value, updated_at=trail[-1].at, **changes
    )


def open_request(
    store: Store,
    desk: DeskPolicy,
    new: NewRequest,
    *,
    at: datetime,
    merchant_reachable: bool,
    actor_id: str | None = None,
) -> StoredRequest:
    """Record a new request, routed to the merchant when it is reachable, else to the
    platform desk (:func:`tiyan.service_desk.routing.route` decides ``merchant_reachable``)."""
    try:
        desk.hours_for(new.type_id, new.set_hours)
        trail = [
            Step(at=at, actor=new.opened_by, action="create"),
            Step(
                at=at,
                actor="system",
                action="route_merchant" if merchant_reachable else "route_platform",
            ),
        ]
        state = replay(trail)
    except (TransitionError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    request = StoredRequest(
        request_id=new.request_id,
        type_id=new.type_id,
        merchant_id=new.merchant_id,
        order_id=new.order_id,
        consumer_id=new.consumer_id,
        case_id=new.case_id,
        complaint_id=new.complaint_id,
        language=new.language,
        set_hours=new.set_hours,
        created_at=at,
        state=state.value,
        updated_at=at,
    )
    request = _moved(desk, request, trail, state)
    create_request(store, request, trail, actor_id=actor_id)
    return request


def _next(
    trail: Sequence[Step], *, actor: Actor, action: str, at: datetime, note: str | None
) -> tuple[Step, State]:
    """The step and the state it leads to (ConflictError / UsageError when refused)."""
    try:
        new = Step(at=at, actor=actor, action=action, note=note)
        if trail and new.at < trail[-1].at:
            raise TransitionError(f"the step at {at} is before the request's last ({trail[-1].at})")
        return new, step(replay(trail), new)
    except TransitionError as exc:
        raise ConflictError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def take_step(
    store: Store,
    desk: DeskPolicy,
    request_id: str,
    *,
    actor: Actor,
    action: str,
    at: datetime,
    note: str | None = None,
    actor_id: str | None = None,
) -> State:
    """Take one step on a request (refused with what the state allows: ConflictError). A
    resolution is recorded with :func:`resolve`, not as a bare step."""
    if action == "resolve":
        raise UsageError(
            "a resolution says the outcome and the liability: record it as a resolution "
            "(POST /v1/service-requests/{id}/resolution, jobs.desk.resolve)"
        )
    request = get_request(store, request_id)
    trail = load_trail(store, request_id)
    new, state = _next(trail, actor=actor, action=action, at=at, note=note)
    moved = _moved(desk, request, [*trail, new], state)
    append_step(store, moved, new, position=len(trail) + 1, actor_id=actor_id)
    return state


def item(store: Store, desk: DeskPolicy, request: StoredRequest, *, now: datetime) -> QueueItem:
    return _item(desk, request, load_trail(store, request.request_id), now=now)


def _item(desk: DeskPolicy, request: StoredRequest, trail: Sequence[Step], *, now: datetime
          ) -> QueueItem:  # fmt: skip
    hours = _hours(desk, request)
    clock = merchant_clock(trail, desk.calendar, hours=hours)
    left = None
    if clock.started is not None:
        end = clock.answered or now
        left = remaining(desk.calendar, clock.started, end, hours=hours, pauses=clock.pauses)
    breached = clock.breached(now)
    warning = (
        not breached
        and clock.answered is None
        and clock.due is not None
        and left is not None
        and left <= timedelta(hours=hours * desk.warn_share)
    )
    return QueueItem(request, clock, left, breached, warning)


def queue(
    store: Store,
    desk: DeskPolicy,
    *,
    now: datetime,
    merchant_id: str | None = None,
    limit: int | None = None,
) -> list[QueueItem]:
    """Open requests (a merchant's only, when given), the nearest to its merchant deadline
    first; those without a merchant clock after, oldest first; the first ``limit`` only
    when given. The trails are read a thousand requests a query."""
    requests = list_requests(store, merchant_id=merchant_id, states=[s.value for s in OPEN_STATES])
    items: list[QueueItem] = []
    for start in range(0, len(requests), 1000):
        part = requests[start : start + 1000]
        trails = load_trails(store, [r.request_id for r in part])
        items.extend(_item(desk, r, trails.get(r.request_id, []), now=now) for r in part)
    far = timedelta.max
    items.sort(
        key=lambda i: (i.left is None, i.left if i.left is not None else far, i.request.created_at)
    )
    return items if limit is None else items[:limit]


def sweep_breaches(
    store: Store, desk: DeskPolicy, *, now: datetime, chunk: int = 1000
) -> list[str]:
    """Escalate every request whose merchant deadline passed without an answer while it
    still waits on the merchant: a ``breach`` step at the deadline itself, or at the trail's
    last step if that came later (so running the sweep late, or twice, records the same).
    The ids escalated.

    The stored deadlines find the candidates (``recompute`` keeps them current after the
    calendar changes); each is checked again on its trail. A chunk of breaches is written
    in one transaction; if another writer added a step to one of them meanwhile, that chunk
    is taken again one request at a time."""
    done: list[str] = []
    candidates = due_requests(store, now=now)
    for start in range(0, len(candidates), chunk):
        part = candidates[start : start + chunk]
        trails = load_trails(store, [r.request_id for r in part])
        batch: list[_Resolved] = []
        for r in part:
            trail = trails.get(r.request_id, [])
            clock = merchant_clock(trail, desk.calendar, hours=_hours(desk, r))
            if clock.due is None or clock.due > now or clock.answered is not None:
                continue
            at = max(clock.due, trail[-1].at)
            try:
                new, state = _next(trail, actor="system", action="breach", at=at, note=None)
            except ConflictError:
                continue
            moved = _moved(desk, r, [*trail, new], state)
            found = _Resolved(r.request_id)
            found.desk_rows = {
                "service_requests": [dict(zip(REQUESTS.column_names, moved.row(), strict=True))],
                "request_steps": [dict(zip(STEPS.column_names,
                                           step_row(r.request_id, len(trail) + 1, new, None),
                                           strict=True))],
            }  # fmt: skip
            batch.append(found)
        if not batch:
            continue
        try:
            _record(store, batch, now=now, source="desk")
            done.extend(b.request_id for b in batch)
        except Exception:  # a step taken meanwhile (a key collision): one at a time instead
            done.extend(_sweep_one_by_one(store, desk, [b.request_id for b in batch], now=now))
    return done


def _sweep_one_by_one(
    store: Store, desk: DeskPolicy, ids: Sequence[str], *, now: datetime
) -> list[str]:
    done = []
    for rid in ids:
        r = get_request(store, rid)
        found = item(store, desk, r, now=now)
        due = found.clock.due
        if r.state != State.WAITING_MERCHANT.value or due is None or due > now:
            continue
        if found.clock.answered is not None:
            continue
        try:
            take_step(store, desk, rid, actor="system", action="breach", at=max(due, r.updated_at))
        except ConflictError:
            continue  # the trail moved on meanwhile
        done.append(rid)
    return done


def request_with_trail(store: Store, request_id: str) -> tuple[StoredRequest, list[Step]]:
    request = get_request(store, request_id)
    trail = load_trail(store, request_id)
    if replay(trail).value != request.state:
        raise ConflictError(
            f"service request {request_id}: stored state {request.state} but its trail "
            f"replays to {replay(trail).value}"
        )
    return request, trail


# -- resolutions ----------------------------------------------------------------------------


def _arrow(table: Table, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """``rows`` as an Arrow table of ``table``'s columns and types (instants naive UTC)."""

    def naive(v: Any) -> Any:
        return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v

    return pa.Table.from_pylist(
        [{c: naive(r.get(c)) for c in table.column_names} for r in rows],
        schema=arrow_schema(table),
    )


def _facts(request: StoredRequest) -> RequestFacts:
    return RequestFacts(
        request_id=request.request_id, type_id=request.type_id, merchant_id=request.merchant_id,
        order_id=request.order_id, consumer_id=request.consumer_id, case_id=request.case_id,
        complaint_id=request.complaint_id, created_at=request.created_at,
    )  # fmt: skip


#: Request type -> the topic of the platform contact (进线) it counts as.
_CONTACT_TOPIC = {
    "delivery_problem": "logistics", "courier_related": "logistics",
    "shipping_chase": "logistics", "risky_product": "quality", "product_issue": "quality",
    "merchant_service": "service", "repeat_complaint": "service",
}  # fmt: skip


def _contact_row(desk: DeskPolicy, request: StoredRequest) -> dict[str, Any]:
    """The request as a platform contact (进线): CPO counts the desk's requests."""
    category = desk.types[request.type_id].category
    topic = _CONTACT_TOPIC.get(request.type_id, "refund" if category == "after_sales" else "other")
    return {
        "contact_id": f"desk:{request.request_id}",
        "consumer_id": request.consumer_id,
        "order_id": request.order_id,
        "merchant_id": request.merchant_id,
        "topic": topic,
        "created_at": request.created_at,
    }


@dataclass
class _Resolved:
    """One request's resolutions to record: its rows for the desk's tables, and the rows the
    governance engine counts (through the ingest pipeline)."""

    request_id: str
    desk_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    governance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(
        self, into: dict[str, list[dict[str, Any]]], rows: dict[str, list[dict[str, Any]]]
    ) -> None:
        for table, found in rows.items():
            into.setdefault(table, []).extend(found)


def _resolution_rows(
    desk: DeskPolicy,
    request: StoredRequest,
    resolution: Resolution,
    *,
    seq: int,
    number: int,
    case: dict[str, Any] | None,
    complaint: dict[str, Any] | None,
    policy_version: str,
    actor_id: str | None,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The ``request_resolutions`` row and the governance rows of one resolution."""
    try:
        records = governance_records(
            _facts(request), resolution, desk, case=case, complaint=complaint,
            as_of=resolution.decided_at.date(),
            policy_version=policy_version, number=number,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(f"service request {request.request_id}: {exc}") from None
    row = {
        "request_id": request.request_id, "seq": seq, "decided_at": resolution.decided_at,
        "agent_id": actor_id, "outcome": resolution.outcome, "liability": resolution.liability,
        "amount": resolution.amount, "paid_by": resolution.paid_by, "note": resolution.note,
        "policy_version": policy_version,
    }  # fmt: skip
    return row, records


class _RefusedError(Exception):
    """Raised inside the load's transaction to abort it: request id -> its problems."""

    def __init__(self, refused: dict[str, list[str]]) -> None:
        super().__init__("refused")
        self.refused = refused


def _record(
    store: Store,
    batch: Sequence[_Resolved],
    *,
    now: datetime,
    source: str,
) -> dict[str, list[str]]:
    """Write the batch in one transaction: the governance rows through the ingest pipeline
    (validated like any load) and the desk's rows. A request any of whose governance rows
    would be rejected is left out whole — the transaction is abandoned and the rest written
    without it. Request id -> the problems of each one left out (nothing written of it)."""
    refused: dict[str, list[str]] = {}
    todo = list(batch)
    for _ in range(3):
        try:
            _write_batch(store, todo, now=now, source=source)
            return refused
        except _RefusedError as exc:
            refused.update(exc.refused)
            todo = [r for r in todo if r.request_id not in refused]
            if not todo:
                return refused
    raise ConflictError("the desk's records were refused again and again: nothing written")


def _write_batch(store: Store, batch: Sequence[_Resolved], *, now: datetime, source: str) -> None:
    owner: dict[str, list[str]] = {}  # governance table -> the request id of each row
    governance: dict[str, list[dict[str, Any]]] = {}
    for r in batch:
        for table, rows in r.governance.items():
            if table == "actions":
                continue
            governance.setdefault(table, []).extend(rows)
            owner.setdefault(table, []).extend(r.request_id for _ in rows)

    def finish(
        con: Any, plan: WritePlan, problems: dict[str, dict[int, list[dict[str, Any]]]]
    ) -> None:
        refused: dict[str, list[str]] = {}
        for table, lines in problems.items():
            for line, found in lines.items():
                rid = owner[table][line - 1]
                said = refused.setdefault(rid, [])
                for p in found:
                    text = f"{table}.{p.get('column') or ''}: {p['message']}"
                    if text not in said:
                        said.append(text)
        if refused:
            raise _RefusedError(refused)
        kept: dict[str, list[dict[str, Any]]] = {}
        for r in batch:
            r.add(kept, r.desk_rows)
            r.add(kept, {"actions": r.governance.get("actions", [])})
        for i, (table, rows) in enumerate(sorted(kept.items())):
            if not rows:
                continue
            model = DESK_TABLES.get(table) or GOVERNANCE_TABLES[table]
            name = f"__tiyan_desk_{i}"
            con.register(name, _arrow(model, rows))
            (plan.upsert if table == "service_requests" else plan.insert)(model, name)

    relations = {
        table: pa.table(
            {
                **{
                    c: pa.array([as_text(r.get(c)) for r in rows], type=pa.string())
                    for c in TABLES[table].column_names
                    if any(c in r for r in rows)
                },
                "__row_id": pa.array(
                    [f"desk:{owner[table][i]}" for i in range(len(rows))], type=pa.string()
                ),
            }
        )
        for table, rows in governance.items()
    }
    if relations:
        zone = platform_of(store).timezone
        kwargs = {"timezone": zone} if zone else {}
        ingest_relations(store, relations, now=now, source=source, finish=finish, **kwargs)
    else:  # nothing for governance: the desk's rows alone, in one transaction
        plan = WritePlan()
        with store.staging("UTC", cleanup=False) as staging:
            finish(staging, plan, {})
            store.write(staging, plan)


def _complaint(store: Store, complaint_id: str | None) -> dict[str, Any] | None:
    if complaint_id is None:
        return None
    found = stored_row(store, "complaints", complaint_id)
    if found is None:
        raise UsageError(
            f"the complaint {complaint_id} the request is about is not in the store: load it first"
        )
    return found


def resolve(
    store: Store,
    desk: DeskPolicy,
    request_id: str,
    resolution: Resolution,
    *,
    policy_version: str,
    now: datetime,
    actor_id: str | None = None,
) -> StoredRequest:
    """Record the platform's resolution of a request (docs/service-desk.md): the ``resolve``
    step, the resolution, and what it gives governance — a complaint (upheld when the
    merchant is liable), the after-sales case as the platform decided it, a compensation
    the merchant pays in the ledger, the request as a platform contact — through the ingest
    pipeline, all in one transaction. Refused (nothing written) when the state does not
    allow it or a governance row would be rejected."""
    request = get_request(store, request_id)
    trail = load_trail(store, request_id)
    new, state = _next(trail, actor="platform", action="resolve", at=resolution.decided_at,
                       note=resolution.note)  # fmt: skip
    if (
        desk.breach_judged_for_consumer
        and request.merchant_breached
        and (resolution.outcome == "no_fault" or resolution.liability == "consumer")
    ):  # §4.4: a merchant's timeout is judged in the consumer's favour
        raise UsageError(
            f"service request {request_id}: the merchant let its deadline pass, so the "
            "request is judged in the consumer's favour (policy desk.breach_judged_for_"
            "consumer): no 'no_fault' and no consumer liability"
        )
    seq = len(trail) + 1
    check_position(store, request_id, seq)
    kind = desk.types[request.type_id]
    case = None
    if kind.category == "after_sales" and request.case_id is not None:
        case = stored_row(store, "after_sales", request.case_id)
        if case is None:
            raise UsageError(
                f"service request {request_id} is about the after-sales case "
                f"{request.case_id}, which the store does not hold: load it first"
            )
    complaint = _complaint(store, request.complaint_id)
    number = len(resolutions_of(store, request_id)) + 1
    row, governance = _resolution_rows(desk, request, resolution, seq=seq, number=number,
                                       case=case, complaint=complaint,
                                       policy_version=policy_version,
                                       actor_id=actor_id)  # fmt: skip
    moved = _moved(desk, request, [*trail, new], state, liability=resolution.liability)
    if number == 1:
        governance.setdefault("platform_contacts", []).append(_contact_row(desk, request))
    item_ = _Resolved(request_id)
    item_.desk_rows = {
        "service_requests": [dict(zip(REQUESTS.column_names, moved.row(), strict=True))],
        "request_steps": [dict(zip(DESK_TABLES["request_steps"].column_names,
                                   step_row(request_id, seq, new, actor_id), strict=True))],
        "request_resolutions": [row],
    }  # fmt: skip
    item_.governance = governance
    with raced(store, request_id, seq):
        refused = _record(store, [item_], now=now, source="desk")
    if not refused:  # its complaint or contact counts on the day the request was opened
        restate_from(store, request.created_at.astimezone(UTC).date() - timedelta(days=1))
    if refused:
        raise UsageError(
            f"service request {request_id}: the resolution's records are refused: "
            + "; ".join(refused[request_id])
        )
    return moved


# -- callbacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackView:
    """A callback task as an agent sees it: masked numbers only, the calls, what is next."""

    task_id: str
    request_id: str
    opened: datetime
    contacts: tuple[Contact, ...]
    attempts: tuple[Attempt, ...]
    plan: Plan
    #: token -> masked, to show each attempt's number
    masked: dict[str, str]


def _task(row: dict[str, Any], attempts: Sequence[dict[str, Any]]) -> CallbackTask:
    contacts = tuple(Contact(**c) for c in json.loads(row["contacts"]))
    return CallbackTask(
        contacts=contacts,
        opened=row["created_at"],
        attempts=tuple(Attempt(at=a["attempted_at"], token=a["token"], outcome=a["outcome"])
                       for a in attempts),
    )  # fmt: skip


def callback(store: Store, desk: DeskPolicy, task_id: str) -> CallbackView:
    row, attempts = get_callback(store, task_id)
    task = _task(row, attempts)
    return CallbackView(
        task_id=task_id, request_id=row["request_id"], opened=task.opened,
        contacts=task.contacts, attempts=task.attempts, plan=plan(task, desk.callbacks),
        masked={c.token: c.masked for c in task.contacts},
    )  # fmt: skip


def callbacks(store: Store, desk: DeskPolicy, request_id: str) -> list[CallbackView]:
    """The request's callback tasks, oldest first."""
    get_request(store, request_id)
    return [callback(store, desk, t) for t in callbacks_of(store, request_id)]


def open_callback(
    store: Store,
    desk: DeskPolicy,
    request_id: str,
    *,
    task_id: str,
    contacts: Sequence[Contact],
    at: datetime,
) -> CallbackView:
    """Open a callback task on an open request: the numbers to try, in order."""
    request = get_request(store, request_id)
    if request.state == State.CLOSED.value:
        raise ConflictError(f"service request {request_id} is closed: reopen it to call back")
    try:
        task = CallbackTask(contacts=tuple(contacts), opened=at)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    next_ = plan(task, desk.callbacks)
    masked = {c.token: c.masked for c in task.contacts}
    create_callback(
        store,
        (task_id, request_id, at,
         json.dumps([c.model_dump() for c in task.contacts], ensure_ascii=False),
         next_.status, next_.call_at, masked.get(next_.token or "")),
    )  # fmt: skip
    return callback(store, desk, task_id)


def log_attempt(
    store: Store,
    desk: DeskPolicy,
    task_id: str,
    *,
    at: datetime,
    token: str,
    outcome: Outcome,
    actor_id: str | None = None,
) -> CallbackView:
    """Record one call of a task. Refused when the task has ended, the number is not the
    task's, the call is before the last, or outside the permitted calling hours. A call
    earlier than the plan's next time is taken (the consumer may ask to be called back at
    once): the plan is a schedule for the desk, not a bar on calling."""
    view = callback(store, desk, task_id)
    if view.plan.status != "pending":
        raise ConflictError(f"callback task {task_id} has ended ({view.plan.status})")
    if token not in view.masked:
        raise UsageError(f"callback task {task_id} holds no number {token!r}")
    hours = desk.callbacks.calling_hours
    if after(hours, at, timedelta()) != at.astimezone(UTC):
        raise UsageError(
            f"{at.isoformat()} is outside the permitted calling hours "
            f"({hours.opens:%H:%M}–{hours.closes:%H:%M} {hours.zone})"
        )
    try:
        task = CallbackTask(contacts=view.contacts, opened=view.opened,
                            attempts=(*view.attempts, Attempt(at=at, token=token,
                                                              outcome=outcome)))  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    next_ = plan(task, desk.callbacks)
    append_attempt(
        store,
        (task_id, len(view.attempts) + 1, at, token, view.masked[token], outcome, actor_id),
        status=next_.status, next_at=next_.call_at, next_masked=view.masked.get(next_.token or ""),
    )  # fmt: skip
    return callback(store, desk, task_id)


# -- attachments ----------------------------------------------------------------------------

#: Media types a request may carry, and how their content starts (photo evidence, a PDF).
MEDIA_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
#: The largest attachment (tiyan: 10 MiB, a phone photo with room to spare).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class AttachmentInfo:
    sha256: str
    name: str
    content_type: str
    size: int
    added_at: datetime
    actor: str


def attach(
    store: Store,
    request_id: str,
    *,
    name: str,
    content_type: str,
    content: bytes,
    at: datetime,
    actor: Actor,
    actor_id: str | None = None,
) -> AttachmentInfo:
    """Attach a file to a request: stored once by its SHA-256, with its type and size. The
    content must be what its type says; the same content twice on a request is kept once."""
    request = get_request(store, request_id)
    if request.state == State.CLOSED.value:
        raise ConflictError(f"service request {request_id} is closed: reopen it to add to it")
    starts = MEDIA_TYPES.get(content_type)
    if starts is None:
        raise UsageError(
            f"content type {content_type!r} is not taken: one of {sorted(MEDIA_TYPES)}"
        )
    if not content:
        raise UsageError(f"{name}: the file is empty")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise UsageError(f"{name}: {len(content)} bytes, more than {MAX_ATTACHMENT_BYTES}")
    if not content.startswith(starts) or (
        content_type == "image/webp" and content[8:12] != b"WEBP"
    ):
        raise UsageError(f"{name}: the content is not {content_type}")
    sha = hashlib.sha256(content).hexdigest()
    add_attachment(
        store,
        (sha, content_type, len(content), base64.b64encode(content).decode("ascii")),
        (request_id, sha, name, at, actor, actor_id),
    )
    return next(a for a in attachments(store, request_id) if a.sha256 == sha)


def attachments(store: Store, request_id: str) -> list[AttachmentInfo]:
    return [AttachmentInfo(**a) for a in attachments_of(store, request_id)]


def attachment(store: Store, request_id: str, sha256: str) -> tuple[str, bytes]:
    """(content type, bytes) of one of the request's files."""
    content_type, content = attachment_content(store, request_id, sha256)
    return content_type, base64.b64decode(content)


# -- surveys --------------------------------------------------------------------------------


def answer_survey(store: Store, request_id: str, survey: Survey) -> bool:
    """Record the consumer's satisfaction with a resolved request: one answer a request
    (the same answer again changes nothing: False; another answer is a ConflictError)."""
    request = get_request(store, request_id)
    if request.state not in (State.RESOLVED.value, State.CLOSED.value):
        raise ConflictError(f"service request {request_id} is {request.state}: a survey "
                            "answers a resolved request")  # fmt: skip
    if request.resolved_at is not None and survey.answered_at < request.resolved_at:
        raise UsageError("the survey is answered before the resolution")
    found = get_survey(store, request_id)
    if found is not None:
        if (found["score"], found["comment"]) == (survey.score, survey.comment):
            return False
        raise ConflictError(f"service request {request_id} has its survey answer already")
    add_survey(store, (request_id, survey.score, survey.comment, survey.answered_at))
    return True


# -- history: import and recompute -----------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0
    #: ids the store held already (left as they are: importing again changes nothing)
    existing: list[str] = field(default_factory=list)
    #: (line, request id or None, what is wrong)
    rejected: list[tuple[int, str | None, str]] = field(default_factory=list)


def import_history(
    store: Store,
    desk: DeskPolicy,
    histories: Iterable[tuple[int, History]],
    *,
    policy_version: str,
    now: datetime,
    chunk: int = 2000,
) -> ImportReport:
    """Store whole request histories (``(line, history)``: a migration from another desk,
    or the simulator's), checked like the requests the desk makes: each trail replays (the
    :class:`History` checked that), its type and hours are the policy's, its resolutions
    give governance the same records as :func:`resolve` (through the ingest pipeline).
    Requests the store holds are skipped; a refused history takes no other with it. Each
    chunk is one transaction."""
    report = ImportReport()
    pending: list[tuple[int, History]] = []

    def flush() -> None:
        held = existing_requests(store, [h.request_id for _, h in pending])
        batch: list[_Resolved] = []
        lines: dict[str, int] = {}
        for line, h in pending:
            if h.request_id in held:
                report.existing.append(h.request_id)
                continue
            try:
                batch.append(_history_rows(store, desk, h, policy_version=policy_version))
                lines[h.request_id] = line
            except (UsageError, ValueError) as exc:
                report.rejected.append((line, h.request_id, str(exc)))
        if batch:
            refused = _record(store, batch, now=now, source="desk-import")
            for rid, problems in refused.items():
                report.rejected.append((lines[rid], rid, "; ".join(problems)))
            report.imported += len(batch) - len(refused)
            kept = [h.trail[0].at for _, h in pending if h.request_id in lines
                    and h.request_id not in refused]  # fmt: skip
            if kept:  # the metrics count days before their restatement horizon again
                restate_from(store, min(kept).astimezone(UTC).date() - timedelta(days=1))
        pending.clear()

    seen: set[str] = set()
    for line, h in histories:
        if h.request_id in seen:
            report.rejected.append((line, h.request_id, "the request id is repeated in the file"))
            continue
        seen.add(h.request_id)
        pending.append((line, h))
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    return report


def _history_rows(store: Store, desk: DeskPolicy, h: History, *, policy_version: str) -> _Resolved:
    try:
        desk.hours_for(h.type_id, h.set_hours)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    trail = list(h.trail)
    state = replay(trail)
    request = StoredRequest(
        request_id=h.request_id, type_id=h.type_id, merchant_id=h.merchant_id,
        order_id=h.order_id, consumer_id=h.consumer_id, case_id=h.case_id,
        complaint_id=h.complaint_id, language=h.language, set_hours=h.set_hours,
        created_at=trail[0].at, state=state.value, updated_at=trail[-1].at,
    )  # fmt: skip
    request = _moved(desk, request, trail, state,
                     liability=h.resolutions[-1].liability if h.resolutions else None)  # fmt: skip
    out = _Resolved(h.request_id)
    steps = DESK_TABLES["request_steps"].column_names
    out.desk_rows = {
        "service_requests": [dict(zip(REQUESTS.column_names, request.row(), strict=True))],
        "request_steps": [dict(zip(steps, step_row(h.request_id, i, s, None), strict=True))
                          for i, s in enumerate(trail, 1)],
        "request_resolutions": [],
        "request_callbacks": [],
        "callback_attempts": [],
        "request_surveys": [],
    }  # fmt: skip
    positions = [i for i, s in enumerate(trail, 1) if s.action == "resolve"]
    case = None
    if desk.types[h.type_id].category == "after_sales" and h.case_id is not None and h.resolutions:
        case = stored_row(store, "after_sales", h.case_id)
        if case is None:
            raise UsageError(f"the after-sales case {h.case_id} is not in the store: load it first")
    complaint = _complaint(store, h.complaint_id) if h.resolutions else None
    for number, (seq, resolution) in enumerate(zip(positions, h.resolutions, strict=True), 1):
        row, governance = _resolution_rows(desk, request, resolution, seq=seq, number=number,
                                           case=case, complaint=complaint,
                                           policy_version=policy_version,
                                           actor_id=None)  # fmt: skip
        out.desk_rows["request_resolutions"].append(row)
        out.add(out.governance, governance)
    # a request resolved again (reopened) restates its complaint or case: the last stands
    for table, key in (("complaints", "complaint_id"), ("after_sales", "case_id")):
        if table in out.governance:
            last = {row[key]: row for row in out.governance[table]}
            out.governance[table] = list(last.values())
    if h.resolutions:
        out.governance.setdefault("platform_contacts", []).append(_contact_row(desk, request))
    for task in h.callbacks:
        out.desk_rows["request_callbacks"].append(_callback_row(desk, h.request_id, task))
        masked = {c.token: c.masked for c in task.contacts}
        out.desk_rows["callback_attempts"].extend(
            {"task_id": task.task_id, "seq": i, "attempted_at": a.at, "token": a.token,
             "masked": masked[a.token], "outcome": a.outcome, "agent_id": None}
            for i, a in enumerate(task.attempts, 1)
        )  # fmt: skip
    if h.survey is not None:
        out.desk_rows["request_surveys"].append(
            {"request_id": h.request_id, "score": h.survey.score, "comment": h.survey.comment,
             "answered_at": h.survey.answered_at}
        )  # fmt: skip
    return out


def _callback_row(desk: DeskPolicy, request_id: str, task: CallbackRecord) -> dict[str, Any]:
    try:
        found = CallbackTask(contacts=task.contacts, opened=task.opened, attempts=task.attempts)
    except ValueError as exc:
        raise UsageError(f"callback {task.task_id}: {exc}") from None
    next_ = plan(found, desk.callbacks)
    masked = {c.token: c.masked for c in task.contacts}
    return {
        "task_id": task.task_id, "request_id": request_id, "created_at": task.opened,
        "contacts": json.dumps([c.model_dump() for c in task.contacts], ensure_ascii=False),
        "status": next_.status, "next_at": next_.call_at,
        "next_masked": masked.get(next_.token or ""),
    }  # fmt: skip


def recompute(store: Store, desk: DeskPolicy) -> int:
    """Recompute every request's summary from its trail and the desk's calendar (after the
    calendar or the deadlines changed); returns how many rows changed."""
    trails = load_trails(store)
    changed = []
    for request in list_requests(store):
        trail = trails.get(request.request_id)
        if not trail:
            continue
        moved = request.with_summary(_summary(desk, request, trail))
        if moved != request:
            changed.append(moved)
    rewrite_requests(store, changed)
    return len(changed)


def read_histories(
    lines: Iterable[str], *, source: str
) -> tuple[list[tuple[int, History]], list[tuple[int, str | None, str]]]:
    """Parse JSON lines of :class:`History` (what ``tiyan desk import`` reads): the parsed
    histories with their line numbers, and each refused line with what is wrong and where
    (``source:line``, the field's path). Blank lines are skipped."""
    from pydantic import ValidationError

    parsed: list[tuple[int, History]] = []
    refused: list[tuple[int, str | None, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parsed.append((number, History.model_validate_json(line)))
        except ValidationError as exc:
            try:
                rid = json.loads(line).get("request_id")
            except (ValueError, AttributeError):
                rid = None
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(line)'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            refused.append((number, rid if isinstance(rid, str) else None,
                            f"{source}:{number}: {problems}"))  # fmt: skip
    return parsed, refused


# -- agents ---------------------------------------------------------------------------------


def set_agent(
    store: Store,
    *,
    agent_id: str,
    categories: Sequence[str],
    languages: Sequence[str],
    max_requests: int,
    online: bool,
    now: datetime,
    desk: DeskPolicy,
) -> Agent:
    """Record what a platform agent takes (request categories of the policy's types,
    languages), how many requests at once and whether it is online."""
    known = {t.category for t in desk.types.values()}
    wrong = sorted(set(categories) - known)
    if wrong or not categories:
        raise UsageError(f"categories {wrong or '(none)'}: one or more of {sorted(known)}")
    try:
        agent = Agent(agent_id=agent_id, categories=frozenset(categories),
                      languages=frozenset(languages), max_requests=max_requests,
                      online=online)  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    upsert_agent(store, (agent_id, ",".join(sorted(categories)), ",".join(sorted(languages)),
                         max_requests, online, now))  # fmt: skip
    return agent


def agents(store: Store) -> list[Agent]:
    """The platform's agents with the requests each holds now."""
    loads = agent_loads(store)
    return [
        Agent(
            agent_id=a["agent_id"],
            categories=frozenset(a["categories"].split(",")),
            languages=frozenset(a["languages"].split(",")),
            max_requests=a["max_requests"],
            online=bool(a["online"]),
            open_requests=loads.get(a["agent_id"], (0, None))[0],
            idle_since=loads.get(a["agent_id"], (0, None))[1],
        )
        for a in list_agents(store)
    ]


def assign_requests(
    store: Store, desk: DeskPolicy, *, ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Give the requests waiting on the platform that no agent holds (``ids`` only, when
    given) to agents by skill and load (:func:`tiyan.service_desk.routing.assign`), the
    longest waiting first; a request nobody can take now stays in the queue. The
    (request, agent) pairs given."""
    team = {a.agent_id: a for a in agents(store)}
    if not team:
        return []
    given: list[tuple[str, str]] = []
    for r in unassigned(store, ids):
        need = Need(category=desk.types[r.type_id].category if r.type_id in desk.types
                    else "other", language=r.language)  # fmt: skip
        chosen = assign(need, list(team.values()))
        if chosen is None:
            continue
        held = team[chosen]
        team[chosen] = held.model_copy(update={"open_requests": held.open_requests + 1,
                                               "idle_since": r.platform_since})  # fmt: skip
        given.append((r.request_id, chosen))
    set_assignments(store, given)
    return given
