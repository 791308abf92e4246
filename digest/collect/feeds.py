"""Feed documents -> Articles: parsing (feedparser), normalizing, stable ids, filters.

Real feeds are messy; feedparser's loose parser copes with most of it (ill-formed
XML, wrong or conflicting encodings, HTML entities). What is left to do here:
blank lines before ``<?xml``, telling "not a feed" from "a feed with no entries",
and turning each entry into a clean, plain-text Article with an id that stays the
same from one fetch to the next.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from digest.collect.dates import DateReader
from digest.config import SourceConfig
from digest.errors import SourceError
from digest.models import Article, Image
from digest.text import MAX_AUTHOR, MAX_TEXT, MAX_TITLE, clean_line, clip, html_to_text

log = logging.getLogger(__name__)

GUESSED_TITLE = "title"
GUESSED_PUBLISHED = "published"


def parse_feed(
    body: bytes,
    source: SourceConfig,
    *,
    base_url: str,
    content_type: str = "",
    now: datetime,
) -> list[Article]:
    """Articles from an RSS/Atom document; SourceError when it is not a feed at all."""
    # Entry HTML becomes plain text here (digest.text), so feedparser's own sanitizing
    # and rewriting of links inside it would be work thrown away. Nor is it told the
    # feed's address, unless the feed sets xml:base (whose scope it keeps only when it
    # has one): with an address, it joins it again at every element, a fifth of its
    # time. The links read here are joined to ``base_url`` below instead.
    headers = {"content-location": base_url} if _XML_BASE.search(body) else {}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(
            repair_references(_strip_leading_space(body)),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:  # feedparser means never to raise; one feed must not stop a run
        raise SourceError(f"the feed parser gave up: {type(error).__name__}: {error}") from None
    if not parsed.entries:
        _check_is_feed(parsed, body, content_type)
    language = _language(parsed.feed.get("language", ""))
    guids = Counter(e.get("id", "") for e in parsed.entries)
    unique = {guid for guid, times in guids.items() if guid and times == 1}
    read_date = DateReader(language)
    articles = []
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            article = _article(
                entry,
                source,
                base_url=base_url,
                unique_guids=unique,
                language=language,
                now=now,
                read_date=read_date,
            )
        except Exception as error:  # one odd entry must not cost the feed its others
            log.warning(
                "%s: entry %d skipped: %s: %s", source.url, number, type(error).__name__, error
            )
            continue
        if article is not None:
            articles.append(article)
    return articles


_REFERENCE = re.compile(
    rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));(?:&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));)?"
)
"""A numeric character reference, and the one right after it (the low half of a surrogate pair)."""


_XML_BASE = re.compile(rb"[\s:]base\s*=", re.I)
"""An xml:base (or base) attribute somewhere in a document."""


def repair_references(body: bytes) -> bytes:
    """``body`` with numeric references that name no character made valid, so parsers keep going.

    A surrogate pair written as two references (``&#55357;&#56832;``, as JavaScript
    would) becomes the one character it means; a lone surrogate, zero or a number
    past U+10FFFF becomes U+FFFD. Feedparser's loose parser gives up on the whole
    document at the first such reference otherwise.
    """
    if b"&#" not in body:
        return body
    return _REFERENCE.sub(_repair, body)


def _repair(match: re.Match[bytes]) -> bytes:
    first = _code_point(match.group(1), match.group(2))
    if match.group(3) is None and match.group(4) is None:
        return _reference(first)
    second = _code_point(match.group(3), match.group(4))
    if 0xD800 <= first <= 0xDBFF and 0xDC00 <= second <= 0xDFFF:
        return _reference(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    return _reference(first) + _reference(second)


def _code_point(hexadecimal: bytes | None, decimal: bytes | None) -> int:
    return int(hexadecimal, 16) if hexadecimal is not None else int(decimal or b"0")


def _reference(code: int) -> bytes:
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return b"&#%d;" % code


def _check_is_feed(parsed: Any, body: bytes, content_type: str) -> None:
    """Raise SourceError unless an entry-less document is still a feed (a quiet one)."""
    problem = parsed.get("bozo_exception")
    if not body.strip():
        raise SourceError("empty response: no feed")
    if not parsed.get("version"):
        kind = f" (the server calls it {content_type.split(';')[0]})" if content_type else ""
        raise SourceError(f"not an RSS or Atom feed{kind}")
    if problem is not None and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        raise SourceError(f"invalid XML and no entries: {_first_line(str(problem))}")


def _strip_leading_space(body: bytes) -> bytes:
    """Some servers put blank lines before <?xml, which makes XML parsers give up."""
    if body[:1].isspace():
        return body.lstrip()
    return body


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _article(
    entry: Any,
    source: SourceConfig,
    *,
    base_url: str,
    unique_guids: set[str],
    language: str,
    now: datetime,
    read_date: DateReader,
) -> Article | None:
    link = entry.get("link") or _alternate_link(entry)
    url = canonical_url(urljoin(base_url, link)) if link else ""
    title = clip(clean_line(entry.get("title", "")), MAX_TITLE)
    if not title and not url:
        return None  # nothing to show a reader and nothing to link to
    text = clip(html_to_text(_entry_html(entry)), MAX_TEXT)
    guid = entry.get("id", "")
    published = _published(entry, now=now, read_date=read_date)
    guessed = {GUESSED_TITLE} if not title else set()
    if published is None:
        guessed.add(GUESSED_PUBLISHED)
    web_url = url if url.startswith(("http://", "https://")) else ""
    return Article(
        id=article_id(guid if guid in unique_guids else "", url, source.url, title + text),
        source=source.name,
        section=source.section,
        url=web_url,
        title=title or fallback_title(text, web_url or url),
        text=text,
        published=published or now,
        dated=published is not None,
        author=clip(clean_line(entry.get("author", "")), MAX_AUTHOR),
        image=_image(entry, base_url),
        language=_language(entry.get("language", "")) or language,
        tags=tuple(
            dict.fromkeys(
                clip(clean_line(t.get("term") or ""), MAX_AUTHOR)
                for t in entry.get("tags", [])
                if t.get("term")
            )
        ),
        priority=source.priority,
        source_key=source.url,
        guessed=frozenset(guessed),
    )


def _alternate_link(entry: Any) -> str:
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return ""


def _entry_html(entry: Any) -> str:
    contents = [c.get("value", "") for c in entry.get("content", [])]
    summary = entry.get("summary", "")
    return str(max([*contents, summary], key=len))


def fallback_title(text: str, url: str) -> str:
    """A title for an entry that has none: its first words, else its link."""
    words = text.split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "") or url


DATE_KEYS = ("published", "updated", "created")


def _published(entry: Any, *, now: datetime, read_date: DateReader) -> datetime | None:
    """The entry's date as feedparser read it, else as dateparser reads its text; else None."""
    # dict.get: feedparser's own get() maps a missing 'updated' to 'published', with a warning.
    for key in DATE_KEYS:
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            # A date in the future is a feed's mistake; it must not pin the item to the top.
            return min(moment, now)
    for key in DATE_KEYS:
        text = dict.get(entry, key)
        found = read_date(text) if isinstance(text, str) and text.strip() else None
        if found is not None:
            return min(found, now)
    return None


