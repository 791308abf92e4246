from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest

from digest import pipeline
from digest import render as render_module
from digest.config import NewsletterConfig, RenderConfig
from digest.errors import TemplateError
from digest.models import Image, Recipient
from digest.render import add_query, default_theme, personalize, render_email
from digest.store import open_store

from .conftest import DemoSite
from .samples import long_edition, sample_edition

NEWSLETTER = NewsletterConfig(
    name="The Daily & Co", base_url="https://news.example.com/digest", postal_address="1 Example St"
)


def render(count: int = 5, **settings: object):  # type: ignore[no-untyped-def]
    return render_email(sample_edition(count), NEWSLETTER, RenderConfig(**settings))  # type: ignore[arg-type]


def test_css_is_inlined_and_the_media_queries_keep_important() -> None:
    email, _ = render()
    doc = lxml.html.fromstring(email.html)
    headline = doc.cssselect(".headline a")[0]
    assert "color" in headline.get("style", "")
    style = doc.cssselect("style")[0].text
    dark = style[style.index("prefers-color-scheme: dark") :]
    assert "!important" in dark
    assert "max-width: 620px" in style
    assert doc.cssselect('meta[name="color-scheme"]')


def test_the_html_is_email_safe() -> None:
    email, _ = render()
    doc = lxml.html.fromstring(email.html)
    assert doc.get("lang") == "en"
    assert not doc.cssselect("script")
    assert not doc.cssselect('link[rel="stylesheet"]')
    for table in doc.cssselect("table"):
        assert table.get("role") == "presentation"
    # Fluid by itself (no media query needed), 600 px wide at most; Outlook's fixed table is
    # in a conditional comment only it reads.
    container = doc.cssselect("table.container")[0]
    assert container.get("width") == "100%" and "max-width:600px" in container.get("style")
    assert '<!--[if mso]><table role="presentation" align="center" width="600"' in email.html
    assert "<o:PixelsPerInch>96</o:PixelsPerInch>" in email.html
    assert "mso-line-height-rule:exactly" in email.html
    (masthead,) = doc.cssselect("h1")
    assert masthead.text_content() == NEWSLETTER.name


def test_every_article_shows_title_link_source_time_and_summary() -> None:
    edition = sample_edition(5)
    email, _ = render_email(edition, NEWSLETTER, RenderConfig(link_params="utm_source=digest"))
    doc = lxml.html.fromstring(email.html)
    stories = doc.cssselect("td.story")
    assert len(stories) == 5
    for item, story in zip(edition.items, stories, strict=True):
        link = story.cssselect(".headline a")[0]
        assert link.text_content() == item.article.title
        assert link.get("href") == add_query(item.article.url, "utm_source=digest")
        meta = story.cssselect(".meta")[0].text_content()
        assert item.article.source in meta
        assert re.search(r"\b\d{1,2}:\d\d\xa0[AP]M\xa0UTC\b", meta), meta
        # Top stories show the whole summary, section stories their first two sentences.
        shown = item.summary.sentences if item in edition.top else item.summary.sentences[:2]
        assert story.cssselect(".summary")[0].text_content() == " ".join(shown)


def test_feed_text_is_escaped() -> None:
    email, _ = render()
    assert "<Rise>" not in email.html
    assert "&lt;Rise&gt;" in email.html
    assert "The Daily &amp; Co" in email.html


def test_header_footer_and_preheader() -> None:
    edition = sample_edition(5)
    email, _ = render_email(edition, NEWSLETTER, RenderConfig())
    assert "Issue 7" in email.html
    assert "1 Example St" in email.html
    assert "https://news.example.com/digest/editions/2026-03-10/" in email.html
    assert email.subject == f"The Daily & Co: {edition.items[0].article.title}"
    # The preheader adds to the subject: the next headlines, not the first one again.
    assert edition.items[0].article.title not in email.preheader
    assert email.preheader.startswith(f"Also: {edition.items[1].article.title}; ")
    assert email.preheader.endswith("and 2 more stories")


