"""Extract: an article page's main text and metadata, without the site around it.

trafilatura finds the main content, tables included (their rows become "cell | cell"
lines); what it lets through of the site's furniture (sign-up boxes, image credits, market tickers, "Read more" lines) is
dropped paragraph by paragraph by :func:`is_furniture`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import lxml.html
import trafilatura
from lxml import etree

from digest.models import Extracted, Image, Page
from digest.text import MAX_AUTHOR, MAX_TEXT, MAX_TITLE, clean_line, clean_text, clip, html_to_text

SITE_WORDS = re.compile(
    r"""^\W*(?:
        menu|search|close|share(\sthis(\sarticle|\sstory)?)?|print|e-?mail|comments?|advertisement
        |related(\s(articles|stories|content))?|market\sdata|most\s(read|popular|viewed)
        |trending(\snow)?|top\sstories|more\sfrom\s.{1,40}|follow\sus.*|read\s(more|next|also).*
        |(?:see|read)\salso.*|lesen\ssie\s(auch|mehr).*|mehr\szum\sthema.*|le\spuede\sinteresar.*
        |lea\stambién.*|leia\stambém.*|(?:à\s)?lire\saussi.*
        |skip\sto\s(main\s)?content|back\sto\stop|log\s?in|sign\s?in|sign\s?up|subscribe
        |home|next|previous|advertisement\s.{0,30}
    )\W*$""",
    re.I | re.X,
)
"""A whole line that is a control or a box title of the site, not a sentence of the story."""
CALL_TO_ACTION = re.compile(
    r"""
    ^\W*(?:sign\s?up|subscribe|register|join\s(?:us|our)|download\s(?:our|the)\sapp)\b
    | \b(?:sign\s?up|subscribe|get|receive)\b.{0,40}\bnewsletters?\b
    | \bnewsletters?\b.{0,20}\b(?:sign|subscri)
    | \b(?:in|to)\syour\sinbox\b
    | ^\W*follow\s.{0,40}\bon\s(?:twitter|facebook|instagram|linkedin|tiktok|threads|bluesky|x)\b
    | ^\W*welcome\sto\s\S+(?:\s\S+){0,4}$
    | \bcookies?\s(?:policy|settings|consent|preferences)\b
    """,
    re.I | re.X,
)
"""Sign-up boxes and cookie banners: furniture when the paragraph is short.

A copyright notice is not among them: an article's own notice ("Copyright 2026 Harbour Herald.
All rights reserved.") is part of its text as the publisher wrote it, and stays; the
summarizer leaves it out (:func:`digest.text.strip_boilerplate`)."""
CREDIT = re.compile(
    r"""
    ^\W*(?:photo|image|picture|illustration|graphic|video|credit|file\sphoto)s?(?:\scredit)?\s*:
    | \b(?:photo|image|picture|illustration|credit|source)s?\s*:.*
        \b(?:via|getty|reuters|ap|afp|epa|shutterstock|wikimedia|commons|public\sdomain|istock)\b
    """,
    re.I | re.X,
)
"""Image captions with their credit line."""
BREADCRUMB = re.compile(r"^[^\w|›»\n]*+[^|›»\n]{0,25}+(?:[|›»]\s*+[^|›»\n]{1,25}+){1,6}+$")
"""Home | Politics | World: a trail of short links."""
_SYMBOL = r"[A-Z&./][A-Z&./]++(?:\s++[A-Z&./]++)*+"
_NUMBER = r"[-+▲▼]?+\s*+\$?+[-+]?+(?=[.,]*+\d)[\d,.]++%?+"
TICKER = re.compile(rf"^\s*+(?>{_SYMBOL}\s*+(?:{_NUMBER}\s*+){{1,3}}+){{2,}}+$")
"""DOW 38,512.30 +0.42% S&P 500 5,120.75 -0.18%: two or more symbols, each with numbers.

Every quantifier is possessive and every symbol-and-numbers group atomic, so a
line that is almost a ticker fails in one pass (no backtracking: linear time).
"""
TABLE_ROW = re.compile(r"^\|.*\|$")
"""A table row as trafilatura writes it: "| cell | cell |"."""
SHORT_WORDS = 30
"""Calls to action and credits are furniture only in paragraphs up to this long."""
DATE_SEARCH = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
"""htmldate settings: the publication date with its time of day, not only the day."""


def extract_page(page: Page) -> Extracted:
    """The page's main text (plain, paragraphs split by blank lines) and its metadata."""
    document = _bare_extraction(page.html, page.url)
    if document is None:
        return Extracted(text=clip(_fallback_text(page.html), MAX_TEXT))
    text = clean_article_text(document.get("text") or "")
    return Extracted(
        text=clip(text, MAX_TEXT),
        title=clip(clean_line(document.get("title") or ""), MAX_TITLE),
        author=clip(clean_line(document.get("author") or ""), MAX_AUTHOR),
        published=_date(document.get("date")),
        image=_image(document.get("image"), page.url),
        language=(document.get("language") or "")[:2],
    )


def extract_text(html: str, url: str = "") -> str:
    """Just the main text, for `digest extract`."""
    return extract_page(Page(url=url, html=html)).text


def _bare_extraction(html: str, url: str) -> dict[str, Any] | None:
    try:
        document = trafilatura.bare_extraction(
            html,
            url=url or None,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params=DATE_SEARCH,
        )
    except (ValueError, etree.LxmlError):
        return None
    if document is None or isinstance(document, dict):
        return document
    return dict(document.as_dict())


def _fallback_text(html: str) -> str:
    """When trafilatura finds nothing: the page's paragraphs, furniture removed."""
    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    blocks = [html_to_text(lxml.html.tostring(p, encoding="unicode")) for p in root.iter("p")]
    return clean_article_text("\n\n".join(blocks))


def clean_article_text(text: str) -> str:
    """Drop furniture paragraphs (and a lower-case line continuing one) and exact repeats."""
    kept: list[str] = []
    seen: set[str] = set()
    dropped = False
    for paragraph in clean_text(text.replace("\n", "\n\n")).split("\n\n"):
        if TABLE_ROW.match(paragraph):  # content: a row is never furniture, however short
            kept.extend(_table_row(paragraph))
            dropped = False
            continue
        key = paragraph.lower()
        continues = dropped and paragraph[:1].islower() and len(paragraph.split()) <= SHORT_WORDS
        dropped = continues or is_furniture(paragraph)
        if dropped or key in seen:
            continue
        seen.add(key)
        kept.append(paragraph)
    return "\n\n".join(kept)


def _table_row(row: str) -> list[str]:
    """trafilatura's "| cell | cell |" as "cell | cell"; nothing for a "|---|---|" rule."""
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    cells = [c for c in cells if c and not set(c) <= set("-:")]
    return [" | ".join(cells)] if cells else []


def is_furniture(paragraph: str) -> bool:
    """True for a line that belongs to the site, not to the story."""
    line = paragraph.strip()
    if len(line) < 3:
        return True
    if SITE_WORDS.match(line) or TICKER.match(line) or BREADCRUMB.match(line):
        return True
    if len(line.split()) > SHORT_WORDS:
        return False
    return bool(CALL_TO_ACTION.search(line) or CREDIT.search(line))


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    try:
        # "+0000" (htmldate's %z) is not ISO 8601 before Python 3.11's wider fromisoformat.
        moment = datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text))
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _image(value: Any, base_url: str) -> Image | None:
    if not value or not str(value).startswith(("http://", "https://")):
        return None
    return Image(url=str(value))
