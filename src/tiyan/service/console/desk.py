"""The console's service-desk pages (平台客服): the queue, a request, its callbacks, its
resolution — over :mod:`tiyan.jobs.desk`, with the API's role rules (docs/api.md)::

    /console/desk                                     agent, operator: the open queue;
                                                      merchant: its own requests
    /console/desk/{id}                                the thread, the order, the standing,
                                                      attachments; the callback log (platform)
    /console/desk/{id}/steps                   POST   agent, operator (as the platform);
                                                      merchant (own: answer, message)
    /console/desk/{id}/resolution              POST   agent, operator
    /console/desk/{id}/callbacks               POST   agent, operator: open a task
    /console/desk/{id}/callbacks/{task}/attempts POST agent, operator: log a call
    /console/desk/{id}/attachments/{sha256}           the file (a merchant: its own requests)

A merchant naming another merchant's request gets the page a request that does not exist
gets (404), as the API answers; it never sees the consumer's id, contacts or callback log.
Each form parses, calls one job function and redirects (303) to the request; what the job
refuses (UsageError, ConflictError) is shown next to the form with its message and the
status the API would give — nothing is written.

The countdown: the page shows the service time the server computed (``left``) and
``desk.js`` counts it down from the server's clock, by the time elapsed in the browser, and
only inside the desk's service windows (sent with the page): outside 09:00–21:00 the clock
stands still, as the merchant's deadline does. The browser's own wall clock is never read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from tiyan.domain.errors import NotFoundError, UsageError
from tiyan.jobs.desk import (
    CallbackView,
    QueueItem,
    assign_requests,
    attachment,
    attachments,
    callback,
    callbacks,
    item,
    log_attempt,
    open_callback,
    queue,
    request_with_trail,
    resolve,
    take_step,
)
from tiyan.service.deps import State
from tiyan.service.errors import status_of
from tiyan.service.keys import Principal
from tiyan.service.schemas import (
    AttemptCreate,
    CallbackCreate,
    ResolutionCreate,
    ServiceStepCreate,
)
from tiyan.service.state import AppState
from tiyan.service_desk.callbacks import Contact
from tiyan.service_desk.policy import DeskPolicy
from tiyan.service_desk.requests import TRANSITIONS, Actor
from tiyan.service_desk.requests import State as RequestState
from tiyan.service_desk.resolution import Resolution
from tiyan.store.desk import list_requests, resolutions_of
from tiyan.store.desk_views import order_facts
from tiyan.store.listing import merchant_summary
from tiyan.store.platform import platform_of
from tiyan.store.record import merchant_record

from .routes import ConsoleRoute, render, require
from .session import SameOrigin, Viewer

router = APIRouter(prefix="/desk", include_in_schema=False, route_class=ConsoleRoute)

#: Who a viewer of each role is on a request's trail (the API's ``ACTOR``).
ACTOR: dict[str, Actor] = {"merchant": "merchant", "agent": "platform", "operator": "platform"}
PLATFORM = ("agent", "operator")
#: The steps a merchant takes from the console (the API takes any its role may).
MERCHANT_ACTIONS = ("answer", "message")
#: Steps shown as buttons, in this order, with their labels.
ACTION_LABELS = {
    "message": "Send a message", "answer": "Answer", "ask_merchant": "Ask the merchant",
    "ask_consumer": "Ask the consumer", "escalate": "Escalate to the platform",
    "close": "Close", "reopen": "Reopen",
}  # fmt: skip
OUTCOMES = {
    "merchant_refunds": "the merchant refunds 商家退款", "compensation": "compensation 赔付",
    "consumer_withdraws": "the consumer withdraws 用户撤诉", "no_fault": "no fault 无责",
}  # fmt: skip
LIABILITIES = {
    "merchant": "merchant 商责", "consumer": "consumer 用户责任", "carrier": "carrier 快递责任",
    "platform": "platform 平台责任", "none": "none 无责",
}  # fmt: skip
PAYERS = {"merchant": "merchant 商家", "platform": "platform 平台", "carrier": "carrier 快递"}
CALL_OUTCOMES = {
    "no_answer": "no answer 未接", "busy": "busy 占线", "wrong_person": "wrong person 非本人",
    "reached": "reached 已联系上",
}  # fmt: skip
STATE_LABELS = {
    "open": "open 新建", "waiting_merchant": "waiting on the merchant 待商家处理",
    "waiting_platform": "waiting on the platform 待平台处理",
    "waiting_consumer": "waiting on the consumer 待用户回复", "resolved": "resolved 已处理",
    "closed": "closed 已完结",
}  # fmt: skip
#: The service windows sent to the countdown: enough for a page left open overnight.
WINDOWS = 3
#: The merchant's list shows this many of its resolved and closed requests.
DONE = 20

RequestId = Annotated[str, Path(min_length=1, max_length=100)]
TaskId = Annotated[str, Path(min_length=1, max_length=100)]


def _desk(state: AppState, now: datetime) -> DeskPolicy:
    return state.policy(now.date()).desk


def _visible(viewer: Principal, merchant_id: str, request_id: str) -> None:
    """Another merchant's request is answered like one that does not exist (as the API)."""
    if viewer.role == "merchant" and viewer.merchant_id != merchant_id:
        raise NotFoundError("service request", request_id)