def test_personalizing_fills_only_the_templates_slots() -> None:
    email, _ = render()
    html, text = personalize(
        email, Recipient("a@example.com", "Ana <3", "https://n.example/unsubscribe?t=a&b")
    )
    assert 'href="https://n.example/unsubscribe?t=a&amp;b"' in html
    assert "Hello Ana &lt;3," in html
    assert "Hello Ana <3," in text
    assert "https://n.example/unsubscribe?t=a&b" in text
    assert "digest-slot" not in html + text
    again, _ = personalize(email, Recipient("b@example.com", "", "https://n.example/u"))
    assert "Hello," in again and "Hello Ana" not in again


def test_the_text_part_fits_72_columns_except_urls() -> None:
    email, _ = render(12)
    _, text = personalize(email, Recipient("a@example.com", "Ana", "https://n.example/u?t=x"))
    for line in text.splitlines():
        assert len(line) <= 72 or "://" in line, line
    assert "== TOP STORIES ==" in email.text


def test_a_large_edition_stays_under_the_byte_budget() -> None:
    email, fitted = render(40)
    assert len(email.html.encode()) <= 100_000
    assert len(fitted.items) + len(fitted.more) == 40


def test_forty_long_stories_stay_under_gmails_clip() -> None:
    """Long headlines, 80-word summaries, two other outlets, pictures and tracking parameters."""
    edition = long_edition(40)
    settings = RenderConfig(link_params="utm_source=digest&utm_medium=email&utm_campaign=daily")
    email, fitted = render_email(edition, NEWSLETTER, settings)
    assert len(email.html.encode()) <= 100_000
    assert len(fitted.items) == 40 and not fitted.more, "a lean theme: every story fits"


def test_over_the_budget_the_lowest_ranked_stories_move_to_the_web_edition() -> None:
    edition = sample_edition(20)
    email, fitted = render_email(edition, NEWSLETTER, RenderConfig(max_html_bytes=25_000))
    assert len(email.html.encode()) <= 25_000
    assert fitted.more, "something had to move"
    kept = {item.rank for item in fitted.items}
    moved = {item.rank for item in fitted.more}
    assert max(kept) < min(moved)
    assert (
        "more stories in the web edition" in email.html
        or "more story in the web edition" in email.html
    )


def test_a_user_template_overrides_and_extends_the_default(tmp_path: Path) -> None:
    (tmp_path / "edition.html").write_text(
        '{% extends "default/edition.html" %}{% block header %}<tr><td>MY HEADER</td></tr>{% endblock %}',
        encoding="utf-8",
    )
    email, _ = render_email(sample_edition(3), NEWSLETTER, RenderConfig(templates=str(tmp_path)))
    assert "MY HEADER" in email.html
    assert "Top stories" in email.html


def test_an_own_edition_template_can_include_the_default_article(tmp_path: Path) -> None:
    (tmp_path / "edition.html").write_text(
        '{% for item in edition.items %}{% include "_article.html" %}{% endfor %}',
        encoding="utf-8",
    )
    settings = RenderConfig(templates=str(tmp_path), pictures="all")
    email, _ = render_email(sample_edition(4), NEWSLETTER, settings)
    assert email.html.count('class="thumb-small"') == 2, "not a lead story: small pictures"


def test_a_missing_template_names_every_folder_searched(tmp_path: Path) -> None:
    (tmp_path / "edition.html").write_text('{% include "_missing.html" %}', encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        render_email(sample_edition(1), NEWSLETTER, RenderConfig(templates=str(tmp_path)))
    message = str(caught.value)
    assert message.startswith("template '_missing.html' not found; searched ")
    assert str(tmp_path) in message
    assert str(default_theme()) in message


def test_a_broken_user_template_is_one_line_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "edition.html").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"edition.html:2: template syntax error"):
        render_email(sample_edition(1), NEWSLETTER, RenderConfig(templates=str(tmp_path)))


