from __future__ import annotations

import multiprocessing
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import StoreError
from digest.models import Article, Email, FetchState, Image, Summary
from digest.store import MIGRATIONS, Store, open_store

from .samples import claim_one

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def article(id: str = "tag:a", url: str = "https://example.com/a", **changes: object) -> Article:
    base = Article(
        id=id,
        source="Example",
        section="Economy",
        url=url,
        title="Growth slows",
        text="The economy grew 1.2 percent.",
        published=NOW - timedelta(hours=2),
        author="Ana",
        image=Image("https://example.com/a.png", "a chart", 600, 300),
        language="en",
        tags=("economy",),
        priority=1,
        source_key="https://example.com/feed",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(engine_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py: engine_store)."""
    return engine_store


def test_a_new_store_is_at_the_latest_schema_version(store: Store) -> None:
    assert store.schema_version() == len(MIGRATIONS)


def test_reopening_keeps_the_data_and_runs_no_migration_twice(
    engine_url: str, tmp_path: Path
) -> None:
    first = open_store(tmp_path, url=engine_url)
    first.save_articles([article()], now=NOW)
    first.close()
    second = open_store(tmp_path, url=engine_url)
    assert second.article("tag:a") == article()
    assert second.schema_version() == len(MIGRATIONS)
    second.close()


def test_a_database_from_a_newer_digest_is_refused(engine_url: str, tmp_path: Path) -> None:
    with open_store(tmp_path, url=engine_url) as store:
        newer = len(MIGRATIONS) + 1
        if store.engine == "sqlite":
            store.db.execute(f"PRAGMA user_version = {newer}")
        else:
            store.db.execute("UPDATE schema_version SET version = ?", (newer,))
    with pytest.raises(StoreError, match="newer than this digest knows"):
        open_store(tmp_path, url=engine_url)


def test_articles_round_trip(store: Store) -> None:
    assert store.save_articles([article()], now=NOW) == (1, 0)
    assert store.article("tag:a") == article()


def test_the_same_article_twice_is_stored_once(store: Store) -> None:
    store.save_articles([article()], now=NOW)
    assert store.save_articles([article()], now=NOW) == (0, 0)
    assert len(store.latest_articles(10)) == 1


def test_the_same_url_under_a_new_id_is_one_article(store: Store) -> None:
    store.save_articles([article()], now=NOW)
    assert store.save_articles([article(id="tag:other-feed")], now=NOW) == (0, 0)
    assert [a.id for a in store.latest_articles(10)] == ["tag:a"]


def test_one_batch_stores_what_saving_its_articles_one_by_one_would(
    store: Store, tmp_path: Path
) -> None:
    # Within one save, later articles are matched against the earlier ones: the same
    # story from a second feed, a republished guid, an update of a row stored just before.
    batch = [
        article(),
        article(id="tag:other-feed"),  # the same link and headline: the same story
        article(id="tag:a", title="Growth slows sharply"),  # the first, changed at once
        article(id="tag:second", title="Growth slows sharply"),  # matches the changed one
        article(id="tag:b", url="https://e.com/b", title="Another story"),
    ]
    assert store.save_articles(batch, now=NOW) == (2, 1)
    with open_store(tmp_path / "one-by-one") as single:
        counts = [single.save_articles([a], now=NOW) for a in batch]
        assert (sum(c[0] for c in counts), sum(c[1] for c in counts)) == (2, 1)
        assert single.latest_articles(10) == store.latest_articles(10)
    assert {a.id: a.title for a in store.latest_articles(10)} == {
        "tag:a": "Growth slows sharply",
        "tag:b": "Another story",
    }


def test_posts_that_only_share_a_link_are_distinct_articles(store: Store) -> None:
    # A podcast whose episodes all link to its home page; a blog's posts at page#fragment.
    episodes = [
        article(
            id=f"tag:episode-{n}",
            url="https://podcast.example.com/",
            title=f"Episode {n}",
            text="Our weekly show about the economy. Subscribe!",  # the same blurb every week
        )
        for n in range(5)
    ]
    assert store.save_articles(episodes, now=NOW) == (5, 0)
    again = [replace(e, id=e.id + "-republished") for e in episodes[:2]]
    assert store.save_articles(again, now=NOW) == (0, 0), "same link and headline: the same story"
    assert len(store.latest_articles(10)) == 5
    # The page extraction's cache finds each one's own stored version, not the first's.
    found = store.stored_versions(again)
    assert {k: v.id for k, v in found.items()} == {
        "tag:episode-0-republished": "tag:episode-0",
        "tag:episode-1-republished": "tag:episode-1",
    }


def test_an_undated_article_keeps_its_flag(store: Store) -> None:
    store.save_articles([article(dated=False)], now=NOW)
    stored = store.article("tag:a")
    assert stored is not None and not stored.dated


def test_a_changed_article_is_updated_in_place(store: Store) -> None:
    store.save_articles([article()], now=NOW)
    changed = article(title="Growth slows sharply", text="The economy grew 0.2 percent.")
    assert store.save_articles([changed], now=NOW + timedelta(hours=1)) == (0, 1)
    stored = store.article("tag:a")
    assert stored is not None and stored.title == "Growth slows sharply"
    assert stored.published == article().published


def test_candidates_exclude_old_articles_and_those_in_other_editions(store: Store) -> None:
    store.save_articles(
        [
            article("tag:new", "https://e.com/1"),
            article("tag:old", "https://e.com/2", published=NOW - timedelta(days=3)),
            article("tag:sent", "https://e.com/3"),
        ],
        now=NOW,
    )
    store.save_edition(
        Email("2026-03-09", "s", "<p>", "t", "p"), number=1, built=NOW, article_ids=["tag:sent"]
    )
    since = NOW - timedelta(days=1)
    # Built but sent to nobody, an edition carries nothing yet.
    assert {a.id for a in store.candidate_articles(since=since)} == {"tag:new", "tag:sent"}
    claim_one(store, "2026-03-09")
    assert [a.id for a in store.candidate_articles(since=since)] == ["tag:new"]
    # Rebuilding edition 2026-03-09 may use its own articles again.
    assert {a.id for a in store.candidate_articles(since=since, edition_key="2026-03-09")} == {
        "tag:new",
        "tag:sent",
    }


def test_summaries_are_cached_per_content(store: Store) -> None:
    a = article()
    store.save_articles([a], now=NOW)
    store.save_summary(a, "news:3", Summary(a.id, ("One.", "Two."), "news"))
    assert store.cached_summary(a, "news:3") == Summary(a.id, ("One.", "Two."), "news")
    assert store.cached_summary(replace(a, text="Changed."), "news:3") is None
    assert store.cached_summary(a, "lead:3") is None


def test_fetch_state_round_trips(store: Store) -> None:
    assert store.fetch_state("https://e.com/feed") == FetchState(
        "https://e.com/feed", "https://e.com/feed"
    )
    state = FetchState(
        "https://e.com/feed",
        "https://e.com/new",
        etag='"x"',
        not_before=NOW,
        failures=2,
        last_error="HTTP 500",
    )
    store.save_fetch_state(state)
    assert store.fetch_state("https://e.com/feed") == state


def test_the_states_of_some_sources_only(store: Store) -> None:
    keys = [f"https://e.com/feed{n}" for n in range(3)]
    store.save_fetch_states(FetchState(key, key, etag=f'"{n}"') for n, key in enumerate(keys))
    assert [s.key for s in store.fetch_states()] == keys
    assert [s.etag for s in store.fetch_states([keys[2], keys[0], "https://e.com/gone"])] == [
        '"0"',
        '"2"',
    ]
    assert store.fetch_states([]) == []


def test_subscribers(store: Store) -> None:
    assert store.add_subscriber("a@example.com", name="A", now=NOW)
    assert not store.add_subscriber("A@example.com", name="A", now=NOW)
    assert store.set_subscriber_status("a@example.com", "unsubscribed", now=NOW)
    assert store.subscribers() == []
    assert store.add_subscriber("a@example.com", now=NOW)
    assert [s.email for s in store.subscribers()] == ["a@example.com"]


def test_sent_articles_remember_their_story_and_the_text_as_carried(store: Store) -> None:
    store.save_articles(
        [article("tag:a", "https://e.com/a"), article("tag:b", "https://e.com/b")], now=NOW
    )
    store.save_edition(
        Email("2026-03-09", "s", "<p>", "t", "p"),
        number=1,
        built=NOW,
        article_ids=["tag:a", "tag:b"],
        stories={"tag:b": "tag:a"},
    )
    claim_one(store, "2026-03-09")
    # The article changes after it was carried.
    store.save_articles(
        [article("tag:a", "https://e.com/a", text="The economy grew 0.9 percent, revised.")],
        now=NOW + timedelta(hours=1),
    )
    since = NOW - timedelta(days=1)
    sent = store.sent_articles(since=since, before="2026-03-10")
    assert [(s.article.id, s.story, s.edition_key) for s in sent] == [
        ("tag:a", "tag:a", "2026-03-09"),
        ("tag:b", "tag:a", "2026-03-09"),
    ]
    assert sent[0].article.text == "The economy grew 0.9 percent, revised."
    assert (sent[0].title, sent[0].text) == ("Growth slows", "The economy grew 1.2 percent.")
    # Only editions before the one being built, and only articles published since `since`.
    assert store.sent_articles(since=since, before="2026-03-09") == []
    assert store.sent_articles(since=NOW, before="2026-03-10") == []


def test_an_article_carried_again_counts_as_its_latest_edition_carried_it(store: Store) -> None:
    store.save_articles([article()], now=NOW)
    for number, key in enumerate(("2026-03-08", "2026-03-09"), start=1):
        store.save_edition(
            Email(key, "s", "<p>", "t", "p"), number=number, built=NOW, article_ids=["tag:a"]
        )
        claim_one(store, key)
    sent = store.sent_articles(since=NOW - timedelta(days=1), before="2026-03-10")
    assert [(s.article.id, s.edition_key) for s in sent] == [("tag:a", "2026-03-09")]


def test_migrating_a_first_version_database_keeps_what_editions_carried(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "digest.sqlite3")
    connection.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    connection.execute(
        "INSERT INTO articles VALUES ('tag:a', 'https://e.com/a', 'Example', 'k', 'Economy',"
        " 'Growth slows', 'The economy grew.', '', ?, ?, ?, NULL, 'en', '[]', 0, 'h')",
        (NOW.isoformat(), NOW.isoformat(), NOW.isoformat()),
    )
    connection.execute(
        "INSERT INTO editions VALUES ('2026-03-09', 1, ?, 's', 'h', 't', 'p')", (NOW.isoformat(),)
    )
    connection.execute("INSERT INTO edition_articles VALUES ('2026-03-09', 'tag:a')")
    connection.execute(
        "INSERT INTO deliveries VALUES ('2026-03-09', 'a@example.com', 'sent', 1, '', NULL, ?)",
        (NOW.isoformat(),),
    )
    connection.commit()
    connection.close()
    with open_store(tmp_path) as store:
        sent = store.sent_articles(since=NOW - timedelta(days=1), before="2026-03-10")
    assert [(s.story, s.title, s.text) for s in sent] == [
        ("tag:a", "Growth slows", "The economy grew.")
    ]


def test_subscribers_are_one_whatever_the_case_of_their_address(store: Store) -> None:
    assert store.add_subscriber("Ana@Example.com", now=NOW)
    assert not store.add_subscriber("ana@example.com", now=NOW)
    assert store.subscriber_status("ANA@EXAMPLE.COM") == "confirmed"
    assert [s.email for s in store.subscribers()] == ["Ana@Example.com"]


def test_an_edition_keeps_the_order_of_its_articles(store: Store) -> None:
    ids = ["tag:c", "tag:a", "tag:b", "tag:a"]
    store.save_edition(
        Email("2026-03-10", "s", "<p>", "t", "p"), number=1, built=NOW, article_ids=ids
    )
    record = store.edition("2026-03-10")
    assert record is not None and record.article_ids == ("tag:c", "tag:a", "tag:b")


def test_the_archive_is_kept_in_the_store(store: Store, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"edition.html": "<p>Ünïcode</p>", "sample.eml": b"\x00raw"}
    paths = store.write_archive("2026-03-10", files)
    assert paths["edition.html"].read_text(encoding="utf-8") == "<p>Ünïcode</p>"
    for path in paths.values():
        path.unlink()  # another machine has no local copy: the store serves the files
    assert store.archive_file("2026-03-10", "edition.html") == "<p>Ünïcode</p>".encode()
    assert store.archive_file("2026-03-10", "sample.eml") == b"\x00raw"
    assert store.archive_file("2026-03-10", "edition.txt") is None
    store.write_archive("2026-03-10", {"edition.txt": "rebuilt"})
    assert store.archive_file("2026-03-10", "edition.html") is None
    assert store.archive_file("2026-03-10", "edition.txt") == b"rebuilt"


def test_an_edition_archived_before_the_store_kept_files_is_read_from_its_folder(
    store: Store,
) -> None:
    folder = store.data_dir / "editions" / "2025-01-01"
    folder.mkdir(parents=True)
    (folder / "edition.html").write_text("<p>old</p>", encoding="utf-8")
    assert store.archive_file("2025-01-01", "edition.html") == b"<p>old</p>"
    assert store.archive_file("2025-01-01", "../2025-01-01/edition.html") is None
    assert store.archive_file("..", "digest.sqlite3") is None


def test_the_edition_index_reads_no_content(store: Store) -> None:
    for number, key in enumerate(("2026-03-08", "2026-03-09", "2026-03-10"), start=1):
        email = Email(key, f"Issue {number}", "<p>" * 1000, "text", f"pre {number}")
        store.save_edition(email, number=number, built=NOW, article_ids=["tag:a", "tag:b"][:number])
    entries = store.edition_index()
    assert [(e.key, e.number, e.subject, e.articles) for e in entries] == [
        ("2026-03-10", 3, "Issue 3", 2),
        ("2026-03-09", 2, "Issue 2", 2),
        ("2026-03-08", 1, "Issue 1", 1),
    ]
    assert entries[0].built == NOW
    assert [e.key for e in store.edition_index(limit=1, before="2026-03-10")] == ["2026-03-09"]
    assert not hasattr(entries[0], "email")


def test_a_lease_is_held_by_one_holder_until_it_runs_out(store: Store) -> None:
    ttl = timedelta(seconds=15)
    assert store.take_lease("leader", "a", now=NOW, ttl=ttl) == 1
    assert store.take_lease("leader", "b", now=NOW + timedelta(seconds=14), ttl=ttl) is None
    assert store.take_lease("leader", "a", now=NOW + timedelta(seconds=10), ttl=ttl) == 1
    assert store.take_lease("leader", "b", now=NOW + timedelta(seconds=24), ttl=ttl) is None
    assert store.take_lease("leader", "b", now=NOW + timedelta(seconds=25), ttl=ttl) == 2
    assert store.take_lease("leader", "a", now=NOW + timedelta(seconds=26), ttl=ttl) is None
    lease = store.lease("leader")
    assert lease is not None and (lease.holder, lease.term) == ("b", 2)
    assert lease.expires == NOW + timedelta(seconds=40)
    assert not store.release_lease("leader", "a", now=NOW + timedelta(seconds=27))
    assert store.release_lease("leader", "b", now=NOW + timedelta(seconds=27))
    assert store.take_lease("leader", "a", now=NOW + timedelta(seconds=27), ttl=ttl) == 3
    assert store.lease("other") is None


def test_turns_come_every_so_often_in_the_order_asked_and_never_in_the_past(
    store: Store,
) -> None:
    every = timedelta(seconds=2)
    clock = iter([NOW, NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=10)])
    turns = [store.next_turn("host", every=every, clock=lambda: next(clock)) for _ in range(4)]
    assert turns == [
        NOW,
        NOW + timedelta(seconds=2),  # asked at the same moment: the next free one
        NOW + timedelta(seconds=4),
        NOW + timedelta(seconds=10),  # nothing booked that late: now
    ]
    assert store.next_turn("other", every=every, clock=lambda: NOW) == NOW


def _take(data_dir: Path, url: str, holder: str, start: float) -> int | None:
    """In a process of its own: wait for the common start, then try to take the lease."""
    with open_store(data_dir, url=url) as store:
        time.sleep(max(0.0, start - time.time()))
        return store.take_lease("leader", holder, now=NOW, ttl=timedelta(seconds=15))


def test_processes_asking_at_once_elect_one(engine_url: str, tmp_path: Path) -> None:
    open_store(tmp_path, url=engine_url).close()
    start = time.time() + 2.0
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        terms = pool.starmap(_take, [(tmp_path, engine_url, f"p{n}", start) for n in range(4)])
    assert sorted(terms, key=str) == [1, None, None, None]
