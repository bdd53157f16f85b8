"""``/healthz`` and ``/metrics`` (Prometheus), unauthenticated."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tiyan.domain.errors import TiyanError
from tiyan.service.deps import State
from tiyan.service.errors import ErrorBody, error_response
from tiyan.service.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": ErrorBody}})
def healthz(state: State) -> Health | Response:
    """The store answers a query: 200; otherwise 503."""
    try:
        with state.reading() as store:
            rows = store.query("SELECT value FROM tiyan_meta WHERE key = 'schema_version'")
            version = int(rows[0][0]) if rows else 0
            url = store.url
    except TiyanError as exc:
        return error_response(503, f"store unavailable: {exc}")
    # never the URL's credentials: only its engine and where
    shown = url.split("@", 1)[-1] if "://" in url else url
    return Health(status="ok", store=shown, schema_version=version)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
def metrics(state: State) -> Response:
    """Request counts and latencies by route, events and decisions by outcome."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
