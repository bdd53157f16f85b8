"""The decision log (table ``decisions``) and what every decision's adapter shares."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from tiyan.decisions._types import Decision, DecisionKind, Verdict, dumps, naive_utc
from tiyan.domain.errors import NotFoundError
from tiyan.domain.model import SERVICE_TABLES
from tiyan.policy.schema import Policy
from tiyan.store.base import Store

DECISIONS = SERVICE_TABLES["decisions"]

#: Makes a decision id (uuid4 hex unless the caller supplies its own maker).
IdMaker = Callable[[], str]
#: Takes a decision-log row (the table's columns in order) for writing later, in a batch —
#: the service's group commit; without one, each decision is inserted (and committed) alone.
LogWriter = Callable[[list[Any]], None]


def new_decision_id() -> str:
    return uuid.uuid4().hex


def utc_offset(policy: Policy) -> timedelta:
    return timedelta(minutes=policy.population.catalog_config().utc_offset_minutes)


def local_day(now: datetime, policy: Policy) -> date:
    """The platform-local date of a naive UTC ``now``."""
    return (naive_utc(now) + utc_offset(policy)).date()


def day_start_utc(day: date, policy: Policy) -> datetime:
    """Naive UTC of local midnight starting ``day``."""
    return datetime(day.year, day.month, day.day) - utc_offset(policy)


def merchant_category(store: Store, merchant_id: str) -> str | None:
    """The merchant's category; :class:`NotFoundError` for an unknown merchant."""
    rows = store.query("SELECT category FROM merchants WHERE merchant_id = ?", (merchant_id,))
    if not rows:
        raise NotFoundError("merchant", merchant_id)
    return None if rows[0][0] is None else str(rows[0][0])


def record(
    store: Store,
    *,
    kind: DecisionKind,
    subject: str,
    merchant_id: str | None,
    verdict: Verdict,
    inputs: dict[str, Any],
    policy: Policy,
    now: datetime,
    requested_by: str | None,
    new_id: IdMaker,
    log: LogWriter | None = None,
) -> Decision:
    """Make the decision of ``verdict`` and append it to the log: one row, one insert."""
    decision = Decision(
        decision_id=new_id(),
        kind=kind,
        subject=subject,
        merchant_id=merchant_id,
        outcome=verdict.outcome,
        reasons=verdict.reasons,
        policy_version=policy.version,
        details=verdict.details,
        decided_at=naive_utc(now),
        requested_by=requested_by,
    )
    row = {
        "decision_id": decision.decision_id,
        "kind": kind,
        "subject": subject,
        "merchant_id": merchant_id,
        "outcome": decision.outcome,
        "reasons": dumps(list(decision.reasons)),
        "inputs": dumps(inputs),
        "policy_version": decision.policy_version,
        "requested_by": requested_by,
        "decided_at": decision.decided_at,
    }
    # the log is append-only: one plain insert
    values = [row[c] for c in DECISIONS.column_names]
    if log is not None:
        log(values)
    else:
        store.insert_row(DECISIONS, values)
    return decision


def read_decision(store: Store, decision_id: str) -> dict[str, Any]:
    """A logged decision as it was answered; NotFoundError when it is not in the log."""
    rows = store.query(
        "SELECT decision_id, kind, subject, merchant_id, outcome, reasons, policy_version, "
        "inputs FROM decisions WHERE decision_id = ?",
        (decision_id,),
    )
    if not rows:
        raise NotFoundError("decision", decision_id)
    did, kind, subject, merchant, outcome, reasons, version, inputs = rows[0]
    return {
        "decision_id": did, "kind": kind, "subject": subject, "merchant_id": merchant,
        "outcome": outcome, "reasons": json.loads(reasons), "policy_version": version,
        "details": json.loads(inputs).get("result", {}) if inputs else {},
    }  # fmt: skip
