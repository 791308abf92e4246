"""The subscriber pages and the dashboard in headless Chromium (Debian's /usr/bin/chromium):
sign up, confirm from the mailed link, unsubscribe, and log in to /status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest import tokens

from .test_browser import CHROMIUM, screenshot
from .website import SECRET, Site, confirm_link, running_site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]

ADMIN = "a password for the browser test"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv("DIGEST_ADMIN_PASSWORD", ADMIN)
    with running_site(tmp_path) as running:
        yield running


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield launched
        launched.close()


def heading(page: Any, text: str) -> None:
    """Wait for the page whose heading is ``text`` (after a form's POST)."""
    page.locator("h1", has_text=text).wait_for(timeout=10_000)


def test_sign_up_confirm_and_unsubscribe_in_a_browser(chromium: Any, site: Site) -> None:
    page = chromium.new_page(viewport={"width": 800, "height": 700})
    page.goto(f"{site.url}/subscribe")
    trap = page.locator(".trap input").bounding_box()
    assert trap["x"] + trap["width"] <= 0, "people do not see the trap: it is off the page"
    page.fill("input[name=email]", "reader@example.com")
    page.fill("input[name=name]", "Rea Der")
    screenshot(page, "site-subscribe")
    page.click("button[type=submit]")
    heading(page, "Check your inbox")

    (mail,) = site.mails_to("reader@example.com")
    page.goto(confirm_link(mail))
    assert "Send Daily Digest to reader@example.com?" in page.inner_text("main")
    page.get_by_role("button", name="Yes, subscribe me").click()
    heading(page, "You are subscribed")
    with site.store() as store:
        assert store.subscriber_status("reader@example.com") == "confirmed"

    page.goto(
        f"{site.url}/unsubscribe?t={tokens.sign('reader@example.com', 'unsubscribe', SECRET)}"
    )
    page.get_by_role("button", name="Unsubscribe").click()
    heading(page, "You are unsubscribed")
    screenshot(page, "site-unsubscribed")
    with site.store() as store:
        assert store.subscriber_status("reader@example.com") == "unsubscribed"
    page.close()


def test_the_dashboard_is_behind_its_login(chromium: Any, site: Site) -> None:
    with site.store() as store:
        from digest.store import utcnow

        store.add_subscriber("ana@example.com", now=utcnow())
    page = chromium.new_page(viewport={"width": 1000, "height": 800})
    page.goto(f"{site.url}/status")
    assert page.url.endswith("/login?next=/status")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    page.get_by_text("That is not the password").wait_for()
    page.fill("input[name=password]", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_url("**/status")
    assert page.locator("#subscribers td").first.inner_text() == "1"  # confirmed
    assert page.locator("#editions a").all_inner_texts() == ["2026-03-10"]
    screenshot(page, "site-status")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/editions/")
    page.goto(f"{site.url}/status")
    assert "/login" in page.url
    page.close()
