"""Hostile and odd input to the API: what cannot be stored is that item's answer (never the
batch's 500), dates outside the supported range are 422 naming the field, an event id sent
again with other content is a conflict, and two whole rows of one key in a batch are both
rejected (as in a file load). Every test runs on DuckDB and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Market, bearer
from tests.api.test_api_events import _order
from tiyan.store import open_store


def _post(client: TestClient, api: Market, items: list[Any]) -> Any:
    # the body as bytes: a lone surrogate cannot be encoded by the client's JSON encoder,
    # but a real client sends it escaped ("\ud800"), which is valid JSON
    import json

    body = json.dumps({"items": items}, ensure_ascii=True).encode()
    headers = {**bearer(api.service), "Content-Type": "application/json"}
    return client.post("/v1/events", content=body, headers=headers)


def _stored(api: Market, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with open_store(api.url) as store:
        return store.query(sql, params)


def test_text_that_cannot_be_stored_is_that_item_s_rejection(
    api: Market, client: TestClient
) -> None:
    """A lone surrogate (not text in any encoding) and NUL (refused by PostgreSQL, so by
    every engine) in a value, a field name or the id: that item is rejected naming where;
    the valid items are stored; the same connection answers the next request."""
    m = api.merchant_a
    items = [
        {"id": "s0", "type": "order.paid", "data": _order("OSUR0", m)},
        {"id": "s1", "type": "order.paid", "data": _order("OSUR1", m, channel="li\ud800ve")},
        {"id": "s2", "type": "order.paid", "data": _order("OSUR2", m, cancel_reason="a\u0000b")},
        {"id": "s\ud83d3", "type": "order.paid", "data": _order("OSUR3", m)},
        {"id": "s4", "type": "order.paid", "data": {**_order("OSUR4", m), "x\udc00": "1"}},
        {"id": "s5", "type": "order.paid", "data": _order("OSUR\u00005", m)},
        {"id": "s6", "type": "order.paid", "data": _order("OSUR6", m)},
    ]
    r = _post(client, api, items)
    assert r.status_code == 200, r.text
    body = r.json()
    status = [i["status"] for i in body["items"]]
    assert status == ["accepted", "rejected", "rejected", "rejected", "rejected", "rejected",
                      "accepted"]  # fmt: skip
    fields = {i["index"]: [p["field"] for p in i["problems"]] for i in body["items"]}
    assert fields[1] == ["items[1].data.channel"]
    assert fields[2] == ["items[2].data.cancel_reason"]
    assert fields[3] == ["items[3].id"]
    assert fields[4] == ["items[4].data"]
    assert fields[5] == ["items[5].data.order_id"]
    for i in (1, 2, 3, 4, 5):
        (problem,) = body["items"][i]["problems"]
        assert problem["code"] == "bad_text"
        assert "surrogate" in problem["message"] or "NUL" in problem["message"]
    assert "position 2" in body["items"][1]["problems"][0]["message"]
    got = _stored(api, "SELECT order_id FROM orders WHERE order_id LIKE ? ORDER BY 1", ("OSUR%",))
    assert got == [("OSUR0",), ("OSUR6",)]
    # the same keep-alive connection: the next request is answered, and a retry is the same
    again = _post(client, api, items).json()
    assert [i["status"] for i in again["items"]] == ["duplicate", "rejected", "rejected",
                                                     "rejected", "rejected", "rejected",
                                                     "duplicate"]  # fmt: skip
    assert client.get("/healthz").status_code == 200


def test_the_same_id_with_other_content_is_a_conflict_naming_what_differs(
    api: Market, client: TestClient
) -> None:
    m = api.merchant_a
    first = [{"id": "k1", "type": "order.paid", "data": _order("OCONF1", m)},
             {"id": "k2", "type": "order.paid", "data": _order("OCONF2", m)}]  # fmt: skip
    assert _post(client, api, first).json()["accepted"] == 2
    changed = [
        {"id": "k1", "type": "order.paid", "data": _order("OCONF1", m, amount="99.00")},
        {"id": "k2", "type": "order.paid", "data": _order("OCONF2", m)},
        {"id": "k3", "type": "order.paid", "data": _order("OCONF3", m)},
    ]
    body = _post(client, api, changed).json()
    assert [i["status"] for i in body["items"]] == ["conflict", "duplicate", "accepted"]
    assert body["conflict"] == 1
    (problem,) = body["items"][0]["problems"]
    assert problem["code"] == "conflict"
    assert problem["field"] == "items[0].data.amount"
    assert "59.90" in problem["message"] and "99.00" in problem["message"]
    # the first content stays: nothing of the second was written
    (amount,) = _stored(api, "SELECT amount FROM orders WHERE order_id = 'OCONF1'")[0]
    assert f"{float(amount):.2f}" == "59.90"
    # the same id under another type is a conflict too, naming the type
    other = [{"id": "k2", "type": "record", "table": "orders", "data": _order("OCONF2", m)}]
    (item,) = _post(client, api, other).json()["items"]
    assert item["status"] == "conflict" and item["problems"][0]["field"] == "items[0].type"


def test_two_whole_rows_of_one_key_in_a_batch_are_both_rejected_as_in_a_file(
    api: Market, client: TestClient
) -> None:
    """A file with one order twice rejects both lines (duplicate_key); a batch does the
    same. Changes to one row are applied in batch order (a paid order, then cancelled)."""
    m = api.merchant_a
    items = [
        {"id": "d1", "type": "order.paid", "data": _order("ODUP1", m)},
        {"id": "d2", "type": "order.paid", "data": _order("ODUP1", m, amount="10.00")},
        {"id": "d3", "type": "order.paid", "data": _order("ODUP2", m)},
        {"id": "d4", "type": "order.cancelled",
         "data": {"order_id": "ODUP2", "cancelled_at": "2024-06-18T21:00:00+08:00",
                  "cancelled_by": "consumer", "cancel_reason": "consumer_request"}},
        {"id": "d5", "type": "order.completed",
         "data": {"order_id": "ODUP2", "completed_at": "2024-06-18T22:00:00+08:00"}},
    ]  # fmt: skip
    body = _post(client, api, items).json()
    assert [i["status"] for i in body["items"]] == ["rejected", "rejected", "accepted",
                                                    "accepted", "accepted"]  # fmt: skip
    for i, other in ((0, 1), (1, 0)):
        (problem,) = body["items"][i]["problems"]
        assert problem["code"] == "duplicate_key"
        assert problem["field"] == f"items[{i}].data.order_id"
        assert f"items[{other}]" in problem["message"]
    assert not _stored(api, "SELECT 1 FROM orders WHERE order_id = 'ODUP1'")
    # applied in order: the last change sets the status
    assert _stored(api, "SELECT status, cancelled_at IS NOT NULL FROM orders "
                        "WHERE order_id = 'ODUP2'") == [("completed", True)]  # fmt: skip


def test_one_bad_item_of_each_kind_among_good_ones(api: Market, client: TestClient) -> None:
    m = api.merchant_a
    assert _post(client, api, [{"id": "b0", "type": "order.paid",
                                "data": _order("OMIX0", m)}]).json()["accepted"] == 1  # fmt: skip
    items = [
        {"id": "b1", "type": "order.paid", "data": _order("OMIX1", m)},
        {"id": "b2", "type": "order.paid", "data": _order("OMIX2", m, channel="\ud800")},
        {"id": "b3", "type": "order.paid", "data": _order("OMIX3", m, cancel_reason="\u0000")},
        {"id": "b0", "type": "order.paid", "data": _order("OMIX0", m, amount="1.00")},
        {"id": "b4", "type": "order.paid", "data": _order("OMIX4", m)},
        {"id": "b5", "type": "order.paid", "data": _order("OMIX4", m)},
        {"id": "b6", "type": "order.paid", "data": _order("OMIX6", m, paid_at="0001-01-01")},
        {"id": "b7", "type": "order.paid", "data": _order("OMIX7", m)},
    ]
    r = _post(client, api, items)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["status"] for i in body["items"]] == [
        "accepted",
        "rejected",
        "rejected",
        "conflict",
        "rejected",
        "rejected",
        "rejected",
        "accepted",
    ]
    codes = [[p["code"] for p in i["problems"]] for i in body["items"]]
    assert codes[1:7] == [["bad_text"], ["bad_text"], ["conflict"], ["duplicate_key"],
                          ["duplicate_key"], ["out_of_range"]]  # fmt: skip
    assert all(p["field"].startswith(f"items[{i['index']}]")
               for i in body["items"] for p in i["problems"])  # fmt: skip
    got = _stored(api, "SELECT order_id FROM orders WHERE order_id LIKE ? ORDER BY 1", ("OMIX%",))
    assert got == [("OMIX0",), ("OMIX1",), ("OMIX7",)]


DATES = [
    ("/v1/decisions/ship-promise", {"promise_hours": 48, "as_of": "0001-01-01"}, "as_of"),
    ("/v1/decisions/ship-promise", {"promise_hours": 48, "as_of": "9999-12-31"}, "as_of"),
    ("/v1/decisions/presale", {"presale_days": 10, "as_of": "0001-01-01"}, "as_of"),
    ("/v1/decisions/presale", {"presale_days": 10, "as_of": "9999-12-31"}, "as_of"),
    ("/v1/decisions/express-refund",
     {"order_id": "O1", "amount": "10.00", "type": "refund_only", "reason": "other",
      "requested_at": "9999-12-31T23:59:59Z"}, "requested_at"),
    ("/v1/decisions/express-refund",
     {"order_id": "O1", "amount": "10.00", "type": "refund_only", "reason": "other",
      "requested_at": "9999-12-31T23:59:59-05:00"}, "requested_at"),
    ("/v1/decisions/express-refund",
     {"order_id": "O1", "amount": "10.00", "type": "refund_only", "reason": "other",
      "requested_at": "0001-01-01T00:00:00+05:00"}, "requested_at"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "field"), DATES)
def test_dates_beyond_the_supported_range_are_422_naming_the_field(
    api: Market, client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    if "merchant_id" not in body and "order_id" not in body:
        body = {**body, "merchant_id": api.merchant_a}
    r = client.post(path, json=body, headers=bearer(api.operator))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert [d["field"] for d in error["details"]] == [f"body.{field}"]
    assert "2000-01-01" in error["details"][0]["message"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("page", ["scorecard", "metrics", "standing"])
def test_date_queries_beyond_the_supported_range_are_422(
    api: Market, client: TestClient, day: str, page: str
) -> None:
    r = client.get(f"/v1/merchants/{api.merchant_a}/{page}", params={"as_of": day},
                   headers=bearer(api.operator))  # fmt: skip
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == ["query.as_of"]
