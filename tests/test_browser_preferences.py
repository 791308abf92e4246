"""The preferences page in headless Chromium (Debian's /usr/bin/chromium): opened from the link
in a delivered edition, changed and saved, on a desktop and at 375 px, with and without
JavaScript; and reached from the page that confirms a sign-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest import pipeline
from digest.newsletters import Membership
from digest.store import utcnow

from .test_browser import CHROMIUM, screenshot, scroll_width
from .test_browser_site import chromium, heading
from .test_preferences import READER, SOURCES
from .website import SECRET, Site, confirm_link, running_site, sign_up

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]

__all__ = ["chromium"]  # the fixture, shared with the site's browser tests


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path, more=SOURCES) as running:
        yield running


def delivered_link(site: Site, address: str) -> str:
    """Send the edition through the site's SMTP server; the link in the copy ``address`` got."""
    with site.store() as store:
        store.add_subscriber(address, now=utcnow())
        assert pipeline.send(site.config(), store).counts["sent"] >= 1
    (mail,) = site.mails_to(address)
    html = mail.message.get_body(("html",)).get_content()
    found = re.search(r'<a href="([^"]+/preferences/[^"]+)"[^>]*>Preferences</a>', html)
    assert found is not None, "the footer's link"
    return found.group(1)


def stored(site: Site, address: str = READER) -> list[Membership]:
    with site.store() as store:
        return store.memberships(address)


def test_a_reader_changes_sections_and_frequency_from_the_emails_link(
    chromium: Any, site: Site
) -> None:
    page = chromium.new_page(viewport={"width": 1000, "height": 900})
    page.goto(delivered_link(site, READER))
    heading(page, "Your preferences")
    assert READER in page.inner_text("main")
    # Every control is found by its label, as a screen reader names it.
    science = page.get_by_label("Science")
    assert science.is_checked(), "all sections until the reader chooses"
    science.uncheck()
    page.get_by_label("Money").uncheck()
    page.get_by_label("Once a week").check()
    page.get_by_label("Send time").fill("06:30")
    page.get_by_label("Your time zone").select_option("Asia/Tokyo")
    screenshot(page, "site-preferences")
    page.get_by_role("button", name="Save my preferences").click()
    page.get_by_role("status").wait_for(timeout=10_000)
    assert "take effect from the next edition" in page.get_by_role("status").inner_text()
    (membership,) = stored(site)
    assert membership.sections == ("World",)
    assert (membership.frequency, membership.send_time, membership.timezone) == (
        "weekly",
        "06:30",
        "Asia/Tokyo",
    )
    # The page shows what is now stored.
    assert not page.get_by_label("Science").is_checked()
    assert page.get_by_label("World").is_checked()
    assert page.get_by_label("Your time zone").input_value() == "Asia/Tokyo"
    page.close()


def test_a_section_left_without_any_box_ticked_is_said_and_nothing_changes(
    chromium: Any, site: Site
) -> None:
    page = chromium.new_page(viewport={"width": 1000, "height": 900})
    page.goto(delivered_link(site, READER))
    for section in ("World", "Science", "Money"):
        page.get_by_label(section).uncheck()
    page.get_by_role("button", name="Save my preferences").click()
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=10_000)
    assert "Choose at least one section of Daily Digest." in alert.inner_text()
    assert stored(site) == [Membership("default")]
    page.close()


def test_on_a_phone_without_javascript(chromium: Any, site: Site) -> None:
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, java_script_enabled=False, is_mobile=True
    )
    page = context.new_page()
    page.goto(delivered_link(site, READER))
    assert scroll_width(page) == (375, 375), "nothing wider than the phone"
    for name in ("World", "Every day", "Once a week"):
        box = page.get_by_label(name).locator("xpath=..").bounding_box()
        assert box["height"] >= 40, f"{name}: a row a thumb can hit"
    select = page.get_by_label("Your time zone").bounding_box()
    assert select["x"] + select["width"] <= 375
    page.get_by_label("Money").uncheck()
    page.get_by_label("Once a week").check()
    page.get_by_label("Your time zone").select_option("America/New_York")
    screenshot(page, "site-preferences-phone")
    page.get_by_role("button", name="Save my preferences").click()
    page.get_by_role("status").wait_for(timeout=10_000)
    (membership,) = stored(site)
    assert membership.sections == ("World", "Science")
    assert (membership.frequency, membership.timezone) == ("weekly", "America/New_York")
    unsubscribe = page.get_by_role("link", name="Unsubscribe from all")
    unsubscribe.click()
    page.get_by_role("button", name="Unsubscribe").click()
    heading(page, "You are unsubscribed")
    with site.store() as store:
        assert store.subscriber_status(READER) == "unsubscribed"
    context.close()


def test_the_confirmation_page_leads_to_the_preferences(chromium: Any, site: Site) -> None:
    with site.client() as client:
        sign_up(client, "new@example.com")
    (mail,) = site.mails_to("new@example.com")
    page = chromium.new_page(viewport={"width": 375, "height": 740})
    page.goto(confirm_link(mail))
    page.get_by_role("button", name="Yes, subscribe me").click()
    heading(page, "You are subscribed")
    page.get_by_role("link", name="your preferences").click()
    heading(page, "Your preferences")
    page.get_by_label("Every day").check()
    page.get_by_label("Science").uncheck()
    page.get_by_role("button", name="Save my preferences").click()
    page.get_by_role("status").wait_for(timeout=10_000)
    assert stored(site, "new@example.com")[0].sections == ("World", "Money")
    page.close()


MARKETS = """
[newsletters.markets]
name = "Markets Morning"
sections = ["Money", "World"]
timezone = "Asia/Tokyo"
send_at = "06:30"
languages = ["de"]
"""


def test_a_reader_moves_to_another_newsletter_in_its_other_language(
    chromium: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path, more=SOURCES + MARKETS) as site:
        page = chromium.new_page(viewport={"width": 375, "height": 740})
        page.goto(delivered_link(site, READER))
        daily = page.get_by_role("group", name="Daily Digest", exact=True)
        markets = page.get_by_role("group", name="Markets Morning", exact=True)
        assert daily.get_by_label("Send me Daily Digest").is_checked()
        assert not markets.get_by_label("Send me Markets Morning").is_checked()
        assert "the newsletter's time zone, Asia/Tokyo" in markets.inner_text()
        assert daily.get_by_label("Language").count() == 0, "one language: nothing to choose"
        markets.get_by_label("Send me Markets Morning").check()
        markets.get_by_label("Once a week").check()
        markets.get_by_label("Language").select_option(label="Deutsch")
        daily.get_by_label("Send me Daily Digest").uncheck()
        assert scroll_width(page) == (375, 375)
        screenshot(page, "site-preferences-two-newsletters")
        page.get_by_role("button", name="Save my preferences").click()
        page.get_by_role("status").wait_for(timeout=10_000)
        assert stored(site) == [Membership("markets", (), "weekly", "", "", "de")]
        page.get_by_role("checkbox", name="Send me Markets Morning").uncheck()
        page.get_by_role("button", name="Save my preferences").click()
        alert = page.get_by_role("alert")
        alert.wait_for(timeout=10_000)
        assert "Choose at least one newsletter, or unsubscribe" in alert.inner_text()
        assert stored(site) == [Membership("markets", (), "weekly", "", "", "de")]
        page.close()
