"""Merchant data through the API equals what the store holds; appeals round trip."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.api.conftest import Market, bearer
from tiyan.store import open_store
from tiyan.store.listing import MERCHANT_SORTS


def test_scorecard_and_metrics_are_the_stored_ones(api: Market, client: TestClient) -> None:
    m = api.merchant_a
    card = client.get(f"/v1/merchants/{m}/scorecard", headers=bearer(api.merchant)).json()
    with open_store(api.url) as store:
        score, level, explanation = store.query(
            "SELECT score, level, explanation FROM scores WHERE merchant_id = ? "
            "ORDER BY as_of DESC LIMIT 1",
            (m,),
        )[0]
        stored = {
            metric: (num, den, value)
            for metric, num, den, value in store.query(
                "SELECT metric_id, numerator, denominator, value FROM metric_values "
                "WHERE scope = 'merchant' AND subject_id = ? AND as_of = ? AND window_days = ?",
                (m, card["as_of"], card["window_days"]),
            )
        }
        (violations,) = store.query("SELECT count(*) FROM violations WHERE merchant_id = ?", (m,))[
            0
        ]
    assert card["score"] == score and card["level"] == level
    assert card["explanation"] == json.loads(explanation)
    assert card["record"]["violations_90d"]
    metrics = client.get(f"/v1/merchants/{m}/metrics", headers=bearer(api.merchant)).json()
    got = {
        x["metric_id"]: (x["numerator"], x["denominator"], x["value"]) for x in metrics["metrics"]
    }
    assert got == stored and got
    listed = client.get(
        f"/v1/merchants/{m}/violations?limit=1000", headers=bearer(api.merchant)
    ).json()
    assert len(listed) == violations
    assert all(v["merchant_id"] == m and v["evidence"] for v in listed)
    page = client.get("/v1/merchants?sort=-violations&limit=1", headers=bearer(api.operator))
    assert page.json()["items"][0]["merchant_id"] == m  # the market's most-violating merchant


def test_merchant_list_filters_and_sorts(api: Market, client: TestClient) -> None:
    h = bearer(api.operator)
    everyone = client.get("/v1/merchants?limit=1000&sort=-score", headers=h).json()
    assert everyone["total"] == 30 == len(everyone["items"])
    scores = [i["score"] for i in everyone["items"] if i["score"] is not None]
    assert scores == sorted(scores, reverse=True) and scores
    category = everyone["items"][0]["category"]
    same = client.get(f"/v1/merchants?category={category}&limit=1000", headers=h).json()
    assert {i["category"] for i in same["items"]} == {category}
    assert same["total"] == sum(1 for i in everyone["items"] if i["category"] == category)
    found = client.get(f"/v1/merchants?q={api.merchant_b.lower()}", headers=h).json()
    assert [i["merchant_id"] for i in found["items"]] == [api.merchant_b]


def test_merchant_list_sorts_by_category_with_ties_by_id(api: Market, client: TestClient) -> None:
    h = bearer(api.operator)
    for sort, descending in (("category", False), ("-category", True)):
        items = client.get(f"/v1/merchants?limit=1000&sort={sort}", headers=h).json()["items"]
        got = [(i["category"], i["merchant_id"]) for i in items]
        named = sorted({c for c, _ in got if c is not None}, reverse=descending)
        rank = {c: n for n, c in enumerate(named)}
        # categories in order, merchants without one last, one category's merchants by id
        assert got == sorted(got, key=lambda r: (rank.get(r[0], len(rank)), r[1])), sort
        assert len(named) > 1
        page = client.get(f"/v1/merchants?limit=7&offset=7&sort={sort}", headers=h).json()
        assert [i["merchant_id"] for i in page["items"]] == [m for _, m in got[7:14]]


def test_the_api_s_sorts_are_the_core_s(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    (param,) = [p for p in schema["paths"]["/v1/merchants"]["get"]["parameters"]
                if p["name"] == "sort"]  # fmt: skip
    assert set(param["schema"]["enum"]) == set(MERCHANT_SORTS)


def test_appeal_round_trip(api: Market, client: TestClient) -> None:
    m = api.merchant_a
    with open_store(api.url) as store:
        violation, ledger = store.query(
            "SELECT v.violation_id, v.ledger FROM violations v JOIN actions a "
            "ON a.violation_id = v.violation_id AND a.kind = 'points' AND a.points > 0 "
            "WHERE v.merchant_id = ? ORDER BY 1 LIMIT 1",
            (m,),
        )[0]
    before = client.get(f"/v1/merchants/{m}/scorecard", headers=bearer(api.merchant)).json()
    r = client.post("/v1/appeals", json={"violation_id": violation, "statement": "carrier late"},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert appeal["status"] == "open" and appeal["merchant_id"] == m
    again = client.post("/v1/appeals", json={"violation_id": violation, "statement": "again"},
                        headers=bearer(api.merchant))  # fmt: skip
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    # the merchant cannot decide its own appeal
    decide = f"/v1/appeals/{appeal['appeal_id']}/decision"
    # a reason that Python's strip() sees as blank (a control separator) is a validation
    # error, like an empty one: 422, whether the appeal exists or not (found by schemathesis)
    for target in (decide, "/v1/appeals/no-such-appeal/decision"):
        r = client.post(target, json={"accept": False, "reason": "\u001c"},
                        headers=bearer(api.operator))  # fmt: skip
        assert r.status_code == 422, r.text
    r = client.post("/v1/appeals", json={"violation_id": violation, "statement": "\u001f "},
                    headers=bearer(api.merchant))  # fmt: skip
    assert r.status_code == 422, r.text
    r = client.post(decide, json={"accept": True, "reason": "self"}, headers=bearer(api.merchant))
    assert r.status_code == 403
    r = client.post(f"/v1/appeals/{appeal['appeal_id']}/decision",
                    json={"accept": True, "reason": "carrier delay confirmed"},
                    headers=bearer(api.operator))  # fmt: skip
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["appeal"]["status"] == "accepted"
    assert decided["appeal"]["decided_by"].startswith("tk_")
    points = [x for x in decided["reversals"] if x["points"] is not None]
    assert points and all(x["kind"] == "reversal" and x["points"] < 0 for x in points)
    after = client.get(f"/v1/merchants/{m}/scorecard", headers=bearer(api.merchant)).json()
    taken = -sum(x["points"] for x in points if x["ledger"] == ledger)
    was = before["record"]["points_this_year"].get(ledger, 0)
    assert round(after["record"]["points_this_year"].get(ledger, 0), 6) == round(was - taken, 6)
    r = client.post(decide, json={"accept": False, "reason": "twice"}, headers=bearer(api.operator))
    assert r.status_code == 409
    mine = client.get("/v1/appeals", headers=bearer(api.merchant)).json()
    assert [a["appeal_id"] for a in mine] == [appeal["appeal_id"]]


def test_standing_is_the_core_s_and_only_the_merchant_s_own(
    api: Market, client: TestClient
) -> None:
    from tiyan.policy.files import load_policy
    from tiyan.store.governance import latest_enforcement_day, load_standings

    m = api.merchant_a
    with open_store(api.url) as store:
        day = latest_enforcement_day(store)
        assert day is not None
        policy = load_policy(as_of=day)
        expected = load_standings(store, as_of=day, config=policy.standing,
                                  window=policy.scoring.window_days)  # fmt: skip
    got = client.get(f"/v1/merchants/{m}/standing", headers=bearer(api.merchant))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body == {**expected[m].as_dict(), "as_of": day.isoformat()}
    assert body["status"] in ("active", "rectifying", "suspended", "cleared")
    assert set(body["points"]) == {"A", "B"}
    # another merchant's standing is a 404 for a merchant key, like any other of its data
    other = client.get(f"/v1/merchants/{api.merchant_b}/standing", headers=bearer(api.merchant))
    assert other.status_code == 404
    # an operator sees every one, on any date
    early = client.get(f"/v1/merchants/{api.merchant_b}/standing?as_of=2020-01-01",
                       headers=bearer(api.operator))  # fmt: skip
    assert early.status_code == 200 and early.json()["status"] == "active"
    assert early.json()["privileges"] == [] and early.json()["points"] == {"A": 0.0, "B": 0.0}
