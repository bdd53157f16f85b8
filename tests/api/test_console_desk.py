"""The console's service-desk pages through the app's client: the agents' login and their
pages only, the merchant's wall around its own requests (and never the consumer's contacts),
the forms (steps, callbacks, the resolution) with the jobs' refusals shown beside them, and
cross-site posts refused as for every console form.

``DESK`` names the roles of every desk route (``test_console.CONSOLE`` adds them to its
check that every console route has a rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, Market, bearer, make_client
from tiyan.service import Settings, create_app
from tiyan.store import open_store

OWN = "merchant_own"
DESK: dict[tuple[str, str], set[str]] = {
    ("GET", "/console/desk"): {"agent", "operator", "merchant"},
    ("GET", "/console/desk/{request_id}"): {"agent", "operator", OWN},
    ("POST", "/console/desk/{request_id}/steps"): {"agent", "operator", OWN},
    ("POST", "/console/desk/{request_id}/resolution"): {"agent", "operator"},
    ("POST", "/console/desk/{request_id}/callbacks"): {"agent", "operator"},
    ("POST", "/console/desk/{request_id}/callbacks/{task_id}/attempts"): {"agent", "operator"},
    ("GET", "/console/desk/{request_id}/attachments/{sha256}"): {"agent", "operator", OWN},
}
URL = "/v1/service-requests"
CONTACTS = {"token": ["ct-mother", "ct-own", ""], "masked": ["139****0021", "186****4410", ""]}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def console(api: Market) -> Iterator[TestClient]:
    """A browser-like client (no redirects followed) whose clock is NOW: 12:00 in Shanghai,
    inside the desk's hours."""
    with make_client(api, auth_cache_seconds=0) as c:
        c.follow_redirects = False
        yield c


def _login(client: TestClient, key: str) -> Any:
    client.cookies.clear()
    return client.post("/console/login", data={"key": key})


def _alerts(response: Any) -> list[str]:
    return re.findall(r'role="alert">([^<]*)<', response.text)


def _order(api: Market, merchant_id: str) -> tuple[str, str]:
    with open_store(api.url) as store:
        found = store.query(
            "SELECT order_id, consumer_id FROM orders WHERE merchant_id = ? AND consumer_id "
            "IS NOT NULL ORDER BY order_id LIMIT 1",
            (merchant_id,),
        )
    return str(found[0][0]), str(found[0][1])


def _open(client: TestClient, api: Market, request_id: str, merchant_id: str) -> None:
    """A consumer's request through the platform's front end (a service key)."""
    order, consumer = _order(api, merchant_id)
    body = {"request_id": request_id, "type_id": "delivery_problem", "merchant_id": merchant_id,
            "order_id": order, "consumer_id": consumer, "merchant_online": True,
            "note": "快递三天没动了 <b>急</b>"}  # fmt: skip
    r = client.post(URL, json=body, headers=bearer(api.service))
    assert r.status_code == 201, r.text


def _one(api: Market, sql: str, request_id: str) -> Any:
    with open_store(api.url) as store:
        return store.query(sql, (request_id,))[0][0]


def _state(api: Market, request_id: str) -> str:
    return str(_one(api, "SELECT state FROM service_requests WHERE request_id = ?", request_id))


def _steps(api: Market, request_id: str) -> int:
    return int(_one(api, "SELECT count(*) FROM request_steps WHERE request_id = ?", request_id))


def test_without_a_session_the_desk_pages_redirect_to_the_login_page(
    console: TestClient,
) -> None:
    params = {"request_id": "SR-X", "task_id": "CB-X", "sha256": "0" * 64}
    for method, path in DESK:
        r = console.request(method, path.format(**params))
        assert r.status_code == 303, (method, path)
        assert r.headers["location"].startswith("/console/login"), (method, path)


