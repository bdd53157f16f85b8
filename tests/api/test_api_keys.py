"""``/v1/keys``: operators list and revoke keys through the running server; a revocation
takes effect at once, even where checks are cached. On DuckDB and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import NOW, Market, bearer, make_client
from tiyan.service.keys import create_key
from tiyan.store import open_store


def test_a_revoked_key_is_refused_from_the_next_request(api: Market) -> None:
    with open_store(api.url) as store:
        key = create_key(store, role="service", now=NOW, label="leaked")
    with make_client(api, auth_cache_seconds=60) as c:
        h = bearer(key.secret)
        assert c.post("/v1/decisions/presale", json={"merchant_id": api.merchant_a,
                      "presale_days": 5}, headers=h).status_code == 200  # fmt: skip
        r = c.post(f"/v1/keys/{key.key_id}/revoke", headers=bearer(api.operator))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["key_id"] == key.key_id and body["revoked_at"] is not None
        r = c.post("/v1/decisions/presale", json={"merchant_id": api.merchant_a,
                   "presale_days": 5}, headers=h)  # fmt: skip
        assert r.status_code == 401
        again = c.post(f"/v1/keys/{key.key_id}/revoke", headers=bearer(api.operator))
        assert again.status_code == 409 and "already revoked" in again.json()["error"]["message"]
        nobody = c.post("/v1/keys/tk_000000000000/revoke", headers=bearer(api.operator))
        assert nobody.status_code == 404
        listed = c.get("/v1/keys", headers=bearer(api.operator)).json()
    (row,) = [k for k in listed if k["key_id"] == key.key_id]
    assert row["revoked_at"] is not None and row["label"] == "leaked"
    assert all(set(k) == {"key_id", "role", "merchant_id", "label", "created_at",
                          "revoked_at"} for k in listed)  # fmt: skip
    with open_store(api.url) as store:
        assert store.query("SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_id = ?",
                           (key.key_id,)) == [(True,)]  # fmt: skip
