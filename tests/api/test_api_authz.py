"""Who may do what, over every route of the OpenAPI schema.

``ACCESS`` names, for every operation, the roles allowed; a route missing from it fails the
first test, so a new route cannot slip through unreviewed. Then every operation is tried:
without a key (401), with each role not allowed (403), and with merchant A's key against
merchant B's data — which must get exactly the answer a merchant, appeal or decision that
does not exist gets, and change nothing of B's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, Market, bearer
from tiyan.service.keys import create_key
from tiyan.store import open_store

PUBLIC = "public"
OWN = "merchant_own"
ACCESS: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): {PUBLIC},
    ("GET", "/metrics"): {PUBLIC},
    ("POST", "/v1/events"): {"operator", "service"},
    ("POST", "/v1/decisions/express-refund"): {"operator", "service"},
    ("POST", "/v1/decisions/presale"): {"operator", "service", OWN},
    ("POST", "/v1/decisions/ship-promise"): {"operator", "service", OWN},
    ("GET", "/v1/decisions/{decision_id}"): {"operator"},
    ("GET", "/v1/merchants"): {"operator"},
    ("GET", "/v1/merchants/{merchant_id}"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/scorecard"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/metrics"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/violations"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/actions"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/privileges"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/appeals"): {"operator", OWN},
    ("GET", "/v1/merchants/{merchant_id}/standing"): {"operator", OWN},
    ("POST", "/v1/appeals"): {OWN},
    ("GET", "/v1/appeals"): {"operator", OWN},
    ("GET", "/v1/appeals/{appeal_id}"): {"operator", OWN},
    ("POST", "/v1/appeals/{appeal_id}/decision"): {"operator"},
    ("POST", "/v1/service-requests"): {"operator", "service", "agent"},
    ("GET", "/v1/service-requests"): {"operator", "agent", OWN},
    ("GET", "/v1/service-requests/{request_id}"): {"operator", "agent", "service", OWN},
    ("POST", "/v1/service-requests/{request_id}/steps"): {"operator", "agent", "service", OWN},
    ("POST", "/v1/service-requests/{request_id}/resolution"): {"operator", "agent"},
    ("POST", "/v1/service-requests/{request_id}/callbacks"): {"operator", "agent", "service"},
    ("GET", "/v1/service-requests/{request_id}/callbacks"): {"operator", "agent"},
    ("POST", "/v1/service-requests/{request_id}/callbacks/{task_id}/attempts"): {
        "operator",
        "agent",
    },
    ("POST", "/v1/service-requests/{request_id}/attachments"): {
        "operator",
        "agent",
        "service",
        OWN,
    },
    ("GET", "/v1/service-requests/{request_id}/attachments/{sha256}"): {
        "operator",
        "agent",
        "service",
        OWN,
    },
    ("POST", "/v1/service-requests/{request_id}/survey"): {"operator", "service"},
    ("GET", "/v1/keys"): {"operator"},
    ("POST", "/v1/keys/{key_id}/revoke"): {"operator"},
}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted((m.upper(), p) for p, item in paths.items() for m in item)


def test_every_route_has_an_access_rule(client: TestClient) -> None:
    assert set(_operations(client)) == set(ACCESS)


class Ids:
    """Ids of merchant B's things (``own``) and of things that do not exist (``none``)."""

    def __init__(self, api: Market, client: TestClient) -> None:
        with open_store(api.url) as store:
            self.violation_b = store.query(
                "SELECT violation_id FROM violations WHERE merchant_id = ? ORDER BY 1 LIMIT 1",
                (api.merchant_b,),
            )[0][0]
            self.order_b = store.query(
                "SELECT order_id FROM orders WHERE merchant_id = ? ORDER BY 1 LIMIT 1",
                (api.merchant_b,),
            )[0][0]
            key_b = create_key(store, role="merchant", merchant_id=api.merchant_b, now=NOW)
        r = client.post(
            "/v1/appeals",
            json={"violation_id": self.violation_b, "statement": "B's own appeal"},
            headers=bearer(key_b.secret),
        )
        assert r.status_code == 201, r.text
        self.appeal_b = r.json()["appeal_id"]
        r = client.post(
            "/v1/decisions/presale",
            json={"merchant_id": api.merchant_b, "presale_days": 5},
            headers=bearer(api.service),
        )
        assert r.status_code == 200, r.text
        self.decision_b = r.json()["decision_id"]
        self.merchant_b = api.merchant_b
        r = client.post(
            "/v1/service-requests",
            json={"request_id": "SR-AUTHZ-B", "type_id": "refund", "merchant_id": api.merchant_b,
                  "order_id": self.order_b, "merchant_online": True},
            headers=bearer(api.service),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        self.request_b = r.json()["request_id"]

    def params(self, missing: bool) -> dict[str, str]:
        if missing:
            return {"merchant_id": "M-NOBODY", "appeal_id": "appeal:nothing:1",
                    "decision_id": "0" * 32, "key_id": "tk_000000000000",
                    "request_id": "SR-NOBODY", "task_id": "CB-NOBODY",
                    "sha256": "0" * 64}  # fmt: skip
        return {"merchant_id": self.merchant_b, "appeal_id": self.appeal_b,
                "decision_id": self.decision_b, "key_id": "tk_000000000000",
                "request_id": self.request_b, "task_id": "CB-NOBODY",
                "sha256": "0" * 64}  # fmt: skip

    def body(self, op: tuple[str, str], missing: bool) -> dict[str, Any] | None:
        merchant = "M-NOBODY" if missing else self.merchant_b
        bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
            ("POST", "/v1/events"): lambda: {"items": [{"id": "authz-1", "type": "review",
                "data": {"review_id": "R-AUTHZ", "order_id": self.order_b,
                         "merchant_id": merchant, "rating": 1,
                         "created_at": "2024-06-01T10:00:00+08:00"}}]},
            ("POST", "/v1/decisions/express-refund"): lambda: {
                "order_id": "O-NOBODY" if missing else self.order_b, "amount": "10.00",
                "type": "refund_only", "reason": "no_reason_7d"},
            ("POST", "/v1/decisions/presale"): lambda: {"merchant_id": merchant,
                                                        "presale_days": 5},
            ("POST", "/v1/decisions/ship-promise"): lambda: {"merchant_id": merchant,
                                                             "promise_hours": 48},
            ("POST", "/v1/appeals"): lambda: {
                "violation_id": "nothing:M-NOBODY:x" if missing else self.violation_b,
                "statement": "not mine to appeal"},
            ("POST", "/v1/appeals/{appeal_id}/decision"): lambda: {"accept": True,
                                                                   "reason": "ok"},
            ("POST", "/v1/service-requests"): lambda: {
                "request_id": f"SR-AUTHZ-{uuid.uuid4().hex[:8]}", "type_id": "refund",
                "merchant_id": merchant, "merchant_online": True},
            ("POST", "/v1/service-requests/{request_id}/steps"): lambda: {
                "action": "message", "note": "authz"},
            ("POST", "/v1/service-requests/{request_id}/resolution"): lambda: {
                "outcome": "no_fault", "liability": "none"},
            ("POST", "/v1/service-requests/{request_id}/callbacks"): lambda: {
                "task_id": f"CB-{uuid.uuid4().hex[:8]}",
                "contacts": [{"token": "ct-authz", "masked": "138****0000"}]},
            ("POST", "/v1/service-requests/{request_id}/callbacks/{task_id}/attempts"): lambda: {
                "token": "ct-authz", "outcome": "no_answer"},
            ("POST", "/v1/service-requests/{request_id}/survey"): lambda: {"score": 4},
        }  # fmt: skip
        make = bodies.get(op)
        return make() if make else None


