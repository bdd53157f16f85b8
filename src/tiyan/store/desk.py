"""The service desk's repository: requests and their audit trail, in the store.

The rules are pure (:mod:`tiyan.service_desk.requests`); this module reads and writes. A
step is appended with the request's new state in one transaction, at the next position of
the trail: on PostgreSQL two writers racing for the same position collide on the primary
key, and the loser's step is refused rather than interleaved.

Example::

    with open_store("tiyan.duckdb") as store:
        trail = load_trail(store, "SR-1")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tiyan.domain.errors import ConflictError, NotFoundError
from tiyan.domain.model import DESK_TABLES
from tiyan.service_desk.requests import State, Step
from tiyan.store.base import Store

REQUESTS = DESK_TABLES["service_requests"]
STEPS = DESK_TABLES["request_steps"]
_REQUEST_COLUMNS = [c.name for c in REQUESTS.columns]


@dataclass(frozen=True)
class StoredRequest:
    request_id: str
    type_id: str
    merchant_id: str
    order_id: str | None
    consumer_id: str | None
    case_id: str | None
    language: str
    set_hours: float | None
    created_at: datetime
    state: str
    updated_at: datetime


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _step_row(request_id: str, seq: int, step: Step, actor_id: str | None) -> tuple[Any, ...]:
    return (request_id, seq, _naive_utc(step.at), step.actor, actor_id, step.action, step.note)


def create_request(
    store: Store,
    request: StoredRequest,
    steps: Sequence[Step],
    *,
    actor_id: str | None = None,
) -> None:
    """Record a new request with the first steps of its trail, in one transaction.
    ConflictError when the id is taken."""
    if store.query("SELECT 1 FROM service_requests WHERE request_id = ?", (request.request_id,)):
        raise ConflictError(f"service request {request.request_id} exists already")
    row = {
        **request.__dict__,
        "created_at": _naive_utc(request.created_at),
        "updated_at": _naive_utc(request.updated_at),
    }
    store.append_rows(
        [
            (REQUESTS, [tuple(row[c] for c in _REQUEST_COLUMNS)]),
            (
                STEPS,
                [_step_row(request.request_id, i, s, actor_id) for i, s in enumerate(steps, 1)],
            ),
        ]
    )


def get_request(store: Store, request_id: str) -> StoredRequest:
    rows = store.query(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM service_requests WHERE request_id = ?",
        (request_id,),
    )
    if not rows:
        raise NotFoundError("service request", request_id)
    return _request(rows[0])


def _request(row: tuple[Any, ...]) -> StoredRequest:
    found = dict(zip(_REQUEST_COLUMNS, row, strict=True))
    found["created_at"] = _aware(found["created_at"])
    found["updated_at"] = _aware(found["updated_at"])
    return StoredRequest(**found)


def load_trail(store: Store, request_id: str) -> list[Step]:
    """The request's audit trail, in order (NotFoundError when there is no such request)."""
    get_request(store, request_id)
    return [
        Step(at=_aware(at), actor=actor, action=action, note=note)
        for at, actor, action, note in store.query(
            "SELECT step_at, actor, action, note FROM request_steps WHERE request_id = ? "
            "ORDER BY seq",
            (request_id,),
        )
    ]


def append_step(
    store: Store,
    request_id: str,
    step: Step,
    state: State,
    *,
    position: int,
    actor_id: str | None = None,
) -> None:
    """Append ``step`` at ``position`` (the trail's length + 1 when it was read) and set the
    request's state, in one transaction. ConflictError when another step took the position
    first (the trail changed since it was read)."""
    taken = store.query("SELECT count(*) FROM request_steps WHERE request_id = ?", (request_id,))[
        0
    ][0]
    if taken != position - 1:
        raise ConflictError(
            f"service request {request_id} changed meanwhile (step {position} is taken): "
            "read it again"
        )
    row = _step_row(request_id, position, step, actor_id)
    marks = ", ".join("?" for _ in row)
    columns = ", ".join(c.name for c in STEPS.columns)
    store.run_in_transaction(
        [
            (f"INSERT INTO request_steps ({columns}) VALUES ({marks})", row),
            (
                "UPDATE service_requests SET state = ?, updated_at = ? WHERE request_id = ?",
                (state.value, _naive_utc(step.at), request_id),
            ),
        ]
    )


def list_requests(
    store: Store,
    *,
    merchant_id: str | None = None,
    states: Sequence[str] | None = None,
) -> list[StoredRequest]:
    """Requests, oldest first; only the merchant's, only in ``states`` when given."""
    where, params = [], []
    if merchant_id is not None:
        where.append("merchant_id = ?")
        params.append(merchant_id)
    if states:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        params.extend(states)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = store.query(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM service_requests{clause} "
        "ORDER BY created_at, request_id",
        params,
    )
    return [_request(r) for r in rows]
