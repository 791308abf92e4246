"""Plain-text helpers shared by the stages: HTML to text, whitespace, word counts.

Nothing from a feed or a page reaches an email as HTML: it is turned into plain
text here, and the templates escape it again.
"""

from __future__ import annotations

import html
import re

import lxml.html
from lxml import etree

BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "iframe",
    "object",
    "embed",
    "template",
    "figcaption",
)

_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment, one paragraph per block, paragraphs split by a blank line."""
    if "<" not in markup:
        return clean_text(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return block_text(root)


def block_text(root: lxml.html.HtmlElement) -> str:
    """Plain text of a parsed element (changed in place; its tail left out), one paragraph per
    block, paragraphs split by a blank line; nothing for a script, a style or another element
    that holds no text for a reader (DROPPED_TAGS)."""
    if root.tag in DROPPED_TAGS:
        return ""
    for dropped in list(root.iter(*DROPPED_TAGS)):
        dropped.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.tail = "\n\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n\n" + (element.text or "")
    return clean_text(root.text_content())


def clean_text(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks, trim each paragraph."""
    paragraphs = (_SPACES.sub(" ", p).strip() for p in _BLANK_LINES.split(text.replace("\r", "")))
    return "\n\n".join(" ".join(p.split("\n")).strip() for p in paragraphs if p.strip())


def clean_line(text: str) -> str:
    """One line of plain text from something that may hold tags, entities, or line breaks."""
    return " ".join(html_to_text(text).split())


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


TABLE_ROW = re.compile(r"^\|.*\|$")
"""A paragraph that is a table's row, its cells between bars: "| Fed | 4.25% | cut |"."""


def table_row(cells: list[str]) -> str:
    """A row of two or more cells as one paragraph of the article's text (see TABLE_ROW)."""
    return "| " + " | ".join(" ".join(cell.split()) for cell in cells) + " |"


def is_table_row(paragraph: str) -> bool:
    """A table's row: its cells are not sentences a summary may quote."""
    return TABLE_ROW.match(paragraph) is not None


MAX_TITLE = 300
"""Characters of a title kept; the rest is cut at a word with an ellipsis (a 150 KB title exists)."""
MAX_AUTHOR = 120
"""Characters of an author line kept."""
MAX_TEXT = 100_000
"""Characters of an article's text kept (a long feature is about 30,000)."""


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


# --- feed boilerplate ------------------------------------------------------------------------

_AFTER_STOP = r"(?:^|(?<=[.!?…\]\)”\"'’|»›→:–—-]))\s*+"  # possessive: linear time
"""Where boilerplate may start: a paragraph's start, or right after a sentence or a separator."""
READ_MORE = re.compile(
    _AFTER_STOP + r"[\[(<«]?+\s*+(?:read\s(?:more|on|the\sfull\s(?:story|article))"
    r"|read\sfull\s(?:story|article)|continue\sreading|keep\sreading|full\sstory"
    r"|leia\smais|continue\slendo|continuar\slendo|saiba\smais|weiterlesen|mehr\slesen"
    r"|lire\sla\ssuite|lire\splus|leer\smás|seguir\sleyendo|ver\smás|leggi\sdi\spiù"
    r"|continua\sa\sleggere|lees\smeer|lees\sverder|läs\smer|les\smer|læs\smere|lue\slisää"
    r"|czytaj\swięcej)\b[^\n]{0,120}$",
    re.I,
)
"""A link to the rest of the story at the end of a teaser, in several languages."""
APPEARED_FIRST = re.compile(
    _AFTER_STOP + r"(?:The\spost\s[^\n]{1,300}?\s(?:appeared\sfirst|first\sappeared)\son"
    r"|O\spost\s[^\n]{1,300}?\sapareceu\sprimeiro\sem"
    r"|Der\sBeitrag\s[^\n]{1,300}?\serschien\szuerst\sauf"
    r"|L[’']article\s[^\n]{1,300}?\sest\sapparu\sen\spremier\ssur"
    r"|La\sentrada\s[^\n]{1,300}?\sse\spublicó\sprimero\sen)\s[^\n]{1,200}$"
)
"""WordPress's "The post X appeared first on Y." (and its translations)."""
COPYRIGHT = re.compile(
    _AFTER_STOP + r"(?:©|\(c\)\s\d{4}|copyright\s(?:©\s?+)?\d{4}|all\srights\sreserved\b)"
    r"[^\n]{0,300}$",
    re.I,
)
"""A copyright notice closing a paragraph: "Copyright 2026 X. All rights reserved." or "© X"."""
CUT_MARK = re.compile(r"(?:[\[(](?:…|\.\s?\.\s?\.|\?|&hellip;|&#8230;)[\])]|\.\.\.|…)$")
""""[…]", "[...]", "[?]" (an ellipsis that lost its encoding) or a bare ellipsis at the end."""
WIDGETS = re.compile(
    r"Share this with(?:Email|Facebook|Messenger|Twitter|Pinterest|WhatsApp|Linked[Ii]n){0,12}"
    r"Copy this link|Media playback is (?:not supported|unsupported) on (?:this|your) device"
    r"|Scroll down for (?:video|more)(?![a-z])"
)
"""A page's share buttons, video-player notice or "Scroll down for video", which an extraction
keeps glued to the sentence after it ("…Copy this linkFor many people…")."""
SPACES = re.compile(r"  +")
SENTENCE_STOP = re.compile(r"[.!?…。！？][\"'”’)\]]*$")


def strip_boilerplate(text: str) -> str:
    """The text without feed boilerplate: read-more links, WordPress's "The post … appeared
    first on …", copyright notices and cut marks ("[…]", "[?]"); a paragraph cut short ends
    in "…". Share buttons and video-player notices (`WIDGETS`) go wherever they are."""
    kept = []
    for paragraph in paragraphs(text):
        paragraph = _without_widgets(paragraph).strip()
        stripped = _strip_paragraph(paragraph)
        if stripped != paragraph and stripped and not SENTENCE_STOP.search(stripped):
            stripped += "…"
        if stripped:
            kept.append(stripped)
    return "\n\n".join(kept)


def _without_widgets(paragraph: str) -> str:
    without, found = WIDGETS.subn(" ", paragraph)
    return SPACES.sub(" ", without) if found else paragraph


def _strip_paragraph(paragraph: str) -> str:
    while True:
        shorter = paragraph
        for pattern in (APPEARED_FIRST, READ_MORE, COPYRIGHT, CUT_MARK):
            shorter = pattern.sub("", shorter).rstrip()
        if shorter == paragraph:
            return paragraph
        paragraph = shorter
