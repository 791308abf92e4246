"""The demo edition at a fixed clock, against committed expected output (see tests/golden/README.md)."""

from __future__ import annotations

import difflib
import email
import email.policy
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest import pipeline

from .conftest import ROOT, DemoSite

GOLDEN = ROOT / "tests" / "golden"
REGENERATE = "DIGEST_REGENERATE_GOLDEN"
BASE_URL = "https://news.example.com/daily"
DEMO_SITE = "http://demo-site.invalid"
"""Stands for the demo site's address, whose port changes from run to run."""


def build_demo(site: DemoSite, **newsletter: str) -> tuple[pipeline.BuildReport, dict[str, Path]]:
    """The demo built at the fixed clock, with these [newsletter] options set."""
    site.set_newsletter(base_url=BASE_URL, **newsletter)
    report = site.build()
    return report, report.paths


def normalized(text: str, site: DemoSite) -> str:
    return text.replace(site.server.base_url, DEMO_SITE)


def compare(files: dict[str, str]) -> None:
    """Each file against tests/golden/NAME; with $DIGEST_REGENERATE_GOLDEN set, rewrite them."""
    if os.environ.get(REGENERATE):
        for name, actual in files.items():
            (GOLDEN / name).write_text(actual, encoding="utf-8")
        pytest.skip(f"rewrote {', '.join(files)} in {GOLDEN}")
    for name, actual in files.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        if actual != expected:
            diff = difflib.unified_diff(
                expected.splitlines(), actual.splitlines(), f"golden/{name}", "actual", lineterm=""
            )
            shown = "\n".join(list(diff)[:60])
            pytest.fail(f"{name} differs from tests/golden ({REGENERATE}=1 rewrites it):\n{shown}")


def test_the_demo_edition_matches_the_golden_html_and_text(demo_site: DemoSite) -> None:
    _, paths = build_demo(demo_site)
    compare(
        {
            name: normalized(paths[name].read_text(encoding="utf-8"), demo_site)
            for name in ("edition.txt", "edition.html")
        }
    )


def parsed_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_sample_eml_parses_back_into_text_and_html(demo_site: DemoSite) -> None:
    report, paths = build_demo(
        demo_site, name="Wirtschaft täglich – Zürich", language="de", timezone="Europe/Zurich"
    )
    assert report.email is not None
    message = parsed_eml(paths["sample.eml"])
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert message["Subject"] == report.email.subject
    assert report.email.subject.startswith("Wirtschaft täglich – Zürich: ")
    assert message["From"].addresses[0].display_name == "Wirtschaft täglich – Zürich"
    text, html = (p.get_content() for p in parts)
    assert text.splitlines()[0] == "WIRTSCHAFT TÄGLICH – ZÜRICH"
    assert "Dienstag, 10. März 2026" in text and "Dienstag, 10. März 2026" in html
    assert '<html lang="de"' in html
    greeting = "Hallo Reader, das ist heute wichtig."
    assert greeting in html and greeting in text, "personalized for the sample reader, in German"
    assert "digest-slot" not in html + text