def test_dates_and_times_follow_the_time_zone_and_the_locale() -> None:
    edition = sample_edition(9)  # built at 07:00 UTC; stories every 17 minutes before that
    german = replace(NEWSLETTER, locale="de", timezone="Europe/Berlin")
    email, _ = render_email(edition, german, RenderConfig())
    doc = lxml.html.fromstring(email.html)
    assert "Dienstag, 10. März 2026 · Issue 7" in doc.cssselect(".dateline")[0].text_content()
    # Times carry their zone: MEZ is German for CET.
    times = {
        item.article.published: story.cssselect(".meta")[0].text_content()
        for item, story in zip(edition.items, doc.cssselect("td.story"), strict=True)
    }
    assert times[datetime(2026, 3, 10, 6, 55, tzinfo=UTC)].endswith("07:55\xa0MEZ · Reporter 0")
    english = replace(NEWSLETTER, date_format="EEEE d MMMM y", timezone="America/Bogota")
    late = render_email(edition, english, RenderConfig())[0].html
    assert "Tuesday 10 March 2026" in late
    assert "Mar 10, 1:55\xa0AM" not in late and "1:55\xa0AM\xa0UTC\u22125" in late  # same day
    assert "Mar 9, 11:39\xa0PM\xa0UTC\u22125" in late  # 04:39 UTC: the evening before in Bogotá


def test_a_right_to_left_language_sets_dir() -> None:
    email, _ = render_email(sample_edition(2), replace(NEWSLETTER, language="ar"), RenderConfig())
    root = lxml.html.fromstring(email.html)
    assert (root.get("lang"), root.get("dir")) == ("ar", "rtl")
    assert "الثلاثاء" in root.cssselect(".dateline")[0].text_content(), "the locale follows"


@pytest.mark.parametrize("pictures", ["lead", "all", "none"])
def test_pictures_are_hosted_sized_and_described(pictures: str) -> None:
    edition = sample_edition(8)  # even-numbered stories have a 600x320 picture
    email, _ = render_email(edition, NEWSLETTER, RenderConfig(pictures=pictures))  # type: ignore[arg-type]
    doc = lxml.html.fromstring(email.html)
    for item, story in zip(edition.items, doc.cssselect("td.story"), strict=True):
        images = story.cssselect("img")
        lead = item in edition.top
        shown = pictures == "all" or (pictures == "lead" and lead)
        if item.article.image is None or not shown:
            assert not images
            continue
        (img,) = images
        assert img.get("src") == item.article.image.url
        # The lead picture says what it shows; a small one is decoration beside the headline.
        assert img.get("alt") == (item.article.image.alt if lead else "")
        assert img.get("class") == ("thumb" if lead else "thumb-small")
        assert (img.get("width"), img.get("height")) == (("544", "290") if lead else ("120", "64"))
        # The big picture is a link too; a small one is not (a second copy of the link is bytes).
        assert img.getparent().get("href") == (item.article.url if lead else None)


def test_a_picture_without_a_size_or_a_web_address() -> None:
    edition = sample_edition(1)
    item = edition.top[0]

    def images(**changes: object) -> list[lxml.html.HtmlElement]:
        article = replace(item.article, **changes)  # type: ignore[arg-type]
        changed = replace(edition, top=(replace(item, article=article),))
        html = render_email(changed, NEWSLETTER, RenderConfig())[0].html
        assert "javascript:" not in html, "only web links are linked"
        return lxml.html.fromstring(html).cssselect("img")  # type: ignore[no-any-return]

    # Without a size from the feed: the column's width and a 16:9 height, so nothing jumps.
    (unsized,) = images(image=Image("https://cdn.example.com/a.jpg"))
    assert (unsized.get("width"), unsized.get("height")) == ("544", "306")
    assert unsized.get("alt") == "", "never the headline again"
    (titled,) = images(image=Image("https://cdn.example.com/a.jpg", f" {item.article.title} "))
    assert titled.get("alt") == ""
    assert images(image=Image("data:image/png;base64,AAAA", "x"), url="javascript:x") == []


