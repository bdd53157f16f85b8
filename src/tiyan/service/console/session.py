"""Who is at the console: a server-side session, opened by logging in with a key.

The cookie (HttpOnly, SameSite=Strict, Secure over https) holds a random session id, never
the key: the store maps the id's SHA-256 to the key (``console_sessions``). The session ends
at logout (in the store: the same cookie, replayed, is refused), after ``COOKIE_SECONDS``,
and when the key is revoked — at once on the server that revoked it, within
``auth_cache_seconds`` on the others.

Forms are protected against cross-site posts twice: the browser does not send a
SameSite=Strict cookie with a request started by another site, and a POST whose ``Origin``
(or, without one, ``Referer``) is not the configured ``public_url`` is refused. The Host
header is never trusted for it: an attacker's request can name any host.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from tiyan.domain.errors import AuthError
from tiyan.service.deps import RateLimitError, State
from tiyan.service.keys import Principal
from tiyan.service.settings import origin_of

COOKIE = "tiyan_console"
#: The session ends after 12 hours even when the key is still good.
COOKIE_SECONDS = 12 * 3600
LOGIN = "/console/login"
#: The roles with console pages (an agent's are the service desk's).
CONSOLE_ROLES = ("operator", "merchant", "agent")


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error of the caller
    """No session, or its key no longer authenticates: go to the login page."""

    def __init__(self, message: str | None = None, *, expired: bool = False) -> None:
        super().__init__(message or "log in")
        self.message = message
        self.expired = expired


def _secure(request: Request, state: State) -> bool:
    public = state.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


async def start_session(response: Response, request: Request, state: State,
                        principal: Principal) -> None:  # fmt: skip
    """Open a session for ``principal`` and set its cookie on ``response``."""
    session_id = await run_in_threadpool(state.open_session, principal, COOKIE_SECONDS)
    response.set_cookie(
        COOKIE, session_id, max_age=COOKIE_SECONDS, path="/console", httponly=True,
        samesite="strict", secure=_secure(request, state),
    )  # fmt: skip


async def close_session(request: Request, state: State) -> None:
    """Logout: end the request's session in the store (a replayed cookie is refused)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await run_in_threadpool(state.end_session, session_id)


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/console", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip


async def login_key(state: State, key: str) -> Principal:
    """The principal of a key typed on the login page (AuthError when it is no key)."""
    key = key.strip()
    principal = state.cached_principal(key)
    if principal is None:
        principal = await run_in_threadpool(state.authenticate, key)
    return principal


async def console_principal(request: Request, state: State) -> Principal:
    """The caller of a console page: the session's key, still valid, rate limited, and of a
    role the console has pages for (not a service key: those are for machines)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise LoginRequired()
    try:
        principal = await run_in_threadpool(state.session, session_id)
    except AuthError:
        raise LoginRequired(
            "Your session ended (logged out, expired, or the key was revoked). Log in again.",
            expired=True,
        ) from None
    request.scope.setdefault("state", {})["key_id"] = principal.key_id
    request.state.console_principal = principal
    wait = state.limiter.take(principal.key_id)
    if wait > 0:
        raise RateLimitError(wait)
    if principal.role == "service":
        raise AuthError("service keys are for machines: the console takes operator and "
                        "merchant keys", status=403)  # fmt: skip
    if principal.role not in CONSOLE_ROLES:
        raise AuthError(f"the console takes operator, merchant and agent keys, not "
                        f"{principal.role} keys", status=403)  # fmt: skip
    return principal


Viewer = Annotated[Principal, Depends(console_principal)]


def same_origin(request: Request, state: State) -> None:
    """403 for a POST that says it comes from a site other than the configured
    ``public_url`` (Origin, else Referer); one that says nothing is let through (the
    SameSite=Strict cookie still protects it). Without a ``public_url`` every claim is
    refused: nothing says which origin is ours (the Host header is the caller's to write)."""
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    claimed = origin if origin is not None else referer
    if claimed is None:
        return
    ours = state.settings.public_url
    if ours is None or claimed == "null" or origin_of(claimed) != ours:
        raise AuthError("a form posted from another site is refused", status=403)


SameOrigin = Depends(same_origin)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a console page of this site (never an open redirect)."""
    if not target or not target.startswith("/console") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    if target.startswith((LOGIN, "/console/logout")):
        return None
    return target