def _allowed(state: str, actor: Actor) -> list[str]:
    """The steps ``actor`` may take from ``state`` (a resolution has its own form)."""
    found = {a for (s, a), (_, who) in TRANSITIONS.items() if s.value == state and actor in who}
    if state != RequestState.CLOSED.value:
        found.add("message")
    found.discard("resolve")
    if actor == "merchant":
        found &= set(MERCHANT_ACTIONS)
    return [a for a in ACTION_LABELS if a in found]


def _seconds(left: timedelta | None) -> float | None:
    return None if left is None else left.total_seconds()


def _running(found: QueueItem) -> bool:
    """The merchant's clock is ticking: it started, the merchant has not answered, and the
    request waits on the merchant now (else it is paused)."""
    return (
        found.clock.started is not None
        and found.clock.answered is None
        and found.request.state == RequestState.WAITING_MERCHANT.value
    )


def duration(seconds: float | None) -> str:
    """``2h 05m`` (``-0h 12m`` once over); the script writes the same with seconds."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    return f"{sign}{total // 3600}h {total % 3600 // 60:02d}m {total % 60:02d}s"


def _local(desk: DeskPolicy) -> Callable[[datetime | None], str]:
    zone = ZoneInfo(desk.calendar.zone)

    def local(at: datetime | None) -> str:
        return "—" if at is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return local


def _clock_data(desk: DeskPolicy, now: datetime) -> dict[str, str]:
    """What ``desk.js`` needs: the server's now and the next service windows (epoch ms)."""
    windows = []
    for start, end in desk.calendar.windows(now):
        windows.append([int(start.timestamp() * 1000), int(end.timestamp() * 1000)])
        if len(windows) >= WINDOWS:
            break
    c = desk.calendar
    return {
        "now": str(int(now.timestamp() * 1000)), "windows": json.dumps(windows),
        "hours": f"{c.opens:%H:%M}–{c.closes:%H:%M} {c.zone}",
    }  # fmt: skip


def _common(desk: DeskPolicy, now: datetime) -> dict[str, Any]:
    return {
        "clock": _clock_data(desk, now), "local": _local(desk), "duration": duration,
        "seconds": _seconds, "running": _running, "types": desk.types,
        "STATE_LABELS": STATE_LABELS,
    }  # fmt: skip


# -- the queue -------------------------------------------------------------------------------


@router.get("", response_class=Response)
def desk_queue(request: Request, viewer: Viewer, state: State) -> Response:
    """The open requests nearest to the merchant's deadline first (the job's order): all of
    them for the platform, a merchant's own (and its latest settled ones) for a merchant."""
    require(viewer, "agent", "operator", "merchant")
    now = state.clock()
    desk = _desk(state, now)
    mine = viewer.merchant_id if viewer.role == "merchant" else None
    done: list[Any] = []
    with state.reading() as store:
        items = queue(store, desk, now=now, merchant_id=mine)
        if mine is not None:
            settled = list_requests(store, merchant_id=mine, states=["resolved", "closed"])
            done = sorted(settled, key=lambda r: r.updated_at, reverse=True)[:DONE]
    return render(request, "desk_queue.html", items=items, done=done, **_common(desk, now))


# -- one request -----------------------------------------------------------------------------


def _standing(store: Any, merchant_id: str) -> dict[str, Any] | None:
    """The merchant's score and level (as its page shows them) and the penalty in force."""
    try:
        summary = merchant_summary(store, merchant_id)
    except NotFoundError:
        return None
    record = merchant_record(store, merchant_id, summary.get("as_of"))
    return {**summary, "penalty_in_force": (record or {}).get("penalty_in_force")}


