"""The whole pipeline, end to end, with the demo site served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import importlib
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import lxml.html

from digest import demo, pipeline
from digest.config import Config
from digest.models import Item
from digest.store import open_store
from digest.text import word_count

from . import newsroom
from .conftest import DemoSite
from .samples import claim_one


def outbox_messages(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_collect_build_and_send_to_the_outbox(demo_site: DemoSite) -> None:
    config = demo_site.config()
    now = demo_site.now
    content = demo.load_content()
    with open_store(config.data_dir) as store:
        for address, name in demo.SUBSCRIBERS:
            store.add_subscriber(address, name=name, now=now)

        collected = pipeline.collect(config, store, now=now)
        assert collected.count("ok") == 7 and collected.count("failed") == 0
        assert collected.new == len(content.articles)
        assert collected.page_errors == []
        # Teaser-only feeds were completed from the article pages, without the site's furniture.
        teaser_feeds = {
            f"{demo_site.server.base_url}/{f.path}" for f in content.feeds.values() if f.teaser
        }
        completed = [a for a in store.latest_articles(100) if a.source_key in teaser_feeds]
        assert completed and all(word_count(a.text) > 150 for a in completed)
        for a in completed:
            for furniture in (
                "Sign up for daily updates",
                "Market Data",
                "All rights reserved",
                "DOW 38,512",
            ):
                assert furniture not in a.text

        built = pipeline.build(config, store, now=now)
        assert built.edition is not None and built.email is not None
        assert set(built.paths) == {"edition.html", "edition.txt", "edition.json", "sample.eml"}
        assert built.edition.items
        # Each event several demo outlets report is one story, the widest leading the edition.
        event_of = {a.slug: a.event for a in content.articles}
        items = [*built.edition.items, *built.edition.more]
        for event in {e for e in event_of.values() if e}:
            holding = [i for i in items if event in _events(i, event_of)]
            assert len(holding) == 1, event
            assert _events(holding[0], event_of) == {event}
        top = built.edition.top[0]
        assert len({a.source for a in (top.article, *top.also)}) == 3
        assert _events(top, event_of) == {"fed-rate-cut"}

        sent = pipeline.send(config, store, now=now)
        assert sent.counts == {"sent": 3, "deferred": 0, "failed": 0, "skipped": 0, "unknown": 0}

    html = built.paths["edition.html"].read_text(encoding="utf-8")
    doc = lxml.html.fromstring(html)
    assert doc.cssselect("td.story")
    for story in doc.cssselect("td.story"):
        link = story.cssselect(".headline a")[0]
        assert link.get("href", "").startswith(demo_site.server.base_url)
        assert story.cssselect(".meta")[0].text_content().strip()
        assert story.cssselect(".summary")[0].text_content().strip()
    assert 'style="' in html, "CSS inlined"
    also = doc.cssselect("td.story .also")[0].text_content()
    assert also.startswith("Also covered by") and "Global Markets Wire" in also
    for item in built.edition.items:
        assert 2 <= len(item.summary.sentences) <= 3, item.summary
        assert item.summary.method == "news"
        assert all(s in item.article.text for s in item.summary.sentences)

    messages = outbox_messages(config.data_dir / "outbox" / built.edition.key)
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == sorted(
        a for a, _ in demo.SUBSCRIBERS
    )
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        assert message["Subject"] == built.email.subject
        name = dict(demo.SUBSCRIBERS)[message["To"].addresses[0].addr_spec]
        html_part = message.get_body(("html",))
        assert html_part is not None and f"Hello {name}," in html_part.get_content()


def _events(item: Item, event_of: dict[str, str]) -> set[str]:
    """The demo events an item's articles belong to ('' for an article of no shared event)."""
    slugs = (a.url.rsplit("/", 1)[-1].removesuffix(".html") for a in (item.article, *item.also))
    return {event_of[slug] for slug in slugs}


def test_collecting_again_parses_nothing_and_duplicates_nothing(demo_site: DemoSite) -> None:
    config = demo_site.config()
    with open_store(config.data_dir) as store:
        first = pipeline.collect(config, store, now=demo_site.now)
        pages_before = sum(
            demo_site.server.hits(p) for p, _ in demo_site.server.requests if p.endswith(".html")
        )
        second = pipeline.collect(config, store, now=demo_site.now + timedelta(minutes=30))
        pages_after = sum(
            demo_site.server.hits(p) for p, _ in demo_site.server.requests if p.endswith(".html")
        )
        assert first.new == 36
        assert second.count("unchanged") == 7, [r.status for r in second.results]
        assert (second.new, second.updated) == (0, 0)
        assert pages_after == pages_before, "no article page fetched again"
        assert len(store.latest_articles(1000)) == 36


