"""The console's pages: server-rendered HTML over the same core functions as the JSON API.

Every page takes the session's key (:mod:`.session`) and the same role rules as the API: an
operator sees everything; a merchant its own merchant only — a URL naming another merchant
gets the page a merchant that does not exist gets (404), as the API answers; a service key
gets 403. Forms post and redirect (303) to the page that shows the result; a form that does
not validate is shown again with the message, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from tiyan.domain.errors import AuthError, NotFoundError, TiyanError, UsageError
from tiyan.jobs.appeals import (
    appealable_violations,
    create_appeal,
    decide_appeal,
    get_appeal,
    list_appeals,
)
from tiyan.policy.rules import RULE_ZH
from tiyan.policy.schema import LEVELS
from tiyan.reports.kpis import choose_periods, data_days
from tiyan.reports.text import LANGS
from tiyan.service.deps import State
from tiyan.service.errors import status_of
from tiyan.service.keys import Principal
from tiyan.service.schemas import AppealCreate, AppealDecision
from tiyan.service.state import AppState
from tiyan.store.base import Store
from tiyan.store.listing import (
    MERCHANT_SORTS,
    action_totals,
    list_actions,
    list_merchants,
    list_violations,
    merchant_categories,
    merchant_summary,
)
from tiyan.store.platform import platform_of
from tiyan.store.record import merchant_record
from tiyan.store.scorecard import merchant_metrics, scorecard

from . import views
from .session import (
    CONSOLE_ROLES,
    LOGIN,
    LoginRequired,
    SameOrigin,
    Viewer,
    close_session,
    end_session,
    login_key,
    safe_next,
    start_session,
)

PAGE = 25
BAD_KEY = ("That key was not accepted: it is unknown, revoked or mistyped. Keys come from "
           "`tiyan keys create` and start with tiyan_tk_.")  # fmt: skip
STATIC = views.HERE / "static"
_env = views.environment()

#: Sent with every console answer: no other origin's scripts, styles or frames; the pages
#: show one merchant's data, so no cache keeps them.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    viewer: Principal | None = getattr(request.state, "console_principal", None)
    html = _env.get_template(template).render(
        request=request, viewer=viewer, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


def _login_redirect(request: Request, exc: LoginRequired) -> Response:
    params = {}
    target = safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if request.method == "GET" and target and target != "/console":
        params["next"] = target
    if exc.expired:
        params["expired"] = "1"
    url = LOGIN + (f"?{urlencode(params)}" if params else "")
    response = RedirectResponse(url, status_code=303)
    if exc.expired:
        end_session(response, request)
    return response


def _error_page(request: Request, status: int, message: str) -> Response:
    titles = {401: "Not logged in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
              422: "Not understood", 429: "Too many requests"}  # fmt: skip
    return render(request, "error.html", status=status, title=titles.get(status, "Error"),
                  message=message)  # fmt: skip


class ConsoleRoute(APIRoute):
    """A console route: errors become HTML pages (the API's handlers answer JSON), a missing
    or ended session a redirect to the login page, and every answer gets the security
    headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = _login_redirect(request, exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                response = _error_page(request, 422, f"The request was not understood: {problems}")
            except TiyanError as exc:
                status = status_of(exc)
                if status >= 500:
                    raise
                response = _error_page(request, status, str(exc))
                wait = getattr(exc, "wait", None)
                if status == 429 and wait is not None:
                    response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.url.path.startswith("/console/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return guarded


router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def require(viewer: Principal, *roles: str) -> None:
    if viewer.role not in roles:
        raise AuthError(f"a {viewer.role} key may not see this page", status=403)


def own(viewer: Principal, merchant_id: str) -> None:
    """Another merchant's id is answered like a merchant that does not exist (as the API)."""
    if viewer.role == "merchant" and viewer.merchant_id != merchant_id:
        raise NotFoundError("merchant", merchant_id)


def home(viewer: Principal) -> str:
    if viewer.role == "agent":  # the service desk's agents have its pages only
        return "/console/desk"
    if viewer.role == "merchant":
        return f"/console/merchants/{quote(viewer.merchant_id or '', safe='')}"
    return "/console/dashboard"


def _linker(params: dict[str, str]) -> Callable[..., str]:
    """The templates' ``query(page=2)``: this page's query string with some parameters
    changed (an empty or None value leaves the parameter out)."""

    def query(**change: object) -> str:
        merged = {**params, **change}
        return "?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})

    return query


def _problems(exc: ValidationError) -> str:
    labels = {"statement": "Reason", "reason": "Note", "violation_id": "Violation",
              "evidence": "Evidence", "accept": "Decision"}  # fmt: skip
    out = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e.get("loc") else ""
        message = e["msg"]
        if e["type"] in ("string_too_short", "string_pattern_mismatch", "missing"):
            message = "is required (write something)"
        out.append(f"{labels.get(field, field)} {message}".strip())
    return "; ".join(out)


# -- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    expired: Annotated[str | None, Query(max_length=5)] = None,
    out: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    message = None
    if expired:
        message = ("Your session ended: logged out, expired, or the key is no longer valid. "
                   "Log in again.")  # fmt: skip
    elif out:
        message = "You are logged out."
    return render(request, "login.html", next=safe_next(next), notice=message)


@router.post("/login", response_class=HTMLResponse, dependencies=[SameOrigin])
async def login(
    request: Request,
    state: State,
    key: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        principal = await login_key(state, key)
    except AuthError:
        return render(request, "login.html", status=401, next=safe_next(next), error=BAD_KEY)
    if principal.role == "service":
        return render(request, "login.html", status=403, next=safe_next(next),
                      error="Service keys are for machines (the order system, customer "
                            "service): log in with an operator or merchant key.")  # fmt: skip
    if principal.role not in CONSOLE_ROLES:
        return render(request, "login.html", status=403, next=safe_next(next),
                      error=f"The console has no pages for {principal.role} keys: log in "
                            "with an operator, merchant or agent key.")  # fmt: skip
    target = safe_next(next) or home(principal)
    response = RedirectResponse(target, status_code=303)
    await close_session(request, state)  # a session this browser had before ends
    await start_session(response, request, state, principal)
    return response


@router.api_route("/logout", methods=["GET", "POST"], dependencies=[SameOrigin])
async def logout(request: Request, state: State) -> Response:
    """End the session in the store (the cookie, replayed, is refused) and drop it."""
    await close_session(request, state)
    response = RedirectResponse(f"{LOGIN}?out=1", status_code=303)
    end_session(response, request)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if name.startswith(".") or not path.is_file() or path.parent != STATIC:
        raise NotFoundError("file", name)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


@router.get("")
@router.get("/")
def index(viewer: Viewer) -> Response:
    return RedirectResponse(home(viewer), status_code=303)


# -- operators -------------------------------------------------------------------------------


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, viewer: Viewer, state: State) -> Response:
    require(viewer, "operator")
    with state.reading() as store:
        platform = views.platform(store)
        period = _latest_month(store)
        total, _ = list_merchants(store, limit=1)
        by_level = {lv: list_merchants(store, level=lv, limit=1)[0] for lv in LEVELS}
        totals = action_totals(store)
        open_appeals = list_appeals(store, status="open")
        recent = list_violations(store, limit=8)
    return render(
        request, "dashboard.html", platform=platform, merchants=total,
        by_level=by_level, unscored=total - sum(by_level.values()), totals=totals,
        open_appeals=len(open_appeals), recent=recent, period=period,
    )  # fmt: skip


def _latest_month(store: Store) -> str | None:
    """The month of the store's last day of metrics: the report form's default period."""
    span = data_days(store)
    return None if span is None else f"{span[1].year}-{span[1].month:02d}"


@router.get("/report")
def report(
    viewer: Viewer,
    state: State,
    period: Annotated[str, Query(min_length=1, max_length=40)],
    lang: Annotated[str, Query(max_length=5)] = "zh",
) -> Response:
    """The consumer-experience report of ``period`` (against the period before, when the
    store has data then), as an HTML file to download."""
    require(viewer, "operator")
    # imported on the first report: it loads Matplotlib, which no other page needs
    from tiyan.reports.report import render_report

    if lang not in LANGS:
        raise UsageError(f"unknown report language {lang!r}; one of {', '.join(LANGS)}")
    with state.reading() as store:
        # UsageError names the forms a period takes; no data before it: no comparison
        chosen, before = choose_periods(store, period)
        html = render_report(store, period=chosen, compare=before, lang=lang,
                             policy=state.policy(chosen.end))  # fmt: skip
    name = f"tiyan-report-{chosen.label.replace('..', '_')}-{lang}.html"
    return HTMLResponse(html, headers={"Content-Disposition": f'attachment; filename="{name}"'})


#: The merchant list's sorts: the core's, plus level (the levels are bands of the score, so
#: by level is by score: the best level first is the highest score first).
SORTS = {**{s: s for s in MERCHANT_SORTS}, "level": "-score", "-level": "score"}


@router.get("/merchants", response_class=HTMLResponse)
def merchants(
    request: Request,
    viewer: Viewer,
    state: State,
    q: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    level: Annotated[str | None, Query(max_length=50)] = None,
    sort: Annotated[str, Query(max_length=20)] = "merchant_id",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    require(viewer, "operator")
    if sort not in SORTS:
        raise UsageError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
    q, category, level = (q or None), (category or None), (level or None)
    offset = (page - 1) * PAGE
    with state.reading() as store:
        total, rows = list_merchants(store, q=q, category=category, level=level,
                                     sort=SORTS[sort], limit=PAGE, offset=offset)  # fmt: skip
        cats = merchant_categories(store)
    filters = {"q": q or "", "category": category or "", "level": level or "", "sort": sort}
    return render(
        request, "merchants.html", rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE)), filters=filters, categories=cats, levels=LEVELS,
        query=_linker(filters),
    )  # fmt: skip


@router.get("/violations", response_class=HTMLResponse)
def violations(
    request: Request,
    viewer: Viewer,
    state: State,
    rule: Annotated[str | None, Query(max_length=50)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    require(viewer, "operator")
    rule = rule or None
    with state.reading() as store:
        rows = list_violations(store, rule_id=rule, limit=PAGE + 1, offset=(page - 1) * PAGE)
    return render(
        request, "violations.html", rows=rows[:PAGE], more=len(rows) > PAGE, page=page,
        rule=rule or "", rules=list(RULE_ZH),
        query=_linker({"rule": rule or ""}),
    )  # fmt: skip


# -- one merchant (operators; a merchant its own) --------------------------------------------


def _merchant_page(state: AppState, merchant_id: str, vpage: int) -> dict[str, Any]:
    with state.reading() as store:
        summary = merchant_summary(store, merchant_id)  # NotFoundError for an unknown id
        card = scorecard(store, merchant_id)
        metrics = (
            merchant_metrics(store, merchant_id, as_of=card["as_of"], window=card["window_days"])
            if card else []
        )  # fmt: skip
        record = merchant_record(store, merchant_id, card["as_of"] if card else None)
        found = list_violations(store, merchant_id=merchant_id, limit=PAGE + 1,
                                offset=(vpage - 1) * PAGE)  # fmt: skip
        ledger = list_actions(store, merchant_id=merchant_id, limit=40)
        reversals = list_actions(store, merchant_id=merchant_id, kind="reversal", limit=100)
        history = [
            a
            for kind in ("privilege_grant", "privilege_revoke", "measure_apply", "measure_lift")
            for a in list_actions(store, merchant_id=merchant_id, kind=kind, limit=1000)
        ]
        appeals = list_appeals(store, merchant_id=merchant_id)
        platform = platform_of(store)
    history.sort(key=lambda a: (a["day"], a["action_id"]), reverse=True)
    explained = (card or {}).get("explanation") or {}
    return {
        "m": summary, "card": card, "metrics": metrics, "record": record,
        "scored": explained.get("metrics", []), "improvements": explained.get("improvements", []),
        "violations": found[:PAGE], "more": len(found) > PAGE, "vpage": vpage,
        "ledger": ledger, "reversals": reversals, "history": history, "appeals": appeals,
        "appealed": {a.violation_id: a.status for a in appeals}, "money": platform.money,
    }  # fmt: skip


@router.get("/merchants/{merchant_id}", response_class=HTMLResponse)
def merchant(
    request: Request,
    viewer: Viewer,
    state: State,
    merchant_id: str,
    vpage: Annotated[int, Query(ge=1, le=100_000)] = 1,
    appealed: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    require(viewer, "operator", "merchant")
    own(viewer, merchant_id)
    page = _merchant_page(state, merchant_id, vpage)
    notice = None
    if appealed and appealed in {a.appeal_id for a in page["appeals"]}:
        notice = f"Appeal filed: {appealed}. An operator will decide it."
    return render(request, "merchant.html", notice=notice, **page)


# -- appeals ---------------------------------------------------------------------------------


def _appeals_page(
    request: Request, viewer: Principal, state: AppState, *, status: str | None,
    error: str | None = None, status_code: int = 200, form: dict[str, str] | None = None,
    notice: str | None = None, violation: str | None = None,
) -> Response:  # fmt: skip
    mine = viewer.merchant_id if viewer.role == "merchant" else None
    choices: list[dict[str, Any]] = []
    with state.reading() as store:
        appeals = list_appeals(store, merchant_id=mine, status=status or None)
        if mine is not None:
            choices = appealable_violations(store, mine)
    if viewer.role == "operator":  # open ones first: they are the work to do
        appeals.sort(key=lambda a: (a.status != "open", a.created_at), reverse=False)
    return render(
        request, "appeals.html", status=status_code, appeals=appeals, filter=status or "",
        error=error, form=form or {}, notice=notice, choices=choices,
        preselect=violation or (form or {}).get("violation_id", ""),
    )  # fmt: skip


@router.get("/appeals", response_class=HTMLResponse)
def appeals(
    request: Request,
    viewer: Viewer,
    state: State,
    status: Annotated[str | None, Query(max_length=10)] = "open",
    decided: Annotated[str | None, Query(max_length=400)] = None,
    violation: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    require(viewer, "operator", "merchant")
    if viewer.role == "merchant" and status == "open" and "status" not in request.query_params:
        status = None  # a merchant sees all its appeals by default
    if status not in (None, "", "open", "accepted", "rejected"):
        raise UsageError(f"unknown appeal status {status!r}; open, accepted or rejected")
    notice = None
    if decided and viewer.role == "operator":
        with state.reading() as store:
            try:
                done = get_appeal(store, decided)
                notice = f"Appeal {done.appeal_id} {done.status}: {done.reason}"
            except NotFoundError:
                notice = None
    return _appeals_page(request, viewer, state, status=status, notice=notice,
                         violation=violation)  # fmt: skip


@router.post("/appeals", response_class=HTMLResponse, dependencies=[SameOrigin])
async def file_appeal(
    request: Request,
    viewer: Viewer,
    state: State,
    violation_id: Annotated[str, Form()] = "",
    statement: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
) -> Response:
    """A merchant appeals one of its violations (as ``POST /v1/appeals``)."""
    require(viewer, "merchant")
    assert viewer.merchant_id is not None
    form = {"violation_id": violation_id, "statement": statement, "evidence": evidence}
    try:
        body = AppealCreate(violation_id=violation_id, statement=statement,
                            evidence=evidence.strip() or None)  # fmt: skip
    except ValidationError as exc:
        return await run_in_threadpool(
            _appeals_page, request, viewer, state, status=None, status_code=422,
            error=f"The appeal was not filed: {_problems(exc)}.", form=form,
        )  # fmt: skip

    def write() -> Any:
        with state.store() as store:
            return create_appeal(
                store, violation_id=body.violation_id, merchant_id=viewer.merchant_id or "",
                statement=body.statement, evidence=body.evidence, now=state.clock(),
            )  # fmt: skip

    try:
        appeal = await run_in_threadpool(write)
    except UsageError as exc:  # not its violation, or one already appealed
        return await run_in_threadpool(
            _appeals_page, request, viewer, state, status=None, status_code=status_of(exc),
            error=f"The appeal was not filed: {exc}.", form=form,
        )  # fmt: skip
    url = f"{home(viewer)}?{urlencode({'appealed': appeal.appeal_id})}#appeals"
    return RedirectResponse(url, status_code=303)


@router.post(
    "/appeals/{appeal_id}/decision", response_class=HTMLResponse, dependencies=[SameOrigin]
)
async def decide(
    request: Request,
    viewer: Viewer,
    state: State,
    appeal_id: Annotated[str, Path(min_length=1, max_length=400)],
    decision: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """An operator accepts or rejects an appeal (as ``POST /v1/appeals/{id}/decision``):
    accepting writes the reversals to the ledger."""
    require(viewer, "operator")
    form = {"appeal_id": appeal_id, "decision": decision, "reason": reason}

    def again(status: int, message: str) -> Response:
        return _appeals_page(request, viewer, state, status="open", status_code=status,
                             error=f"Appeal {appeal_id} was not decided: {message}.",
                             form=form)  # fmt: skip

    accept = {"accept": True, "reject": False}.get(decision)
    if accept is None:
        return await run_in_threadpool(again, 422, "choose accept or reject")
    try:
        body = AppealDecision(accept=accept, reason=reason)
    except ValidationError as exc:
        return await run_in_threadpool(again, 422, _problems(exc))

    def write() -> None:
        now = state.clock()
        with state.store() as store:
            decide_appeal(store, appeal_id, accept=body.accept, reason=body.reason,
                          by=viewer.key_id, now=now,
                          ladder=state.policy(now.date()).consequences.ladder)  # fmt: skip

    try:
        await run_in_threadpool(write)
    except UsageError as exc:  # unknown, or already decided
        return await run_in_threadpool(again, status_of(exc), str(exc))
    return RedirectResponse(
        f"/console/appeals?{urlencode({'decided': appeal_id})}", status_code=303
    )