def _request_page(
    request: Request,
    viewer: Principal,
    state: AppState,
    request_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response:
    now = state.clock()
    desk = _desk(state, now)
    platform_view = viewer.role in PLATFORM
    with state.reading() as store:
        found, trail = request_with_trail(store, request_id)
        _visible(viewer, found.merchant_id, request_id)
        current = item(store, desk, found, now=now)
        files = attachments(store, request_id)
        resolved = resolutions_of(store, request_id)
        order = order_facts(store, found.order_id) if found.order_id else None
        standing = _standing(store, found.merchant_id)
        tasks: list[CallbackView] = callbacks(store, desk, request_id) if platform_view else []
        money = platform_of(store).money
    return render(
        request, "desk_request.html", status=status, r=found, trail=trail, item=current,
        files=files, resolutions=resolved, order=order, standing=standing, tasks=tasks,
        platform_view=platform_view, actions=_allowed(found.state, ACTOR[viewer.role]),
        can_resolve=platform_view and found.state == RequestState.WAITING_PLATFORM.value,
        errors=errors or {}, form=form or {}, notice=notice, money=money,
        ACTION_LABELS=ACTION_LABELS, OUTCOMES=OUTCOMES, LIABILITIES=LIABILITIES,
        PAYERS=PAYERS, CALL_OUTCOMES=CALL_OUTCOMES, next_task=f"CB-{request_id}-{len(tasks) + 1}",
        **_common(desk, now),
    )  # fmt: skip


DONE_NOTICES = {
    "step": "The step is on the thread.", "resolution": "The request is resolved.",
    "callback": "The callback task is open.", "attempt": "The call is logged.",
}  # fmt: skip


@router.get("/{request_id}", response_class=Response)
def desk_request(
    request: Request,
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    require(viewer, "agent", "operator", "merchant")
    return _request_page(request, viewer, state, request_id,
                         notice=DONE_NOTICES.get(done or ""))  # fmt: skip


def _back(request_id: str, done: str, anchor: str = "") -> Response:
    url = f"/console/desk/{quote(request_id, safe='')}?{urlencode({'done': done})}{anchor}"
    return RedirectResponse(url, status_code=303)


def _why(exc: ValueError) -> str:
    """What a model refused, in its own words, field by field."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            (f"{e['loc'][0]}: " if e.get("loc") else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
    return str(exc)


def _refused(
    request: Request, viewer: Principal, state: AppState, request_id: str, where: str,
    exc: ValueError, form: dict[str, Any],
) -> Response:  # fmt: skip
    """The request's page again, the refusal next to the form ``where``; 422 for a form that
    does not validate, else the status the API gives the job's error."""
    status = status_of(exc) if isinstance(exc, UsageError) else 422
    return _request_page(request, viewer, state, request_id, status=status,
                         errors={where: _why(exc)}, form={where: form})  # fmt: skip


def _check(viewer: Principal, state: AppState, request_id: str) -> None:
    """The request exists and the viewer may see it (404 alike, before any form is read)."""
    with state.reading() as store:
        found, _ = request_with_trail(store, request_id)
    _visible(viewer, found.merchant_id, request_id)


@router.post("/{request_id}/steps", response_class=Response, dependencies=[SameOrigin])
def desk_step(
    request: Request,
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    action: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=6000)] = "",
) -> Response:
    """A step as the viewer's role (``POST /v1/service-requests/{id}/steps``)."""
    require(viewer, "agent", "operator", "merchant")
    _check(viewer, state, request_id)
    form = {"action": action, "note": note}
    try:
        body = ServiceStepCreate(action=action, note=note.strip() or None)
        if viewer.role == "merchant" and body.action not in MERCHANT_ACTIONS:
            raise UsageError(f"a merchant answers or writes a message here, not {action!r}")
        now = state.clock()
        with state.store() as store:
            desk = _desk(state, now)
            take_step(store, desk, request_id, actor=ACTOR[viewer.role],
                      action=body.action, at=now, note=body.note,
                      actor_id=viewer.key_id)  # fmt: skip
            assign_requests(store, desk, ids=[request_id])  # (now waiting on the platform?)
    except ValueError as exc:  # ValidationError, UsageError, ConflictError
        return _refused(request, viewer, state, request_id, "step", exc, form)
    return _back(request_id, "step", "#thread")


def _amount(text: str) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise UsageError(f"amount: {text!r} is not an amount (e.g. 30.00)") from None