def _call(client: TestClient, op: tuple[str, str], ids: Ids, key: str | None,
          missing: bool = False) -> Any:  # fmt: skip
    method, path = op
    url = path.format(**ids.params(missing))
    headers = bearer(key) if key else {}
    if op == ("POST", "/v1/service-requests/{request_id}/attachments"):
        png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
        return client.post(url, files={"file": ("p.png", png, "image/png")}, headers=headers)
    body = ids.body(op, missing)
    return client.request(method, url, json=body, headers=headers)


def _keys(api: Market) -> dict[str, str]:
    return {"operator": api.operator, "service": api.service, "agent": api.agent,
            OWN: api.merchant}  # fmt: skip


def test_no_key_is_401_and_a_wrong_role_is_403(api: Market, client: TestClient) -> None:
    ids = Ids(api, client)
    for op, allowed in ACCESS.items():
        if PUBLIC in allowed:
            assert _call(client, op, ids, None).status_code == 200, op
            continue
        r = _call(client, op, ids, None)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", op
        r = _call(client, op, ids, "tiyan_tk_000000000000_forged")
        assert r.status_code == 401, op
        for role, key in _keys(api).items():
            if role in allowed or (role == OWN and OWN in allowed):
                continue
            r = _call(client, op, ids, key)
            assert r.status_code == 403, (op, role, r.text)
            assert r.json()["error"]["code"] == "forbidden"