def test_css_is_inlined_once_per_edition_never_per_recipient(
    demo_site: DemoSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = render_module.inline_css
    monkeypatch.setattr(render_module, "inline_css", lambda html: calls.append(1) or real(html))
    report = demo_site.build()
    assert len(calls) == 1
    config = demo_site.config()
    with open_store(config.data_dir) as store:
        for i in range(5):
            store.add_subscriber(f"reader{i}@example.com", name=f"Reader {i}", now=demo_site.now)
        sent = pipeline.send(config, store, now=demo_site.now)
    assert sent.counts["sent"] == 5
    assert len(calls) == 1, "sending fills placeholders; it does not inline again"
    outbox = sorted((config.data_dir / "outbox" / report.edition.key).glob("*.eml"))  # type: ignore[union-attr]
    bodies = [o.read_bytes() for o in outbox]
    assert len(set(bodies)) == 5 and all(b"Hello Reader " in b for b in bodies)


def test_the_subject_reads_as_a_subject_of_at_most_70_characters() -> None:
    edition = long_edition(12)
    email, _ = render_email(edition, NEWSLETTER, RenderConfig())
    assert len(email.subject) <= 70
    assert email.subject.startswith("The Daily & Co: ") and email.subject.endswith("…")
    head = email.subject.removeprefix("The Daily & Co: ").removesuffix("…")
    assert edition.items[0].article.title.startswith(head), "cut at a word, nothing invented"
    assert edition.items[0].article.title[len(head)] == " "


def test_in_this_issue_links_every_story_once() -> None:
    edition = sample_edition(9)
    email, _ = render_email(edition, NEWSLETTER, RenderConfig())
    doc = lxml.html.fromstring(email.html)
    links = doc.cssselect(".index-item a")
    assert [a.text_content() for a in links] == [i.article.title for i in edition.items]
    for link, item in zip(links, edition.items, strict=True):
        (target,) = doc.xpath(f"//*[@id='{link.get('href')[1:]}']")
        assert target.cssselect(".headline")[0].text_content() == item.article.title
    assert doc.cssselect("h2.index-title")[0].text_content() == "In this issue"
    one = render_email(sample_edition(1), NEWSLETTER, RenderConfig())[0].html
    assert not lxml.html.fromstring(one).cssselect(".index"), "no index for a single story"


def test_an_item_from_another_year_shows_its_year() -> None:
    edition = sample_edition(2)
    old = replace(edition.top[0].article, published=datetime(2019, 3, 1, 17, 0, tzinfo=UTC))
    edition = replace(edition, top=(replace(edition.top[0], article=old), *edition.top[1:]))
    email, _ = render_email(edition, NEWSLETTER, RenderConfig())
    metas = [m.text_content() for m in lxml.html.fromstring(email.html).cssselect(".meta")]
    assert any("Mar 1, 2019, 5:00\xa0PM\xa0UTC" in m for m in metas), metas
    assert not any("2026" in m for m in metas), "this year's items need no year"


def test_the_preheader_is_hidden_without_low_contrast_text() -> None:
    email, _ = render_email(sample_edition(5), NEWSLETTER, RenderConfig())
    (preheader,) = lxml.html.fromstring(email.html).cssselect(".preheader")
    style = preheader.get("style")
    assert "display:none" in style and "mso-hide:all" in style
    assert "color" not in style and "opacity" not in style and "font-size" not in style


def test_dark_mode_rules_for_outlook_com() -> None:
    email, _ = render_email(sample_edition(2), NEWSLETTER, RenderConfig())
    style = lxml.html.fromstring(email.html).cssselect("style")[-1].text
    assert "[data-ogsc] .headline a" in style and "[data-ogsb] .container" in style
