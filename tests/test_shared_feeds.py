"""Every real and edge-case feed in ../shared/data/feeds, served over HTTP, collected in one run.

The expectation is computed with feedparser directly, not with digest's code:
an entry counts when it has a link or a visible title. How digest identifies an
entry is the documented rule, applied here to what feedparser reports:

* an entry with an http(s) link is found by that link (fragment and utm_*
  parameters aside, percent-escapes decoded), unless it carries a guid that is
  a URI (a URL or URN) and unique in its feed, and a stored article has that
  id: the same guid in two feeds is one story (many test files reuse the Atom
  spec's ``urn:uuid:1225c695-…`` or ``http://example.com/1``);
* a guid repeated inside one feed names nothing, so those entries go by link;
* an entry with neither link nor guid is found by its title within its source
  (several entries may share a title, e.g. a status feed's "Support System -
  Up", each with its own bare guid: then there are as many articles as such
  entries at most, and at least one);
* an entry with neither a link nor a visible title (a title that is only
  markup, such as the sanitizer tests' ``<a onclick=…>``) is skipped;
* gzip files served as they are (``node-feedparser__compressed.xml``) are
  unzipped first, and the ``Header:`` comments of feedparser's encoding tests
  are sent as HTTP headers, as feedparser's own test harness does.

Every stored article must be the match of some entry, and every entry must
match exactly one stored article.
"""

from __future__ import annotations

import gzip
import html
import http.server
import re
import sqlite3
import subprocess
from collections import Counter, defaultdict
from contextlib import closing
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import feedparser
import pytest

from .conftest import FIXED_NOW, SHARED, HttpServer, digest_command, respond

FEEDS = SHARED / "data" / "feeds"
pytestmark = pytest.mark.skipif(not FEEDS.is_dir(), reason="../shared/data/feeds is not here")

HEADER = re.compile(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.M)
URI = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
LAST_MODIFIED = format_datetime(FIXED_NOW, usegmt=True)


def feed_files() -> list[Path]:
    return sorted(FEEDS.glob("real/*")) + sorted(FEEDS.glob("edge/*"))


def served_headers(raw: bytes) -> dict[str, str]:
    """The headers a file is served with: its Header: comments, else application/xml."""
    body = gzip.decompress(raw) if raw.startswith(b"\x1f\x8b") else raw
    found = {k.decode().lower(): v.decode() for k, v in HEADER.findall(body[:2000])}
    return {"content-type": "application/xml", **found}


def serve_file(raw: bytes):  # type: ignore[no-untyped-def]
    headers = served_headers(raw)

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.headers.get("If-Modified-Since") == LAST_MODIFIED:
            respond(handler, 304)
            return
        extra = (
            {"Content_Location": headers["content-location"]}
            if "content-location" in headers
            else {}
        )
        respond(
            handler,
            200,
            raw,
            Content_Type=headers["content-type"],
            Last_Modified=LAST_MODIFIED,
            **extra,
        )

    return route


def link_key(url: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removesuffix(":80")
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
    )
    return parts.scheme.lower(), host, unquote(parts.path or "/"), tuple(query)