def _masked(response: Any, ids: Ids, missing: bool) -> tuple[int, Any]:
    """Status and body with the ids of the request replaced by one placeholder."""
    text = response.text
    values = [*ids.params(missing).values(), "M-NOBODY", "nothing:M-NOBODY:x", "O-NOBODY",
              ids.violation_b, ids.order_b]  # fmt: skip
    for value in sorted(values, key=len, reverse=True):  # an appeal id holds a merchant id
        text = text.replace(value, "<ID>")
    return response.status_code, text


@pytest.mark.parametrize("op", sorted(k for k, v in ACCESS.items() if OWN in v))
def test_a_merchant_sees_nothing_of_another_merchant(
    op: tuple[str, str], api: Market, client: TestClient
) -> None:
    ids = Ids(api, client)
    with open_store(api.url) as store:
        before = store.query(
            "SELECT appeal_id, status FROM appeals WHERE merchant_id = ? ORDER BY 1",
            (api.merchant_b,),
        ) + store.query("SELECT request_id, seq FROM request_steps ORDER BY 1, 2")
    other = _call(client, op, ids, api.merchant)
    nobody = _call(client, op, ids, api.merchant, missing=True)
    if op == ("GET", "/v1/appeals"):  # a list: only the merchant's own appeals
        assert other.status_code == 200
        assert all(a["merchant_id"] == api.merchant_a for a in other.json())
        assert ids.appeal_b not in other.text
    elif op == ("GET", "/v1/service-requests"):  # the queue: only the merchant's own
        assert other.status_code == 200
        assert all(r["merchant_id"] == api.merchant_a for r in other.json())
        assert ids.request_b not in other.text
    else:
        assert not 200 <= other.status_code < 300, (op, other.text)
        assert _masked(other, ids, False) == _masked(nobody, ids, True), op
    with open_store(api.url) as store:
        after = store.query(
            "SELECT appeal_id, status FROM appeals WHERE merchant_id = ? ORDER BY 1",
            (api.merchant_b,),
        ) + store.query("SELECT request_id, seq FROM request_steps ORDER BY 1, 2")
    assert after == before
    # and its own data it does see
    own = {"merchant_id": api.merchant_a}
    if "{merchant_id}" in op[1]:
        r = client.get(op[1].format(**own), headers=bearer(api.merchant))
        assert r.status_code in (200, 404), r.text  # 404 only for a merchant with no score
        assert r.status_code == 200 or "no score" in r.text
