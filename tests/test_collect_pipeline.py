"""Collect through the pipeline, with a real HTTP server and a real store: full text, dedupe,
updates in place, and nothing from a feed or a page reaching an email as markup."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import lxml.html

from digest import cycle, pipeline
from digest.config import CollectConfig, Config, EditionConfig, SourceConfig
from digest.store import Store

from .conftest import FIXED_NOW, LOCAL, HttpServer

NOW = FIXED_NOW
BODY = (
    "The central bank held its main interest rate at 4% on Thursday, as most economists had "
    "expected, and signalled that cuts were still some months away. Governor Ana Lima said "
    "inflation had fallen faster than forecast but that wage growth remained too strong. "
)


def page(title: str, paragraphs: int = 6, *, extra_head: str = "", extra_body: str = "") -> str:
    story = "".join(f"<p>{BODY}Paragraph {n} adds its own detail.</p>" for n in range(paragraphs))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | News</title>
<meta property="og:title" content="{title}">{extra_head}</head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/m">Markets</a></li></ul></nav>
<div class="ticker">DOW 38,512.30 +0.42% S&amp;P 500 5,120.75 -0.18%</div>
<article><h1>{title}</h1>
<figure><img src="/i.png"><figcaption>The bank. Photo: Reuters</figcaption></figure>
{story}{extra_body}</article>
<aside><h3>Market Data</h3><ul><li>Gold $2,315.40 +0.6%</li></ul></aside>
<div class="signup"><h2>Welcome to News</h2><p>Sign up for daily updates for the most important stories unfolding in the global economy.</p></div>
<footer><p>&copy; 2026 News. All rights reserved.</p></footer></body></html>"""


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>News</title>'
        + "".join(items)
        + "</channel></rss>"
    )


def item(
    *,
    title: str = "",
    link: str = "",
    guid: str = "",
    date: str = "",
    text: str = "A one-line teaser.",
) -> str:
    parts = [f"<title>{title}</title>" if title else "", f"<link>{link}</link>" if link else ""]
    parts += [f"<guid>{guid}</guid>" if guid else "", f"<pubDate>{date}</pubDate>" if date else ""]
    return "<item>" + "".join(parts) + f"<description>{text}</description></item>"


def write(server: HttpServer, path: str, text: str) -> str:
    """Write a file the server serves; a rewrite gets a later mtime, so a new Last-Modified."""
    target = server.folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    later = target.stat().st_mtime + 60 if target.exists() else None
    target.write_text(text, encoding="utf-8")
    if later is not None:
        os.utime(target, (later, later))
    return server.url(path)


def config_for(store: Store, *sources: SourceConfig) -> Config:
    return Config(
        data_dir=store.data_dir,
        sources=sources,
        edition=EditionConfig(top_stories=1),
        collect=CollectConfig(allow_hosts=LOCAL),
    )


def test_a_teaser_is_completed_from_its_page_without_the_furniture(
    http_server: HttpServer, store: Store
) -> None:
    dated_head = (
        '<meta name="author" content="Ana Lima">'
        '<meta property="og:image" content="https://img.example.com/bank.jpg">'
        '<meta property="article:published_time" content="2026-03-09T18:30:00+00:00">'
    )
    link = write(http_server, "news/rates.html", page("Rates held at 4%", extra_head=dated_head))
    feed = write(http_server, "feed.xml", rss(item(link=link, guid="tag:news,2026:1")))
    config = config_for(store, SourceConfig(name="News", url=feed))
    report = pipeline.collect(config, store, now=NOW)
    assert report.page_errors == []
    (article,) = store.latest_articles(10)
    assert article.text.count("Paragraph") == 6
    for furniture in ("Sign up", "Welcome to News", "DOW 38,512", "Market Data", "Photo: Reuters"):
        assert furniture not in article.text
    assert "Home" not in article.text.split("\n\n")
    # The feed had no title, no date, no author, no image: the page gives them.
    assert article.title == "Rates held at 4%"
    assert article.published.isoformat() == "2026-03-09T18:30:00+00:00"
    assert article.author == "Ana Lima"
    assert article.image is not None and article.image.url == "https://img.example.com/bank.jpg"