def test_an_agent_lands_on_the_queue_and_sees_only_the_desk_s_pages(
    api: Market, console: TestClient
) -> None:
    _open(console, api, "SR-C-1", api.merchant_a)
    r = _login(console, api.agent)
    assert r.status_code == 303 and r.headers["location"] == "/console/desk"
    page = console.get("/console/desk")
    assert page.status_code == 200 and "SR-C-1" in page.text
    assert "快递问题" in page.text  # the type's label from the policy
    # the server's service time left, for the script to count down (12 h: delivery problem)
    left = float(re.findall(r'data-left="([-0-9.]+)"', page.text)[0])
    assert 11.9 * 3600 < left <= 12 * 3600
    assert 'data-running="1"' in page.text and '<script src="/console/static/desk.js"' in page.text
    assert 'href="/console/merchants"' not in page.text and 'href="/console/desk"' in page.text
    for other in ("/console/dashboard", "/console/merchants", "/console/violations",
                  "/console/appeals", f"/console/merchants/{api.merchant_a}"):  # fmt: skip
        assert console.get(other).status_code == 403, other
    detail = console.get("/console/desk/SR-C-1")
    assert detail.status_code == 200
    for section in ("order", "standing", "thread", "callbacks"):
        assert f'id="{section}"' in detail.text, section
    # the consumer's words are on the thread, escaped
    assert "快递三天没动了 &lt;b&gt;急&lt;/b&gt;" in detail.text
    js = console.get("/console/static/desk.js")
    assert js.status_code == 200 and "performance.now()" in js.text


def test_an_agent_calls_back_and_resolves_and_the_ledger_shows_it(
    api: Market, console: TestClient
) -> None:
    _open(console, api, "SR-C-2", api.merchant_a)
    _login(console, api.agent)
    r = console.post("/console/desk/SR-C-2/callbacks", data={"task_id": "CB-C-2", **CONTACTS})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/desk/SR-C-2?")
    for token, outcome in (("ct-mother", "no_answer"), ("ct-mother", "wrong_person"),
                           ("ct-own", "reached")):  # fmt: skip
        r = console.post("/console/desk/SR-C-2/callbacks/CB-C-2/attempts",
                         data={"token": token, "outcome": outcome})  # fmt: skip
        assert r.status_code == 303, r.text
    page = console.get("/console/desk/SR-C-2")
    assert page.text.count('class="outcome-') == 3 and "139****0021" in page.text
    assert ">reached</span>" in page.text
    # ended: another call is refused beside the task's form, nothing written
    r = console.post("/console/desk/SR-C-2/callbacks/CB-C-2/attempts",
                     data={"token": "ct-own", "outcome": "busy"})  # fmt: skip
    assert r.status_code == 409 and any("has ended" in a for a in _alerts(r))
    # resolving while the request waits on the merchant: the job's refusal, on the page
    data = {"outcome": "compensation", "liability": "merchant", "amount": "30.00",
            "paid_by": "merchant", "note": "商家承担赔付"}  # fmt: skip
    r = console.post("/console/desk/SR-C-2/resolution", data=data)
    assert r.status_code == 409 and any("waiting_merchant" in a for a in _alerts(r))
    r = console.post("/console/desk/SR-C-2/steps", data={"action": "escalate", "note": "平台介入"})
    assert r.status_code == 303 and _state(api, "SR-C-2") == "waiting_platform"
    r = console.post("/console/desk/SR-C-2/resolution", data=data)
    assert r.status_code == 303, _alerts(r)
    assert _state(api, "SR-C-2") == "resolved"
    done = console.get(r.headers["location"])
    assert "The request is resolved." in done.text and 'id="resolution"' in done.text
    with open_store(api.url) as store:
        ledger = store.query("SELECT merchant_id, kind, amount FROM actions "
                             "WHERE action_id = 'compensation:desk:SR-C-2'")  # fmt: skip
        upheld = store.query("SELECT upheld FROM complaints WHERE complaint_id = 'desk:SR-C-2'")
        contact = store.query("SELECT 1 FROM platform_contacts WHERE contact_id = 'desk:SR-C-2'")
    assert [(m, k, float(a)) for m, k, a in ledger] == [(api.merchant_a, "compensation", 30.0)]
    assert upheld == [(True,)] and contact == [(1,)]