def test_each_name_of_the_pipeline_is_its_stage_modules_own() -> None:
    homes = pipeline._HOME
    assert sorted([*homes, "utcnow"]) == sorted(pipeline.__all__)
    for name, module in homes.items():
        assert getattr(pipeline, name) is getattr(
            importlib.import_module(f"digest.pipeline.{module}"), name
        )


def test_sending_loads_neither_the_summarizer_nor_the_page_extractor() -> None:
    """`digest send` starts many times in a big send (and in every crash trial): sumy brings
    all of nltk (and scipy and scikit-learn where they are installed), seconds of CPU."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from digest import cli, pipeline; pipeline.send, pipeline.send_due; "
            "print(*sorted({m.split('.')[0] for m in sys.modules}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "digest" in loaded
    assert not {"sumy", "nltk", "scipy", "sklearn", "trafilatura"} & set(loaded)
    # Nor what only a build (numpy, premailer) or DKIM signing needs: a tenth of a second each.
    assert not {"numpy", "premailer", "dkim"} & set(loaded)


def test_sending_twice_delivers_once(demo_site: DemoSite) -> None:
    config = demo_site.config()
    with open_store(config.data_dir) as store:
        store.add_subscriber("one@example.com", now=demo_site.now)
        pipeline.collect(config, store, now=demo_site.now)
        pipeline.build(config, store, now=demo_site.now)
        assert pipeline.send(config, store, now=demo_site.now).counts["sent"] == 1
        assert pipeline.send(config, store, now=demo_site.now).counts["sent"] == 0
        store.add_subscriber("two@example.com", now=demo_site.now)
        assert pipeline.send(config, store, now=demo_site.now).counts["sent"] == 1
        assert [d.status for d in store.deliveries(store.latest_edition().key)] == ["sent", "sent"]  # type: ignore[union-attr]


def test_an_edition_being_sent_is_not_rebuilt_and_the_next_day_takes_only_new_articles(
    demo_site: DemoSite,
) -> None:
    config = demo_site.config()
    now = demo_site.now
    with open_store(config.data_dir) as store:
        store.add_subscriber("one@example.com", now=now)
        pipeline.collect(config, store, now=now)
        first = pipeline.build(config, store, now=now)
        pipeline.send(config, store, now=now)
        again = pipeline.build(config, store, now=now + timedelta(minutes=5))
        assert again.edition is None
        assert again.message == "edition 2026-03-10 was already sent (1 sent); kept as it is"
        next_day = pipeline.build(config, store, now=now + timedelta(days=1))
        assert next_day.edition is None and next_day.message.startswith("no edition")
        assert first.edition is not None


def test_a_broken_source_does_not_stop_the_others(demo_site: DemoSite) -> None:
    text = demo_site.config_path.read_text(encoding="utf-8")
    broken = demo_site.server.url("missing/feed.xml")
    text += f'\n[[sources]]\nname = "Broken"\nurl = "{broken}"\nsection = "Economy"\n'
    demo_site.config_path.write_text(text, encoding="utf-8")
    config = demo_site.config()
    with open_store(config.data_dir) as store:
        report = pipeline.collect(config, store, now=demo_site.now)
        failed = [r for r in report.results if r.status == "failed"]
        assert [(r.state.key, r.message) for r in failed] == [(broken, "HTTP 404 Not Found")]
        assert report.count("ok") == 7 and report.new == 36
        assert store.fetch_state(broken).failures == 1


def test_a_story_sent_yesterday_returns_only_when_it_grew(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    day_one = newsroom.NOW
    day_two = day_one + timedelta(days=1)
    with open_store(tmp_path) as store:
        first = ["herald-tram", "wire-tram", "herald-library"]
        store.save_articles([newsroom.article(k) for k in first], now=day_one)
        built = pipeline.build(config, store, now=day_one)
        assert built.edition is not None
        assert built.edition.top[0].article.id == "tag:herald-tram"
        claim_one(store, built.edition.key)

        # The next day brings other news only: the tram story stays out.
        second = [newsroom.article(k, now=day_two) for k in ("valley-coach", "wire-heat")]
        store.save_articles(second, now=day_two)
        quiet = pipeline.build(config, store, now=day_two)
        assert quiet.edition is not None
        assert {i.article.id for i in quiet.edition.items} == {a.id for a in second}

        # Then a source that had not covered it does: it returns, marked as an update.
        late = newsroom.article("valley-tram", now=day_one + timedelta(hours=20))
        store.save_articles([late], now=day_two)
        grown = pipeline.build(config, store, now=day_two)
        assert grown.edition is not None
        update = next(i for i in grown.edition.items if i.update)
        assert update.article.id == late.id and update.story == "tag:herald-tram"
        assert {a.id for a in update.also} == {"tag:herald-tram", "tag:wire-tram"}
        page = lxml.html.fromstring(grown.paths["edition.html"].read_text(encoding="utf-8"))
        assert [b.text_content() for b in page.cssselect("span.badge")] == ["Update"]