def visible(title: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", title or "")).split())


def expected_entries(path: Path, url: str) -> list[dict[str, object]]:
    """What feedparser alone finds in the file as served: entries with a link or a visible title."""
    raw = path.read_bytes()
    body = gzip.decompress(raw) if raw.startswith(b"\x1f\x8b") else raw
    headers = served_headers(raw)
    parsed = feedparser.parse(
        body.lstrip(),
        response_headers={
            "content-type": headers["content-type"],
            "content-location": urljoin(url, headers.get("content-location", "")),
        },
    )
    guids = Counter(e.get("id") or "" for e in parsed.entries)
    entries = []
    for entry in parsed.entries:
        link, title, guid = (
            entry.get("link") or "",
            visible(entry.get("title", "")),
            entry.get("id") or "",
        )
        web_link = link if link.startswith(("http://", "https://")) else ""
        if not web_link and not title and not link:
            continue
        entries.append(
            {
                "source": url,
                "link": link_key(web_link) if web_link else None,
                "guid": guid if URI.match(guid) and guids[guid] == 1 else "",
                "title": title,
            }
        )
    return entries


def write_config(path: Path, data_dir: Path, urls: list[str]) -> None:
    lines = [
        f'data_dir = "{data_dir.as_posix()}"',
        "[collect]",
        'allow_hosts = ["127.0.0.1"]',
        "concurrency = 32",
        "per_host = 32",
    ]
    for url in urls:
        name = url.rsplit("/", 1)[1]
        lines += [
            "[[sources]]",
            f'name = "{name}"',
            f'url = "{url}"',
            'full_text = "never"',
            "max_items = 100000",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_every_shared_feed_is_collected_and_each_entry_stored_once(
    http_server: HttpServer, tmp_path: Path
) -> None:
    files = feed_files()
    urls = {}
    for path in files:
        route = f"/{path.parent.name}/{path.name}"
        http_server.routes[route] = serve_file(path.read_bytes())
        urls[path] = http_server.url(route)
    config = tmp_path / "digest.toml"
    write_config(config, tmp_path / "data", list(urls.values()))

    first = subprocess.run(
        digest_command("--config", str(config), "collect"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Traceback" not in first.stderr + first.stdout

    with closing(sqlite3.connect(tmp_path / "data" / "digest.sqlite3")) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT id, url, title, source_key FROM articles")]
        states = {r["key"]: dict(r) for r in db.execute("SELECT * FROM sources")}

    entries = {path: expected_entries(path, url) for path, url in urls.items()}
    for path, url in urls.items():
        if path.parent.name == "real":
            assert states[url]["last_error"] == "", (path.name, states[url]["last_error"])
        elif states[url]["last_error"]:
            # A feed digest calls broken is one in which feedparser finds no entry either.
            assert entries[path] == [], (path.name, states[url]["last_error"])

    by_id = {row["id"]: n for n, row in enumerate(rows)}
    by_link: defaultdict[object, set[int]] = defaultdict(set)
    by_title: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for n, row in enumerate(rows):
        if row["url"]:
            by_link[link_key(row["url"])].add(n)
        else:
            by_title[row["source_key"], visible(row["title"])].add(n)
    matched: set[int] = set()
    problems = []
    titled = Counter(
        (e["source"], e["title"])
        for listed in entries.values()
        for e in listed
        if not e["link"] and not e["guid"]
    )
    for path, listed in entries.items():
        for entry in listed:
            if entry["guid"] in by_id:
                hits = {by_id[entry["guid"]]}  # type: ignore[index]
            elif entry["link"]:
                hits = by_link[entry["link"]]
            else:
                hits = by_title[entry["source"], entry["title"]]  # type: ignore[index]
                if 1 <= len(hits) <= titled[entry["source"], entry["title"]]:
                    matched |= hits
                    continue
            if len(hits) != 1:
                problems.append((path.name, entry, [rows[n] for n in hits]))
            matched |= hits
    assert problems == []
    assert [rows[n] for n in range(len(rows)) if n not in matched] == [], "stored, not in any feed"
    assert len(rows) > 1800

    # Again, with nothing new: every feed that worked answers 304; nothing is added or changed.
    second = subprocess.run(
        digest_command("--config", str(config), "collect"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert second.returncode == 0 and "Traceback" not in second.stderr
    worked = sum(1 for s in states.values() if not s["last_error"])
    failed = len(states) - worked
    assert second.stdout.strip().splitlines()[-1] == (
        f"{len(files)} sources: 0 succeeded, {worked} unchanged, {failed} failed, "
        "0 not due, 0 disabled; 0 new articles, 0 updated"
    )
    with closing(sqlite3.connect(tmp_path / "data" / "digest.sqlite3")) as db:
        assert db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == len(rows)
