"""Events: canonical records and lifecycle events arriving one batch at a time (the HTTP API).

An event is either a whole canonical row (``type: record`` with its ``table``, or the
type that creates that row — ``order.paid`` creates an order) or a *lifecycle change* to a
row already known (``shipment.picked_up`` sets a shipment's ``pickup_at``). A change is
merged into the stored row (or into a row created earlier in the same batch), and the
merged row is validated like any row of a file: :func:`tiyan.ingest.load.ingest_relations`
runs exactly the rules of ``tiyan ingest``, so the API accepts nothing a file load would
reject and rejects nothing it would accept.

Guarantees, per batch:

* **Idempotent by id.** Each event carries the caller's ``id``; accepted ids are recorded in
  ``event_log`` with the event's content in the same transaction as the rows, so a retried
  batch answers ``duplicate`` for them and writes nothing. The same id with *other* content
  is a ``conflict`` (HTTP 409 semantics for that item), with one problem per field that
  differs: the first content stays, the second is not written.
* **Each item answered.** ``accepted``, ``duplicate``, ``conflict`` or ``rejected`` with the
  problems (code, field path, message); rows rejected by the rules also go to the quarantine.
* **Valid items are never lost because another is bad**, and accepted items are written in
  one transaction — durable when :func:`ingest_events` returns. Text the store cannot keep
  (a lone surrogate such as ``"\ud800"``, which is no text in any encoding, or NUL, which
  PostgreSQL refuses) is that item's ``bad_text`` rejection, on every engine.
* **Two whole rows of one key in a batch are both rejected** (``duplicate_key``, naming the
  other items), as two lines of one key in a file are; changes to one row (``order.paid``,
  then ``order.cancelled``) are applied in batch order.

Example::

    result = ingest_events(store, [
        {"id": "e1", "type": "order.paid", "data": {"order_id": "O1", ...}},
        {"id": "e2", "type": "shipment.picked_up",
         "data": {"shipment_id": "S1", "pickup_at": "2024-06-18T10:00:00+08:00"}},
    ], now=datetime.now(UTC))
    [r.status for r in result.items]   # ['accepted', 'rejected']
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from tiyan.domain.model import EVENT_LOG, TABLES, Table
from tiyan.ingest.load import DEFAULT_TIMEZONE, ingest_relations
from tiyan.store.base import Store, WritePlan
from tiyan.store.events import event_receipts, rows_by_key


@dataclass(frozen=True)
class EventType:
    """What an event type does: create a row of ``table``, or change ``fields`` of one
    (with ``sets`` fixed values, e.g. the status)."""

    table: str
    doc: str
    fields: tuple[str, ...] | None = None  # None: a whole row (creates or replaces it)
    sets: tuple[tuple[str, str], ...] = ()

    @property
    def is_change(self) -> bool:
        return self.fields is not None


#: Every event type but ``record`` (which names its table).
EVENT_TYPES: dict[str, EventType] = {
    "order.paid": EventType("orders", "An order was paid: the whole order row."),
    "order.shipped": EventType(
        "shipments", "A parcel's tracking number was uploaded: the whole shipment row."
    ),
    "shipment.picked_up": EventType(
        "shipments", "The carrier's first scan (揽收).", fields=("pickup_at",)
    ),
    "tracking.event": EventType("tracking_events", "One carrier tracking event."),
    "shipment.signed": EventType("shipments", "The parcel was signed for.", fields=("signed_at",)),
    "order.signed": EventType(
        "orders",
        "The order was signed for (签收).",
        fields=("signed_at",),
        sets=(("status", "signed"),),
    ),
    "order.completed": EventType(
        "orders",
        "The order was completed.",
        fields=("completed_at",),
        sets=(("status", "completed"),),
    ),
    "order.cancelled": EventType(
        "orders",
        "The order was cancelled: when, by whom, why.",
        fields=("cancelled_at", "cancelled_by", "cancel_reason"),
        sets=(("status", "cancelled"),),
    ),
    "after_sale.opened": EventType("after_sales", "An after-sales case: the whole case row."),
    "after_sale.responded": EventType(
        "after_sales",
        "The merchant answered the case.",
        fields=("merchant_responded_at", "merchant_decision"),
    ),
    "after_sale.resolved": EventType(
        "after_sales",
        "The case was resolved.",
        fields=(
            "resolved_at",
            "resolution",
            "resolved_by",
            "platform_intervened",
            "liability",
            "express",
            "return_tracking_no",
            "amount",
        ),
    ),
    "cs_session": EventType("cs_sessions", "An IM customer-service session."),
    "review": EventType("reviews", "A review."),
    "complaint": EventType("complaints", "A complaint."),
    "platform_contact": EventType("platform_contacts", "A contact with platform CS."),
    "survey": EventType("surveys", "A survey (NPS) answer."),
}
RECORD = "record"
_RECEIPTS = pa.schema(
    [(c, pa.timestamp("us") if c == "received_at" else pa.string()) for c in EVENT_LOG.column_names]
)
#: Tables the API accepts rows of (the canonical tables but the simulator's truth).
EVENT_TABLES = tuple(t for t, table in TABLES.items() if table.kind != "simulation")


@dataclass
class ItemResult:
    """The answer for one event of a batch."""

    index: int
    id: str | None
    status: str  # accepted | duplicate | conflict | rejected
    table: str | None = None
    key: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EventsResult:
    items: list[ItemResult]
    load_id: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)


def as_text(value: Any) -> str | None:
    """A stored or sent scalar as the text a file would hold (timestamps with their offset)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # stored timestamps are naive UTC: say so, or they would be read in the platform zone
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date | Decimal | int | float | str):
        return str(value)
    raise TypeError(type(value).__name__)


