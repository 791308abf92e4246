"""The demo news site: feeds and article pages written from articles.toml for a given moment.

Dates are relative ("hours_ago"), so the demo makes a full edition on any day.
Teaser feeds carry one sentence; their text lives only on the article page,
wrapped in the site's furniture (menu, search, captions, market data, a
sign-up box), the way real news pages are.
"""

from __future__ import annotations

import struct
import tomllib
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from importlib import resources
from pathlib import Path

CONTENT = "articles.toml"
IMAGE_SIZE = (600, 320)
SECTION_COLOURS = {
    "Economy": (38, 70, 83),
    "Markets": (42, 157, 143),
    "Politics": (233, 196, 106),
    "Commodities": (244, 162, 97),
    "Central Banks": (231, 111, 81),
}


@dataclass(frozen=True)
class Outlet:
    slug: str
    name: str
    tagline: str


@dataclass(frozen=True)
class Feed:
    outlet: str
    path: str
    title: str
    section: str
    format: str
    teaser: bool


@dataclass(frozen=True)
class DemoArticle:
    slug: str
    feed: str
    hours_ago: float
    title: str
    author: str
    teaser: str
    tags: tuple[str, ...]
    image_alt: str
    event: str
    body: str

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.strip().split("\n\n") if p.strip()]


@dataclass(frozen=True)
class Content:
    outlets: dict[str, Outlet]
    feeds: dict[str, Feed]
    articles: tuple[DemoArticle, ...]

    def articles_of(self, feed: Feed) -> list[DemoArticle]:
        return sorted((a for a in self.articles if a.feed == feed.path), key=lambda a: a.hours_ago)


def load_content() -> Content:
    data = tomllib.loads(resources.files(__package__).joinpath(CONTENT).read_text(encoding="utf-8"))
    outlets = {o["slug"]: Outlet(**o) for o in data["outlets"]}
    feeds = {f["path"]: Feed(**f) for f in data["feeds"]}
    articles = tuple(DemoArticle(**{**a, "tags": tuple(a["tags"])}) for a in data["articles"])
    return Content(outlets, feeds, articles)


def write_site(
    folder: Path, *, base_url: str, now: datetime, content: Content | None = None
) -> list[Path]:
    """Write every feed, page and image of the demo site under ``folder``; return the feed paths."""
    content = content or load_content()
    base_url = base_url.rstrip("/")
    written = []
    for feed in content.feeds.values():
        outlet = content.outlets[feed.outlet]
        articles = content.articles_of(feed)
        render = _rss if feed.format == "rss" else _atom
        written.append(_write(folder / feed.path, render(feed, outlet, articles, base_url, now)))
        for article in articles:
            _write(
                folder / page_path(feed, article),
                _page(feed, outlet, article, content, base_url, now),
            )
            _write_bytes(
                folder / image_path(feed, article),
                _png(*IMAGE_SIZE, SECTION_COLOURS.get(feed.section, (90, 90, 90))),
            )
    return written


def page_path(feed: Feed, article: DemoArticle) -> str:
    return f"{feed.outlet}/news/{article.slug}.html"


def image_path(feed: Feed, article: DemoArticle) -> str:
    return f"{feed.outlet}/images/{article.slug}.png"


def guid(feed: Feed, article: DemoArticle) -> str:
    """Stable whatever the port the site is served on, so a re-run finds the same articles."""
    return f"tag:{feed.outlet}.example,2026:{article.slug}"


def published(article: DemoArticle, now: datetime) -> datetime:
    return (now - timedelta(hours=article.hours_ago)).replace(microsecond=0)


def _html_body(article: DemoArticle) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)


# --- feeds -----------------------------------------------------------------------------------


