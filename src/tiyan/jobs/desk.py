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

from dataclasses import dataclass
from datetime import datetime, timedelta

from tiyan.domain.errors import ConflictError, UsageError
from tiyan.service_desk.clock import remaining
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
from tiyan.store.base import Store
from tiyan.store.desk import (
    StoredRequest,
    append_step,
    create_request,
    get_request,
    list_requests,
    load_trail,
)

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


def _hours(desk: DeskPolicy, request: StoredRequest) -> float:
    return desk.hours_for(request.type_id, request.set_hours)


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
        language=new.language,
        set_hours=new.set_hours,
        created_at=at,
        state=state.value,
        updated_at=at,
    )
    create_request(store, request, trail, actor_id=actor_id)
    return request


def take_step(
    store: Store,
    request_id: str,
    *,
    actor: Actor,
    action: str,
    at: datetime,
    note: str | None = None,
    actor_id: str | None = None,
) -> State:
    """Take one step on a request (refused with what the state allows: ConflictError)."""
    trail = load_trail(store, request_id)
    try:
        new = Step(at=at, actor=actor, action=action, note=note)
        if trail and new.at < trail[-1].at:
            raise TransitionError(f"the step at {at} is before the request's last ({trail[-1].at})")
        state = step(replay(trail), new)
    except TransitionError as exc:
        raise ConflictError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    append_step(store, request_id, new, state, position=len(trail) + 1, actor_id=actor_id)
    return state


def item(store: Store, desk: DeskPolicy, request: StoredRequest, *, now: datetime) -> QueueItem:
    trail = load_trail(store, request.request_id)
    hours = _hours(desk, request)
    clock = merchant_clock(trail, desk.calendar, hours=hours)
    left = None
    if clock.started is not None:
        end = clock.answered or now
        left = remaining(desk.calendar, clock.started, end, hours=hours, pauses=clock.pauses)
    return QueueItem(request, clock, left, clock.breached(now))


def queue(
    store: Store, desk: DeskPolicy, *, now: datetime, merchant_id: str | None = None
) -> list[QueueItem]:
    """Open requests (a merchant's only, when given), the nearest to its merchant deadline
    first; those without a merchant clock after, oldest first."""
    items = [
        item(store, desk, r, now=now)
        for r in list_requests(
            store, merchant_id=merchant_id, states=[s.value for s in OPEN_STATES]
        )
    ]
    far = timedelta.max
    return sorted(
        items,
        key=lambda i: (i.left is None, i.left if i.left is not None else far, i.request.created_at),
    )


def sweep_breaches(store: Store, desk: DeskPolicy, *, now: datetime) -> list[str]:
    """Escalate every request whose merchant deadline passed without an answer while it
    still waits on the merchant: a ``breach`` step at the deadline itself, or at the trail's
    last step if that came later (so running the sweep late, or twice, records the same).
    The ids escalated."""
    done = []
    for r in list_requests(store, states=[State.WAITING_MERCHANT.value]):
        found = item(store, desk, r, now=now)
        due = found.clock.due
        if due is None or due > now or found.clock.answered is not None:
            continue
        try:
            # (updated_at: the time of the trail's last step)
            at = max(due, r.updated_at)
            take_step(store, r.request_id, actor="system", action="breach", at=at)
        except ConflictError:
            continue  # the trail moved on meanwhile
        done.append(r.request_id)
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
