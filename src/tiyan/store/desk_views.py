"""What the desk's pages show beside a request: the facts of the order it is about.

An agent deciding a request needs the order at a glance — what was paid and when, when it
shipped, was picked up and signed for — without opening the order system. One read by
order id (the lookups' indexes cover it); None for an order the store does not hold (a
request may name an order that was never loaded: it is shown as unknown, not as absent).

Example::

    with open_store("tiyan.duckdb") as store:
        order_facts(store, "O1")   # {"order_id": "O1", "amount": Decimal("59.00"), ...}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tiyan.store.base import Store

_ORDER = ("order_id", "merchant_id", "amount", "status", "paid_at", "signed_at", "completed_at")


def _aware(value: Any) -> Any:
    return (
        value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
    )


def order_facts(store: Store, order_id: str) -> dict[str, Any] | None:
    """The order's amount, status and times, with its first shipment's upload, pickup and
    signing (instants UTC); None when the store holds no such order."""
    rows = store.query(f"SELECT {', '.join(_ORDER)} FROM orders WHERE order_id = ?", (order_id,))
    if not rows:
        return None
    facts = {c: _aware(v) for c, v in zip(_ORDER, rows[0], strict=True)}
    # The first parcel counts (an order may ship in several: the first pickup counts).
    shipped = store.query(
        "SELECT carrier, tracking_no, shipped_at, pickup_at, signed_at FROM shipments "
        "WHERE order_id = ? ORDER BY pickup_at NULLS LAST, shipped_at NULLS LAST, shipment_id "
        "LIMIT 1",
        (order_id,),
    )
    first = shipped[0] if shipped else (None,) * 5
    facts.update(
        carrier=first[0], tracking_no=first[1], shipped_at=_aware(first[2]),
        pickup_at=_aware(first[3]), delivered_at=_aware(first[4] or facts["signed_at"]),
    )  # fmt: skip
    return facts
