"""An operator and a merchant at the console, in a real headless Chromium against a real
``tiyan serve``: log in, search, read a merchant, file and decide an appeal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import Served

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _log_in(page: Any, key: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Key").fill(key)
    page.get_by_role("button", name="Log in").click()


def _nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="main").get_by_role("link", name=name, exact=True)


def _api(served: Served, path: str) -> Any:
    """GET an API path with the operator's key (the server holds the DuckDB file's lock)."""
    r = httpx.get(served.base + path, headers={"Authorization": f"Bearer {served.operator}"})
    assert r.status_code == 200, r.text
    return r.json()


def _violation(served: Served, merchant_id: str) -> str:
    """The merchant's newest violation that no appeal names yet."""
    appealed = {a["violation_id"] for a in _api(served, "/v1/appeals")}
    found = _api(served, f"/v1/merchants/{merchant_id}/violations?limit=100")
    return next(v["violation_id"] for v in found if v["violation_id"] not in appealed)


def test_the_login_page_refuses_a_wrong_key(page: Any, served: Served, shots: Path) -> None:
    response = page.goto("/console/merchants")
    assert page.url.endswith("/console/login?next=%2Fconsole%2Fmerchants")
    assert response.status == 200
    page.screenshot(path=shots / "login.png")
    page.get_by_label("Key").fill("tiyan_tk_000000000000_not-a-key")
    page.get_by_role("button", name="Log in").click()
    assert "not accepted" in page.get_by_role("alert").inner_text()
    assert "/console/login" in page.url


def test_an_operator_finds_a_merchant_and_decides_its_appeal(
    page: Any, served: Served, shots: Path
) -> None:
    # merchant A appealed one of its violations beforehand, through the API
    violation = _violation(served, served.merchant_a)
    r = httpx.post(
        f"{served.base}/v1/appeals",
        json={"violation_id": violation, "statement": "The carrier scanned the parcel late."},
        headers={"Authorization": f"Bearer {served.key_a}"},
    )
    assert r.status_code == 201, r.text
    appeal_id = r.json()["appeal_id"]

    _log_in(page, served.operator)
    page.wait_for_url("**/console/dashboard")
    assert page.get_by_role("heading", name=re.compile("Platform dashboard")).is_visible()
    assert page.locator(".tile").count() >= 4
    assert page.locator("svg.spark polyline").first.get_attribute("points")
    page.screenshot(path=shots / "operator-dashboard.png")

    _nav(page, "Merchants").click()
    page.wait_for_url("**/console/merchants")
    page.get_by_role("link", name="Score").click()  # the worst first, then the best first
    page.wait_for_url(re.compile(r"sort=score"))
    page.get_by_role("link", name="Score").click()
    page.wait_for_url(re.compile(r"sort=-score"))
    scores = [float(t) for t in page.locator("tbody td.num:nth-child(4)").all_inner_texts()
              if t != "—"]  # fmt: skip
    assert scores == sorted(scores, reverse=True) and len(scores) > 5
    page.screenshot(path=shots / "merchants.png")
    page.get_by_label("Search").fill(served.merchant_a[-3:])
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/console/merchants\?q="))
    assert page.locator("tbody tr").count() >= 1
    page.get_by_role("link", name=served.merchant_a, exact=True).click()

    page.wait_for_url(f"**/console/merchants/{served.merchant_a}")
    assert page.locator("#scorecard").is_visible()
    assert page.locator("#violations tbody tr").count() >= 1
    page.screenshot(path=shots / "merchant-detail.png")

    _nav(page, "Violations").click()
    page.get_by_label("Rule").select_option("ship_timeout")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"rule=ship_timeout"))
    rules = page.locator("tbody td .rule").all_inner_texts()
    assert rules and set(rules) == {"ship_timeout"}
    page.screenshot(path=shots / "violations.png")

    _nav(page, "Appeals").click()
    card = page.locator("article.appeal", has_text=violation)
    assert card.is_visible()
    page.screenshot(path=shots / "appeals.png")
    card.get_by_label("Accept").check()
    card.get_by_label(re.compile("Note")).fill("Carrier delay confirmed by its letter.")
    card.get_by_role("button", name="Decide").click()
    page.wait_for_url(re.compile(r"/console/appeals\?decided="))
    assert "accepted" in page.get_by_role("status").inner_text()

    page.goto(f"/console/merchants/{served.merchant_a}#ledger")
    reversals = page.locator("table.reversals tbody tr")
    assert reversals.count() >= 1
    assert appeal_id in page.locator("table.reversals").inner_text()


def test_a_merchant_sees_only_its_own_data_and_files_an_appeal(
    page: Any, served: Served, shots: Path
) -> None:
    _log_in(page, served.key_b)
    page.wait_for_url(f"**/console/merchants/{served.merchant_b}")
    assert _nav(page, "Merchants").count() == 0
    assert served.merchant_b in page.locator("h1").inner_text()
    page.screenshot(path=shots / "merchant-scorecard.png")

    # another merchant's page is answered as one that does not exist
    other = page.goto(f"/console/merchants/{served.merchant_a}")
    assert other.status == 404
    nobody = page.goto("/console/merchants/M-NOBODY")
    assert nobody.status == 404
    assert page.goto("/console/dashboard").status == 403

    violation = _violation(served, served.merchant_b)
    page.goto("/console/appeals")
    page.get_by_label("Violation", exact=True).select_option(violation)
    page.get_by_label(re.compile("^Reason")).fill("The buyer asked us to hold the parcel.")
    page.get_by_label(re.compile("^Evidence")).fill("chat-2024-06-01.png")
    page.get_by_role("button", name="File the appeal").click()
    page.wait_for_url(re.compile(rf"/console/merchants/{served.merchant_b}\?appealed="))
    assert "Appeal filed" in page.get_by_role("status").inner_text()
    assert violation in page.locator("#appeals").inner_text()
    filed = [a for a in _api(served, "/v1/appeals") if a["violation_id"] == violation]
    assert [(a["merchant_id"], a["status"]) for a in filed] == [(served.merchant_b, "open")]


def test_logging_out_ends_the_session_on_the_server(
    page: Any, browser: Any, served: Served
) -> None:
    """The cookie is a session id, not the key; after *Log out* the same cookie, put back
    into a fresh browser, gets the login page: the server ended the session."""
    _log_in(page, served.operator)
    page.wait_for_url("**/console/dashboard")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "tiyan_console"]
    assert cookie["value"] not in served.operator and served.operator not in cookie["value"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/console/login?out=1")
    replay = browser.new_context(base_url=served.base)
    try:
        replay.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        again = replay.new_page()
        again.goto("/console/dashboard")
        assert "/console/login" in again.url
    finally:
        replay.close()