def test_full_text_always_and_never(http_server: HttpServer, store: Store) -> None:
    long_text = " ".join(["Words of a full story in the feed itself."] * 20)
    link = write(http_server, "news/a.html", page("Story A"))
    feed = write(
        http_server, "feed.xml", rss(item(title="Story A", link=link, guid="a", text=long_text))
    )
    never = write(
        http_server, "never.xml", rss(item(title="Story B", link=http_server.url("news/b.html")))
    )
    config = config_for(
        store,
        SourceConfig(name="Always", url=feed, full_text="always"),
        SourceConfig(name="Never", url=never, full_text="never"),
    )
    pipeline.collect(config, store, now=NOW)
    texts = {a.title: a.text for a in store.latest_articles(10)}
    assert texts["Story A"].count("Paragraph") == 6, "always: the page even for a long entry"
    assert texts["Story B"] == "A one-line teaser.", "never: no page fetched"
    assert http_server.hits("news/b.html") == 0


def test_the_same_story_in_two_feeds_and_republished_under_a_new_guid_is_one_article(
    http_server: HttpServer, store: Store
) -> None:
    full = " ".join(["The full story as the wire tells it."] * 20)
    url = "https://news.example.com/story"
    wire = write(
        http_server,
        "wire.xml",
        rss(item(title="Oil falls", link=url, guid="tag:wire,2026:9", text=full)),
    )
    paper = write(
        http_server,
        "paper.xml",
        rss(item(title="Oil falls 3%", link=url + "?utm_source=rss#top", guid="p-1", text=full)),
    )
    config = config_for(
        store,
        SourceConfig(name="Wire", url=wire, full_text="never"),
        SourceConfig(name="Paper", url=paper, full_text="never"),
    )
    first = pipeline.collect(config, store, now=NOW)
    assert (first.new, first.updated) == (1, 0)
    (stored,) = store.latest_articles(10)
    assert (stored.source, stored.title) == ("Wire", "Oil falls")
    # The wire re-publishes the story under a new guid: still the same article.
    write(
        http_server,
        "wire.xml",
        rss(item(title="Oil falls", link=url, guid="tag:wire,2026:10", text=full)),
    )
    again = pipeline.collect(config, store, now=NOW + timedelta(hours=1))
    assert [r.status for r in again.results] == ["ok", "unchanged"]
    assert (again.new, again.updated) == (0, 0)
    assert [a.id for a in store.latest_articles(10)] == ["tag:wire,2026:9"]


def test_an_entry_whose_content_changed_is_updated_in_place(
    http_server: HttpServer, store: Store
) -> None:
    def feed_with(title: str, text: str) -> str:
        return rss(
            item(
                title=title,
                link="https://news.example.com/jobs",
                guid="tag:news,2026:jobs",
                date="Mon, 09 Mar 2026 12:00:00 GMT",
                text=text,
            )
        )

    first_text = " ".join(["Payrolls rose by 150,000 in February."] * 20)
    feed = write(http_server, "feed.xml", feed_with("Payrolls rise", first_text))
    config = config_for(store, SourceConfig(name="News", url=feed, full_text="never"))
    pipeline.collect(config, store, now=NOW)
    (before,) = store.latest_articles(10)
    corrected = first_text.replace("150,000", "175,000")
    write(http_server, "feed.xml", feed_with("Payrolls rise more than thought", corrected))
    report = pipeline.collect(config, store, now=NOW + timedelta(hours=2))
    assert (report.new, report.updated) == (0, 1)
    (after,) = store.latest_articles(10)
    assert after.id == before.id and after.published == before.published
    assert after.title == "Payrolls rise more than thought" and "175,000" in after.text


def test_nothing_from_a_feed_or_a_page_reaches_the_email_as_markup(
    http_server: HttpServer, store: Store, tmp_path: Path
) -> None:
    hostile_page = page(
        "Rates <script>alert(1)</script>held",
        extra_head="<script>steal()</script><style>p{}</style>",
        extra_body=(
            '<p onclick="steal()">Clicked <a href="javascript:steal()">here</a>.</p>'
            '<iframe src="https://evil.example.com/"></iframe>'
        ),
    )
    link = write(http_server, "news/x.html", hostile_page)
    entries = [
        item(
            title="Bank &lt;img src=x onerror=steal()&gt; holds &lt;script&gt;x()&lt;/script&gt;",
            link="javascript:steal()",
            guid="tag:x,2026:1",
            text="<![CDATA[<p onmouseover='steal()'>Teaser</p><script>steal()</script>"
            "<iframe src='https://evil.example.com/'></iframe><style>b{}</style>]]>",
        ),
        item(title="Second", link=link, guid="tag:x,2026:2"),
        "<item><title>Picture</title><link>https://news.example.com/p</link>"
        '<enclosure url="javascript:steal()" type="image/png"/></item>',
    ]
    feed = write(http_server, "feed.xml", rss(*entries))
    config = Config(
        data_dir=store.data_dir,
        sources=(SourceConfig(name="News <b>Wire</b>", url=feed),),
        collect=CollectConfig(allow_hosts=LOCAL),
    )
    pipeline.collect(config, store, now=NOW)
    built = pipeline.build(config, store, now=NOW)
    assert built.email is not None
    html = built.paths["edition.html"].read_text(encoding="utf-8")
    document = lxml.html.fromstring(html)
    assert not document.xpath("//script | //iframe | //object | //embed")
    for element in document.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, name)
    assert "<script" not in html.lower() and "p{}" not in html and "b{}" not in html
    titles = {a.title for a in store.latest_articles(10)}
    assert titles == {"Bank holds", "Second", "Picture"}, "markup in a title is not text"
    assert all(a.image is None for a in store.latest_articles(10) if a.title == "Picture")


