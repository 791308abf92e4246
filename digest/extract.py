"""Extract: an article page's main text and metadata, without the site around it.

trafilatura finds the main content; what it lets through of the site's
furniture (sign-up boxes, image credits, market tickers, "Read more" lines) is
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
from digest.text import clean_line, clean_text, html_to_text

FURNITURE = re.compile(
    r"""
    ^(?:menu|search|close|share|print|e-?mail|comments?|advertisement|related(\sarticles|\sstories)?
        |market\sdata|most\s(read|popular)|trending(\snow)?|follow\sus.*|read\s(more|next).*)\W*$
    | sign\sup\s(for|to)\b | subscribe\s(to|for|now)\b | newsletter\s(sign|subscri)
    | \b(photo|image|picture|illustration|credit|source)s?\s*:.*
        (via|getty|reuters|ap\b|afp|shutterstock|wikimedia|commons|public\sdomain)
    | ^(?:photo|image|credit)s?\s*:
    | \ball\srights\sreserved\b | ^©|^copyright\b
    | ^welcome\sto\s\w+
    | cookies?\s(policy|settings|consent)
    """,
    re.I | re.X,
)
DATE_SEARCH = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
"""htmldate settings: the publication date with its time of day, not only the day."""
TICKER = re.compile(r"^(?:[A-Z&.\s]{2,20}\s*[-+]?[\d,.]+\s*[-+▲▼]?\s*[\d.,]+%?\s*){2,}$")


def extract_page(page: Page) -> Extracted:
    """The page's main text (plain, paragraphs split by blank lines) and its metadata."""
    document = _bare_extraction(page.html, page.url)
    if document is None:
        return Extracted(text=_fallback_text(page.html))
    text = clean_article_text(document.get("text") or "", title=document.get("title") or "")
    return Extracted(
        text=text,
        title=clean_line(document.get("title") or ""),
        author=clean_line(document.get("author") or ""),
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
            include_tables=False,
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


def clean_article_text(text: str, *, title: str = "") -> str:
    """Drop furniture paragraphs, a repeated headline, and exact repeats."""
    kept: list[str] = []
    seen: set[str] = set()
    headline = title.strip().lower()
    for paragraph in clean_text(text.replace("\n", "\n\n")).split("\n\n"):
        key = paragraph.lower()
        if key in seen or key == headline or is_furniture(paragraph):
            continue
        seen.add(key)
        kept.append(paragraph)
    return "\n\n".join(kept)


def is_furniture(paragraph: str) -> bool:
    """True for a line that belongs to the site, not to the story."""
    line = paragraph.strip()
    if not line or len(line) < 3:
        return True
    if len(line) > 400:
        return False
    return bool(FURNITURE.search(line) or TICKER.match(line))


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
