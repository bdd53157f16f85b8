"""The one error shape of the API, and the map from tiyan's error tree to HTTP statuses.

Every error answer, whatever raised it, reads::

    {"error": {"code": "not_found", "message": "no merchant 'M9'", "details": []}}

``details`` lists problems with a field path (``body.items[3].data.paid_at``) where there is
one. Only this module knows HTTP statuses; the core raises :mod:`tiyan.domain.errors`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tiyan.domain.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    PolicyError,
    TiyanError,
    UsageError,
)

log = logging.getLogger("tiyan.service")


class ErrorDetail(BaseModel):
    field: str | None = Field(None, description="Where: a path into the request.")
    code: str = Field(description="Stable problem code.")
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable error code (not_found, invalid_request, ...).")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorInfo


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "details": details or [],
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: TiyanError) -> int:
    if isinstance(exc, AuthError):
        return exc.status
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, PolicyError):
        return 500  # the server's policy file, not the request, is wrong
    if isinstance(exc, UsageError):
        return 400
    return 500


def _path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(TiyanError)
    async def tiyan_error(request: Request, exc: TiyanError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("server error", exc_info=exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        wait = getattr(exc, "wait", None)
        if status == 429 and wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        return error_response(status, str(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": _path(e.get("loc", ())),
                "code": str(e.get("type", "invalid")),
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        return error_response(422, "the request does not match its schema", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return error_response(500, "internal error (logged)")
