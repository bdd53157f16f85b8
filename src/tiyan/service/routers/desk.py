"""``/v1/service-requests``: the platform's service desk (docs/service-desk.md).

The platform's front end (a ``service`` key) opens requests on behalf of consumers and adds
their messages; merchants see and answer their own requests only; platform agents
(``agent``) and operators see the whole queue and move requests on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile, status
from pydantic import ValidationError

from tiyan.domain.errors import NotFoundError, UsageError
from tiyan.jobs.desk import (
    CallbackView,
    NewRequest,
    QueueItem,
    answer_survey,
    assign_requests,
    attach,
    attachment,
    attachments,
    callback,
    callbacks,
    item,
    log_attempt,
    open_callback,
    open_request,
    queue,
    resolve,
    take_step,
)
from tiyan.jobs.desk import request_with_trail as load_request
from tiyan.service.deps import Caller, State, require
from tiyan.service.errors import ErrorBody
from tiyan.service.keys import Principal
from tiyan.service.schemas import (
    AttachmentOut,
    AttemptCreate,
    AttemptOut,
    CallbackCreate,
    CallbackOut,
    ContactIn,
    ResolutionCreate,
    ResolutionOut,
    ServiceRequestCreate,
    ServiceRequestDetail,
    ServiceRequestOut,
    ServiceStepCreate,
    ServiceStepOut,
    SurveyCreate,
)
from tiyan.service_desk.callbacks import Contact
from tiyan.service_desk.history import Survey
from tiyan.service_desk.requests import Actor
from tiyan.service_desk.resolution import Resolution
from tiyan.store.desk import get_survey, resolutions_of

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
        order_id=r.order_id, case_id=r.case_id, complaint_id=r.complaint_id,
        language=r.language, state=r.state,
        created_at=r.created_at, updated_at=r.updated_at, due=found.clock.due,
        seconds_left=None if found.left is None else found.left.total_seconds(),
        breached=found.breached, warning=found.warning, assigned_to=r.assigned_to,
    )  # fmt: skip


def _why(exc: ValueError) -> str:
    """What a model refused, in its own words (no link to pydantic's pages)."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


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
        complaint_id=body.complaint_id,
        language=body.language, set_hours=body.set_hours,
        opened_by="consumer" if caller.role == "service" else "platform",
    )  # fmt: skip
    with state.store() as store:
        request = open_request(
            store, desk, new, at=now, merchant_reachable=body.merchant_online,
            actor_id=caller.key_id,
        )  # fmt: skip
        if body.note is not None:
            take_step(store, desk, request.request_id, actor=ACTOR[caller.role], action="message",
                      at=now, note=body.note, actor_id=caller.key_id)  # fmt: skip
        assign_requests(store, desk, ids=[request.request_id])  # (the offline queue's)
        request, _ = load_request(store, request.request_id)
        return _out(item(store, desk, request, now=now))


@router.get("", response_model=list[ServiceRequestOut], summary="Open requests, by urgency")
def get_queue(
    caller: Caller,
    state: State,
    mine: Annotated[
        bool, Query(description="An agent's own requests only (those it holds).", examples=[True])
    ] = False,
    limit: Annotated[
        int,
        Query(
            ge=1, le=5000, description="The most urgent this many (default 500).", examples=[100]
        ),
    ] = 500,
) -> list[ServiceRequestOut]:
    """Open requests, nearest to the merchant's deadline first: every one (agents,
    operators) or the key's merchant's own; the ``limit`` most urgent."""
    require(caller, "agent", "operator", "merchant")
    now = state.clock()
    desk = state.policy(now.date()).desk
    merchant = caller.merchant_id if caller.role == "merchant" else None
    agent = caller.key_id if mine and caller.role == "agent" else None
    with state.reading() as store:
        found = queue(store, desk, now=now, merchant_id=merchant, limit=None if agent else limit)
    if agent is not None:
        found = [i for i in found if i.request.assigned_to == agent][:limit]
    return [_out(i) for i in found]