def _problem(code: str, path: str, message: str) -> dict[str, Any]:
    return {"code": code, "field": path, "message": message}


def bad_text(text: str) -> str | None:
    """Why ``text`` cannot be stored (None: it can): a lone surrogate is no text in any
    encoding (UTF-8 cannot write it); NUL is refused by PostgreSQL, so by every engine."""
    for pos, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return (f"holds a lone surrogate ({ascii(char)[1:-1]}) at position {pos}: not text "
                    "in any encoding (send UTF-8 text)")  # fmt: skip
        if char == "\x00":
            return f"holds a NUL character (U+0000) at position {pos}, which the store cannot keep"
    return None


def _shown(name: str) -> str:
    """A name as it can appear in an answer (escaped when it is no storable text)."""
    return name if bad_text(name) is None else ascii(name)


def _key_text(table: Table, row: dict[str, str | None]) -> str:
    return "/".join(str(row.get(k)) for k in table.primary_key)


@dataclass
class _Pending:
    """A row being built from the batch's events: the stored row it starts from (None when
    an event of the batch creates it) and the events applied, in order."""

    base: dict[str, str | None] | None
    steps: list[tuple[int, dict[str, str | None]]]
    rejected_with: list[dict[str, Any]] | None = None

    @property
    def items(self) -> list[int]:
        return [i for i, _ in self.steps]

    def row(self) -> dict[str, str | None]:
        out = dict(self.base or {})
        for _, data in self.steps:
            out.update(data)
        return out


