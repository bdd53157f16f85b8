"""Who is at the console: the key in the session cookie, checked like an API key.

The cookie carries the key itself (HttpOnly, SameSite=Strict, Secure over https), so a
revoked key stops working with the next request — within the same ``auth_cache_seconds`` as
the API — and there is no second session store to keep in step with ``api_keys``.

Forms are protected against cross-site posts twice: the browser does not send a
SameSite=Strict cookie with a request started by another site, and a POST whose ``Origin``
(or, without one, ``Referer``) names another host is refused.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from tiyan.domain.errors import AuthError
from tiyan.service.deps import RateLimitError, State
from tiyan.service.keys import Principal

COOKIE = "tiyan_console"
#: The session ends after 12 hours even when the key is still good.
COOKIE_SECONDS = 12 * 3600
LOGIN = "/console/login"


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error of the caller
    """No session, or its key no longer authenticates: go to the login page."""

    def __init__(self, message: str | None = None, *, expired: bool = False) -> None:
        super().__init__(message or "log in")
        self.message = message
        self.expired = expired


def set_session(response: Response, request: Request, key: str) -> None:
    response.set_cookie(
        COOKIE, key, max_age=COOKIE_SECONDS, path="/console", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip


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
    """The caller of a console page: the session's key, authenticated, rate limited, and
    not a service key (those are for machines)."""
    key = request.cookies.get(COOKIE)
    if not key:
        raise LoginRequired()
    try:
        principal = await login_key(state, key)
    except AuthError:
        raise LoginRequired(
            "Your session ended: the key is no longer valid (revoked?). Log in again.",
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
    return principal


Viewer = Annotated[Principal, Depends(console_principal)]


def same_origin(request: Request) -> None:
    """403 for a POST that says it comes from another site (Origin, else Referer); one
    that says nothing is let through (the SameSite=Strict cookie still protects it)."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    claimed = origin if origin is not None else referer
    if claimed is None:
        return
    if claimed == "null" or urlsplit(claimed).netloc.lower() != host.lower():
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
