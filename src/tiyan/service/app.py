"""The HTTP service: ``create_app(settings)`` builds the FastAPI app ``tiyan serve`` runs.

::

    /healthz, /metrics                      operations (no key)
    /v1/events                              service, operator      events in batches
    /v1/decisions/{express-refund,...}      service, operator      online decisions
    /v1/merchants[/{id}/...]                operator; merchant (own)   scorecards, records
    /v1/appeals[/{id}[/decision]]           merchant creates; operator decides
    /v1/keys[/{key_id}/revoke]              operator (and the local CLI)   list, revoke keys
    /console/...                            operator, merchant     the web console (HTML)

Example::

    app = create_app(Settings(db="demo/tiyan.duckdb"))
    uvicorn.run(app)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from tiyan import __version__
from tiyan.service import console, errors
from tiyan.service.limits import BodyLimit
from tiyan.service.routers import appeals, decisions, desk, events, health, keys, merchants
from tiyan.service.settings import Settings
from tiyan.service.state import AppState, utc_now
from tiyan.service.telemetry import Observe

DESCRIPTION = """\
tiyan (体验) governance service: events in, decisions out, every merchant's scorecard and
record. Authenticate with `Authorization: Bearer <key>` (keys from `tiyan keys create`).
Roles: **operator** (everything), **merchant** (its own data and appeals), **service**
(events and decisions). Every error has one shape: `{"error": {code, message, details}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    control_url: str | None = None,
) -> FastAPI:
    """The app over ``settings.db``; ``clock`` (UTC) stamps events and decisions. With
    ``control_url`` (the loopback URL it serves at; ``tiyan serve`` gives it on a DuckDB
    store) it opens the local CLI's channel while it runs (:mod:`tiyan.service.control`)."""
    settings = settings or Settings()
    state = AppState(settings, clock, control_url=control_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.open()
        try:
            yield
        finally:
            # uvicorn has let the requests in flight finish: their writes are committed
            state.close()

    app = FastAPI(
        title="tiyan",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "events", "description": "Canonical records and lifecycle events."},
            {"name": "decisions", "description": "Express refund, presale, ship promise."},
            {"name": "merchants", "description": "Scorecards, metrics, violations, ledger."},
            {"name": "appeals", "description": "Merchants appeal; operators decide."},
            {"name": "keys", "description": "API keys: list and revoke (operators)."},
            {"name": "service desk", "description": "Consumer requests to the platform desk."},
            {"name": "operations", "description": "Health and Prometheus metrics."},
        ],
    )
    app.state.tiyan = state
    errors.install(app)
    for module in (events, decisions, merchants, appeals, desk, keys, health):
        app.include_router(module.router)
    app.include_router(console.router)  # HTML pages, outside the OpenAPI schema
    # outermost first: observe everything, including the 413s of the body limit
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=state.metrics, enabled_log=settings.log_requests)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers (``tiyan serve --workers N``): settings from TIYAN_*."""
    return create_app(Settings.from_env())
