"""Extract: an article page's main text and metadata, without the site around it.

trafilatura finds the main content, tables included: a row of two or more cells becomes one
paragraph "| cell | cell |" (:func:`digest.text.is_table_row`, which the summarizer skips), a
row of one cell (a table used for layout) a paragraph like any other. What it lets through of
the site's furniture (sign-up boxes, image credits, market tickers, "Read more" lines) is
dropped paragraph by paragraph by :func:`is_furniture`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from digest.models import Extracted, Image, Page
from digest.text import (
    MAX_AUTHOR,
    MAX_TEXT,
    MAX_TITLE,
    block_text,
    clean_line,
    clean_text,
    clip,
    html_to_text,
    is_table_row,
    paragraphs,
    table_row,
)

SITE_WORDS = re.compile(
    r"""^\W*(?:
        menu|search|close|share(\sthis(\sarticle|\sstory)?)?|print|e-?mail|comments?|advertisement
        |related(\s(articles|stories|content))?|market\sdata|most\s(read|popular|viewed)
        |trending(\snow)?|top\sstories|more\sfrom\s.{1,40}|follow\sus.*|read\s(more|next|also).*
        |(?:see|read)\salso.*|lesen\ssie\s(auch|mehr).*|mehr\szum\sthema.*|le\spuede\sinteresar.*
        |lea\stambién.*|leia\stambém.*|(?:à\s)?lire\saussi.*
        |skip\sto\s(main\s)?content|back\sto\stop|log\s?in|sign\s?in|sign\s?up|subscribe
        |home|next|previous|advertisement\s.{0,30}|werbung|anzeige|publicité|publicidad|pubblicità
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
    ^\W*(?:photo|image|picture|illustration|graphic|video|credit|file\sphoto|bild|foto)s?(?:\scredit)?\s*:
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
CELL_BAR = re.compile(r"(?<!\\)\|")
"""A bar between two cells of trafilatura's "| cell | cell |" (a bar in a cell is "\\|")."""
SPACES = re.compile(r"[ \t\n\r\f\v]+")
"""White space in HTML text: a line break in the page's source is a space, not a new paragraph."""
HIDDEN = etree.XPath(
    "//body//*[@hidden or contains(translate(@style, ' ', ''), 'display:none')"
    " or contains(translate(@style, ' ', ''), 'visibility:hidden')]"
)
"""Elements a browser does not show: a copy of the text kept for another layout or for later."""
PROSE, ROW, PRE = "prose", "row", "pre"
Block = tuple[str, str]
"""(kind, text): PROSE (a paragraph, or a line ended by <br>), a table's ROW, a line of PRE text."""
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
    tree = _parse(page.html)
    hidden = _hidden_texts(tree) if tree is not None else frozenset()
    if tree is not None:
        _mark_plain_pre(tree)
    document = _bare_extraction(tree, page.url) if tree is not None else None
    if document is None or document.get("body") is None:
        return Extracted(text=clip(_fallback_text(page.html), MAX_TEXT))
    text = clean_blocks(article_blocks(document["body"]), hidden=hidden)
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


def _parse(html: str) -> Any:
    try:
        return load_html(html)
    except (ValueError, etree.LxmlError):
        return None


def _hidden_texts(tree: Any) -> frozenset[str]:
    """The paragraphs a browser does not show: each outermost hidden element's text, read once
    (linear in the page, however deep hidden elements nest)."""
    found = HIDDEN(tree)
    marked = set(found)
    texts: set[str] = set()
    for hidden in found:
        if not any(a in marked for a in hidden.iterancestors()):
            # one space between words, as article_blocks writes them (clean_text keeps two
            # where a line break met the next line's indentation)
            text = block_text(deepcopy(hidden))
            texts.update(" ".join(paragraph.split()) for paragraph in paragraphs(text))
    return frozenset(texts)


def _bare_extraction(tree: Any, url: str) -> dict[str, Any] | None:
    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url or None,
            # "xml": the body as a tree only; "python" would also write it out as text,
            # which article_blocks does its own way (a third of a 40,000-row table's time)
            output_format="xml",
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


def article_blocks(body: etree._Element) -> list[Block]:
    """trafilatura's XML body as lines of text, each with its kind.

    trafilatura's own text keeps the line breaks of the page's source inside a paragraph, so
    a hard-wrapped paragraph would read as several; here white space is collapsed as a browser
    does, except in preformatted blocks (``<pre>``, code), whose lines are kept as written.
    """
    tree = deepcopy(body)
    token = secrets.token_hex(8)  # stands where a block was; trafilatura drops private-use marks
    held = [_hold(code, f"{token}{n}{token}") for n, code in enumerate(_preformatted(tree))]
    marks = re.compile(f"{token}(\\d+){token}")
    for element in tree.iter():
        element.text = element.text and SPACES.sub(" ", element.text)
        element.tail = element.tail and SPACES.sub(" ", element.tail)
    blocks: list[Block] = []
    for line in xmltotxt(tree, False).splitlines():
        for n, part in enumerate(marks.split(line)):
            if n % 2:
                blocks += [(PRE, pre) for pre in held[int(part)]]
            elif part.strip():
                blocks.append((ROW if is_table_row(part.strip()) else PROSE, clean_text(part)))
    return blocks


def _preformatted(tree: etree._Element) -> list[etree._Element]:
    """The outermost code elements that hold lines, and are not code inside a sentence (a
    paragraph with more than the code in it: its line breaks are the page source's)."""
    found = []
    for code in tree.iter("code"):
        if "\n" not in "".join(code.itertext()) and code.find(".//lb") is None:
            continue
        ancestors = list(code.iterancestors())
        if any(a.tag == "code" for a in ancestors):
            continue
        paragraph = next((a for a in ancestors if a.tag == "p"), None)
        if paragraph is None or _words(paragraph) == _words(code):
            found.append(code)
    return found


def _words(element: etree._Element) -> list[str]:
    return "".join(element.itertext()).split()


def _mark_plain_pre(tree: Any) -> None:
    """Put the content of each ``<pre>`` without code in a ``<code>``: trafilatura makes a
    bare ``<pre>`` a quote, whose lines would then run together (a poem, a mailing list's
    message); as code, its lines are kept as written."""
    for pre in list(tree.iter("pre")):
        if pre.find(".//code") is not None:
            continue
        code = etree.Element("code")
        code.text, pre.text = pre.text, None
        for child in list(pre):
            code.append(child)  # moves it, with its tail
        pre.append(code)


def _hold(code: etree._Element, mark_text: str) -> list[str]:
    """Replace ``code`` by a mark for the layout; its lines, as written."""
    copy = deepcopy(code)
    copy.tail = None  # deepcopy copies the tail: the text after the code, which the mark keeps
    lines = [line.rstrip() for line in xmltotxt(copy, False).splitlines()]
    mark = etree.Element("p")
    mark.text, mark.tail = mark_text, code.tail
    parent = code.getparent()
    if parent is not None:
        parent.replace(code, mark)
    return [line for line in lines if line.strip()]


def clean_article_text(text: str) -> str:
    """Plain text, one paragraph a line (table rows as trafilatura writes them), cleaned."""
    lines = clean_text(text.replace("\n", "\n\n")).split("\n\n")
    return clean_blocks([(ROW if is_table_row(line) else PROSE, line) for line in lines])


def clean_blocks(blocks: list[Block], *, hidden: frozenset[str] = frozenset()) -> str:
    """Drop furniture paragraphs (and a lower-case line continuing one) and hidden copies.

    A paragraph said twice stays twice (a pull quote, a caption under two pictures, a step
    repeated, two notes citing one book: the page as its author wrote it), unless the page
    holds a copy of it that a browser does not show (``hidden``: see :data:`HIDDEN`).
    Preformatted lines and table rows are content as written, never furniture.
    """
    kept: list[str] = []
    seen: set[str] = set()
    dropped = False
    for kind, paragraph in _rows_read(blocks):
        if kind != PROSE:  # content as written: a row is never furniture, however short
            kept.append(paragraph)
            dropped = False
            continue
        key = paragraph.lower()
        continues = dropped and paragraph[:1].islower() and len(paragraph.split()) <= SHORT_WORDS
        dropped = continues or is_furniture(paragraph)
        if dropped or (key in seen and paragraph in hidden):
            continue
        seen.add(key)
        kept.append(paragraph)
    return "\n\n".join(kept)


def _rows_read(blocks: list[Block]) -> Iterator[Block]:
    """Each table row as a row of data, or as paragraphs when the table lays out prose."""
    for kind, text in blocks:
        if kind != ROW:
            yield kind, text
            continue
        cells = _cells(text)
        if len(cells) > 1 and all(len(cell.split()) <= SHORT_WORDS for cell in cells):
            yield ROW, table_row(cells)
        else:  # one cell, or a cell that holds a paragraph: a table used for layout
            yield from ((PROSE, cell) for cell in cells)


def _cells(row: str) -> list[str]:
    """The cells of trafilatura's "| cell | cell |" that hold text; none for a "|---|---|" rule."""
    cells = (c.replace("\\|", "|").strip() for c in CELL_BAR.split(row.strip()[1:-1]))
    return [c for c in cells if c and not set(c) <= set("-:")]


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
