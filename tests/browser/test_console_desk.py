"""The service desk at the console, in a real headless Chromium against a real uvicorn: a
consumer's request from the platform's front end (a ``service`` key) reaches the agents'
queue with its countdown; an agent calls the consumer back — her mother's number twice, then
her own — and resolves it, the merchant liable and paying a compensation; the merchant sees
it resolved, and the ledger and the complaints hold it.

Calls are permitted 09:00–21:00 Asia/Shanghai, so the server's clock must be inside them:
``tiyan serve`` reads the wall clock, so the app runs here in a uvicorn server of its own,
with ``create_app(..., clock=)`` starting at the API suite's NOW (12:00 in Shanghai) and
going on in real time (the steps are in order, the countdown moves).
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn

from tests.api.conftest import MARKET, NOW, Market, _build
from tests.browser.conftest import VIEWPORT, chromium_path
from tests.conftest import free_port
from tiyan.service import Settings, create_app
from tiyan.sim import write_parquet
from tiyan.store import open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REQUEST = "SR-BROWSER-1"
MOTHER, OWN = ("ct-mother", "139****0021"), ("ct-own", "186****4410")


@dataclass
class Desk:
    base: str
    market: Market
    order_id: str
    consumer_id: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Stop the server (it lets the requests in flight finish and closes the store)."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def desk_market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    chromium_path()  # skip (or fail) before building anything when there is no browser
    folder = tmp_path_factory.mktemp("desk-market")
    write_parquet(MARKET, folder / "data")
    return _build(str(folder / "built.duckdb"), folder / "data")


@pytest.fixture
def desk(desk_market: Market, tmp_path: Path) -> Iterator[Desk]:
    """A uvicorn server on a copy of the market, its clock NOW onward in real time."""
    db = tmp_path / "tiyan.duckdb"
    shutil.copy(desk_market.url, db)
    market = Market(**{**desk_market.__dict__, "url": str(db)})
    with open_store(str(db)) as store:
        order_id, consumer_id = store.query(
            "SELECT order_id, consumer_id FROM orders WHERE merchant_id = ? AND consumer_id IS "
            "NOT NULL AND status <> 'cancelled' ORDER BY order_id LIMIT 1",
            (market.merchant_a,),
        )[0]
    started = time.monotonic()

    def clock() -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - started)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(db=str(db), public_url=base, log_requests=False)
    config = uvicorn.Config(create_app(settings, clock=clock), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    else:
        pytest.fail("uvicorn did not start")
    served = Desk(base, market, str(order_id), str(consumer_id), server, thread)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def context(browser: Any, desk: Desk) -> Iterator[Any]:
    """A fresh browser context at the desk's server; ``context.new_page()`` per user."""
    ctx = browser.new_context(base_url=desk.base, viewport=VIEWPORT, locale="en-US")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def _log_in(page: Any, key: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Key").fill(key)
    page.get_by_role("button", name="Log in").click()


def _seconds(text: str) -> int:
    """``11h 59m 58s`` as seconds (``-0h 01m 02s`` negative)."""
    found = re.fullmatch(r"(-?)(\d+)h (\d\d)m (\d\d)s", text.strip())
    assert found, text
    sign, h, m, s = found.groups()
    return (-1 if sign else 1) * (int(h) * 3600 + int(m) * 60 + int(s))


def _api(desk: Desk, method: str, path: str, key: str, **kwargs: Any) -> Any:
    r = httpx.request(method, desk.base + path, headers={"Authorization": f"Bearer {key}"},
                      **kwargs)  # fmt: skip
    assert r.status_code < 300, r.text
    return r.json()


def test_an_agent_calls_back_and_resolves_and_the_merchant_sees_it(
    context: Any, browser: Any, desk: Desk, shots: Path
) -> None:
    m = desk.market
    # the consumer's request, from the platform's front end
    opened = _api(desk, "POST", "/v1/service-requests", m.service, json={
        "request_id": REQUEST, "type_id": "delivery_problem", "merchant_id": m.merchant_a,
        "order_id": desk.order_id, "consumer_id": desk.consumer_id, "merchant_online": True,
        "note": "快递三天没有更新, 我留的是我妈妈的电话",
    })  # fmt: skip
    assert opened["state"] == "waiting_merchant"

    agent = context.new_page()
    _log_in(agent, m.agent)
    agent.wait_for_url("**/console/desk")
    nav = agent.get_by_role("navigation", name="main")
    assert nav.get_by_role("link", name="Merchants").count() == 0
    row = agent.locator(f'tr[data-request="{REQUEST}"]')
    assert "快递问题" in row.inner_text() and m.merchant_a in row.inner_text()
    countdown = row.locator(".countdown")
    first = _seconds(countdown.inner_text())
    assert 11 * 3600 < first <= 12 * 3600  # 12 service hours, the server's figure
    # live: inside the desk's hours the script counts the service time down
    agent.wait_for_function(
        "([el, t]) => { const m = el.textContent.match(/(\\d+)h (\\d+)m (\\d+)s/);"
        " return m && (+m[1] * 3600 + +m[2] * 60 + +m[3]) <= t - 2; }",
        arg=[countdown.element_handle(), first],
    )
    assert "breached" not in (countdown.get_attribute("class") or "")
    agent.screenshot(path=shots / "desk-queue.png")

    row.get_by_role("link", name=REQUEST).click()
    agent.wait_for_url(f"**/console/desk/{REQUEST}")
    assert desk.order_id in agent.locator("#order").inner_text()
    assert agent.locator("#standing").is_visible()
    assert "我妈妈的电话" in agent.locator("#thread").inner_text()

    # the callback task: her mother's number first, then her own
    form = agent.locator("form.callback")
    form.get_by_label("Number 1 token").fill(MOTHER[0])
    form.get_by_label("masked").nth(0).fill(MOTHER[1])
    form.get_by_label("Number 2 token").fill(OWN[0])
    form.get_by_label("masked").nth(1).fill(OWN[1])
    form.get_by_role("button", name="Open the task").click()
    agent.wait_for_url(re.compile(r"done=callback"))
    task = agent.locator("article.task")
    assert task.locator(".plan").inner_text().startswith(f"Next: call {MOTHER[1]}")
    for (_, masked), outcome in ((MOTHER, "no_answer"), (MOTHER, "wrong_person"),
                                 (OWN, "reached")):  # fmt: skip
        task.get_by_label(re.compile("Number called")).select_option(label=masked)
        task.get_by_label(re.compile("^Outcome")).select_option(outcome)
        task.get_by_role("button", name="Log the call").click()
        agent.wait_for_url(re.compile(r"done=attempt"))
        assert "The call is logged." in agent.get_by_role("status").inner_text()
    calls = task.locator("table.attempts tbody tr")
    assert calls.count() == 3
    assert [calls.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == [
        MOTHER[1], MOTHER[1], OWN[1]]  # fmt: skip
    assert "reached" in task.locator("header .pill").inner_text()
    assert "ct-mother" not in agent.locator("#callbacks").inner_text()  # masked numbers only
    agent.screenshot(path=shots / "desk-callbacks.png", full_page=True)

    # the platform takes it over from the merchant, and resolves it
    agent.get_by_label(re.compile("^Note")).fill("已联系上用户, 平台介入处理")
    agent.get_by_role("button", name="Escalate to the platform").click()
    agent.wait_for_url(re.compile(r"done=step"))
    resolve = agent.locator("form.resolve")
    resolve.get_by_label(re.compile("^Outcome")).select_option("compensation")
    resolve.get_by_label(re.compile("^Liability")).select_option("merchant")
    resolve.get_by_label(re.compile("^Amount")).fill("30.00")
    resolve.get_by_label(re.compile("^Paid by")).select_option("merchant")
    resolve.get_by_label(re.compile("^Resolution note")).fill("物流停滞, 商家承担赔付")
    agent.screenshot(path=shots / "desk-resolve.png", full_page=True)
    resolve.get_by_role("button", name="Resolve").click()
    agent.wait_for_url(re.compile(r"done=resolution"))
    assert "The request is resolved." in agent.get_by_role("status").inner_text()
    assert "compensation" in agent.locator("#resolution").inner_text()
    assert "30.00" in agent.locator("#resolution").inner_text()
    agent.goto("/console/desk")
    assert agent.locator(f'tr[data-request="{REQUEST}"]').count() == 0  # off the queue

    # the merchant sees it resolved: its requests, the thread, nothing of the callbacks
    merchant_ctx = browser.new_context(base_url=desk.base, viewport=VIEWPORT, locale="en-US")
    try:
        merchant = merchant_ctx.new_page()
        _log_in(merchant, m.merchant)
        merchant.wait_for_url(f"**/console/merchants/{m.merchant_a}")
        merchant.get_by_role("navigation", name="main").get_by_role(
            "link", name="My service requests").click()  # fmt: skip
        merchant.wait_for_url("**/console/desk")
        settled = merchant.locator(f'#settled tr[data-request="{REQUEST}"]')
        assert "resolved" in settled.inner_text() and "merchant" in settled.inner_text()
        settled.get_by_role("link", name=REQUEST).click()
        merchant.wait_for_url(f"**/console/desk/{REQUEST}")
        text = merchant.locator("main").inner_text()
        assert "30.00" in text and "已联系上用户" in text
        assert merchant.locator("#callbacks").count() == 0
        for secret in (MOTHER[1], OWN[1], desk.consumer_id):
            assert secret not in merchant.content(), secret
        merchant.screenshot(path=shots / "desk-merchant.png", full_page=True)
    finally:
        merchant_ctx.close()

    # the ledger holds the merchant's compensation, through the API
    ledger = _api(desk, "GET", f"/v1/merchants/{m.merchant_a}/actions?kind=compensation&limit=200",
                  m.operator)  # fmt: skip
    paid = [a for a in ledger if a["action_id"] == f"compensation:desk:{REQUEST}"]
    assert len(paid) == 1 and float(paid[0]["amount"]) == 30.0
    # and the complaint (upheld: the merchant liable) and the platform contact, in the store
    desk.stop()
    with open_store(m.url) as store:
        upheld = store.query("SELECT merchant_id, upheld FROM complaints WHERE complaint_id = ?",
                             (f"desk:{REQUEST}",))  # fmt: skip
        contact = store.query("SELECT merchant_id FROM platform_contacts WHERE contact_id = ?",
                              (f"desk:{REQUEST}",))  # fmt: skip
        state = store.query("SELECT state, liability FROM service_requests WHERE request_id = ?",
                            (REQUEST,))  # fmt: skip
    assert upheld == [(m.merchant_a, True)]
    assert contact == [(m.merchant_a,)]
    assert state == [("resolved", "merchant")]