@router.get("/{request_id}", response_model=ServiceRequestDetail, summary="A request, its thread")
def get_request(request_id: RequestId, caller: Caller, state: State) -> ServiceRequestDetail:
    require(caller, "agent", "operator", "merchant", "service")
    now = state.clock()
    desk = state.policy(now.date()).desk
    with state.reading() as store:
        request, trail = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        found = item(store, desk, request, now=now)
        resolved = resolutions_of(store, request_id)
        files = attachments(store, request_id)
        survey = get_survey(store, request_id)
    return ServiceRequestDetail(
        **_out(found).model_dump(),
        trail=[ServiceStepOut(at=s.at, actor=s.actor, action=s.action, note=s.note) for s in trail],
        liability=request.liability,
        resolutions=[ResolutionOut(**{k: r[k] for k in ResolutionOut.model_fields})
                     for r in resolved],
        attachments=[AttachmentOut(**a.__dict__) for a in files],
        satisfaction=None if survey is None else survey["score"],
    )  # fmt: skip


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
    desk = state.policy(now.date()).desk
    with state.store() as store:
        request, _ = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        take_step(store, desk, request_id, actor=ACTOR[caller.role], action=body.action, at=now,
                  note=body.note, actor_id=caller.key_id)  # fmt: skip
        assign_requests(store, desk, ids=[request_id])  # (now waiting on the platform?)
    return get_request(request_id, caller, state)


@router.post(
    "/{request_id}/resolution",
    response_model=ServiceRequestDetail,
    responses={409: {"model": ErrorBody}},
    summary="Resolve: the outcome, the liability, the amount",
)
def post_resolution(
    request_id: RequestId, body: ResolutionCreate, caller: Caller, state: State
) -> ServiceRequestDetail:
    """The platform agent's resolution. A merchant-liable outcome files an upheld complaint
    (or the after-sales case as the platform decided it), a compensation the merchant pays
    enters the ledger, and the request counts as a platform contact — all through the ingest
    pipeline, in one transaction with the ``resolve`` step. 409 unless the request waits on
    the platform; 400 for a contradiction (no fault yet the merchant liable, ...)."""
    require(caller, "agent", "operator")
    now = state.clock()
    policy = state.policy(now.date())
    try:
        resolution = Resolution(decided_at=now, **body.model_dump())
    except ValueError as exc:
        raise UsageError(_why(exc)) from None
    with state.store() as store:
        resolve(store, policy.desk, request_id, resolution, policy_version=policy.version,
                now=now, actor_id=caller.key_id)  # fmt: skip
    return get_request(request_id, caller, state)


def _callback_out(view: CallbackView) -> CallbackOut:
    return CallbackOut(
        task_id=view.task_id, request_id=view.request_id, opened=view.opened,
        contacts=[ContactIn(token=c.token, masked=c.masked) for c in view.contacts],
        attempts=[AttemptOut(at=a.at, token=a.token, masked=view.masked[a.token],
                             outcome=a.outcome) for a in view.attempts],
        status=view.plan.status, next_at=view.plan.call_at, next_token=view.plan.token,
        next_masked=view.masked.get(view.plan.token or ""), reason=view.plan.reason,
    )  # fmt: skip


TaskId = Annotated[
    str, Path(min_length=1, max_length=100, description="Callback task id.", examples=["CB-1"])
]


@router.post(
    "/{request_id}/callbacks",
    response_model=CallbackOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody}},
    summary="Open a callback task: the numbers to try, in order",
)
def post_callback(
    request_id: RequestId, body: CallbackCreate, caller: Caller, state: State
) -> CallbackOut:
    """The numbers come as the caller's contact system refers to them (a token and a masked
    form), never as digits; the task says when to call which number next."""
    require(caller, "agent", "operator", "service")
    now = state.clock()
    desk = state.policy(now.date()).desk
    try:
        contacts = [Contact(token=c.token, masked=c.masked) for c in body.contacts]
    except ValueError as exc:
        raise UsageError(_why(exc)) from None
    with state.store() as store:
        return _callback_out(open_callback(store, desk, request_id, task_id=body.task_id,
                                           contacts=contacts, at=now))  # fmt: skip


