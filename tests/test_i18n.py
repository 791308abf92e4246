"""Every word of the default theme in the newsletter's language, through the gettext catalogs."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from digest.config import NewsletterConfig, RenderConfig
from digest.models import Recipient
from digest.render import i18n, personalize, render_email

from .conftest import ROOT
from .samples import sample_edition

CATALOGS = i18n.LOCALE_DIR
NEWSLETTER = NewsletterConfig(
    base_url="https://news.example.com/daily", postal_address="1 Example St"
)
READER = Recipient("ana@example.com", "Ana", "https://news.example.com/daily/unsubscribe?t=x")


def template_messages() -> list[str | tuple[str, ...]]:
    with (CATALOGS / "digest.pot").open("rb") as pot:
        return [m.id for m in read_po(pot) if m.id]


def english_fragments() -> set[str]:
    """The English words of every message: the text between its %(...) placeholders."""
    fragments = set()
    for message in template_messages():
        for text in [message] if isinstance(message, str) else message:
            for part in re.split(r"%\(\w+\)[sd]", text):
                # Long enough not to be a word of the sample stories ("Story 2: …", /story/2).
                if len(part.strip(" ,.:;")) >= 6:
                    fragments.add(part.strip(" ,.:;"))
    return fragments


def rendered(language: str, count: int = 8) -> str:
    """Subject, preheader, visible HTML text and the text part of one reader's copy."""
    newsletter = replace(NEWSLETTER, language=language)
    email, _ = render_email(sample_edition(count), newsletter, RenderConfig(max_html_bytes=14_000))
    html, text = personalize(email, READER)
    visible = lxml.html.fromstring(html).text_content()
    return "\n".join([email.subject, email.preheader, visible, text])


@pytest.mark.parametrize("language", [lang for lang in i18n.SHIPPED if lang != "en"])
def test_a_shipped_language_leaves_no_english_template_string(language: str) -> None:
    words = rendered(language)
    english = {f for f in english_fragments() if f in words}
    assert not english, f"{language}: English left in the email: {sorted(english)}"
    assert "Ana" in words and "more" not in words.split("Ana")[1][:40]


def test_english_reads_every_template_string() -> None:
    words = rendered("en")
    for fragment in ("In this issue", "Top stories", "Unsubscribe", "View in browser"):
        assert fragment in words
    assert "stories in the web edition" in words, "the byte budget moved some"


def test_a_language_without_a_catalog_reads_in_english_and_a_region_uses_its_language() -> None:
    assert "Top stories" in rendered("nl", 3)
    assert "Destaques" in rendered("pt-BR", 3)


@pytest.mark.parametrize("language", i18n.SHIPPED)
def test_every_catalog_translates_every_message_and_its_mo_is_compiled_from_it(
    language: str,
) -> None:
    folder = CATALOGS / language / "LC_MESSAGES"
    with (folder / "digest.po").open("rb") as po, (folder / "digest.mo").open("rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    assert sorted(map(str, (m.id for m in source if m.id))) == sorted(
        map(str, template_messages())
    ), "the catalog follows digest.pot: run pybabel update (see digest/render/i18n.py)"
    for message in list(source)[1:]:  # after the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"
        assert compiled.get(message.id) is not None
        found = compiled[message.id].string
        assert (tuple(found) if isinstance(found, list | tuple) else (found,)) == strings, (
            f"{language}: digest.mo is older than digest.po: run pybabel compile"
        )


def test_the_template_catalog_is_extracted_from_the_templates(tmp_path: Path) -> None:
    extracted = tmp_path / "digest.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(CATALOGS / "babel.cfg"),
            "-o",
            str(extracted),
            "--no-location",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with extracted.open("rb") as pot:
        fresh = sorted(map(str, (m.id for m in read_po(pot) if m.id)))
    assert fresh == sorted(map(str, template_messages())), (
        "digest/render/locale/digest.pot is out of date: run pybabel extract"
    )


def test_a_string_the_catalog_lacks_reads_in_english(tmp_path: Path) -> None:
    (tmp_path / "edition.html").write_text(
        '{% extends "default/edition.html" %}{% block footer %}'
        '<tr><td class="footer">{{ _("Brand-new words") }} '
        '<a href="{{ unsubscribe_url }}">{{ _("Unsubscribe") }}</a></td></tr>{% endblock %}',
        encoding="utf-8",
    )
    german = replace(NEWSLETTER, language="de")
    email, _ = render_email(sample_edition(2), german, RenderConfig(templates=str(tmp_path)))
    html, _ = personalize(email, READER)
    assert "Brand-new words" in html and "Abbestellen" in html
