"""The service desk over HTTP: a consumer's request through the platform's front end, the
agents' queue with its countdown, the merchant's answer, the thread; and bad requests."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.api.conftest import Market, bearer

URL = "/v1/service-requests"


def _open(client: TestClient, api: Market, request_id: str, **extra: object) -> dict:
    body = {"request_id": request_id, "type_id": "refund", "merchant_id": api.merchant_a,
            "order_id": None, "merchant_online": True, **extra}  # fmt: skip
    r = client.post(URL, json=body, headers=bearer(api.service))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_request_from_opening_to_resolution(api: Market, client: TestClient) -> None:
    opened = _open(client, api, "SR-API-1", note="退款什么时候到?")
    assert opened["state"] == "waiting_merchant"
    assert opened["seconds_left"] is not None and opened["due"] is not None
    queue = client.get(URL, headers=bearer(api.agent)).json()
    assert [q["request_id"] for q in queue] == ["SR-API-1"]
    mine = client.get(URL, headers=bearer(api.merchant)).json()
    assert [q["request_id"] for q in mine] == ["SR-API-1"]
    r = client.post(f"{URL}/SR-API-1/steps", json={"action": "answer", "note": "已退款"},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "waiting_platform"
    r = client.post(f"{URL}/SR-API-1/steps", json={"action": "resolve"}, headers=bearer(api.agent))
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    thread = client.get(f"{URL}/SR-API-1", headers=bearer(api.merchant)).json()
    assert [(s["actor"], s["action"]) for s in thread["trail"]] == [
        ("consumer", "create"), ("system", "route_merchant"), ("consumer", "message"),
        ("merchant", "answer"), ("platform", "resolve"),
    ]  # fmt: skip
    assert thread["trail"][2]["note"] == "退款什么时候到?"
    assert client.get(URL, headers=bearer(api.agent)).json() == []  # resolved: off the queue


def test_an_offline_merchants_request_goes_to_the_platform(api: Market, client: TestClient) -> None:
    opened = _open(client, api, "SR-API-2", merchant_online=False)
    assert opened["state"] == "waiting_platform" and opened["due"] is None


def test_bad_requests_are_refused_with_the_reason(api: Market, client: TestClient) -> None:
    _open(client, api, "SR-API-3")
    again = client.post(URL, json={"request_id": "SR-API-3", "type_id": "refund",
                                   "merchant_id": api.merchant_a, "merchant_online": True},
                        headers=bearer(api.service))  # fmt: skip
    assert again.status_code == 409 and "exists already" in again.text
    r = client.post(f"{URL}/SR-API-3/steps", json={"action": "resolve"},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 409 and "resolve is not possible" in r.text
    r = client.post(f"{URL}/SR-API-3/steps", json={"action": "teleport"},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 422 and "unknown action" in r.text
    for note in ("\u0000", "\ud800"):  # sent as JSON escapes: the client cannot encode them
        headers = {**bearer(api.service), "Content-Type": "application/json"}
        body = json.dumps({"action": "message", "note": note})
        r = client.post(f"{URL}/SR-API-3/steps", content=body, headers=headers)
        assert r.status_code == 422 and "note" in r.text, r.text
    r = client.post(URL, json={"request_id": "SR-API-4", "type_id": "teleport",
                               "merchant_id": api.merchant_a, "merchant_online": True},
                    headers=bearer(api.service))  # fmt: skip
    assert r.status_code == 400 and "unknown request type" in r.text
    r = client.post(URL, json={"request_id": "bad id!", "type_id": "refund",
                               "merchant_id": api.merchant_a, "merchant_online": True},
                    headers=bearer(api.service))  # fmt: skip
    assert r.status_code == 422
    thread = client.get(f"{URL}/SR-API-3", headers=bearer(api.agent)).json()
    assert len(thread["trail"]) == 2  # nothing refused was written
