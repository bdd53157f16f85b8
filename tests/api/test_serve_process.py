"""``tiyan serve`` as a user runs it: a real server process on a loopback port, a key from
``tiyan keys create``, real HTTP — and a graceful stop that finishes the writes in flight."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.api.conftest import Market
from tests.conftest import TIYAN, free_port, serve, tiyan_cli
from tiyan.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture
def served(duckdb_market: Market, tmp_path: Path) -> Any:
    db = tmp_path / "tiyan.duckdb"
    shutil.copy(duckdb_market.url, db)
    key = json.loads(tiyan_cli("keys", "create", "--role", "service", "--db", str(db), "--json"))
    listed = json.loads(tiyan_cli("keys", "list", "--db", str(db), "--json"))
    assert key["key_id"] in {k["key_id"] for k in listed}
    assert all("secret" not in k and "key" not in k for k in listed)
    proc, base = serve("--db", str(db))
    yield {"base": base, "key": key["key"], "proc": proc, "db": db, "market": duckdb_market}
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_a_graceful_stop_finishes_the_batches_in_flight(served: dict[str, Any]) -> None:
    """Two senders post batches back to back; the server is stopped (SIGTERM) while they
    do. Every batch it answered is stored whole, one was answered after the stop (it was in
    flight), and nothing it did not answer is stored."""
    m: Market = served["market"]
    headers = {"Authorization": f"Bearer {served['key']}"}
    answers: list[tuple[float, int, int]] = []  # (when, first order number, accepted)
    first_answer = threading.Event()

    def send(sender: int) -> None:
        with httpx.Client(base_url=served["base"], headers=headers, timeout=120) as client:
            for b in range(1000):
                start = (sender * 1000 + b) * 1000
                items = [
                    {"id": f"g{start + i}", "type": "order.paid",
                     "data": {"order_id": f"OG{start + i:09d}", "merchant_id": m.merchant_a,
                              "amount": "19.90", "paid_at": "2024-06-18T20:15:00+08:00",
                              "status": "paid"}}
                    for i in range(1000)
                ]  # fmt: skip
                try:
                    r = client.post("/v1/events", json={"items": items})
                except httpx.HTTPError:
                    return  # the server has stopped taking requests
                if r.status_code != 200:
                    return
                answers.append((time.monotonic(), start, r.json()["accepted"]))
                first_answer.set()

    senders = [threading.Thread(target=send, args=(k,)) for k in range(2)]
    for t in senders:
        t.start()
    assert first_answer.wait(timeout=60)
    time.sleep(0.05)
    stopped_at = time.monotonic()
    served["proc"].send_signal(signal.SIGTERM)
    for t in senders:
        t.join(timeout=120)
    # uvicorn stops gracefully, then re-raises the signal: the exit is SIGTERM's own
    assert served["proc"].wait(timeout=60) in (0, -signal.SIGTERM)
    assert all(accepted == 1000 for _, _, accepted in answers)
    assert any(at > stopped_at for at, _, _ in answers), "no batch was in flight at the stop"
    with open_store(str(served["db"])) as store:
        got = store.query("SELECT count(*) FROM orders WHERE order_id LIKE ?", ("OG%",))[0][0]
        receipts = store.query("SELECT count(*) FROM event_log WHERE event_id LIKE ?", ("g%",))
    assert got == receipts[0][0] == 1000 * len(answers)
    _, err = served["proc"].communicate()
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(r.get("route") == "/v1/events" and r.get("status") == 200 for r in logs)


def test_workers_need_postgres(tmp_path: Path) -> None:
    done = subprocess.run(
        [*TIYAN, "serve", "--db", str(tmp_path / "x.duckdb"), "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "postgresql://" in done.stderr


def test_two_workers_start_together_on_a_new_postgres_schema(pg_url: str) -> None:
    """Both workers open the store at once: the schema and the indexes are created once (an
    advisory lock serialises them), and both serve."""
    port = free_port()
    proc = subprocess.Popen(
        [*TIYAN, "serve", "--db", pg_url, "--port", str(port), "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        pids = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(pids) < 2:
            try:
                # a new connection per request: the two workers share the port
                with httpx.Client() as c:
                    r = c.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                assert r.status_code == 200, r.text
                pids.add(r.headers.get("x-worker-pid"))
            except httpx.HTTPError:
                time.sleep(0.1)
        assert len(pids) == 2, f"answers came from {pids}"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err


def test_keys_revoke_while_serve_holds_the_duckdb_file(served: dict[str, Any]) -> None:
    """`tiyan serve` holds the DuckDB file; `tiyan keys revoke` still revokes the key — it
    asks the running server, through the owner-only channel file the server left beside the
    store — and the key is refused from the next request (not after a restart)."""
    db: Path = served["db"]
    h = {"Authorization": f"Bearer {served['key']}"}
    body = {"merchant_id": served["market"].merchant_a, "presale_days": 5}
    with httpx.Client(base_url=served["base"], timeout=30) as client:  # one keep-alive link
        assert client.post("/v1/decisions/presale", json=body, headers=h).status_code == 200
        channel = db.with_name(db.name + ".serve")
        assert channel.exists() and channel.stat().st_mode & 0o777 == 0o600
        key_id = served["key"][len("tiyan_") :][:15]
        done = subprocess.run([*TIYAN, "keys", "revoke", key_id, "--db", str(db)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        said = " ".join(done.stdout.split())  # rich wraps long lines
        assert f"revoked {key_id}" in said and "through the server" in said
        r = client.post("/v1/decisions/presale", json=body, headers=h)
        assert r.status_code == 401, r.text
        # again: the server's 409 comes back as the CLI's error; an unknown key is not found
        again = subprocess.run([*TIYAN, "keys", "revoke", key_id, "--db", str(db)],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert again.returncode == 2 and "already revoked" in " ".join(again.stderr.split())
        nobody = subprocess.run([*TIYAN, "keys", "revoke", "tk_000000000000", "--db", str(db)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert nobody.returncode == 2 and "no key 'tk_000000000000'" in nobody.stderr, nobody
        # the channel token is no key for anything else
        token = json.loads(channel.read_text())["token"]
        r = client.get("/v1/merchants", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403
    served["proc"].send_signal(signal.SIGTERM)
    served["proc"].wait(timeout=60)
    assert not channel.exists()  # gone with the server
    with open_store(str(db)) as store:
        (revoked,) = store.query("SELECT revoked_at FROM api_keys WHERE key_id = ?", (key_id,))
    assert revoked[0] is not None


def test_text_the_store_cannot_keep_is_one_item_s_answer_on_a_live_connection(
    served: dict[str, Any],
) -> None:
    """A lone surrogate and a NUL among good items, sent to a real server: 200, those two
    items rejected, the good ones stored; the next request on the same keep-alive connection
    is answered."""
    m: Market = served["market"]
    good = {"merchant_id": m.merchant_a, "amount": "19.90", "status": "paid",
            "paid_at": "2024-06-18T20:15:00+08:00"}  # fmt: skip
    items = [
        {"id": "ka0", "type": "order.paid", "data": {**good, "order_id": "OKA0"}},
        {"id": "ka1", "type": "order.paid",
         "data": {**good, "order_id": "OKA1", "channel": "\ud800"}},
        {"id": "ka2", "type": "order.paid", "data": {**good, "order_id": "OKA2\u0000"}},
        {"id": "ka3", "type": "order.paid", "data": {**good, "order_id": "OKA3"}},
    ]  # fmt: skip
    body = json.dumps({"items": items}).encode()  # ensure_ascii: "\ud800" as JSON writes it
    headers = {"Authorization": f"Bearer {served['key']}", "Content-Type": "application/json"}
    with httpx.Client(base_url=served["base"], headers=headers, timeout=30) as client:
        r = client.post("/v1/events", content=body)
        assert r.status_code == 200, r.text
        assert [i["status"] for i in r.json()["items"]] == ["accepted", "rejected", "rejected",
                                                            "accepted"]  # fmt: skip
        assert client.post("/v1/events", content=body).json()["duplicate"] == 2
        assert client.get("/healthz").status_code == 200


def test_keys_list_shows_stored_markup_and_escape_codes_as_text(
    tmp_path: Path, duckdb_market: Market
) -> None:
    """A label holding rich markup (``[/]``) and a terminal escape code is printed as text."""
    db = tmp_path / "tiyan.duckdb"
    shutil.copy(duckdb_market.url, db)
    label = "ops [/] team \x1b[31mred"
    tiyan_cli("keys", "create", "--role", "operator", "--label", label, "--db", str(db))
    listed = tiyan_cli("keys", "list", "--db", str(db))
    assert "\x1b" not in listed
    assert "[/]" in listed and "\\x1b[31mred" in " ".join(listed.split())