def test_the_resolution_form_shows_what_is_wrong_and_writes_nothing(
    api: Market, console: TestClient
) -> None:
    _open(console, api, "SR-C-3", api.merchant_a)
    _login(console, api.agent)
    console.post("/console/desk/SR-C-3/steps", data={"action": "escalate"})
    before = _steps(api, "SR-C-3")
    for data, status, words in (
        ({"outcome": "no_fault", "liability": "merchant"}, 422, "no fault, yet the merchant"),
        ({"outcome": "compensation", "liability": "merchant", "amount": "thirty"}, 400,
         "not an amount"),
        ({"outcome": "compensation", "liability": "consumer", "amount": "30",
          "paid_by": "merchant"}, 422, "the merchant pays only where it is liable"),
        ({"outcome": "", "liability": "merchant"}, 422, "outcome"),
    ):  # fmt: skip
        r = console.post("/console/desk/SR-C-3/resolution", data=data)
        assert r.status_code == status, (data, r.status_code)
        assert any(words in a for a in _alerts(r)), (data, _alerts(r))
        # the form comes back as it was typed
        assert 'id="resolve"' in r.text
    assert _steps(api, "SR-C-3") == before and _state(api, "SR-C-3") == "waiting_platform"
    r = console.post("/console/desk/SR-C-3/steps", data={"action": "answer"})
    assert r.status_code == 409 and any("answer is not possible" in a for a in _alerts(r))
    r = console.post("/console/desk/SR-C-3/steps", data={"action": "fly"})
    assert r.status_code == 422 and any("unknown action" in a for a in _alerts(r))
    r = console.post(
        "/console/desk/SR-C-3/callbacks",
        data={"task_id": "CB-3", "token": ["ct-1"], "masked": ["13912340021"]},
    )
    assert r.status_code == 422 and any("at most 7 digits" in a for a in _alerts(r))
    assert _steps(api, "SR-C-3") == before


def test_a_call_outside_the_calling_hours_is_refused_on_the_page(api: Market) -> None:
    """At 22:00 in Shanghai the job refuses the call; the page says why."""
    with make_client(api) as c:
        c.follow_redirects = False
        _open(c, api, "SR-C-4", api.merchant_a)
        _login(c, api.agent)
        r = c.post("/console/desk/SR-C-4/callbacks", data={"task_id": "CB-C-4", **CONTACTS})
        assert r.status_code == 303
    late = Settings(db=api.url, log_requests=False, rate_limit=10_000, rate_burst=10_000,
                    public_url="http://testserver", auth_cache_seconds=0)  # fmt: skip
    with TestClient(create_app(late, clock=lambda: NOW + timedelta(hours=10))) as c:
        c.follow_redirects = False
        _login(c, api.agent)
        r = c.post("/console/desk/SR-C-4/callbacks/CB-C-4/attempts",
                   data={"token": "ct-mother", "outcome": "no_answer"})  # fmt: skip
        assert r.status_code == 400
        assert any("outside the permitted calling hours" in a for a in _alerts(r))
        # outside the desk's hours the countdown stands still: no window is open now
        page = c.get("/console/desk")
        windows = re.findall(r'data-windows="([^"]*)"', page.text)[0]
        now = int(re.findall(r'data-now="(\d+)"', page.text)[0])
        first = [int(x) for x in re.findall(r"\d+", windows)[:2]]
        assert now < first[0]  # the next window opens later (09:00)


