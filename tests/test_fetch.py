"""Fetching feeds over real HTTP (a server on 127.0.0.1): every answer a server can give."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import time
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from digest import pipeline
from digest.collect import USER_AGENT, Fetcher, collect_feeds
from digest.collect.fetch import MAX_COOKIE_HEADER, MAX_COOKIES
from digest.config import CollectConfig, Config, SourceConfig
from digest.models import FeedResult, FetchState
from digest.store import Store

from .conftest import FIXED_NOW, LOCAL, HttpServer, respond

NOW = FIXED_NOW
Handler = http.server.BaseHTTPRequestHandler


def rss(*titles: str, encoding: str = "utf-8") -> str:
    items = "".join(
        f"<item><title>{t}</title><link>https://news.example.com/{n}</link>"
        f"<guid>https://news.example.com/{n}</guid><description>Text of {t}.</description></item>"
        for n, t in enumerate(titles)
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>Example</title>{items}</channel></rss>\n"
    )


FEED = rss("Rates held", "Oil falls").encode()


def source(url: str) -> SourceConfig:
    return SourceConfig(name="Example", url=url, section="News", full_text="never")


def fetch(
    server: HttpServer,
    path: str,
    *,
    state: FetchState | None = None,
    settings: CollectConfig | None = None,
    now=NOW,  # type: ignore[no-untyped-def]
) -> FeedResult:
    url = server.url(path)
    states = {url: state} if state else {}
    (result,) = collect_feeds(
        [source(url)], states, settings or CollectConfig(allow_hosts=LOCAL), now=now
    )
    return result


def serve(server: HttpServer, path: str, status: int, body: bytes = b"", **headers: str) -> None:
    server.routes[path] = lambda h: respond(h, status, body, **headers)


def test_200_gives_articles_and_sends_an_honest_user_agent(http_server: HttpServer) -> None:
    serve(http_server, "/feed", 200, FEED, Content_Type="application/rss+xml")
    result = fetch(http_server, "feed")
    assert result.status == "ok"
    assert sorted(a.title for a in result.articles) == ["Oil falls", "Rates held"]
    assert result.state.last_success == NOW and result.state.failures == 0
    _, headers = http_server.requests[0]
    assert headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("digest/")
    assert "application/rss+xml" in headers["Accept"]


def conditional(validator: str, value: str):  # type: ignore[no-untyped-def]
    """A route that answers 304 when the request carries the validator it handed out."""
    request_header = {"ETag": "If-None-Match", "Last-Modified": "If-Modified-Since"}[validator]

    def route(handler: Handler) -> None:
        if handler.headers.get(request_header) == value:
            respond(handler, 304)
        else:
            respond(handler, 200, FEED, **{validator.replace("-", "_"): value})

    return route


def test_304_with_an_etag(http_server: HttpServer) -> None:
    http_server.routes["/feed"] = conditional("ETag", '"v1"')
    first = fetch(http_server, "feed")
    assert first.status == "ok" and first.state.etag == '"v1"'
    again = fetch(http_server, "feed", state=first.state, now=NOW + timedelta(hours=1))
    assert again.status == "unchanged" and again.articles == ()
    assert again.state.last_success == NOW + timedelta(hours=1)
    assert http_server.requests[-1][1]["If-None-Match"] == '"v1"'


def test_304_with_last_modified(http_server: HttpServer) -> None:
    stamp = format_datetime(NOW - timedelta(days=1), usegmt=True)
    http_server.routes["/feed"] = conditional("Last-Modified", stamp)
    first = fetch(http_server, "feed")
    assert first.status == "ok" and first.state.last_modified == stamp
    again = fetch(http_server, "feed", state=first.state)
    assert again.status == "unchanged"
    assert http_server.requests[-1][1]["If-Modified-Since"] == stamp


def test_permanent_redirects_are_remembered_in_the_store_and_temporary_ones_are_not(
    http_server: HttpServer, store: Store
) -> None:
    serve(http_server, "/new", 200, FEED)
    serve(http_server, "/moved-301", 301, Location=http_server.url("new"))
    serve(http_server, "/moved-308", 308, Location=http_server.url("new"))
    serve(http_server, "/moved-302", 302, Location=http_server.url("new"))
    config = Config(
        data_dir=store.data_dir,
        sources=tuple(source(http_server.url(p)) for p in ("moved-301", "moved-308", "moved-302")),
        collect=CollectConfig(allow_hosts=LOCAL),
    )
    report = pipeline.collect(config, store, now=NOW)
    assert [r.status for r in report.results] == ["ok", "ok", "ok"]
    moved = {p: store.fetch_state(http_server.url(p)).url for p in ("moved-301", "moved-308")}
    assert moved == {"moved-301": http_server.url("new"), "moved-308": http_server.url("new")}
    assert store.fetch_state(http_server.url("moved-302")).url == http_server.url("moved-302")
    pipeline.collect(config, store, now=NOW + timedelta(hours=1))
    assert (http_server.hits("moved-301"), http_server.hits("moved-308")) == (1, 1)
    assert http_server.hits("moved-302") == 2, "a temporary redirect is followed every time"


def test_410_disables_the_source_with_a_notice(http_server: HttpServer, store: Store) -> None:
    serve(http_server, "/gone", 410, b"gone")
    config = Config(
        data_dir=store.data_dir,
        sources=(source(http_server.url("gone")),),
        collect=CollectConfig(allow_hosts=LOCAL),
    )
    (result,) = pipeline.collect(config, store, now=NOW).results
    assert result.status == "disabled"
    assert result.message == "410 Gone: source disabled; remove it from the config"
    assert store.fetch_state(http_server.url("gone")).disabled.startswith("410 Gone")
    (later,) = pipeline.collect(config, store, now=NOW + timedelta(days=1)).results
    assert later.status == "disabled" and http_server.hits("gone") == 1


def test_404_and_500_fail_and_count_consecutive_failures(http_server: HttpServer) -> None:
    serve(http_server, "/missing", 404, b"no")
    serve(http_server, "/broken", 500, b"boom")
    missing = fetch(http_server, "missing")
    assert (missing.status, missing.message) == ("failed", "HTTP 404 Not Found")
    broken = fetch(http_server, "broken")
    assert (broken.status, broken.message) == ("failed", "HTTP 500 Internal Server Error")
    again = fetch(http_server, "broken", state=broken.state)
    assert again.state.failures == 2 and again.state.last_error == "HTTP 500 Internal Server Error"


def test_429_with_retry_after_skips_the_source_until_then(http_server: HttpServer) -> None:
    serve(http_server, "/busy", 429, b"slow down", Retry_After="120")
    result = fetch(http_server, "busy")
    assert result.status == "failed"
    assert result.state.not_before == NOW + timedelta(seconds=120)
    assert result.message == "HTTP 429; retrying after 07:02 UTC"
    early = fetch(http_server, "busy", state=result.state, now=NOW + timedelta(seconds=60))
    assert early.status == "skipped" and http_server.hits("busy") == 1
    serve(http_server, "/busy", 200, FEED)
    due = fetch(http_server, "busy", state=result.state, now=NOW + timedelta(seconds=121))
    assert due.status == "ok" and http_server.hits("busy") == 2


def test_503_with_an_http_date_and_cache_control_max_age(http_server: HttpServer) -> None:
    when = format_datetime(NOW + timedelta(minutes=10), usegmt=True)
    serve(http_server, "/maintenance", 503, b"", Retry_After=when)
    assert fetch(http_server, "maintenance").state.not_before == NOW + timedelta(minutes=10)
    serve(http_server, "/cached", 200, FEED, Cache_Control="public, max-age=900")
    cached = fetch(http_server, "cached")
    assert cached.status == "ok" and cached.state.not_before == NOW + timedelta(minutes=15)
    assert fetch(http_server, "cached", state=cached.state).status == "skipped"


def test_a_server_slower_than_the_timeout(http_server: HttpServer) -> None:
    def slow(handler: Handler) -> None:
        time.sleep(1.5)
        respond(handler, 200, FEED)

    http_server.routes["/slow"] = slow
    serve(http_server, "/fast", 200, FEED)
    settings = CollectConfig(allow_hosts=LOCAL, timeout=timedelta(seconds=0.5))
    urls = [http_server.url("slow"), http_server.url("fast")]
    started = time.monotonic()
    results = collect_feeds([source(u) for u in urls], {}, settings, now=NOW)
    assert time.monotonic() - started < 1.4
    assert [r.status for r in results] == ["failed", "ok"]
    assert results[0].message == "timed out after 0.5s"


def test_a_redirect_loop(http_server: HttpServer) -> None:
    serve(http_server, "/a", 302, Location=http_server.url("b"))
    serve(http_server, "/b", 302, Location=http_server.url("a"))
    result = fetch(http_server, "a")
    assert (result.status, result.message) == ("failed", "more than 5 redirects (a redirect loop?)")


def test_a_cookie_set_on_the_way_is_sent_back_where_it_applies(http_server: HttpServer) -> None:
    """A site that redirects until its cookie comes back (a consent or a bot check)."""

    def feed(handler: Handler) -> None:
        if "seen=yes" in (handler.headers.get("Cookie") or ""):
            respond(handler, 200, FEED)
        else:
            respond(handler, 302, Location=http_server.url("check"))

    http_server.routes["/feed"] = feed
    serve(
        http_server,
        "/check",
        302,
        Location=http_server.url("feed"),
        Set_Cookie="seen=yes; Path=/; HttpOnly",
    )
    result = fetch(http_server, "feed")
    assert (result.status, len(result.articles)) == ("ok", 2), result.message
    cookies = [headers.get("Cookie") for path, headers in http_server.requests]
    assert cookies == [None, None, "seen=yes"]


@pytest.mark.parametrize("value", ["1", "x" * 40])
def test_one_answer_setting_a_thousand_cookies(http_server: HttpServer, value: str) -> None:
    """MAX_COOKIES are kept however many one answer sets, and the Cookie header sent back
    stays within MAX_COOKIE_HEADER bytes, made of whole cookies."""
    cookies = [f"c{n:04}={value}" for n in range(1000)]

    def check(handler: Handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", http_server.url("feed"))
        for cookie in cookies:
            handler.send_header("Set-Cookie", f"{cookie}; Path=/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    http_server.routes["/check"] = check
    http_server.routes["/feed"] = lambda handler: (
        respond(handler, 200, FEED)
        if handler.headers.get("Cookie")
        else respond(handler, 302, Location=http_server.url("check"))
    )
    result = fetch(http_server, "feed")
    assert (result.status, len(result.articles)) == ("ok", 2), result.message
    sent = [headers.get("Cookie", "") for path, headers in http_server.requests]
    assert [bool(cookie) for cookie in sent] == [False, False, True]
    back = sent[2].split("; ")
    assert set(back) <= set(cookies) and len(back) == len(set(back))
    if value == "1":  # 300 short ones fit in the header
        assert len(back) == MAX_COOKIES
    else:  # 300 of 47 bytes do not: as many as fit
        assert len(sent[2]) <= MAX_COOKIE_HEADER < len(sent[2]) + len("; " + cookies[0])


def test_a_server_updates_and_deletes_its_cookies(http_server: HttpServer) -> None:
    """A cookie set again replaces the one kept, and one set to expire is no longer sent,
    also when MAX_COOKIES are already kept (a full jar takes updates, not new cookies)."""
    filler = [f"f{n:03}=1" for n in range(MAX_COOKIES - 2)]

    def step(path: str, following: str, *set_cookies: str) -> None:
        def answer(handler: Handler) -> None:
            handler.send_response(302)
            handler.send_header("Location", http_server.url(following))
            for cookie in set_cookies:
                handler.send_header("Set-Cookie", f"{cookie}; Path=/")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        http_server.routes[path] = answer

    step("/a", "b", "session=one", "gone=soon", *filler)  # the jar is full
    step("/b", "c", "session=two", "gone=; Max-Age=0", "late=1")  # an update, a deletion, a new one
    step("/c", "feed", "late=2", "extra=1")  # the jar is full again: an update, a new one
    serve(http_server, "/feed", 200, FEED)
    result = fetch(http_server, "a")
    assert (result.status, len(result.articles)) == ("ok", 2), result.message
    sent = [set((headers.get("Cookie") or "").split("; ")) for _, headers in http_server.requests]
    assert {"session=one", "gone=soon"} <= sent[1] and "late=1" not in sent[1]
    assert "session=two" in sent[2] and "session=one" not in sent[2]
    assert not any(c.startswith("gone=") for c in sent[2])
    assert "late=1" in sent[2]  # the deletion made room for it
    assert "late=2" in sent[3] and "late=1" not in sent[3] and "extra=1" not in sent[3]
    assert len(sent[3]) == MAX_COOKIES


def test_no_cookie_is_kept_for_a_public_suffix() -> None:
    """A site under github.io or co.uk cannot set a cookie that every other site under it
    would be sent, nor an address one for other addresses; one for its own name, or its
    registrable domain, is kept."""
    fetcher = Fetcher(CollectConfig())
    offered = [
        ("https://feeds.evil.github.io/rss", "a=1; Domain=github.io"),
        ("https://news.example.co.uk/rss", "b=1; Domain=.co.uk"),
        ("https://feeds.mine.github.io/rss", "c=1; Domain=mine.github.io"),
        ("https://news.example.co.uk/rss", "d=1; Domain=example.co.uk"),
        ("https://news.example.co.uk/rss", "e=1"),
        ("http://203.0.113.5/rss", "f=1; Domain=0.113.5"),  # an address has no subdomains
        ("http://203.0.113.5/rss", "g=1; Domain=203.0.113.5"),
    ]
    for url, cookie in offered:
        fetcher._keep_cookies(httpx.URL(url), 200, httpx.Headers({"Set-Cookie": cookie}))
    assert sorted(c.name for c in fetcher.cookies.jar) == ["c", "d", "e", "g"]
    sent = {
        url: fetcher._cookies_for(httpx.URL(url)).get("Cookie", "")
        for url in (
            "https://other.github.io/",
            "https://other.co.uk/",
            "https://www.example.co.uk/",
            "http://198.0.113.5/",
            "http://203.0.113.5/",
        )
    }
    assert sent == {
        "https://other.github.io/": "",
        "https://other.co.uk/": "",
        "https://www.example.co.uk/": "d=1",
        "http://198.0.113.5/": "",
        "http://203.0.113.5/": "g=1",
    }


def test_an_over_size_body_declared_or_streamed(http_server: HttpServer) -> None:
    big = rss(*[f"Story {n}" for n in range(400)]).encode()

    def streamed(handler: Handler) -> None:
        # No Content-Length: the body is cut off while it streams in.
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(big)

    serve(http_server, "/declared", 200, big)
    http_server.routes["/streamed"] = streamed
    settings = CollectConfig(allow_hosts=LOCAL, max_bytes=10_000)
    declared = fetch(http_server, "declared", settings=settings)
    assert declared.status == "failed"
    assert declared.message == (
        f"body of {len(big):,} bytes is over the 10,000-byte cap (collect.max_bytes)"
    )
    streamed_result = fetch(http_server, "streamed", settings=settings)
    assert streamed_result.message == "body is over the 10,000-byte cap (collect.max_bytes)"


def test_gzip_with_content_encoding_and_a_gzip_file_served_raw(http_server: HttpServer) -> None:
    serve(http_server, "/encoded", 200, gzip.compress(FEED), Content_Encoding="gzip")
    serve(http_server, "/raw.xml.gz", 200, gzip.compress(FEED), Content_Type="application/xml")
    for path in ("encoded", "raw.xml.gz"):
        result = fetch(http_server, path)
        assert result.status == "ok" and len(result.articles) == 2, path
    bomb = gzip.compress(b" " * 200_000)
    serve(http_server, "/bomb", 200, bomb, Content_Type="application/xml")
    small = fetch(http_server, "bomb", settings=CollectConfig(allow_hosts=LOCAL, max_bytes=50_000))
    assert small.message == "body is over the 50,000-byte cap (collect.max_bytes) once unzipped"


def test_a_feed_with_a_wrong_content_type_still_parses(http_server: HttpServer) -> None:
    for n, kind in enumerate(
        ("text/html; charset=utf-8", "text/plain", "application/octet-stream")
    ):
        serve(http_server, f"/feed{n}", 200, FEED, Content_Type=kind)
        result = fetch(http_server, f"feed{n}")
        assert result.status == "ok" and len(result.articles) == 2, kind


def test_an_html_page_is_not_a_feed(http_server: HttpServer) -> None:
    page = b"<!DOCTYPE html><html><head><title>News</title></head><body><p>Hi</p></body></html>"
    serve(http_server, "/page", 200, page, Content_Type="text/html; charset=utf-8")
    result = fetch(http_server, "page")
    assert result.status == "failed"
    assert result.message == "not an RSS or Atom feed (the server calls it text/html)"
    serve(http_server, "/empty", 200, b"", Content_Type="application/xml")
    assert fetch(http_server, "empty").message == "empty response: no feed"


def test_invalid_xml_keeps_what_can_be_read(http_server: HttpServer) -> None:
    broken = rss("Bonds & stocks", "Gold <b>up").encode()  # a bare "&" and an unclosed tag
    serve(http_server, "/broken", 200, broken)
    result = fetch(http_server, "broken")
    assert result.status == "ok"
    assert {a.title for a in result.articles} == {"Bonds & stocks", "Gold up"}
    truncated = b'<?xml version="1.0"?><rss version="2.0"><channel><title>X</title><ite'
    serve(http_server, "/truncated", 200, truncated)
    failed = fetch(http_server, "truncated")
    assert failed.status == "failed" and failed.message.startswith("invalid XML and no entries:")


def test_mis_declared_encodings_still_read_right(http_server: HttpServer) -> None:
    text = rss("Café com ação", "Über München")
    says_utf8_is_latin1 = text.encode("latin-1")
    serve(http_server, "/latin1", 200, says_utf8_is_latin1, Content_Type="application/xml")
    header_says_latin1 = text.encode("utf-8")
    serve(
        http_server,
        "/utf8",
        200,
        header_says_latin1,
        Content_Type="application/rss+xml; charset=iso-8859-1",
    )
    for path in ("latin1", "utf8"):
        result = fetch(http_server, path)
        assert {a.title for a in result.articles} == {"Café com ação", "Über München"}, path


def test_a_kept_alive_connection_the_server_closed_is_not_reused(
    http_server: HttpServer,
) -> None:
    # The server answers, then closes the connection without a word (as an idle keep-alive
    # times out); the next request must notice and connect again instead of failing.
    def then_close(handler: Handler) -> None:
        respond(handler, 200, FEED, Content_Type="application/rss+xml")
        handler.close_connection = True

    http_server.routes["/closing.xml"] = then_close

    async def twice() -> list[int]:
        statuses = []
        async with Fetcher(CollectConfig(allow_hosts=LOCAL)) as fetcher:
            for _ in range(2):
                statuses.append((await fetcher.get(http_server.url("closing.xml"))).status)
                await asyncio.sleep(0.2)  # the server's close arrives
        return statuses

    assert asyncio.run(twice()) == [200, 200]