class _Batch:
    def __init__(self, store: Store, events: list[Any]) -> None:
        self.store = store
        self.events = events
        self.results: list[ItemResult] = [
            ItemResult(index=i, id=None, status="pending") for i in range(len(events))
        ]
        self.rows: dict[str, dict[str, _Pending]] = defaultdict(dict)
        self.stored: dict[str, dict[str, dict[str, str | None]]] = {}
        #: each shaped item's content, as its receipt will keep it
        self.contents: dict[int, str] = {}

    def reject(self, i: int, path: str, code: str, message: str) -> None:
        self.results[i].status = "rejected"
        self.results[i].problems.append(_problem(code, f"items[{i}]{path}", message))

    # -- per item: shape ------------------------------------------------------------------
    def check_shape(
        self, i: int, event: Any
    ) -> tuple[str, EventType | None, dict[str, Any]] | None:
        if not isinstance(event, dict):
            self.reject(i, "", "bad_type", "an event is an object with id, type and data")
            return None
        unknown = sorted(set(event) - {"id", "type", "table", "data"})
        for name in unknown:
            self.reject(i, f".{_shown(name)}", "unknown_field", "not a field of an event")
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
            self.reject(i, ".id", "missing_value", "each event needs an id (text, ≤ 200 chars)")
        elif (why := bad_text(event_id)) is not None:
            self.reject(i, ".id", "bad_text", f"the id {event_id!a} {why}")
        else:
            self.results[i].id = event_id
        kind = event.get("type")
        etype: EventType | None = None
        table_name: str | None = None
        if kind == RECORD:
            table_name = event.get("table")
            if table_name not in EVENT_TABLES:
                self.reject(i, ".table", "not_allowed", _unknown("table", table_name, EVENT_TABLES))
                table_name = None
        elif isinstance(kind, str) and kind in EVENT_TYPES:
            etype = EVENT_TYPES[kind]
            table_name = etype.table
            if event.get("table") not in (None, table_name):
                self.reject(i, ".table", "not_allowed", f"{kind} events write {table_name}")
        else:
            self.reject(
                i, ".type", "not_allowed", _unknown("event type", kind, [RECORD, *EVENT_TYPES])
            )
        data = event.get("data")
        if not isinstance(data, dict):
            self.reject(i, ".data", "bad_type", "data is an object of field: value")
            return None
        if unknown or self.results[i].problems or table_name is None:
            return None
        table = TABLES[table_name]
        allowed = set(table.column_names)
        if etype is not None and etype.fields is not None:
            allowed = set(table.primary_key) | set(etype.fields)
        for name, value in data.items():
            if (why := bad_text(name)) is not None:
                self.reject(i, ".data", "bad_text", f"the field name {name!a} {why}")
            elif isinstance(value, str) and (why := bad_text(value)) is not None:
                self.reject(i, f".data.{name}", "bad_text", f"{name} {why}")
            elif name not in allowed:
                why = _unknown(f"field of {kind}", name, sorted(allowed))
                self.reject(i, f".data.{name}", "unknown_field", why)
            elif isinstance(value, dict | list):
                self.reject(i, f".data.{name}", "bad_type", "expected a single value")
        for k in table.primary_key:  # the key says which row: without it, no row at all
            if data.get(k) in (None, ""):
                self.reject(i, f".data.{k}", "missing_value", f"{kind} names the row by {k}")
        if self.results[i].problems:
            return None
        self.results[i].table = table_name
        return table_name, etype, data

    # -- stored rows that changes apply to ------------------------------------------------
    def fetch_stored(self, wanted: dict[str, set[tuple[str, ...]]]) -> None:
        for table_name, keys in wanted.items():
            table = TABLES[table_name]
            found: dict[str, dict[str, str | None]] = {}
            for r in rows_by_key(self.store, table, keys):
                row = {c: as_text(v) for c, v in zip(table.column_names, r, strict=True)}
                found[_key_text(table, row)] = row
            self.stored[table_name] = found


def _unknown(kind: str, name: Any, known: Any) -> str:
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}"


