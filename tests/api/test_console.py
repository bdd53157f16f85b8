"""The web console through the app's client: sessions, roles, the merchant's wall around its
own data, and the forms (appeals filed and decided, bad input refused with a message).

``CONSOLE`` names the roles of every console route, as ``test_api_authz.ACCESS`` does for
the API: a console route missing from it fails the first test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, Market, bearer, make_client
from tests.api.test_console_desk import DESK
from tiyan.reports.text import fmt_metric
from tiyan.service.keys import create_key, revoke_key
from tiyan.store import open_store

PUBLIC = "public"
OWN = "merchant_own"
CONSOLE: dict[tuple[str, str], set[str]] = {
    ("GET", "/console/login"): {PUBLIC},
    ("POST", "/console/login"): {PUBLIC},
    ("GET", "/console/logout"): {PUBLIC},
    ("POST", "/console/logout"): {PUBLIC},
    ("GET", "/console/static/{name}"): {PUBLIC},
    ("GET", "/console"): {"operator", "merchant"},
    ("GET", "/console/"): {"operator", "merchant"},
    ("GET", "/console/dashboard"): {"operator"},
    ("GET", "/console/report"): {"operator"},
    ("GET", "/console/merchants"): {"operator"},
    ("GET", "/console/merchants/{merchant_id}"): {"operator", OWN},
    ("GET", "/console/violations"): {"operator"},
    ("GET", "/console/appeals"): {"operator", "merchant"},
    ("POST", "/console/appeals"): {"merchant"},
    ("POST", "/console/appeals/{appeal_id}/decision"): {"operator"},
}


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every route of the app with its whole path, through the routers it includes (and
    the routers those include: the console's desk pages)."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _console_routes(client: TestClient) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, route in _routes(client.app.routes)  # type: ignore[attr-defined]
        if path.startswith("/console")
        for method in route.methods
    }


@pytest.fixture
def console(api: Market) -> Iterator[TestClient]:
    """A browser-like client: it does not follow redirects, so each can be checked."""
    with make_client(api, auth_cache_seconds=0) as c:
        c.follow_redirects = False
        yield c


def _login(client: TestClient, key: str) -> Any:
    client.cookies.clear()
    return client.post("/console/login", data={"key": key})


def _alert(response: Any) -> str:
    found = re.findall(r'role="alert">([^<]*)<', response.text)
    return found[0] if found else ""


def _notice(response: Any) -> str:
    found = re.findall(r'role="status">([^<]*)<', response.text)
    return found[0] if found else ""


def _counts(api: Market) -> tuple[int, int]:
    with open_store(api.url) as store:
        (appeals,) = store.query("SELECT count(*) FROM appeals")[0]
        (actions,) = store.query("SELECT count(*) FROM actions")[0]
    return int(appeals), int(actions)


def _violation(api: Market, merchant_id: str) -> str:
    with open_store(api.url) as store:
        return str(
            store.query(
                "SELECT violation_id FROM violations WHERE merchant_id = ? AND rule_id = "
                "'ship_timeout' ORDER BY 1 LIMIT 1",
                (merchant_id,),
            )[0][0]
        )


def _file(client: TestClient, api: Market, violation: str, statement: str = "carrier late") -> str:
    _login(client, api.merchant)
    r = client.post("/console/appeals", data={"violation_id": violation, "statement": statement})
    assert r.status_code == 303, r.text
    return f"appeal:{violation}:1"


# -- sessions and roles ----------------------------------------------------------------------


def test_every_console_route_has_a_rule_and_is_outside_the_openapi_schema(
    console: TestClient,
) -> None:
    assert _console_routes(console) == set(CONSOLE) | set(DESK)
    paths = console.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_without_a_session_a_page_redirects_to_the_login_page(
    api: Market, console: TestClient
) -> None:
    params = {"merchant_id": api.merchant_b, "appeal_id": "appeal:x:1", "name": "console.css"}
    for (method, path), roles in CONSOLE.items():
        if PUBLIC in roles:
            continue
        r = console.request(method, path.format(**params))
        assert r.status_code == 303, (method, path)
        assert r.headers["location"].startswith("/console/login"), (method, path)
    r = console.get("/console/merchants?q=42")
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fmerchants%3Fq%3D42"
    page = console.get(r.headers["location"])
    assert page.status_code == 200 and 'name="key"' in page.text
    assert 'value="/console/merchants?q=42"' in page.text


def test_login_sets_a_strict_http_only_cookie_and_goes_to_the_role_s_home(
    api: Market, console: TestClient
) -> None:
    r = _login(console, api.operator)
    assert r.status_code == 303 and r.headers["location"] == "/console/dashboard"
    cookie = r.headers["set-cookie"]
    # a random session id, never the key (nor any part of it)
    session = cookie.split(";")[0].removeprefix("tiyan_console=")
    assert len(session) >= 40 and session not in api.operator
    assert api.operator not in cookie and api.operator.split("_")[2] not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert console.get("/console/dashboard").status_code == 200
    r = _login(console, api.merchant)
    assert r.headers["location"] == f"/console/merchants/{api.merchant_a}"
    # the page asked for before logging in
    console.cookies.clear()
    r = console.post("/console/login", data={"key": api.operator, "next": "/console/violations"})
    assert r.headers["location"] == "/console/violations"
    for evil in ("//evil.example/x", "https://evil.example", "/console\\@evil", "/v1/merchants"):
        console.cookies.clear()
        r = console.post("/console/login", data={"key": api.operator, "next": evil})
        assert r.headers["location"] == "/console/dashboard", evil


def test_over_https_the_cookie_is_secure(api: Market) -> None:
    with make_client(api) as c:
        c.base_url = c.base_url.copy_with(scheme="https")  # type: ignore[attr-defined]
        c.follow_redirects = False
        r = c.post("/console/login", data={"key": api.operator})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_a_wrong_key_is_401_and_a_service_key_403_with_a_message(
    api: Market, console: TestClient
) -> None:
    for key in ("", "nonsense", "tiyan_tk_000000000000_forged"):
        r = _login(console, key)
        assert r.status_code == 401, key
        assert "not accepted" in _alert(r)
        assert "set-cookie" not in r.headers
    r = _login(console, api.service)
    assert r.status_code == 403 and "machines" in _alert(r)
    assert "set-cookie" not in r.headers
    r = _login(console, api.agent)  # the desk's agents: its pages only
    assert r.status_code == 303 and r.headers["location"] == "/console/desk"
    console.cookies.clear()
    # a key set as the cookie by hand is no session (the cookie is never the key): log in
    for key in (api.service, api.operator):
        console.cookies.set("tiyan_console", key, path="/console")
        r = console.get("/console/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_logout_ends_the_session(api: Market, console: TestClient) -> None:
    _login(console, api.operator)
    r = console.post("/console/logout")
    assert r.status_code == 303 and r.headers["location"] == "/console/login?out=1"
    assert 'tiyan_console=""' in r.headers["set-cookie"]
    assert console.get("/console/dashboard").status_code == 303


def test_a_revoked_key_stops_working_at_once(api: Market, console: TestClient) -> None:
    with open_store(api.url) as store:
        key = create_key(store, role="operator", now=NOW)
    _login(console, key.secret)
    assert console.get("/console/dashboard").status_code == 200
    with open_store(api.url) as store:
        revoke_key(store, key.key_id, now=NOW)
    r = console.get("/console/dashboard")
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "no longer valid" in _notice(console.get(r.headers["location"]))


def test_a_merchant_sees_its_own_pages_and_nothing_of_another_merchant(
    api: Market, console: TestClient
) -> None:
    _login(console, api.merchant)
    own = console.get(f"/console/merchants/{api.merchant_a}")
    assert own.status_code == 200 and api.merchant_a in own.text
    assert 'href="/console/dashboard"' not in own.text  # no operator pages in its menu
    other = console.get(f"/console/merchants/{api.merchant_b}")
    nobody = console.get("/console/merchants/M-NOBODY")
    assert other.status_code == nobody.status_code == 404
    # the same page, the id aside: a merchant cannot tell whether the other one exists
    assert other.text.replace(api.merchant_b, "<ID>") == nobody.text.replace("M-NOBODY", "<ID>")
    for page in ("/console/dashboard", "/console/merchants", "/console/violations"):
        assert console.get(page).status_code == 403, page
    # the API answers alike (404, not 403) for the same merchant id
    api_other = console.get(f"/v1/merchants/{api.merchant_b}", headers=bearer(api.merchant))
    assert api_other.status_code == 404


def test_a_merchant_cannot_appeal_another_merchant_s_violation(
    api: Market, console: TestClient
) -> None:
    before = _counts(api)
    _login(console, api.merchant)
    other = _violation(api, api.merchant_b)
    r = console.post("/console/appeals", data={"violation_id": other, "statement": "x"})
    assert r.status_code == 404 and "not filed" in _alert(r)
    assert _counts(api) == before
    # and B's appeals are not in its list
    _file(console, api, _violation(api, api.merchant_a))
    with open_store(api.url) as store:
        key_b = create_key(store, role="merchant", merchant_id=api.merchant_b, now=NOW)
    _login(console, key_b.secret)
    console.post("/console/appeals", data={"violation_id": other, "statement": "B's"})
    _login(console, api.merchant)
    page = console.get("/console/appeals")
    assert page.status_code == 200
    assert api.merchant_a in page.text and api.merchant_b not in page.text


# -- the forms -------------------------------------------------------------------------------


def test_an_operator_decides_an_appeal_and_the_ledger_shows_the_reversal(
    api: Market, console: TestClient
) -> None:
    violation = _violation(api, api.merchant_a)
    appeal_id = _file(console, api, violation)
    shown = console.get(f"/console/merchants/{api.merchant_a}?appealed={quote(appeal_id)}")
    assert "Appeal filed" in _notice(shown)
    _login(console, api.operator)
    queue = console.get("/console/appeals")
    assert violation in queue.text and f"/console/appeals/{quote(appeal_id, safe='')}" in queue.text
    r = console.post(f"/console/appeals/{quote(appeal_id, safe='')}/decision",
                     data={"decision": "accept", "reason": "carrier delay confirmed"})  # fmt: skip
    assert r.status_code == 303, r.text
    done = console.get(r.headers["location"])
    assert f"Appeal {appeal_id} accepted: carrier delay confirmed" in _notice(done)
    with open_store(api.url) as store:
        reversals = store.query(
            "SELECT action_id, points FROM actions WHERE kind = 'reversal' AND violation_id = ?",
            (violation,),
        )
        (status,) = store.query("SELECT status FROM appeals WHERE appeal_id = ?", (appeal_id,))[0]
    assert status == "accepted" and reversals
    page = console.get(f"/console/merchants/{api.merchant_a}")
    table = page.text.split('<table class="reversals">', 1)[1].split("</table>", 1)[0]
    assert appeal_id in table
    for action_id, _ in reversals:
        assert action_id[len("reversal:") :] in table
    # the API's ledger holds the same entries
    ledger = console.get(f"/v1/merchants/{api.merchant_a}/actions?kind=reversal",
                         headers=bearer(api.operator)).json()  # fmt: skip
    assert {a["action_id"] for a in ledger} >= {a for a, _ in reversals}


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"decision": "accept", "reason": "   "}, 422, "Note is required"),
        ({"decision": "", "reason": "fine"}, 422, "choose accept or reject"),
        ({"decision": "maybe", "reason": "fine"}, 422, "choose accept or reject"),
        ({"decision": "accept", "reason": "x" * 5001}, 422, "at most 5000 characters"),
    ],
)
def test_a_bad_decision_is_shown_with_its_message_and_writes_nothing(
    api: Market, console: TestClient, form: dict[str, str], status: int, message: str
) -> None:
    appeal_id = _file(console, api, _violation(api, api.merchant_a))
    _login(console, api.operator)
    before = _counts(api)
    r = console.post(f"/console/appeals/{quote(appeal_id, safe='')}/decision", data=form)
    assert r.status_code == status
    assert message in _alert(r) and appeal_id in _alert(r)
    assert 'class="decide"' in r.text  # the form is there to try again
    assert _counts(api) == before
    with open_store(api.url) as store:
        assert store.query("SELECT status FROM appeals WHERE appeal_id = ?", (appeal_id,)) == [
            ("open",)
        ]


def test_deciding_twice_or_an_unknown_appeal_is_refused_with_a_message(
    api: Market, console: TestClient
) -> None:
    appeal_id = _file(console, api, _violation(api, api.merchant_a))
    _login(console, api.operator)
    url = f"/console/appeals/{quote(appeal_id, safe='')}/decision"
    assert console.post(url, data={"decision": "reject", "reason": "no proof"}).status_code == 303
    before = _counts(api)
    again = console.post(url, data={"decision": "accept", "reason": "changed my mind"})
    assert again.status_code == 409 and "already rejected" in _alert(again)
    missing = console.post("/console/appeals/appeal:nothing:1/decision",
                           data={"decision": "accept", "reason": "ok"})  # fmt: skip
    assert missing.status_code == 404 and "no appeal" in _alert(missing)
    assert _counts(api) == before


def test_a_bad_appeal_is_shown_with_its_message_and_writes_nothing(
    api: Market, console: TestClient
) -> None:
    violation = _violation(api, api.merchant_a)
    _login(console, api.merchant)
    before = _counts(api)
    r = console.post("/console/appeals", data={"violation_id": violation, "statement": " \n "})
    assert r.status_code == 422 and "Reason is required" in _alert(r)
    assert f'value="{violation}" selected' in r.text  # the choice is kept
    r = console.post("/console/appeals", data={"violation_id": "", "statement": "why"})
    assert r.status_code == 422 and "Violation" in _alert(r)
    assert _counts(api) == before
    _file(console, api, violation)
    again = console.post("/console/appeals", data={"violation_id": violation, "statement": "x"})
    assert again.status_code == 409 and "already has an open appeal" in _alert(again)


def test_a_form_posted_from_another_site_is_refused(api: Market, console: TestClient) -> None:
    violation = _violation(api, api.merchant_a)
    _login(console, api.merchant)
    before = _counts(api)
    data = {"violation_id": violation, "statement": "forged"}
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page"}):  # fmt: skip
        r = console.post("/console/appeals", data=data, headers=headers)
        assert r.status_code == 403, headers
    assert _counts(api) == before
    r = console.post("/console/appeals", data=data, headers={"Origin": "http://testserver"})
    assert r.status_code == 303
    console.cookies.clear()
    r = console.post("/console/login", data={"key": api.operator},
                     headers={"Origin": "https://evil.example"})  # fmt: skip
    assert r.status_code == 403 and "set-cookie" not in r.headers


# -- the operator's pages --------------------------------------------------------------------


def test_the_operator_pages_render(api: Market, console: TestClient) -> None:
    _login(console, api.operator)
    dash = console.get("/console/dashboard")
    assert dash.status_code == 200
    assert "Pickup within 48 h" in dash.text and "<polyline" in dash.text
    assert dash.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in dash.headers["content-security-policy"]
    for sort in ("score", "-score", "level", "-level", "category", "-category", "violations",
                 "-violations", "merchant_id"):  # fmt: skip
        r = console.get(f"/console/merchants?sort={sort}")
        assert r.status_code == 200, sort
        assert r.text.count('href="/console/merchants/M') == 25, sort  # a page of 25
    page2 = console.get("/console/merchants?sort=merchant_id&page=2")
    assert "page 2 of 2" in page2.text
    assert console.get("/console/merchants?sort=nonsense").status_code == 400
    found = console.get(f"/console/merchants?q={api.merchant_a[-3:]}")
    assert f'href="/console/merchants/{api.merchant_a}"' in found.text
    detail = console.get(f"/console/merchants/{api.merchant_a}")
    for section in ("scorecard", "metrics", "record", "privileges", "violations", "ledger"):
        assert f'id="{section}"' in detail.text
    queue = console.get("/console/violations?rule=ship_timeout")
    assert queue.status_code == 200 and "ship_timeout" in queue.text
    assert "fake_shipment</span>" not in queue.text
    bad = console.get("/console/violations?rule=ship_timeot")
    assert bad.status_code == 400 and "Did you mean &#39;ship_timeout&#39;?" in bad.text
    assert console.get("/console/merchants/M-NOBODY").status_code == 404
    css = console.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert console.get("/console/static/..%2Froutes.py").status_code == 404


def test_the_merchant_list_pages_in_the_api_s_order(api: Market, console: TestClient) -> None:
    _login(console, api.operator)
    for sort, core in (("category", "category"), ("-category", "-category"), ("level", "-score")):
        page = console.get(f"/console/merchants?sort={sort}&page=2")
        shown = re.findall(r'href="/console/merchants/(M[^"#?]*)"', page.text)
        listed = console.get(f"/v1/merchants?sort={core}&limit=25&offset=25",
                             headers=bearer(api.operator)).json()["items"]  # fmt: skip
        assert shown == [m["merchant_id"] for m in listed] and shown, sort


def test_the_dashboard_shows_the_latest_platform_values_and_a_daily_trend(
    api: Market, console: TestClient
) -> None:
    metric = "pickup_48h_rate"
    with open_store(api.url) as store:
        ((value, window),) = store.query(
            "SELECT value, window_days FROM metric_values WHERE scope = 'platform' "
            "AND metric_id = ? AND as_of = (SELECT max(as_of) FROM metric_values) "
            "ORDER BY window_days DESC LIMIT 1",
            (metric,),
        )
        ((last,),) = store.query("SELECT max(day) FROM metric_daily")
        # the reference: Σ numerator ÷ Σ denominator of each of the last 30 days
        days = [
            d
            for d, num, den in store.query(
                "SELECT day, sum(num), sum(den) FROM metric_daily WHERE metric_id = ? "
                "AND day > ? GROUP BY day ORDER BY day",
                (metric, last - timedelta(days=30)),
            )
            if den
        ]
    _login(console, api.operator)
    dash = console.get("/console/dashboard").text
    tiles = dash.split('aria-label="headline KPIs"', 1)[1].split("</section>", 1)[0]
    tile = tiles.split("</article>", 1)[0]
    assert "Pickup within 48 h" in tile
    assert f'class="value">{fmt_metric(value, metric)}<' in tile
    assert "higher is better" in tile  # one scoring run: nothing to compare with
    assert f"Platform metrics of the {window}-day window" in dash
    points = re.findall(r'<polyline points="([^"]*)"', tile)[0].split()
    assert len(points) == len(days) == 30  # one a day, not one a scoring run
    assert f"to {last.isoformat()}" in dash


def test_the_pages_escape_what_they_show(api: Market, console: TestClient) -> None:
    violation = _violation(api, api.merchant_a)
    _file(console, api, violation, statement="<script>alert(1)</script>")
    _login(console, api.operator)
    page = console.get("/console/appeals")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_report_downloads_as_an_attachment(api: Market, console: TestClient) -> None:
    _login(console, api.operator)
    month = f"{api.as_of.year}-{api.as_of.month:02d}"
    assert f'value="{month}"' in console.get("/console/dashboard").text
    r = console.get(f"/console/report?period={month}&lang=en")
    assert r.status_code == 200, r.text[:2000]
    assert (
        r.headers["content-disposition"] == f'attachment; filename="tiyan-report-{month}-en.html"'
    )
    assert "<html" in r.text.lower()
    assert console.get("/console/report?period=June&lang=en").status_code == 400
    assert console.get(f"/console/report?period={month}&lang=fr").status_code == 400
