"""Dependencies of the routes: who is calling, and what they may see."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tiyan.domain.errors import AuthError, NotFoundError
from tiyan.service.keys import Principal
from tiyan.service.state import LOCAL_ADMIN, AppState

_bearer = HTTPBearer(auto_error=False, description="An API key from `tiyan keys create`.")


class RateLimitError(AuthError):
    def __init__(self, wait: float) -> None:
        super().__init__("rate limit exceeded for this key; retry later", status=429)
        self.wait = wait


async def get_state(request: Request) -> AppState:  # async: no thread hop, no I/O
    state: AppState = request.app.state.tiyan
    return state


State = Annotated[AppState, Depends(get_state)]


async def current_principal(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # async: a key checked a moment ago costs a dict lookup, not a hop to a worker thread;
    # only a lookup in the store goes to one
    key = credentials.credentials if credentials else None
    token = state.control_token
    if key and token and hmac.compare_digest(key.encode(), token.encode()):
        request.scope.setdefault("state", {})["key_id"] = LOCAL_ADMIN.key_id
        return LOCAL_ADMIN  # the local CLI: only the keys routes accept its role
    principal = state.cached_principal(key)
    if principal is None:
        principal = await run_in_threadpool(state.authenticate, key)
    request.scope.setdefault("state", {})["key_id"] = principal.key_id
    wait = state.limiter.take(principal.key_id)
    if wait > 0:
        raise RateLimitError(wait)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def require(principal: Principal, *roles: str) -> None:
    """403 unless the caller's role is one of ``roles``."""
    if principal.role not in roles:
        raise AuthError(
            f"a {principal.role} key may not do this (needs {' or '.join(roles)})", status=403
        )


def own_merchant(principal: Principal, merchant_id: str) -> None:
    """A merchant key sees only its own merchant; another merchant's id gets the answer a
    merchant that does not exist gets (404), so ids cannot be probed."""
    require(principal, "operator", "merchant")
    if principal.role == "merchant" and principal.merchant_id != merchant_id:
        raise NotFoundError("merchant", merchant_id)
