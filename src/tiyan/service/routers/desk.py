"""``/v1/service-requests``: the platform's service desk (docs/service-desk.md).

The platform's front end (a ``service`` key) opens requests on behalf of consumers and adds
their messages; merchants see and answer their own requests only; platform agents
(``agent``) and operators see the whole queue and move requests on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from tiyan.domain.errors import NotFoundError
from tiyan.jobs.desk import NewRequest, QueueItem, item, open_request, queue, take_step
from tiyan.jobs.desk import request_with_trail as load_request
from tiyan.service.deps import Caller, State, require
from tiyan.service.errors import ErrorBody
from tiyan.service.keys import Principal
from tiyan.service.schemas import (
    ServiceRequestCreate,
    ServiceRequestDetail,
    ServiceRequestOut,
    ServiceStepCreate,
    ServiceStepOut,
)
from tiyan.service_desk.requests import Actor

router = APIRouter(
    prefix="/v1/service-requests",
    tags=["service desk"],
    responses={
        400: {
            "model": ErrorBody,
            "description": "An unknown request type, or hours it does not take.",
        },
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
    },
)
RequestId = Annotated[
    str, Path(min_length=1, max_length=100, description="Request id.", examples=["SR-1"])
]
#: Who a caller of each role is on a request's trail.
ACTOR: dict[str, Actor] = {
    "service": "consumer", "merchant": "merchant", "agent": "platform", "operator": "platform",
}  # fmt: skip


def _out(found: QueueItem) -> ServiceRequestOut:
    r = found.request
    return ServiceRequestOut(
        request_id=r.request_id, type_id=r.type_id, merchant_id=r.merchant_id,
        order_id=r.order_id, case_id=r.case_id, language=r.language, state=r.state,
        created_at=r.created_at, updated_at=r.updated_at, due=found.clock.due,
        seconds_left=None if found.left is None else found.left.total_seconds(),
        breached=found.breached,
    )  # fmt: skip


def _visible(caller: Principal, merchant_id: str, request_id: str) -> None:
    if caller.role == "merchant" and merchant_id != caller.merchant_id:
        raise NotFoundError("service request", request_id)


@router.post(
    "",
    response_model=ServiceRequestOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody}},
    summary="Open a request (on behalf of a consumer)",
)
def post_request(body: ServiceRequestCreate, caller: Caller, state: State) -> ServiceRequestOut:
    """Opens a request about a merchant (and order): routed to the merchant if its agents
    are reachable, else to the platform desk. The consumer's words, if any, are the first
    message."""
    require(caller, "service", "operator", "agent")
    now = state.clock()
    desk = state.policy(now.date()).desk
    new = NewRequest(
        request_id=body.request_id, type_id=body.type_id, merchant_id=body.merchant_id,
        order_id=body.order_id, consumer_id=body.consumer_id, case_id=body.case_id,
        language=body.language, set_hours=body.set_hours,
        opened_by="consumer" if caller.role == "service" else "platform",
    )  # fmt: skip
    with state.store() as store:
        request = open_request(
            store, desk, new, at=now, merchant_reachable=body.merchant_online,
            actor_id=caller.key_id,
        )  # fmt: skip
        if body.note is not None:
            take_step(store, request.request_id, actor=ACTOR[caller.role], action="message",
                      at=now, note=body.note, actor_id=caller.key_id)  # fmt: skip
            request, _ = load_request(store, request.request_id)
        return _out(item(store, desk, request, now=now))


@router.get("", response_model=list[ServiceRequestOut], summary="Open requests, by urgency")
def get_queue(caller: Caller, state: State) -> list[ServiceRequestOut]:
    """Open requests, nearest to the merchant's deadline first: every one (agents,
    operators) or the key's merchant's own."""
    require(caller, "agent", "operator", "merchant")
    now = state.clock()
    desk = state.policy(now.date()).desk
    mine = caller.merchant_id if caller.role == "merchant" else None
    with state.reading() as store:
        return [_out(i) for i in queue(store, desk, now=now, merchant_id=mine)]


@router.get("/{request_id}", response_model=ServiceRequestDetail, summary="A request, its thread")
def get_request(request_id: RequestId, caller: Caller, state: State) -> ServiceRequestDetail:
    require(caller, "agent", "operator", "merchant", "service")
    now = state.clock()
    desk = state.policy(now.date()).desk
    with state.reading() as store:
        request, trail = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        found = item(store, desk, request, now=now)
    return ServiceRequestDetail(
        **_out(found).model_dump(),
        trail=[ServiceStepOut(at=s.at, actor=s.actor, action=s.action, note=s.note) for s in trail],
    )


@router.post(
    "/{request_id}/steps",
    response_model=ServiceRequestDetail,
    responses={409: {"model": ErrorBody}},
    summary="Take a step: answer, message, escalate, ask, resolve, close, reopen",
)
def post_step(
    request_id: RequestId, body: ServiceStepCreate, caller: Caller, state: State
) -> ServiceRequestDetail:
    """The caller acts as its role: a merchant key as the merchant (its own requests only),
    a service key as the consumer, agents and operators as the platform. A step the
    request's state does not allow is 409 with what it allows."""
    require(caller, "agent", "operator", "merchant", "service")
    now = state.clock()
    with state.store() as store:
        request, _ = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        take_step(store, request_id, actor=ACTOR[caller.role], action=body.action, at=now,
                  note=body.note, actor_id=caller.key_id)  # fmt: skip
    return get_request(request_id, caller, state)
