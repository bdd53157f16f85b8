"""Console sessions are server-side: the cookie is a random session id (never the key), the
store keeps only its hash, logout ends it for good, revoking the key ends it at once; and
the cross-site check compares Origin with the configured public URL, never the Host header.
On DuckDB and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, Market, bearer, make_client
from tiyan.service import Settings
from tiyan.service.keys import create_key
from tiyan.store import open_store


def _client(api: Market, **settings: object) -> TestClient:
    c = make_client(api, **settings)
    c.follow_redirects = False
    return c


def _session(client: TestClient, key: str) -> str:
    client.cookies.clear()
    r = client.post("/console/login", data={"key": key})
    assert r.status_code == 303, r.text
    return str(r.cookies["tiyan_console"])


def _goes_to_login(client: TestClient, session: str) -> bool:
    client.cookies.clear()
    client.cookies.set("tiyan_console", session, path="/console")
    r = client.get("/console/dashboard")
    return r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_the_store_keeps_the_session_s_hash_mapped_to_the_key(api: Market) -> None:
    with _client(api) as c:
        session = _session(c, api.operator)
    assert session not in api.operator
    key_id = api.operator[len("tiyan_") :][:15]
    with open_store(api.url) as store:
        rows = store.query("SELECT session_hash, key_id, ended_at FROM console_sessions")
    assert (hashlib.sha256(session.encode()).hexdigest(), key_id, None) in rows
    assert all(session not in str(r) for r in rows)


def test_logout_ends_the_session_for_good_on_every_worker(api: Market) -> None:
    """Two apps over one store (two workers): a session opened on one is good on the other;
    after logout on the first, the same cookie, replayed, is refused on both."""
    with _client(api, auth_cache_seconds=0) as one, _client(api, auth_cache_seconds=0) as two:
        session = _session(one, api.operator)
        assert one.get("/console/dashboard").status_code == 200
        two.cookies.set("tiyan_console", session, path="/console")
        assert two.get("/console/dashboard").status_code == 200
        r = one.post("/console/logout")
        assert r.status_code == 303 and 'tiyan_console=""' in r.headers["set-cookie"]
        assert _goes_to_login(one, session)
        assert _goes_to_login(two, session)
        # the key itself still logs in: a new session, another id
        assert _session(one, api.operator) != session


def test_revoking_the_key_through_the_api_ends_its_sessions_at_once(api: Market) -> None:
    """Even with checks cached for a minute, the server that revokes forgets them."""
    with open_store(api.url) as store:
        key = create_key(store, role="operator", now=NOW, label="leaked")
    with _client(api, auth_cache_seconds=60) as c:
        session = _session(c, key.secret)
        assert c.get("/console/dashboard").status_code == 200
        assert c.get("/v1/merchants", headers=bearer(key.secret)).status_code == 200
        r = c.post(f"/v1/keys/{key.key_id}/revoke", headers=bearer(api.operator))
        assert r.status_code == 200, r.text
        assert _goes_to_login(c, session)
        assert c.get("/v1/merchants", headers=bearer(key.secret)).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Host": "evil.example"},
        {"Origin": "https://evil.example", "Host": "evil.example"},
        {"Referer": "http://evil.example/x", "Host": "evil.example"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "https://testserver"},
    ],
)
def test_a_form_from_another_origin_is_refused_whatever_the_host_header(
    api: Market, headers: dict[str, str]
) -> None:
    with _client(api) as c:
        r = c.post("/console/login", data={"key": api.operator}, headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers


def test_the_public_url_s_origin_is_accepted_whatever_the_host_header(api: Market) -> None:
    with _client(api, public_url="https://tiyan.example.com:443/console") as c:
        headers = {"Origin": "https://tiyan.example.com", "Host": "10.0.0.7:8000"}
        r = c.post("/console/login", data={"key": api.operator}, headers=headers)
        assert r.status_code == 303
        # an https public URL: the cookie is Secure even behind a plain-http proxy hop
        assert "Secure" in r.headers["set-cookie"]


def test_without_a_public_url_every_claimed_origin_is_refused(api: Market) -> None:
    with _client(api, public_url=None) as c:
        for headers in ({"Origin": "http://testserver"}, {"Referer": "http://testserver/x"}):
            r = c.post("/console/login", data={"key": api.operator}, headers=headers)
            assert r.status_code == 403, headers
        assert c.post("/console/login", data={"key": api.operator}).status_code == 303
    with pytest.raises(ValueError, match="TIYAN_PUBLIC_URL"):
        Settings(db=api.url, environment="production")
    with pytest.raises(ValueError, match="public_url"):
        Settings(db=api.url, public_url="evil")
