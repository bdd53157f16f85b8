"""The service desk over HTTP: a consumer's request through the platform's front end, the
agents' queue with its countdown, the merchant's answer, the thread; and bad requests."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from fastapi.testclient import TestClient

from tests.api.conftest import Market, bearer
from tiyan.store import open_store

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
    assert r.status_code == 400 and "record it as a resolution" in r.text
    # the consumer's photo, the callbacks, the resolution with the merchant liable
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    r = client.post(f"{URL}/SR-API-1/attachments", files={"file": ("rash.png", png, "image/png")},
                    headers=bearer(api.service))  # fmt: skip
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    assert sha == hashlib.sha256(png).hexdigest() and r.json()["size"] == len(png)
    got = client.get(f"{URL}/SR-API-1/attachments/{sha}", headers=bearer(api.merchant))
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    contacts = [{"token": "ct-mother", "masked": "139****0021"},
                {"token": "ct-own", "masked": "186****4410"}]  # fmt: skip
    r = client.post(f"{URL}/SR-API-1/callbacks", headers=bearer(api.service),
                    json={"task_id": "CB-API-1", "contacts": contacts})  # fmt: skip
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    assert r.json()["next_token"] == "ct-mother"
    for outcome, token in (("no_answer", "ct-mother"), ("wrong_person", "ct-mother"),
                           ("reached", "ct-own")):  # fmt: skip
        r = client.post(f"{URL}/SR-API-1/callbacks/CB-API-1/attempts", headers=bearer(api.agent),
                        json={"token": token, "outcome": outcome})  # fmt: skip
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "reached"
    assert [a["masked"] for a in r.json()["attempts"]] == ["139****0021"] * 2 + ["186****4410"]
    r = client.get(f"{URL}/SR-API-1/callbacks", headers=bearer(api.merchant))
    assert r.status_code == 403  # the consumer's contacts are not the merchant's to see
    r = client.post(f"{URL}/SR-API-1/resolution", headers=bearer(api.agent), json={
        "outcome": "compensation", "liability": "merchant", "amount": "30.00",
        "paid_by": "merchant", "note": "过敏赔付"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "resolved" and r.json()["liability"] == "merchant"
    again = client.post(f"{URL}/SR-API-1/resolution", headers=bearer(api.agent),
                        json={"outcome": "no_fault", "liability": "none"})  # fmt: skip
    assert again.status_code == 409
    r = client.post(f"{URL}/SR-API-1/survey", json={"score": 4, "comment": "耐心"},
                    headers=bearer(api.service))  # fmt: skip
    assert r.status_code == 201 and r.json()["satisfaction"] == 4
    r = client.post(f"{URL}/SR-API-1/survey", json={"score": 4, "comment": "耐心"},
                    headers=bearer(api.service))  # fmt: skip
    assert r.status_code == 200  # the same answer again changes nothing
    r = client.post(f"{URL}/SR-API-1/survey", json={"score": 1}, headers=bearer(api.service))
    assert r.status_code == 409
    thread = client.get(f"{URL}/SR-API-1", headers=bearer(api.merchant)).json()
    assert [(s["actor"], s["action"]) for s in thread["trail"]] == [
        ("consumer", "create"), ("system", "route_merchant"), ("consumer", "message"),
        ("merchant", "answer"), ("platform", "resolve"),
    ]  # fmt: skip
    assert thread["trail"][2]["note"] == "退款什么时候到?"
    assert thread["resolutions"][0]["amount"] == "30.00"
    assert [a["name"] for a in thread["attachments"]] == ["rash.png"]
    assert client.get(URL, headers=bearer(api.agent)).json() == []  # resolved: off the queue
    with open_store(api.url) as store:  # the ledger and the platform contacts have it
        assert store.query(
            "SELECT merchant_id, kind, amount FROM actions WHERE action_id = ?",
            ("compensation:desk:SR-API-1",),
        ) == [(api.merchant_a, "compensation", Decimal("30.00"))]
        assert store.query(
            "SELECT merchant_id FROM platform_contacts WHERE contact_id = 'desk:SR-API-1'"
        ) == [(api.merchant_a,)]


def test_an_offline_merchants_request_goes_to_the_platform(api: Market, client: TestClient) -> None:
    """The offline queue: the request waits on the platform, and an agent online with the
    skill holds it at once; `?mine=true` is that agent's own list."""
    from datetime import UTC, datetime

    from tiyan.jobs.desk import set_agent
    from tiyan.service_desk.policy import DeskPolicy

    agent_id = "_".join(api.agent.split("_")[1:3])  # tiyan_tk_<id>_<secret> -> tk_<id>
    with open_store(api.url) as store:
        set_agent(store, agent_id=agent_id, categories=["after_sales"], languages=["zh"],
                  max_requests=4, online=True, now=datetime.now(UTC),
                  desk=DeskPolicy())  # fmt: skip
    opened = _open(client, api, "SR-API-2", merchant_online=False)
    assert opened["state"] == "waiting_platform" and opened["due"] is None
    assert opened["assigned_to"] == agent_id
    mine = client.get(f"{URL}?mine=true", headers=bearer(api.agent)).json()
    assert [q["request_id"] for q in mine] == ["SR-API-2"]
    _open(client, api, "SR-API-5")  # to the merchant: no agent holds it
    everyone = client.get(URL, headers=bearer(api.agent)).json()
    assert {q["request_id"]: q["assigned_to"] for q in everyone} == {
        "SR-API-2": agent_id, "SR-API-5": None}  # fmt: skip


def test_bad_requests_are_refused_with_the_reason(api: Market, client: TestClient) -> None:
    _open(client, api, "SR-API-3")
    again = client.post(URL, json={"request_id": "SR-API-3", "type_id": "refund",
                                   "merchant_id": api.merchant_a, "merchant_online": True},
                        headers=bearer(api.service))  # fmt: skip
    assert again.status_code == 409 and "exists already" in again.text
    r = client.post(f"{URL}/SR-API-3/steps", json={"action": "ask_consumer"},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 409 and "ask_consumer is not possible" in r.text
    r = client.post(f"{URL}/SR-API-3/attachments", headers=bearer(api.service),
                    files={"file": ("fake.png", b"GIF89a....", "image/png")})  # fmt: skip
    assert r.status_code == 400 and "not image/png" in r.text
    r = client.post(f"{URL}/SR-API-3/attachments", headers=bearer(api.service),
                    files={"file": ("x.exe", b"MZ....", "application/x-msdownload")})  # fmt: skip
    assert r.status_code == 400 and "not taken" in r.text
    r = client.post(f"{URL}/SR-API-3/resolution", headers=bearer(api.agent),
                    json={"outcome": "no_fault", "liability": "merchant"})  # fmt: skip
    assert r.status_code == 400 and "no fault" in r.text, r.text
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
