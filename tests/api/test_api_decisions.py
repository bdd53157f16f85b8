"""Decisions through HTTP: the answer, the log, and the audit read of the log.

Every branch of every decision is covered by the data-file cases of
tests/integration/test_decisions_cases.py (the same functions, without HTTP)."""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import Market, bearer, make_client
from tiyan.domain.errors import StoreError
from tiyan.store import open_store


def _an_order(api: Market) -> str:
    with open_store(api.url) as store:
        return str(
            store.query(
                "SELECT order_id FROM orders WHERE merchant_id = ? ORDER BY 1 LIMIT 1",
                (api.merchant_a,),
            )[0][0]
        )


def test_each_decision_is_answered_logged_and_readable(api: Market, client: TestClient) -> None:
    order = _an_order(api)
    bodies = {
        "/v1/decisions/express-refund": {"order_id": order, "amount": "1.00",
                                         "type": "return_refund", "reason": "no_reason_7d"},
        "/v1/decisions/presale": {"merchant_id": api.merchant_a, "presale_days": 20},
        "/v1/decisions/ship-promise": {"merchant_id": api.merchant_a, "promise_hours": 48},
    }  # fmt: skip
    for path, body in bodies.items():
        r = client.post(path, json=body, headers=bearer(api.service))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["reasons"] and answer["policy_version"]
        logged = client.get(f"/v1/decisions/{answer['decision_id']}", headers=bearer(api.operator))
        assert logged.status_code == 200
        assert {k: logged.json()[k] for k in ("outcome", "reasons", "kind", "subject")} == {
            k: answer[k] for k in ("outcome", "reasons", "kind", "subject")
        }
    presale = client.post("/v1/decisions/presale", json=bodies["/v1/decisions/presale"],
                          headers=bearer(api.merchant)).json()  # fmt: skip
    assert presale["outcome"] == "not_eligible"
    assert "presale_days_over_cap" in [x["code"] for x in presale["reasons"]]  # 20 > 15


def test_the_log_is_written_by_the_time_the_app_stops(api: Market) -> None:
    with make_client(api, decision_log_flush_ms=10_000) as c:  # no flush while it runs
        ids = [
            c.post("/v1/decisions/ship-promise", headers=bearer(api.service),
                   json={"merchant_id": api.merchant_a, "promise_hours": h}).json()["decision_id"]
            for h in (24, 48, 72)
        ]  # fmt: skip
    with open_store(api.url) as store:
        rows = store.query(
            "SELECT decision_id, kind, outcome, inputs FROM decisions ORDER BY decided_at"
        )
    assert {r[0] for r in rows} >= set(ids)
    assert all(json.loads(r[3])["request"]["merchant_id"] == api.merchant_a for r in rows
               if r[0] in ids)  # fmt: skip


def test_bad_decision_requests_are_4xx_with_paths(api: Market, client: TestClient) -> None:
    h = bearer(api.service)
    r = client.post("/v1/decisions/express-refund", headers=h,
                    json={"order_id": "O-NONE", "amount": "5", "type": "refund_only",
                          "reason": "no_reason_7d"})  # fmt: skip
    assert r.status_code == 404
    r = client.post(
        "/v1/decisions/express-refund",
        headers=h,
        json={"order_id": "x", "amount": "-5", "type": "teleport", "reason": "?"},
    )
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"body.amount", "body.type", "body.reason"} <= fields
    r = client.post(
        "/v1/decisions/ship-promise",
        headers=h,
        json={"merchant_id": api.merchant_a, "promise_hours": 0, "extra": 1},
    )
    assert r.status_code == 422


def test_a_failed_log_write_keeps_the_rows_for_the_next_flush(api: Market) -> None:
    with make_client(api, decision_log_flush_ms=10_000) as c:
        state = c.app.state.tiyan  # type: ignore[attr-defined]
        body = {"merchant_id": api.merchant_a, "promise_hours": 48}
        answer = c.post("/v1/decisions/ship-promise", headers=bearer(api.service), json=body)
        answer = answer.json()
        with state.store() as store:
            real = store.replace_rows

            def failing(*args: object, **kwargs: object) -> None:
                raise StoreError("disk full")

            store.replace_rows = failing  # type: ignore[method-assign]
        state.decision_log.flush()  # fails: logged, rows kept
        with state.store() as store:
            store.replace_rows = real  # type: ignore[method-assign]
            assert not store.query("SELECT 1 FROM decisions WHERE decision_id = ?",
                                   (answer["decision_id"],))  # fmt: skip
        state.decision_log.flush()
        with state.store() as store:
            assert store.query("SELECT outcome FROM decisions WHERE decision_id = ?",
                               (answer["decision_id"],)) == [(answer["outcome"],)]  # fmt: skip


def test_a_flush_waits_for_the_one_already_writing(api: Market) -> None:
    # The background flusher takes the queued rows and is still writing them when a reader
    # flushes to see its own decision: that flush must wait for the write, not return at
    # once because the queue is empty (it did, and GET /v1/decisions/{id} was sometimes 404).
    with make_client(api, decision_log_flush_ms=10_000) as c:
        state = c.app.state.tiyan  # type: ignore[attr-defined]
        body = {"merchant_id": api.merchant_a, "promise_hours": 48}
        answer = c.post("/v1/decisions/ship-promise", headers=bearer(api.service), json=body)
        decision_id = answer.json()["decision_id"]
        writing, release = threading.Event(), threading.Event()
        with state.store() as store:
            real = store.replace_rows

            def slow(*args: Any, **kwargs: Any) -> None:
                writing.set()
                assert release.wait(10)
                real(*args, **kwargs)

            store.replace_rows = slow  # type: ignore[method-assign]
        first = threading.Thread(target=state.decision_log.flush)
        first.start()
        assert writing.wait(10)  # the first flush has the rows and is in the write
        second = threading.Thread(target=state.decision_log.flush)
        second.start()
        second.join(0.3)
        assert second.is_alive(), "the second flush returned before the rows were written"
        release.set()
        first.join(10)
        second.join(10)
        with state.store() as store:
            store.replace_rows = real  # type: ignore[method-assign]
        r = c.get(f"/v1/decisions/{decision_id}", headers=bearer(api.operator))
        assert r.status_code == 200