@router.get("/{request_id}/callbacks", response_model=list[CallbackOut], summary="The callback log")
def get_callbacks(request_id: RequestId, caller: Caller, state: State) -> list[CallbackOut]:
    """Platform agents' only: the consumer's contacts are not the merchant's to see."""
    require(caller, "agent", "operator")
    now = state.clock()
    desk = state.policy(now.date()).desk
    with state.reading() as store:
        return [_callback_out(v) for v in callbacks(store, desk, request_id)]


@router.post(
    "/{request_id}/callbacks/{task_id}/attempts",
    response_model=CallbackOut,
    responses={409: {"model": ErrorBody}},
    summary="Log a call: the number tried and the outcome",
)
def post_attempt(
    request_id: RequestId, task_id: TaskId, body: AttemptCreate, caller: Caller, state: State
) -> CallbackOut:
    """409 when the task has ended; 400 outside the permitted calling hours or for a number
    the task does not hold."""
    require(caller, "agent", "operator")
    now = state.clock()
    desk = state.policy(now.date()).desk
    with state.store() as store:
        if callback(store, desk, task_id).request_id != request_id:
            raise NotFoundError("callback task", task_id)
        view = log_attempt(store, desk, task_id, at=now, token=body.token,
                           outcome=body.outcome, actor_id=caller.key_id)  # fmt: skip
    return _callback_out(view)


@router.post(
    "/{request_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody}},
    summary="Attach a file (photo evidence)",
)
def post_attachment(
    request_id: RequestId, caller: Caller, state: State, file: Annotated[UploadFile, File()]
) -> AttachmentOut:
    """A JPEG, PNG, GIF, WebP or PDF of at most 10 MiB, stored once by its SHA-256; the
    content must be what its type says."""
    require(caller, "agent", "operator", "merchant", "service")
    now = state.clock()
    content = file.file.read(10 * 1024 * 1024 + 1)
    with state.store() as store:
        request, _ = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        found = attach(store, request_id, name=file.filename or "attachment",
                       content_type=file.content_type or "application/octet-stream",
                       content=content, at=now, actor=ACTOR[caller.role],
                       actor_id=caller.key_id)  # fmt: skip
    return AttachmentOut(**found.__dict__)


Sha = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256.", examples=["9f86" + "0" * 60]
    ),
]


@router.get(
    "/{request_id}/attachments/{sha256}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}}},
    summary="An attached file",
)
def get_attachment(request_id: RequestId, sha256: Sha, caller: Caller, state: State) -> Response:
    require(caller, "agent", "operator", "merchant", "service")
    with state.reading() as store:
        request, _ = load_request(store, request_id)
        _visible(caller, request.merchant_id, request_id)
        content_type, content = attachment(store, request_id, sha256)
    return Response(content, media_type=content_type,
                    headers={"X-Content-Type-Options": "nosniff",
                             "Content-Disposition": "inline"})  # fmt: skip


@router.post(
    "/{request_id}/survey",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceRequestDetail,
    responses={409: {"model": ErrorBody}},
    summary="The consumer's satisfaction with a resolved request",
)
def post_survey(
    request_id: RequestId, body: SurveyCreate, caller: Caller, state: State, response: Response
) -> ServiceRequestDetail:
    """One answer a request, 1–5 and an optional comment; the same answer again is 200 and
    changes nothing, another answer is 409."""
    require(caller, "service", "operator")
    now = state.clock()
    with state.store() as store:
        added = answer_survey(store, request_id, Survey(score=body.score, comment=body.comment,
                                                        answered_at=now))  # fmt: skip
    if not added:
        response.status_code = status.HTTP_200_OK
    return get_request(request_id, caller, state)
