from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.collect import article_id, canonical_url, collect_feeds, parse_feed
from digest.config import CollectConfig, SourceConfig
from digest.models import FetchState

from .conftest import LOCAL, HttpServer, respond

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Example</title><link>https://news.example.com/</link><language>en-gb</language>
<item>
  <title>Rates &amp; Prices: &lt;b&gt;Bank&lt;/b&gt; holds</title>
  <link>/economy/rates?utm_source=rss&amp;id=7#top</link>
  <guid isPermaLink="false">rates-7</guid>
  <pubDate>Tue, 10 Mar 2026 05:30:00 +0100</pubDate>
  <dc:creator>Ana Lima</dc:creator>
  <category>rates</category>
  <description><![CDATA[<p>The bank held rates.</p><script>alert(1)</script><p onclick="x()">Markets rose.</p>]]></description>
  <media:content url="/img/rates.png" medium="image" width="600" height="300"/>
</item>
<item>
  <title>No date here</title>
  <link>https://news.example.com/nodate</link>
  <description>Text.</description>
</item>
<item><description>Neither a title nor a link.</description></item>
</channel></rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://wire.example.org/base/">
  <title>Wire</title><id>tag:wire.example.org,2026:feed</id><updated>2026-03-10T06:00:00Z</updated>
  <entry>
    <id>tag:wire.example.org,2026:1</id>
    <title type="html">Oil &amp;amp; gas</title>
    <link rel="alternate" href="story/1"/>
    <updated>2026-03-10T06:00:00Z</updated>
    <author><name>Ben</name></author>
    <content type="html">&lt;p&gt;Oil fell.&lt;/p&gt;</content>
  </entry>
</feed>
"""


def source(url: str = "https://news.example.com/feed.xml", **changes: object) -> SourceConfig:
    return SourceConfig(name="Example", url=url, section="Economy", **changes)  # type: ignore[arg-type]


def test_an_rss_item_becomes_a_clean_article() -> None:
    articles = parse_feed(RSS, source(), base_url="https://news.example.com/feed.xml", now=NOW)
    assert len(articles) == 2, "the entry with neither title nor link is skipped"
    a = articles[0]
    assert a.id == "https://news.example.com/feed.xml#rates-7"
    assert a.url == "https://news.example.com/economy/rates?id=7"
    assert a.title == "Rates & Prices: Bank holds"
    assert a.text == "The bank held rates.\n\nMarkets rose."
    assert a.published == datetime(2026, 3, 10, 4, 30, tzinfo=UTC)
    assert a.author == "Ana Lima"
    assert a.tags == ("rates",)
    assert a.image is not None and a.image.url == "https://news.example.com/img/rates.png"
    assert (a.image.width, a.image.height) == (600, 300)
    assert a.language == "en"
    assert articles[1].published == NOW, "no date: first seen"


def test_an_atom_entry_resolves_xml_base() -> None:
    (a,) = parse_feed(ATOM, source(), base_url="https://wire.example.org/feed", now=NOW)
    assert a.id == "tag:wire.example.org,2026:1"
    assert a.url == "https://wire.example.org/base/story/1"
    assert a.title == "Oil & gas"
    assert a.text == "Oil fell."
    assert a.author == "Ben"


def test_leading_whitespace_before_the_xml_declaration_still_parses() -> None:
    articles = parse_feed(b"\n\n  " + RSS, source(), base_url="https://news.example.com/", now=NOW)
    assert len(articles) == 2


def test_canonical_urls_and_ids() -> None:
    assert (
        canonical_url("HTTPS://News.Example.com/a?utm_medium=x&b=1&fbclid=2#frag")
        == "https://news.example.com/a?b=1"
    )
    assert article_id("tag:x,2026:1", "https://e.com/a", "feed", "c") == "tag:x,2026:1"
    assert article_id("17", "https://e.com/a", "feed", "c") == "feed#17"
    assert article_id("", "https://e.com/a", "feed", "c") == "https://e.com/a"
    assert article_id("", "", "feed", "c").startswith("sha256:")
    assert article_id("", "", "feed", "c") == article_id("", "", "feed", "c")


def test_include_and_exclude_filters() -> None:
    kept = parse_feed(RSS, source(), base_url="https://news.example.com/", now=NOW)
    assert len(kept) == 2
    results = _collect_file(RSS, source(include=("markets rose",)))
    assert [a.title for a in results] == ["Rates & Prices: Bank holds"]
    results = _collect_file(RSS, source(exclude=("bank",)))
    assert [a.title for a in results] == ["No date here"]


def _collect_file(body: bytes, src: SourceConfig) -> list:  # type: ignore[type-arg]
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.xml"
        path.write_bytes(body)
        src = replace(src, url=str(path))
        (result,) = collect_feeds([src], {}, CollectConfig(allow_hosts=LOCAL), now=NOW)
        return list(result.articles)


def test_conditional_get_and_isolated_failures(http_server: HttpServer) -> None:
    (http_server.folder / "feed.xml").write_bytes(RSS)
    http_server.routes["/broken.xml"] = lambda h: respond(h, 500, b"boom")
    good, broken = source(http_server.url("feed.xml")), source(http_server.url("broken.xml"))
    first = collect_feeds([good, broken], {}, CollectConfig(allow_hosts=LOCAL), now=NOW)
    assert [r.status for r in first] == ["ok", "failed"]
    assert first[1].message == "HTTP 500 Internal Server Error"
    assert first[0].state.last_modified
    states = {r.state.key: r.state for r in first}
    second = collect_feeds(
        [good, broken], states, CollectConfig(allow_hosts=LOCAL), now=NOW + timedelta(hours=1)
    )
    assert [r.status for r in second] == ["unchanged", "failed"]
    assert second[1].state.failures == 2
    sent = http_server.requests[-2:]
    assert any("If-Modified-Since" in headers for _, headers in sent)


def test_a_slow_server_times_out_without_stopping_the_run(http_server: HttpServer) -> None:
    import time

    def slow(handler):  # type: ignore[no-untyped-def]
        time.sleep(2)
        respond(handler, 200, RSS)

    http_server.routes["/slow.xml"] = slow
    (http_server.folder / "feed.xml").write_bytes(RSS)
    settings = CollectConfig(allow_hosts=LOCAL, timeout=timedelta(seconds=0.5))
    results = collect_feeds(
        [source(http_server.url("slow.xml")), source(http_server.url("feed.xml"))],
        {},
        settings,
        now=NOW,
    )
    assert [r.status for r in results] == ["failed", "ok"]
    assert results[0].message.startswith("timed out")


def test_a_source_not_yet_due_is_skipped(http_server: HttpServer) -> None:
    url = http_server.url("feed.xml")
    state = FetchState(key=url, url=url, not_before=NOW + timedelta(minutes=10))
    (result,) = collect_feeds(
        [source(url)], {url: state}, CollectConfig(allow_hosts=LOCAL), now=NOW
    )
    assert result.status == "skipped"
    assert http_server.requests == []