def _rss(feed: Feed, outlet: Outlet, articles: list[DemoArticle], base: str, now: datetime) -> str:
    items = []
    for a in articles:
        url = f"{base}/{page_path(feed, a)}"
        full = (
            "" if feed.teaser else f"<content:encoded><![CDATA[{_html_body(a)}]]></content:encoded>"
        )
        tags = "".join(f"<category>{escape(t)}</category>" for t in a.tags)
        items.append(
            f"""<item>
  <title>{escape(a.title)}</title>
  <link>{url}</link>
  <guid isPermaLink="false">{guid(feed, a)}</guid>
  <pubDate>{format_datetime(published(a, now))}</pubDate>
  <dc:creator>{escape(a.author)}</dc:creator>
  {tags}
  <description>{escape(a.teaser)}</description>
  {full}
  <media:content url="{base}/{image_path(feed, a)}" medium="image" type="image/png" width="{IMAGE_SIZE[0]}" height="{IMAGE_SIZE[1]}">
    <media:description>{escape(a.image_alt)}</media:description>
  </media:content>
</item>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>{escape(feed.title)}</title>
  <link>{base}/{feed.outlet}/</link>
  <description>{escape(outlet.tagline)}</description>
  <language>en-us</language>
  <lastBuildDate>{format_datetime(now.replace(microsecond=0))}</lastBuildDate>
  {"".join(items)}
</channel>
</rss>
"""


def _atom(feed: Feed, outlet: Outlet, articles: list[DemoArticle], base: str, now: datetime) -> str:
    entries = []
    for a in articles:
        url = f"{base}/{page_path(feed, a)}"
        when = published(a, now).isoformat()
        content = "" if feed.teaser else f'<content type="html">{escape(_html_body(a))}</content>'
        tags = "".join(f'<category term="{escape(t)}"/>' for t in a.tags)
        entries.append(
            f"""<entry>
  <id>{guid(feed, a)}</id>
  <title type="text">{escape(a.title)}</title>
  <link rel="alternate" type="text/html" href="{url}"/>
  <link rel="enclosure" type="image/png" href="{base}/{image_path(feed, a)}"/>
  <published>{when}</published>
  <updated>{when}</updated>
  <author><name>{escape(a.author)}</name></author>
  {tags}
  <summary type="text">{escape(a.teaser)}</summary>
  {content}
</entry>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <id>tag:{feed.outlet}.example,2026:{feed.path}</id>
  <title>{escape(feed.title)}</title>
  <subtitle>{escape(outlet.tagline)}</subtitle>
  <link rel="self" href="{base}/{feed.path}"/>
  <link rel="alternate" href="{base}/{feed.outlet}/"/>
  <updated>{now.replace(microsecond=0).isoformat()}</updated>
  {"".join(entries)}
</feed>
"""


# --- pages -----------------------------------------------------------------------------------


def _page(
    feed: Feed, outlet: Outlet, a: DemoArticle, content: Content, base: str, now: datetime
) -> str:
    sections = sorted({f.section for f in content.feeds.values() if f.outlet == feed.outlet})
    menu = "".join(f'<li><a href="{base}/{feed.outlet}/">{escape(s)}</a></li>' for s in sections)
    related = [r for r in content.articles if r.feed == feed.path and r.slug != a.slug][:3]
    related_links = "".join(
        f'<li><a href="{base}/{page_path(feed, r)}">{escape(r.title)}</a></li>' for r in related
    )
    when = published(a, now)
    image = f"{base}/{image_path(feed, a)}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(a.title)} | {escape(outlet.name)}</title>
<link rel="canonical" href="{base}/{page_path(feed, a)}">
<meta property="og:title" content="{escape(a.title)}">
<meta property="og:image" content="{image}">
<meta property="og:site_name" content="{escape(outlet.name)}">
<meta name="author" content="{escape(a.author)}">
<meta property="article:published_time" content="{when.isoformat()}">
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
<style>body {{ font-family: sans-serif; }} .ticker {{ font-size: 12px; }}</style>
</head>
<body>
<header>
  <nav class="menu"><button>Menu</button><ul>{menu}</ul></nav>
  <form class="search" action="{base}/search"><input name="q" placeholder="Search"><button>Search</button></form>
  <div class="ticker"><span>DOW 38,512.30 +0.42%</span> <span>S&amp;P 500 5,120.75 -0.18%</span> <span>BRENT $82.14 -1.10%</span> <span>EUR/USD 1.0841 +0.05%</span></div>
</header>
<main>
  <div class="breadcrumb"><a href="{base}/{feed.outlet}/">{escape(outlet.name)}</a> | {escape(feed.section)}</div>
  <article>
    <h1>{escape(a.title)}</h1>
    <p class="byline">By {escape(a.author)} · <time datetime="{when.isoformat()}">{when:%b %d, %Y %H:%M} UTC</time></p>
    <figure>
      <img src="{image}" alt="{escape(a.image_alt)}" width="{IMAGE_SIZE[0]}" height="{IMAGE_SIZE[1]}">
      <figcaption>{escape(a.title)}. Photo: {escape(outlet.name)} archive, all rights reserved</figcaption>
    </figure>
    <div class="article-body">
      {"".join(f"<p>{escape(p)}</p>" for p in a.paragraphs)}
    </div>
    <div class="share">Share: <a href="#">Twitter</a> <a href="#">LinkedIn</a> <a href="#">Email</a></div>
  </article>
  <aside class="related"><h3>Related stories</h3><ul>{related_links}</ul></aside>
  <aside class="market-data"><h3>Market Data</h3><ul><li>Gold $2,315.40 +0.6%</li><li>WTI $78.02 -1.3%</li><li>10Y UST 4.21% -3bp</li></ul></aside>
</main>
<div class="signup" role="dialog">
  <button class="close">Close</button>
  <h2>Welcome to {escape(outlet.name)}</h2>
  <p>Sign up for daily updates for the most important stories unfolding in the global economy.</p>
  <form action="{base}/subscribe"><input type="email" name="email" placeholder="Your email"><button>Sign up</button></form>
</div>
<footer><p>&copy; 2026 {escape(outlet.name)}. All rights reserved.</p><p><a href="{base}/privacy">Privacy</a> · <a href="{base}/terms">Terms</a></p></footer>
</body>
</html>
"""


# --- files -----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    return _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        # Unchanged files keep their mtime, so a re-served site answers 304 Not Modified.
        path.write_bytes(data)
    return path


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG: a real image for the demo's thumbnails, made without an imaging library."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