def test_many_pages_are_extracted_in_worker_processes(
    http_server: HttpServer, store: Store
) -> None:
    count = pipeline.PARALLEL_PAGES + 6
    links = [write(http_server, f"news/{n}.html", page(f"Story {n}", 3)) for n in range(count)]
    entries = [item(title=f"Story {n}", link=link, guid=f"s{n}") for n, link in enumerate(links)]
    feed = write(http_server, "feed.xml", rss(*entries))
    config = config_for(store, SourceConfig(name="News", url=feed, max_items=count))
    report = pipeline.collect(config, store, now=NOW)
    assert report.new == count and report.page_errors == []
    articles = store.latest_articles(count)
    assert all(a.text.count("Paragraph") == 3 for a in articles)
    assert all("Sign up" not in a.text for a in articles)


def pool_processes() -> set[int]:
    """This process's children started as multiprocessing workers (Linux; not its tracker)."""
    found = set()
    for process in Path("/proc").glob("[0-9]*"):
        stat = _read(process / "stat")  # "pid (name) state ppid ..."
        parent = stat.rpartition(b")")[2].split()[1:2]
        if parent == [str(os.getpid()).encode()] and b"spawn_main" in _read(process / "cmdline"):
            found.add(int(process.name))
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError):  # the process ended since
        return b""


def two_teaser_feeds(server: HttpServer, store: Store) -> Config:
    """Two feeds of one teaser each, whose pages have three paragraphs."""
    feeds = []
    for n in range(2):
        link = write(server, f"news/{n}.html", page(f"Story {n}", 3))
        entry = item(title=f"Story {n}", link=link, guid=f"s{n}")
        feeds.append(write(server, f"feed{n}.xml", rss(entry)))
    return config_for(store, *(SourceConfig(name=f"N{n}", url=u) for n, u in enumerate(feeds)))


def as_a_worker_job(config: Config, source: str) -> None:
    """The collect job of ``source``, off the main thread as a `digest worker` runs it."""
    arguments = {"source": source, "should_stop": lambda: False}
    job = threading.Thread(target=cycle.collect_job, args=(config,), kwargs=arguments)
    job.start()
    job.join()


def test_a_workers_collect_jobs_share_one_pool_of_page_extractors(
    http_server: HttpServer, store: Store
) -> None:
    """A `digest worker` runs each job off its main thread, so pages go to extractor processes
    (the time budget needs one): the first job that needs them starts them, the next reuses them."""
    config = two_teaser_feeds(http_server, store)
    before = pool_processes()
    started = []
    try:
        for url in (s.url for s in config.sources):
            as_a_worker_job(config, url)
            started.append(pool_processes() - before)
    finally:
        cycle.stop_page_workers()
    assert started[0], "the first job's pages were not extracted in worker processes"
    assert started[1] == started[0]
    assert pool_processes() - before == set()  # stopped
    articles = store.latest_articles(10)
    assert len(articles) == 2 and all(a.text.count("Paragraph") == 3 for a in articles)


def test_a_page_extractor_that_died_is_replaced_for_the_next_job(
    http_server: HttpServer, store: Store
) -> None:
    """One of a worker's page extractors killed (for memory, say) between two collect jobs: the
    next job's pages are extracted by a new pool, not refused by the broken one."""
    config = two_teaser_feeds(http_server, store)
    before = pool_processes()
    try:
        for number, url in enumerate(s.url for s in config.sources):
            if number:
                os.kill(min(pool_processes() - before), signal.SIGKILL)
                time.sleep(0.5)  # as between two jobs: the pool's own thread sees the death
            as_a_worker_job(config, url)
    finally:
        cycle.stop_page_workers()
    articles = store.latest_articles(10)
    assert len(articles) == 2 and all(a.text.count("Paragraph") == 3 for a in articles)