@router.post("/{request_id}/resolution", response_class=Response, dependencies=[SameOrigin])
def desk_resolve(
    request: Request,
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    outcome: Annotated[str, Form(max_length=40)] = "",
    liability: Annotated[str, Form(max_length=40)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    paid_by: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=6000)] = "",
) -> Response:
    """The platform's resolution (``POST /v1/service-requests/{id}/resolution``)."""
    require(viewer, *PLATFORM)
    _check(viewer, state, request_id)
    form = {"outcome": outcome, "liability": liability, "amount": amount, "paid_by": paid_by,
            "note": note}  # fmt: skip
    try:
        body = ResolutionCreate.model_validate(
            {"outcome": outcome, "liability": liability, "amount": _amount(amount),
             "paid_by": paid_by or None, "note": note.strip() or None}
        )  # fmt: skip
        now = state.clock()
        policy = state.policy(now.date())
        resolution = Resolution(decided_at=now, **body.model_dump())
        with state.store() as store:
            resolve(store, policy.desk, request_id, resolution, policy_version=policy.version,
                    now=now, actor_id=viewer.key_id)  # fmt: skip
    except ValueError as exc:
        return _refused(request, viewer, state, request_id, "resolve", exc, form)
    return _back(request_id, "resolution", "#resolution")


@router.post("/{request_id}/callbacks", response_class=Response, dependencies=[SameOrigin])
def desk_open_callback(
    request: Request,
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    task_id: Annotated[str, Form(max_length=100)] = "",
    token: Annotated[list[str] | None, Form()] = None,
    masked: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Open a callback task: the numbers in order, each a token and its masked form
    (``POST /v1/service-requests/{id}/callbacks``); empty rows are left out."""
    require(viewer, *PLATFORM)
    _check(viewer, state, request_id)
    tokens, masks = token or [], masked or []
    pairs = [(t.strip(), m.strip()) for t, m in zip(tokens, masks, strict=False)
             if t.strip() or m.strip()]  # fmt: skip
    form = {"task_id": task_id, "contacts": pairs}
    try:
        body = CallbackCreate.model_validate(
            {"task_id": task_id.strip(), "contacts": [{"token": t, "masked": m} for t, m in pairs]}
        )
        contacts = [Contact(token=c.token, masked=c.masked) for c in body.contacts]
        now = state.clock()
        with state.store() as store:
            open_callback(store, _desk(state, now), request_id, task_id=body.task_id,
                          contacts=contacts, at=now)  # fmt: skip
    except ValueError as exc:
        return _refused(request, viewer, state, request_id, "callback", exc, form)
    return _back(request_id, "callback", "#callbacks")


@router.post(
    "/{request_id}/callbacks/{task_id}/attempts",
    response_class=Response,
    dependencies=[SameOrigin],
)
def desk_attempt(
    request: Request,
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    task_id: TaskId,
    token: Annotated[str, Form(max_length=100)] = "",
    outcome: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Log one call: the number tried and the outcome
    (``POST /v1/service-requests/{id}/callbacks/{task}/attempts``)."""
    require(viewer, *PLATFORM)
    _check(viewer, state, request_id)
    now = state.clock()
    desk = _desk(state, now)
    with state.reading() as store:
        if callback(store, desk, task_id).request_id != request_id:
            raise NotFoundError("callback task", task_id)
    form = {"task_id": task_id, "token": token, "outcome": outcome}
    try:
        body = AttemptCreate.model_validate({"token": token, "outcome": outcome})
        with state.store() as store:
            log_attempt(store, desk, task_id, at=now, token=body.token, outcome=body.outcome,
                        actor_id=viewer.key_id)  # fmt: skip
    except ValueError as exc:
        return _refused(request, viewer, state, request_id, f"attempt:{task_id}", exc, form)
    return _back(request_id, "attempt", f"#task-{quote(task_id, safe='')}")


@router.get("/{request_id}/attachments/{sha256}", response_class=Response)
def desk_attachment(
    viewer: Viewer,
    state: State,
    request_id: RequestId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
) -> Response:
    """A file of the request: images inline (the page's thumbnails), anything else as a
    download; sandboxed, so a file can never run as the console."""
    require(viewer, "agent", "operator", "merchant")
    with state.reading() as store:
        found, _ = request_with_trail(store, request_id)
        _visible(viewer, found.merchant_id, request_id)
        content_type, content = attachment(store, request_id, sha256)
    inline = content_type.startswith("image/")
    return Response(
        content, media_type=content_type,
        headers={"Content-Disposition": "inline" if inline else "attachment",
                 "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "private, no-store"},
    )  # fmt: skip
