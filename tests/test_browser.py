"""The edition in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Screenshots go to tests/artifacts/browser/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, ServedDemo

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


def open_page(browser: Any, url: str, *, width: int, scheme: str = "light") -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(url, wait_until="load")
    return page


def screenshot(page: Any, name: str) -> None:
    """NAME.png (the first screen) and NAME-full.png (the whole page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for suffix, full in (("", False), ("-full", True)):
        path = ARTIFACTS / f"{name}{suffix}.png"
        page.screenshot(path=str(path), full_page=full)
        print(f"screenshot: {path}")


def scroll_width(page: Any) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
    )


def background(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def test_at_600px_the_email_is_one_600px_column_of_loaded_pictures(
    browser: Any, served_demo: ServedDemo
) -> None:
    page = open_page(browser, f"{served_demo.url}/editions/{served_demo.key}/", width=600)
    box = page.eval_on_selector("table.container", "e => e.getBoundingClientRect().width")
    assert box == 600
    assert scroll_width(page) == (600, 600)
    images = page.eval_on_selector_all(
        "img",
        "all => all.map(i => [i.getAttribute('alt'), i.naturalWidth, i.getBoundingClientRect().right])",
    )
    assert images, "the demo has pictures"
    for alt, natural, right in images:
        assert alt is not None, "every image has alt text (empty when it would repeat the headline)"
        assert natural > 0, "the picture loaded from its hosted URL"
        assert right <= 600 - 16, "inside the padding of its story"
    screenshot(page, "600-light")
    page.close()


def test_every_link_is_an_absolute_web_url(browser: Any, served_demo: ServedDemo) -> None:
    page = open_page(browser, f"{served_demo.url}/editions/{served_demo.key}/", width=600)
    hrefs = page.eval_on_selector_all("a", "all => all.map(a => a.getAttribute('href'))")
    page.close()
    assert len(hrefs) > 20
    for href in hrefs:
        assert href.startswith(("http://", "https://", "#story-")), href
    assert f"{served_demo.url}/editions/{served_demo.key}/" in hrefs  # view in browser
    assert f"{served_demo.url}/unsubscribe" in hrefs


def test_at_375px_nothing_scrolls_sideways(browser: Any, served_demo: ServedDemo) -> None:
    page = open_page(browser, f"{served_demo.url}/editions/{served_demo.key}/", width=375)
    assert scroll_width(page) == (375, 375)
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= 375
    font = page.eval_on_selector(".headline", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert font == 18, "the phone rules apply"
    screenshot(page, "375-light")
    page.close()


def test_dark_mode_changes_the_background(browser: Any, served_demo: ServedDemo) -> None:
    url = f"{served_demo.url}/editions/{served_demo.key}/"
    light = open_page(browser, url, width=375)
    dark = open_page(browser, url, width=375, scheme="dark")
    for selector in ("body", "table.container", "td.story"):
        assert background(light, selector) != background(dark, selector), selector
    assert background(dark, "body") == "rgb(18, 18, 18)"
    screenshot(dark, "375-dark")
    # The dark view forces the same rules for a viewer whose own setting is light.
    forced = open_page(browser, f"{url}dark", width=375)
    for selector in ("body", "table.container", "td.story", ".headline a"):
        assert background(forced, selector) == background(dark, selector), selector
    for page in (light, dark, forced):
        page.close()


def test_the_phone_view_frames_the_email_at_375px(browser: Any, served_demo: ServedDemo) -> None:
    page = open_page(browser, f"{served_demo.url}/editions/{served_demo.key}/phone", width=900)
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 2
    for frame in frames:
        frame.wait_for_load_state()
        assert frame.evaluate("document.documentElement.clientWidth") == 375
        assert frame.evaluate("document.documentElement.scrollWidth") == 375
    backgrounds = {
        f.eval_on_selector("body", "e => getComputedStyle(e).backgroundColor") for f in frames
    }
    assert len(backgrounds) == 2, "one light, one dark"
    screenshot(page, "phone-view")
    page.close()


def test_the_live_preview_reloads_itself_when_the_theme_changes(
    browser: Any, served_demo: ServedDemo, tmp_path: Path
) -> None:
    theme = tmp_path / "theme"
    theme.mkdir()
    header = '{% extends "default/edition.html" %}{% block header %}<tr><td class="masthead">NAME</td></tr>{% endblock %}'
    (theme / "edition.html").write_text(header.replace("NAME", "Before"), encoding="utf-8")
    with served_demo.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[render]\ntemplates = "{theme.as_posix()}"\n')
    page = open_page(browser, f"{served_demo.url}/preview", width=1100)
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 3
    assert "Before" in frames[0].inner_text("td.masthead")
    (theme / "edition.html").write_text(header.replace("NAME", "After the edit"), encoding="utf-8")
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe')].every("
        "f => f.contentDocument && f.contentDocument.body"
        " && f.contentDocument.body.innerText.includes('After the edit'))",
        timeout=15_000,
    )
    screenshot(page, "live-preview")
    page.close()