def test_a_merchant_sees_its_own_requests_only_and_never_the_consumer_s_contacts(
    api: Market, console: TestClient
) -> None:
    _open(console, api, "SR-C-5", api.merchant_a)
    _open(console, api, "SR-C-6", api.merchant_b)
    _login(console, api.agent)
    console.post("/console/desk/SR-C-5/callbacks", data={"task_id": "CB-C-5", **CONTACTS})
    r = _login(console, api.merchant)
    mine = console.get("/console/desk")
    assert mine.status_code == 200 and "SR-C-5" in mine.text and "SR-C-6" not in mine.text
    page = console.get("/console/desk/SR-C-5")
    assert page.status_code == 200
    _, consumer = _order(api, api.merchant_a)
    for secret in ("139****0021", "186****4410", "ct-mother", "CB-C-5", 'id="callbacks"',
                   consumer, 'id="resolve"'):  # fmt: skip
        assert secret not in page.text, secret
    # the reply form offers the merchant's steps only
    assert re.findall(r'name="action" value="(\w+)"', page.text) == ["message", "answer"]
    # another merchant's request is answered as one that does not exist
    other = console.get("/console/desk/SR-C-6")
    nobody = console.get("/console/desk/SR-NOBODY")
    assert other.status_code == nobody.status_code == 404
    assert other.text.replace("SR-C-6", "<ID>") == nobody.text.replace("SR-NOBODY", "<ID>")
    assert console.post("/console/desk/SR-C-6/steps",
                        data={"action": "answer"}).status_code == 404  # fmt: skip
    assert _steps(api, "SR-C-6") == 3  # create, route, the consumer's message
    for path, data in (("/console/desk/SR-C-5/resolution", {"outcome": "no_fault"}),
                       ("/console/desk/SR-C-5/callbacks", {"task_id": "CB-9"}),
                       ("/console/desk/SR-C-5/callbacks/CB-C-5/attempts",
                        {"token": "ct-own", "outcome": "reached"})):  # fmt: skip
        assert console.post(path, data=data).status_code == 403, path
    r = console.post("/console/desk/SR-C-5/steps", data={"action": "escalate"})
    assert r.status_code == 400 and _state(api, "SR-C-5") == "waiting_merchant"
    r = console.post("/console/desk/SR-C-5/steps", data={"action": "answer", "note": "已补发"})
    assert r.status_code == 303 and _state(api, "SR-C-5") == "waiting_platform"
    page = console.get("/console/desk/SR-C-5")
    assert "已补发" in page.text and "answered" in page.text
    # the merchant's menu: its pages, no operator's
    assert 'href="/console/desk"' in page.text and 'href="/console/dashboard"' not in page.text


def test_attachments_show_as_thumbnails_to_those_who_may_see_the_request(
    api: Market, console: TestClient
) -> None:
    _open(console, api, "SR-C-7", api.merchant_a)
    r = console.post(f"{URL}/SR-C-7/attachments", files={"file": ("rash.png", PNG, "image/png")},
                     headers=bearer(api.service))  # fmt: skip
    sha = r.json()["sha256"]
    href = f"/console/desk/SR-C-7/attachments/{sha}"
    for key in (api.agent, api.merchant):
        _login(console, key)
        page = console.get("/console/desk/SR-C-7")
        assert f'<img class="thumb" src="{href}"' in page.text
        got = console.get(href)
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert "sandbox" in got.headers["content-security-policy"]
    with open_store(api.url) as store:
        from tiyan.service.keys import create_key

        other = create_key(store, role="merchant", merchant_id=api.merchant_b, now=NOW).secret
    _login(console, other)
    assert console.get(href).status_code == 404


def test_a_desk_form_posted_from_another_site_is_refused(api: Market, console: TestClient) -> None:
    _open(console, api, "SR-C-8", api.merchant_a)
    _login(console, api.agent)
    before = _steps(api, "SR-C-8")
    forms = (
        ("/console/desk/SR-C-8/steps", {"action": "escalate"}),
        ("/console/desk/SR-C-8/callbacks", {"task_id": "CB-C-8", **CONTACTS}),
        ("/console/desk/SR-C-8/resolution", {"outcome": "no_fault", "liability": "none"}),
    )
    for path, data in forms:
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                        {"Referer": "https://evil.example/page"}):  # fmt: skip
            r = console.post(path, data=data, headers=headers)
            assert r.status_code == 403, (path, headers)
    assert _steps(api, "SR-C-8") == before
    with open_store(api.url) as store:
        assert store.query("SELECT count(*) FROM request_callbacks")[0][0] == 0
    r = console.post("/console/desk/SR-C-8/steps", data={"action": "escalate"},
                     headers={"Origin": "http://testserver"})  # fmt: skip
    assert r.status_code == 303
