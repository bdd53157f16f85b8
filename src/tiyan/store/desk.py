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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from tiyan.domain.errors import ConflictError, NotFoundError
from tiyan.domain.model import DESK_TABLES
from tiyan.service_desk.history import Summary
from tiyan.service_desk.requests import State, Step
from tiyan.store.base import Store

REQUESTS = DESK_TABLES["service_requests"]
STEPS = DESK_TABLES["request_steps"]
_REQUEST_COLUMNS = [c.name for c in REQUESTS.columns]
_SUMMARY = [f.name for f in fields(Summary)]


@dataclass(frozen=True)
class StoredRequest:
    request_id: str
    type_id: str
    merchant_id: str
    order_id: str | None
    consumer_id: str | None
    case_id: str | None
    complaint_id: str | None
    language: str
    set_hours: float | None
    created_at: datetime
    state: str
    updated_at: datetime
    # what the trail says of it (tiyan.service_desk.history.Summary), and the last liability
    merchant_due_at: datetime | None = None
    merchant_answered_at: datetime | None = None
    merchant_breached: bool | None = None
    platform_since: datetime | None = None
    first_platform_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_in_time: bool | None = None
    reopens: int = 0
    liability: str | None = None
    assigned_to: str | None = None

    def with_summary(self, summary: Summary, **changes: Any) -> StoredRequest:
        """This request with the summary's columns (and ``changes``)."""
        return replace(self, **{k: getattr(summary, k) for k in _SUMMARY}, **changes)

    def row(self) -> tuple[Any, ...]:
        """The request as a ``service_requests`` row (instants naive UTC)."""
        return tuple(_stored(getattr(self, c)) for c in _REQUEST_COLUMNS)


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _stored(value: Any) -> Any:
    return _naive_utc(value) if isinstance(value, datetime) else value


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
    store.append_rows(
        [
            (REQUESTS, [request.row()]),
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
    found: dict[str, Any] = {
        c: _aware(v) if isinstance(v, datetime) else v
        for c, v in zip(_REQUEST_COLUMNS, row, strict=True)
    }
    found["reopens"] = found["reopens"] or 0
    if found["set_hours"] is not None:
        found["set_hours"] = float(found["set_hours"])
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


def check_position(store: Store, request_id: str, position: int) -> None:
    """ConflictError unless the trail holds ``position - 1`` steps (it changed meanwhile)."""
    taken = store.query("SELECT count(*) FROM request_steps WHERE request_id = ?", (request_id,))
    if taken[0][0] != position - 1:
        raise ConflictError(
            f"service request {request_id} changed meanwhile (step {position} is taken): "
            "read it again"
        )


def append_step(
    store: Store,
    request: StoredRequest,
    step: Step,
    *,
    position: int,
    actor_id: str | None = None,
) -> None:
    """Append ``step`` at ``position`` (the trail's length + 1 when it was read) and rewrite
    the request's row (``request``: its new state and summary), in one transaction.
    ConflictError when another step took the position first (the trail changed since it
    was read); on PostgreSQL a racing writer collides on the step's primary key."""
    check_position(store, request.request_id, position)
    row = _step_row(request.request_id, position, step, actor_id)
    marks = ", ".join("?" for _ in row)
    columns = ", ".join(c.name for c in STEPS.columns)
    with raced(store, request.request_id, position):
        store.run_in_transaction(
            [
                (f"INSERT INTO request_steps ({columns}) VALUES ({marks})", row),
                _update_request(request),
            ]
        )


@contextmanager
def raced(store: Store, request_id: str, position: int) -> Iterator[None]:
    """A write of step ``position`` that fails because another writer took the position
    meanwhile (the primary key collides) is a ConflictError, not a server error."""
    try:
        yield
    except Exception:
        taken = store.query(
            "SELECT count(*) FROM request_steps WHERE request_id = ?", (request_id,)
        )[0][0]
        if taken >= position:
            raise ConflictError(
                f"service request {request_id} changed meanwhile (step {position} is taken): "
                "read it again"
            ) from None
        raise


def _update_request(request: StoredRequest) -> tuple[str, tuple[Any, ...]]:
    values = dict(zip(_REQUEST_COLUMNS, request.row(), strict=True))
    changing = [c for c in _REQUEST_COLUMNS if c != "request_id"]
    sets = ", ".join(f"{c} = ?" for c in changing)
    return (
        f"UPDATE service_requests SET {sets} WHERE request_id = ?",
        (*(values[c] for c in changing), request.request_id),
    )


def rewrite_requests(store: Store, requests: Sequence[StoredRequest]) -> None:
    """Rewrite the rows of ``requests`` (their summaries recomputed), in one transaction."""
    if requests:
        store.run_in_transaction([_update_request(r) for r in requests])


def step_row(request_id: str, seq: int, step: Step, actor_id: str | None) -> tuple[Any, ...]:
    """``step`` as a ``request_steps`` row."""
    return _step_row(request_id, seq, step, actor_id)


def existing_requests(store: Store, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the store holds."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ", ".join("?" for _ in part)
        found.update(
            r[0]
            for r in store.query(
                f"SELECT request_id FROM service_requests WHERE request_id IN ({marks})", part
            )
        )
    return found


def load_trails(store: Store, ids: Sequence[str] | None = None) -> dict[str, list[Step]]:
    """Request id -> its trail, of ``ids`` (all requests when None), in one read."""
    where, params = "", []
    if ids is not None:
        if not ids:
            return {}
        where = f" WHERE request_id IN ({', '.join('?' for _ in ids)})"
        params = list(ids)
    out: dict[str, list[Step]] = {}
    for rid, at, actor, action, note in store.query(
        "SELECT request_id, step_at, actor, action, note FROM request_steps"
        f"{where} ORDER BY request_id, seq",
        params,
    ):
        out.setdefault(rid, []).append(Step(at=_aware(at), actor=actor, action=action, note=note))
    return out


def due_requests(store: Store, *, now: datetime) -> list[StoredRequest]:
    """Requests waiting on the merchant whose stored deadline is at or before ``now`` (or
    not summarised yet: a request stored before the summary columns)."""
    rows = store.query(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM service_requests "
        "WHERE state = ? AND (merchant_due_at <= ? OR merchant_due_at IS NULL) "
        "ORDER BY merchant_due_at, request_id",
        (State.WAITING_MERCHANT.value, _naive_utc(now)),
    )
    return [_request(r) for r in rows]


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


# -- resolutions ----------------------------------------------------------------------------

RESOLUTIONS = DESK_TABLES["request_resolutions"]
CALLBACKS = DESK_TABLES["request_callbacks"]
ATTEMPTS = DESK_TABLES["callback_attempts"]
FILES = DESK_TABLES["attachment_files"]
ATTACHMENTS = DESK_TABLES["request_attachments"]
SURVEYS = DESK_TABLES["request_surveys"]


def _dicts(table_columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {
            c: _aware(v) if isinstance(v, datetime) else v
            for c, v in zip(table_columns, r, strict=True)
        }
        for r in rows
    ]


def resolutions_of(store: Store, request_id: str) -> list[dict[str, Any]]:
    """The request's resolutions, in order."""
    cols = RESOLUTIONS.column_names
    return _dicts(
        cols,
        store.query(
            f"SELECT {', '.join(cols)} FROM request_resolutions WHERE request_id = ? ORDER BY seq",
            (request_id,),
        ),
    )


def stored_row(store: Store, table_name: str, key: str) -> dict[str, Any] | None:
    """The stored row of a canonical table (``complaints``, ``after_sales``, ...) with this
    one-column primary key, as column -> value (instants naive UTC), or None."""
    from tiyan.domain.model import TABLES
    from tiyan.store.events import rows_by_key

    table = TABLES[table_name]
    found = rows_by_key(store, table, [(key,)])
    return dict(zip(table.column_names, found[0], strict=True)) if found else None


# -- callbacks ------------------------------------------------------------------------------


def create_callback(store: Store, row: tuple[Any, ...]) -> None:
    """Record a new callback task (a ``request_callbacks`` row). ConflictError when the id
    is taken."""
    if store.query("SELECT 1 FROM request_callbacks WHERE task_id = ?", (row[0],)):
        raise ConflictError(f"callback task {row[0]} exists already")
    store.append_rows([(CALLBACKS, [tuple(_stored(v) for v in row)])])


def get_callback(store: Store, task_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The task's row and its attempts in order (NotFoundError when there is none)."""
    cols = CALLBACKS.column_names
    rows = store.query(
        f"SELECT {', '.join(cols)} FROM request_callbacks WHERE task_id = ?", (task_id,)
    )
    if not rows:
        raise NotFoundError("callback task", task_id)
    acols = ATTEMPTS.column_names
    attempts = store.query(
        f"SELECT {', '.join(acols)} FROM callback_attempts WHERE task_id = ? ORDER BY seq",
        (task_id,),
    )
    return _dicts(cols, rows)[0], _dicts(acols, attempts)


def callbacks_of(store: Store, request_id: str) -> list[str]:
    """The ids of the request's callback tasks, oldest first."""
    return [
        r[0]
        for r in store.query(
            "SELECT task_id FROM request_callbacks WHERE request_id = ? "
            "ORDER BY created_at, task_id",
            (request_id,),
        )
    ]


def append_attempt(
    store: Store,
    attempt: tuple[Any, ...],
    *,
    status: str,
    next_at: datetime | None,
    next_masked: str | None,
) -> None:
    """Append a ``callback_attempts`` row at its position (``attempt[1]``) and set the task's
    status and next call, in one transaction; ConflictError when the position is taken."""
    task_id, seq = attempt[0], attempt[1]
    taken = store.query("SELECT count(*) FROM callback_attempts WHERE task_id = ?", (task_id,))
    if taken[0][0] != seq - 1:
        raise ConflictError(
            f"callback task {task_id} changed meanwhile (attempt {seq} is taken): read it again"
        )
    marks = ", ".join("?" for _ in attempt)
    store.run_in_transaction(
        [
            (
                f"INSERT INTO callback_attempts ({', '.join(ATTEMPTS.column_names)}) "
                f"VALUES ({marks})",
                tuple(_stored(v) for v in attempt),
            ),
            (
                "UPDATE request_callbacks SET status = ?, next_at = ?, next_masked = ? "
                "WHERE task_id = ?",
                (status, _stored(next_at), next_masked, task_id),
            ),
        ]
    )


# -- attachments ----------------------------------------------------------------------------


def add_attachment(store: Store, file: tuple[Any, ...], link: tuple[Any, ...]) -> bool:
    """Store a file (once per content hash) and attach it to a request, in one transaction.
    False when the request carries that content already (nothing written)."""
    request_id, sha = link[0], link[1]
    if store.query(
        "SELECT 1 FROM request_attachments WHERE request_id = ? AND sha256 = ?", (request_id, sha)
    ):
        return False
    batches: list[tuple[Any, list[tuple[Any, ...]]]] = []
    if not store.query("SELECT 1 FROM attachment_files WHERE sha256 = ?", (sha,)):
        batches.append((FILES, [file]))
    batches.append((ATTACHMENTS, [tuple(_stored(v) for v in link)]))
    store.append_rows(batches)
    return True


def attachments_of(store: Store, request_id: str) -> list[dict[str, Any]]:
    """The request's attachments (without their content), oldest first, with type and size."""
    rows = store.query(
        "SELECT a.sha256, a.name, a.added_at, a.actor, f.content_type, f.size "
        "FROM request_attachments a JOIN attachment_files f ON f.sha256 = a.sha256 "
        "WHERE a.request_id = ? ORDER BY a.added_at, a.sha256",
        (request_id,),
    )
    return _dicts(("sha256", "name", "added_at", "actor", "content_type", "size"), rows)


def attachment_content(store: Store, request_id: str, sha256: str) -> tuple[str, str]:
    """(content type, base64 content) of a file the request carries (NotFoundError)."""
    rows = store.query(
        "SELECT f.content_type, f.content FROM request_attachments a "
        "JOIN attachment_files f ON f.sha256 = a.sha256 "
        "WHERE a.request_id = ? AND a.sha256 = ?",
        (request_id, sha256),
    )
    if not rows:
        raise NotFoundError("attachment", f"{request_id}/{sha256}")
    return str(rows[0][0]), str(rows[0][1])


# -- surveys --------------------------------------------------------------------------------


def get_survey(store: Store, request_id: str) -> dict[str, Any] | None:
    cols = SURVEYS.column_names
    rows = store.query(
        f"SELECT {', '.join(cols)} FROM request_surveys WHERE request_id = ?", (request_id,)
    )
    return _dicts(cols, rows)[0] if rows else None


def add_survey(store: Store, row: tuple[Any, ...]) -> None:
    store.append_rows([(SURVEYS, [tuple(_stored(v) for v in row)])])


# -- agents ---------------------------------------------------------------------------------

AGENTS = DESK_TABLES["desk_agents"]


def upsert_agent(store: Store, row: tuple[Any, ...]) -> None:
    """Record an agent (a ``desk_agents`` row), replacing what was recorded of it."""
    store.replace_rows(AGENTS, [tuple(_stored(v) for v in row)], f"agent_id = '{_quoted(row[0])}'")


def _quoted(text: str) -> str:
    return str(text).replace("'", "''")


def list_agents(store: Store) -> list[dict[str, Any]]:
    cols = AGENTS.column_names
    return _dicts(cols, store.query(f"SELECT {', '.join(cols)} FROM desk_agents ORDER BY agent_id"))


def agent_loads(store: Store) -> dict[str, tuple[int, datetime | None]]:
    """Agent -> (requests it holds open, when it was last given one)."""
    marks = ", ".join("?" for _ in _HELD)
    return {
        str(agent): (int(n), None if last is None else _aware(last))
        for agent, n, last in store.query(
            "SELECT assigned_to, count(*) FILTER (WHERE state IN "
            f"({marks})), max(platform_since) FROM service_requests "
            "WHERE assigned_to IS NOT NULL GROUP BY assigned_to",
            _HELD,
        )
    }


#: The states in which an assigned request is on its agent's hands.
_HELD = ("waiting_platform", "waiting_consumer", "waiting_merchant", "open")


def unassigned(store: Store, ids: Sequence[str] | None = None) -> list[StoredRequest]:
    """Requests waiting on the platform that no agent holds (of ``ids``, when given),
    longest waiting first."""
    where, params = "", [State.WAITING_PLATFORM.value]
    if ids is not None:
        if not ids:
            return []
        where = f" AND request_id IN ({', '.join('?' for _ in ids)})"
        params += list(ids)
    rows = store.query(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM service_requests "
        f"WHERE state = ? AND assigned_to IS NULL{where} "
        "ORDER BY platform_since, created_at, request_id",
        params,
    )
    return [_request(r) for r in rows]


def set_assignments(store: Store, pairs: Sequence[tuple[str, str]]) -> None:
    """Give each request of ``(request id, agent id)`` to its agent, in one transaction
    (a request someone took meanwhile keeps its agent)."""
    if pairs:
        store.run_in_transaction(
            [
                (
                    "UPDATE service_requests SET assigned_to = ? "
                    "WHERE request_id = ? AND assigned_to IS NULL",
                    (agent, rid),
                )
                for rid, agent in pairs
            ]
        )