def ingest_events(
    store: Store,
    events: list[Any],
    *,
    now: datetime,
    timezone: str = DEFAULT_TIMEZONE,
    source: str = "api",
) -> EventsResult:
    """Validate and store one batch of events (module docstring); ``now`` stamps receipts."""
    batch = _Batch(store, events)
    shaped: list[tuple[int, str, EventType | None, dict[str, str | None]]] = []
    for i, event in enumerate(events):
        found = batch.check_shape(i, event)
        if found is not None:
            table_name, etype, data = found
            shaped.append((i, table_name, etype, {k: as_text(v) for k, v in data.items()}))

    # Ids: repeated in the batch, or accepted by an earlier batch (with the same content:
    # duplicate; with other content: conflict).
    ids = [batch.results[i].id for i, *_ in shaped]
    seen_before = event_receipts(store, [x for x in ids if x is not None])
    first: dict[str, int] = {}
    live: list[tuple[int, str, EventType | None, dict[str, str | None]]] = []
    for item in shaped:
        i, table_name, _, data = item
        event_id = batch.results[i].id
        assert event_id is not None
        batch.contents[i] = _content(events[i]["type"], table_name, data)
        if event_id in seen_before:
            key, before = seen_before[event_id]
            differences = _differences(before, batch.contents[i])
            batch.results[i].key = key
            batch.results[i].status = "conflict" if differences else "duplicate"
            for path, message in differences:
                batch.results[i].problems.append(_problem("conflict", f"items[{i}]{path}",
                                                          message))  # fmt: skip
        elif event_id in first:
            batch.reject(i, ".id", "duplicate_id", f"id also used by items[{first[event_id]}]")
        else:
            first[event_id] = i
            live.append(item)

    # Two whole rows of one key: both rejected, as two lines of one key in a file are.
    whole: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, table_name, etype, data in live:
        if etype is None or not etype.is_change:
            whole[(table_name, _key_text(TABLES[table_name], data))].append(i)
    refused: dict[tuple[str, str], list[int]] = {k: v for k, v in whole.items() if len(v) > 1}
    for (table_name, key), items in refused.items():
        pk = TABLES[table_name].primary_key
        for i in items:
            others = ", ".join(f"items[{j}]" for j in items if j != i)
            batch.reject(i, f".data.{pk[0]}", "duplicate_key",
                         f"{', '.join(pk)} {key!r} is also sent whole by {others} in this "
                         "batch: both are rejected, as in a file load (send one row, or "
                         "lifecycle events that change it)")  # fmt: skip
    live = [x for x in live if batch.results[x[0]].status == "pending"]

    # Changes apply to stored rows unless the batch itself created the row first.
    wanted: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for _, table_name, etype, data in live:
        if etype is not None and etype.is_change:
            pk = TABLES[table_name].primary_key
            wanted[table_name].add(tuple(str(data[k]) for k in pk))
    batch.fetch_stored(wanted)

    for i, table_name, etype, data in live:  # in batch order: a change follows its creation
        table = TABLES[table_name]
        pending = batch.rows[table_name]
        if etype is None or not etype.is_change:
            key = _key_text(table, data)
            # a second whole row of the same key in the batch is applied over the first
            if key in pending:
                pending[key].steps.append((i, data))
            else:
                pending[key] = _Pending(base=None, steps=[(i, data)])
            batch.results[i].key = key
            continue
        key = "/".join(str(data[k]) for k in table.primary_key)
        if (table_name, key) in refused:
            sent = ", ".join(f"items[{j}]" for j in refused[(table_name, key)])
            batch.reject(
                i,
                ".data",
                "rejected_reference",
                f"the row {key!r} it changes was rejected in this batch ({sent})",
            )
            continue
        if key not in pending:
            stored = batch.stored.get(table_name, {}).get(key)
            if stored is None:
                kind = table.name.rstrip("s")
                why = f"no {kind} {key!r} to change: send the event that creates it first"
                batch.reject(i, ".data", "unknown_reference", why)
                continue
            pending[key] = _Pending(base=stored, steps=[])
        pending[key].steps.append((i, {**data, **dict(etype.sets)}))
        batch.results[i].key = key

    load_id: str | None = None
    rows = {t: list(p.values()) for t, p in batch.rows.items() if p}
    # A row built from several events and rejected is tried once more without the events
    # whose fields the problems name, so that a bad change does not take a good creation
    # (or an earlier good change) down with it.
    for _ in range(2):
        if not rows:
            break
        load_id = _write(batch, rows, now=now, timezone=timezone, source=source)
        retry: dict[str, list[_Pending]] = {}
        for table_name, pendings in rows.items():
            for p in pendings:
                if p.rejected_with is None or len(p.steps) < 2:
                    continue
                columns = {str(x.get("column")) for x in p.rejected_with}
                kept = [(i, d) for i, d in p.steps if not (set(d) & columns)]
                if kept and len(kept) < len(p.steps) and (p.base is not None or
                                                          kept[0] == p.steps[0]):  # fmt: skip
                    # the blamed events keep the problems the first pass gave them
                    for i, _ in kept:
                        batch.results[i].status = "pending"
                        batch.results[i].problems = []
                    retry.setdefault(table_name, []).append(_Pending(p.base, kept))
        rows = retry
    return EventsResult(items=batch.results, load_id=load_id)


