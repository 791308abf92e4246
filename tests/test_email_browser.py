"""The email as readers with awkward clients see it, in headless Chromium (/usr/bin/chromium).

The demo edition is built from the demo site (served on 127.0.0.1, so its pictures load) and
opened from the archive's file, the way a mail client gets it: without `digest serve`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import DemoSite
from .test_browser import CHROMIUM, browser, screenshot, scroll_width  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]


@pytest.fixture
def demo_html(demo_site: DemoSite) -> Path:
    report = demo_site.build()
    return Path(report.paths["edition.html"])


def open_file(browser: Any, path: Path, *, width: int, images: bool = True) -> Any:  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 800})
    if not images:
        page.route(
            "**/*",
            lambda route: (
                route.abort() if route.request.resource_type == "image" else route.continue_()
            ),
        )
    page.goto(path.as_uri(), wait_until="load")
    return page


def test_without_its_style_block_at_375px_nothing_scrolls_sideways(
    browser: Any,  # noqa: F811
    demo_html: Path,
    tmp_path: Path,
) -> None:
    """Clients that drop <style> (the Gmail app with another provider's account) keep inline styles."""
    html = demo_html.read_text(encoding="utf-8")
    bare = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
    assert "<style>" not in bare and "@media" not in bare
    (tmp_path / "bare.html").write_text(bare, encoding="utf-8")
    page = open_file(browser, tmp_path / "bare.html", width=375)
    assert scroll_width(page) == (375, 375)
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= 375
    loaded = page.eval_on_selector_all("img", "all => all.map(i => i.naturalWidth)")
    assert loaded and all(loaded), "the lead pictures loaded and still fit"
    screenshot(page, "375-no-style")
    page.close()


def test_with_pictures_blocked_no_headline_is_read_twice(
    browser: Any,  # noqa: F811
    demo_html: Path,
) -> None:
    page = open_file(browser, demo_html, width=600, images=False)
    read = page.evaluate(
        """() => {
          const broken = [...document.images].filter(i => i.complete && i.naturalWidth === 0);
          return [document.body.innerText, broken.length,
                  broken.map(i => i.alt).join('\\n'),
                  [...document.querySelectorAll('.headline')].map(h => h.innerText)];
        }"""
    )
    text, broken, alts, headlines = read
    assert broken > 0, "pictures were blocked"
    seen = text + "\n" + alts
    for headline in headlines:
        # Once in "In this issue", once above the story; the pictures' alt text adds none.
        assert seen.count(headline) == 2, headline
    page.close()


def test_the_index_links_reach_their_stories(browser: Any, demo_html: Path) -> None:  # noqa: F811
    page = open_file(browser, demo_html, width=600)
    links = page.eval_on_selector_all(
        ".index-item a", "all => all.map(a => a.getAttribute('href'))"
    )
    assert len(links) > 20
    for n, href in enumerate(links):
        page.click(f".index-item >> nth={n}")
        page.wait_for_function("h => location.hash === h", arg=href)
        top, height = page.evaluate(
            "h => [document.getElementById(h.slice(1)).getBoundingClientRect().top, innerHeight]",
            href,
        )
        assert 0 <= top < height, f"{href} is on screen after the click"
    page.close()
