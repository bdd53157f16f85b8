"""Operations: health, Prometheus metrics, rate limits, revoked keys, structured logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, Market, bearer, make_client
from tiyan.service.keys import create_key, revoke_key
from tiyan.service.telemetry import JsonFormatter
from tiyan.store import open_store


def test_health_and_metrics(api: Market, client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["schema_version"] >= 1
    assert "@" not in health["store"]  # never the URL's credentials
    client.get(f"/v1/merchants/{api.merchant_a}", headers=bearer(api.operator))
    client.post("/v1/decisions/ship-promise", headers=bearer(api.service),
                json={"merchant_id": api.merchant_a, "promise_hours": 48})  # fmt: skip
    text = client.get("/metrics").text
    assert (
        'tiyan_http_requests_total{method="GET",route="/v1/merchants/{merchant_id}",'
        'status="200"} 1.0'
    ) in text
    assert 'tiyan_decisions_total{kind="ship_promise"' in text
    assert "tiyan_http_request_duration_seconds_bucket" in text


def test_rate_limit_per_key(api: Market) -> None:
    with make_client(api, rate_limit=0.001, rate_burst=3) as c:
        codes = [c.get("/v1/merchants", headers=bearer(api.operator)).status_code
                 for _ in range(5)]  # fmt: skip
        assert codes == [200, 200, 200, 429, 429]
        limited = c.get("/v1/merchants", headers=bearer(api.operator))
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        # another key has its own bucket
        assert c.get(f"/v1/merchants/{api.merchant_a}",
                     headers=bearer(api.merchant)).status_code == 200  # fmt: skip


def test_a_revoked_key_is_refused(api: Market) -> None:
    with open_store(api.url) as store:
        key = create_key(store, role="operator", now=NOW)
    with make_client(api, auth_cache_seconds=0) as c:
        assert c.get("/v1/merchants", headers=bearer(key.secret)).status_code == 200
        with open_store(api.url) as store:
            revoke_key(store, key.key_id, now=NOW)
        r = c.get("/v1/merchants", headers=bearer(key.secret))
        assert r.status_code == 401
        # a key with the right id and a wrong secret is refused the same way
        forged = key.secret[:-4] + "abcd"
        assert c.get("/v1/merchants", headers=bearer(forged)).json() == r.json()


def test_one_json_log_line_per_request(api: Market, caplog: pytest.LogCaptureFixture) -> None:
    with make_client(api, log_requests=True) as c, caplog.at_level(logging.INFO):
        c.get("/v1/merchants", headers=bearer(api.operator))
    records = [r for r in caplog.records if r.name == "tiyan.service.requests"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["route"] == "/v1/merchants" and line["status"] == 200
    assert line["key_id"].startswith("tk_") and line["ms"] > 0
    assert "tiyan_" not in json.dumps(line).replace("tiyan.service", "")  # no secret logged


def test_unknown_routes_and_methods_have_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete("/v1/events")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_every_operation_is_documented_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def has_example(schema: dict[str, object]) -> bool:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return has_example(schemas[ref.rsplit("/", 1)[1]])
        items = schema.get("items")
        if isinstance(items, dict):
            return has_example(items)
        return "examples" in schema or "example" in schema

    missing = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary") and not op.get("description"):
                missing.append(f"{where}: no description")
            for p in op.get("parameters", []):
                if not ("examples" in p or "example" in p or has_example(p["schema"])):
                    missing.append(f"{where}: parameter {p['name']}")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and not has_example(body["schema"]):
                missing.append(f"{where}: request body")
            ok = op["responses"].get("200") or op["responses"].get("201")
            answer = ok.get("content", {}).get("application/json") if ok else None
            if answer and answer["schema"] and not has_example(answer["schema"]):
                missing.append(f"{where}: answer")
    assert not missing, missing