def _reject_with(batch: _Batch, i: int, problems: list[dict[str, Any]]) -> None:
    for problem in problems:
        column = problem.get("column")
        batch.reject(i, f".data.{column}" if column else ".data", problem["code"],
                     problem["message"])  # fmt: skip


def _write(
    batch: _Batch,
    rows: dict[str, list[_Pending]],
    *,
    now: datetime,
    timezone: str,
    source: str,
) -> str:
    """Validate and write ``rows`` with their receipts in one transaction; marks each item
    accepted or rejected and each pending row with its problems. Returns the load id."""
    relations: dict[str, pa.Table] = {}
    for table_name, pendings in rows.items():
        table = TABLES[table_name]
        built = [p.row() for p in pendings]
        columns = [c for c in table.column_names if any(c in r for r in built)]
        columns_data = {c: pa.array([r.get(c) for r in built], type=pa.string()) for c in columns}
        # names the row in the quarantine: the same events sent again are the same entry
        columns_data["__row_id"] = pa.array(
            [
                hashlib.sha256(
                    json.dumps([[batch.results[i].id for i in p.items], r], sort_keys=True).encode()
                ).hexdigest()
                for p, r in zip(pendings, built, strict=True)
            ],
            type=pa.string(),
        )
        relations[table_name] = pa.table(columns_data)
    load_id = uuid.uuid4().hex
    stamp = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now

    def receipts(con: Any, plan: WritePlan, problems: dict[str, dict[int, Any]]) -> None:
        out: dict[str, list[Any]] = {c: [] for c in EVENT_LOG.column_names}
        for table_name, pendings in rows.items():
            bad = problems.get(table_name, {})
            for line, p in enumerate(pendings, start=1):
                if line in bad:
                    continue
                for i in p.items:
                    out["event_id"].append(batch.results[i].id)
                    out["type"].append(batch.events[i]["type"])
                    out["table_name"].append(table_name)
                    out["record_key"].append(batch.results[i].key)
                    out["load_id"].append(load_id)
                    out["received_at"].append(stamp)
                    out["content"].append(batch.contents[i])
        # an Arrow view, not a copy (replaced by the next batch's)
        con.register("__tiyan_receipts", pa.table(out, schema=_RECEIPTS))
        plan.insert(EVENT_LOG, "__tiyan_receipts")

    _, problems = ingest_relations(
        batch.store, relations, now=now, source=source, timezone=timezone, finish=receipts,
        load_id=load_id,
    )  # fmt: skip
    for table_name, pendings in rows.items():
        bad = problems.get(table_name, {})
        for line, p in enumerate(pendings, start=1):
            p.rejected_with = bad.get(line)
            for i in p.items:
                if p.rejected_with is not None:
                    _reject_with(batch, i, p.rejected_with)
                elif batch.results[i].status == "pending":
                    batch.results[i].status = "accepted"
    return load_id


def _content(kind: str, table_name: str, data: dict[str, str | None]) -> str:
    """An event's content as its receipt keeps it: what a resent event is compared with."""
    return json.dumps({"type": kind, "table": table_name, "data": data}, sort_keys=True,
                      ensure_ascii=False)  # fmt: skip


def _differences(before: str | None, now: str) -> list[tuple[str, str]]:
    """(path, message) for every part of ``now`` that differs from the content accepted
    ``before`` (none when ``before`` was not kept: receipts older than this check)."""
    if before is None or before == now:
        return []
    old, new = json.loads(before), json.loads(now)
    out: list[tuple[str, str]] = []
    said = "this id was accepted before with"
    for part in ("type", "table"):
        if old[part] != new[part]:
            out.append((f".{part}", f"{said} {part} {old[part]!r}, now {new[part]!r}"))
    for name in sorted(set(old["data"]) | set(new["data"])):
        was, now_ = old["data"].get(name, _ABSENT), new["data"].get(name, _ABSENT)
        if was != now_:
            shown = [("no " + name) if v is _ABSENT else f"{name} {v!r}" for v in (was, now_)]
            out.append(
                (
                    f".data.{name}",
                    f"{said} {shown[0]}, now {shown[1]} (the first "
                    "content stays; send a new id for a new event)",
                )
            )
    return out or [("", f"{said} other content")]


_ABSENT = object()