def _image(entry: Any, base_url: str) -> Image | None:
    candidates: list[dict[str, Any]] = []
    candidates += [m for m in entry.get("media_content", []) if _is_image(m)]
    candidates += list(entry.get("media_thumbnail", []))
    candidates += [
        {"url": e.get("href"), "type": e.get("type")}
        for e in entry.get("enclosures", [])
        if _is_image(e)
    ]
    for candidate in candidates:
        url = candidate.get("url") or candidate.get("href")
        if url:
            absolute = urljoin(base_url, url)
            if absolute.startswith(("http://", "https://")):
                return Image(
                    url=absolute,
                    alt=clip(
                        clean_line(entry.get("media_description", "") or entry.get("title", "")),
                        MAX_TITLE,
                    ),
                    width=_int(candidate.get("width")),
                    height=_int(candidate.get("height")),
                )
    return None


def _is_image(media: dict[str, Any]) -> bool:
    kind = media.get("type") or ""
    return kind.startswith("image/") or media.get("medium") == "image"


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _language(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-")[0][:3] if code else ""


# --- identity -------------------------------------------------------------------------------

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|igshid|ref_src|cmpid)$", re.I
)


def canonical_url(url: str) -> str:
    """``url`` without its fragment and tracking parameters (utm_*, fbclid, ...), normalized.

    Scheme and host lower-cased, a default port dropped, percent-escapes of
    characters that need none decoded (``%7E`` is ``~``), so one page has one URL.
    """
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    if (scheme, host.rpartition(":")[2]) in (("http", "80"), ("https", "443")):
        host = host.rpartition(":")[0]
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMS.match(k)
    ]
    path = _PERCENT.sub(_unescape_unreserved, parts.path) or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _unescape_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0).upper()


def article_id(guid: str, url: str, source_key: str, content: str) -> str:
    """A stable id: a unique guid, else the canonical link, else a hash of the content.

    A guid that is a URL or URN names the item worldwide; a bare guid ("1234")
    only within its feed, so it is qualified with the source.
    """
    if guid:
        return guid if re.match(r"^[a-z][a-z0-9+.-]*:", guid, re.I) else f"{source_key}#{guid}"
    if url:
        return url
    return "sha256:" + hashlib.sha256(f"{source_key}\n{content}".encode()).hexdigest()[:32]


# --- choosing -------------------------------------------------------------------------------


def select(articles: Iterable[Article], source: SourceConfig) -> tuple[Article, ...]:
    """The source's newest wanted articles, each story once, at most ``max_items``.

    A feed that lists one story twice (the same id, or the same link and headline under
    two guids) gives one article: the newest version. Entries that only share a link
    (a podcast's episodes all pointing at its home page, a blog's posts at one page with
    different #fragments) are different posts and all kept.
    """
    # Dated entries first, newest first; undated ones (first seen now) after them.
    kept = sorted(
        (a for a in articles if _wanted(a, source)),
        key=lambda a: (a.dated, a.published),
        reverse=True,
    )
    seen: set[str] = set()
    chosen = []
    for article in kept:
        keys = {article.id, story_key(article)} - {""}
        if keys & seen:
            continue
        seen |= keys
        chosen.append(article)
    return tuple(chosen[: source.max_items])


def story_key(article: Article) -> str:
    """Link and headline: the same story under another id (re-published, or in a second
    feed); "" for an article without a link, which only its id identifies."""
    return f"{article.url}\n{article.title}" if article.url else ""


def _wanted(article: Article, source: SourceConfig) -> bool:
    if not source.include and not source.exclude:
        return True
    words = set(re.findall(r"\w+", f"{article.title} {article.text}".lower()))
    if source.include and not any(_mentions(words, term) for term in source.include):
        return False
    return not any(_mentions(words, term) for term in source.exclude)


def _mentions(words: set[str], term: str) -> bool:
    return all(w in words for w in re.findall(r"\w+", term.lower()))
