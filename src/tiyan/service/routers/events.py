"""``POST /v1/events``: canonical records and lifecycle events, in batches."""

from __future__ import annotations

from fastapi import APIRouter

from tiyan.domain.errors import UsageError
from tiyan.ingest.events import ingest_events
from tiyan.service.deps import Caller, State, require
from tiyan.service.errors import ErrorBody
from tiyan.service.schemas import EventBatch, EventsOut, ItemOut

router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    response_model=EventsOut,
    responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Send a batch of events",
)
def post_events(batch: EventBatch, caller: Caller, state: State) -> EventsOut:
    """Validate every item with the rules of file ingestion and store the valid ones in one
    transaction (durable when this answers). Each item is answered: accepted, duplicate (an
    id accepted before with the same content: nothing changes), conflict (an id accepted
    before with other content: 409 for that item, naming each field that differs; nothing
    written) or rejected with its problems (text the store cannot keep, a lone surrogate or
    NUL, included); rows the rules reject also go to the quarantine. Two whole rows of one
    key in a batch are both rejected, as in a file load; changes to a row are applied in
    batch order. A retried batch changes nothing."""
    require(caller, "service", "operator")
    limit = state.settings.max_batch_items
    if len(batch.items) > limit:
        raise UsageError(f"a batch holds at most {limit} events ({len(batch.items)} sent)")
    with state.store() as store:
        result = ingest_events(
            store,
            batch.items,
            now=state.clock(),
            timezone=state.settings.timezone,
            source=f"api:{caller.key_id}",
        )
    for status in ("accepted", "duplicate", "conflict", "rejected"):
        if n := result.count(status):
            state.metrics.events.labels(status).inc(n)
    return EventsOut(
        accepted=result.count("accepted"),
        duplicate=result.count("duplicate"),
        conflict=result.count("conflict"),
        rejected=result.count("rejected"),
        load_id=result.load_id,
        items=[ItemOut.model_validate(item.__dict__) for item in result.items],
    )
