"""Several newsletters, each reader's variant and send time: config, keys, due times, the ledger."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from digest import pipeline
from digest.config import (
    Config,
    DeliveryConfig,
    EditionConfig,
    NewsletterConfig,
    Newsletters,
    NewsletterTable,
    SourceConfig,
    load_config,
)
from digest.edition import group_stories
from digest.errors import ConfigError
from digest.models import DEFAULT_NEWSLETTER, Article, Membership
from digest.newsletters import (
    Variant,
    due_time,
    find,
    key_of,
    next_local,
    offer_of,
    offers,
    pattern_of,
    series,
    variant_of,
)
from digest.store import Store, open_store

from .samples import SECTIONS, sample_article

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
UTC_TIME = "%Y-%m-%d %H:%M"


def at(text: str) -> datetime:
    return datetime.strptime(text, UTC_TIME).replace(tzinfo=UTC)


# --- due times: 07:00 local, across the DST changes of 2026/2027 -----------------------------


@pytest.mark.parametrize(
    ("zone", "anchor", "expected"),
    [
        # New York: EDT (UTC-4) until 1 November 2026 02:00, EST (UTC-5) until 14 March 2027.
        ("America/New_York", "2026-10-31 06:00", "2026-10-31 11:00"),
        ("America/New_York", "2026-11-01 06:00", "2026-11-01 12:00"),
        ("America/New_York", "2026-11-02 06:00", "2026-11-02 12:00"),
        ("America/New_York", "2027-03-13 06:00", "2027-03-13 12:00"),
        ("America/New_York", "2027-03-14 06:00", "2027-03-14 11:00"),
        # London: BST (UTC+1) until 25 October 2026 02:00, GMT until 28 March 2027 01:00.
        ("Europe/London", "2026-10-24 05:00", "2026-10-24 06:00"),
        ("Europe/London", "2026-10-25 05:00", "2026-10-25 07:00"),
        ("Europe/London", "2027-03-27 05:00", "2027-03-27 07:00"),
        ("Europe/London", "2027-03-28 05:00", "2027-03-28 06:00"),
        # Tokyo: JST (UTC+9), no DST; 07:00 there is 22:00 UTC the day before.
        ("Asia/Tokyo", "2026-11-01 06:00", "2026-11-01 22:00"),
        ("Asia/Tokyo", "2026-11-01 22:00", "2026-11-01 22:00"),
        ("Asia/Tokyo", "2026-11-01 22:01", "2026-11-02 22:00"),
    ],
)
def test_seven_local_is_seven_local_whatever_the_dst(zone: str, anchor: str, expected: str) -> None:
    assert next_local(at(anchor), time(7, 0), zone) == at(expected)


def test_a_time_a_spring_forward_skips_falls_just_after_it() -> None:
    # 02:30 does not exist in New York on 14 March 2027: the clocks go from 02:00 to 03:00 EDT.
    assert next_local(at("2027-03-14 05:00"), time(2, 30), "America/New_York") == at(
        "2027-03-14 07:30"
    )


def test_a_reader_who_chose_no_time_is_due_at_once_and_a_zone_alone_keeps_the_newsletters_time() -> (
    None
):
    offer = offer_of(Config())  # send_at 07:00, UTC
    anchor = at("2026-11-30 07:00")
    assert due_time(anchor, offer, Membership(DEFAULT_NEWSLETTER)) is None
    tokyo = Membership(DEFAULT_NEWSLETTER, timezone="Asia/Tokyo")
    assert due_time(anchor, offer, tokyo) == at("2026-11-30 22:00")
    new_york = Membership(DEFAULT_NEWSLETTER, send_time="06:30", timezone="America/New_York")
    assert due_time(anchor, offer, new_york) == at("2026-11-30 11:30")
    london_time = Membership(DEFAULT_NEWSLETTER, send_time="08:15")  # in the newsletter's zone
    assert due_time(anchor, offer, london_time) == at("2026-11-30 08:15")


# --- configs, keys, offers, variants ---------------------------------------------------------

TWO = Config(
    newsletter=NewsletterConfig(name="Daily", timezone="Europe/London", languages=("de",)),
    edition=EditionConfig(sections=SECTIONS),
    sources=(
        SourceConfig(name="EconoTimes", url="https://a.example/feed", section="Economy"),
        SourceConfig(name="Wire", url="https://b.example/feed", section="Markets"),
        SourceConfig(name="Miner", url="https://c.example/feed", section="Commodities"),
    ),
    newsletters=Newsletters(
        [
            (
                "markets",
                NewsletterTable(
                    name="Markets Weekly",
                    sections=("Markets", "Commodities"),
                    timezone="Asia/Tokyo",
                    send_at="06:30",
                ),
            )
        ]
    ),
)


def test_each_newsletter_and_frequency_has_keys_of_its_own() -> None:
    moment = at("2026-11-30 20:00")  # Monday 30 November in London; Tuesday 1 December in Tokyo
    keys = [key_of(one, moment) for one in series(TWO)]
    assert keys == ["2026-11-30", "default/2026-W49", "markets/2026-12-01", "markets/2026-W49"]
    patterns = [pattern_of(one) for one in series(TWO)]
    assert patterns == ["____-__-__", "default/____-W__", "markets/____-__-__", "markets/____-W__"]


def test_offers_list_each_newsletter_with_its_sections_languages_and_time() -> None:
    default, markets = offers(TWO)
    assert (default.slug, default.sections, default.languages) == (
        DEFAULT_NEWSLETTER,
        ("Economy", "Markets", "Commodities"),
        ("en", "de"),
    )
    assert (markets.slug, markets.name, markets.sections, markets.timezone, markets.send_time) == (
        "markets",
        "Markets Weekly",
        ("Markets", "Commodities"),
        "Asia/Tokyo",
        "06:30",
    )
    config = find(TWO, "markets")
    assert config is not None and config.only_sources == (
        "https://b.example/feed",
        "https://c.example/feed",
    )


def test_a_readers_variant_is_what_they_chose_within_what_is_offered() -> None:
    offer = offer_of(TWO)
    assert variant_of(offer, Membership(DEFAULT_NEWSLETTER)) == Variant()
    chosen = Membership(DEFAULT_NEWSLETTER, sections=("Markets", "Economy", "Gone"), language="de")
    assert variant_of(offer, chosen) == Variant(("Economy", "Markets"), "de")
    assert variant_of(offer, chosen).name == "de:Economy+Markets"
    every = Membership(DEFAULT_NEWSLETTER, sections=offer.sections, language="xx")
    assert variant_of(offer, every) == Variant()
    assert (
        variant_of(offer, Membership(DEFAULT_NEWSLETTER, sections=("Markets",))).name == "*:Markets"
    )


def test_newsletter_tables_are_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(
        """
[[sources]]
name = "Wire"
url = "https://b.example/feed"
section = "Markets"

[newsletters.markets]
name = "Markets"
sources = ["Wire"]
weekly_on = "fri"

[newsletters.Bad_Slug]
name = "x"

[newsletters.other]
sources = ["Nobody"]
timezone = "Mars/Olympus"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.problems == [
        f"{path}: newsletters.Bad_Slug: expected a name of lower-case letters, digits and '-'",
        f"{path}: newsletters.other.name: expected a non-empty string, got nothing",
        f"{path}: newsletters.other.timezone: expected an IANA time zone such as "
        "'Europe/London', got 'Mars/Olympus'",
        f"{path}: newsletters.other.sources: expected names of [[sources]], got 'Nobody'",
    ]
    path.write_text(path.read_text().split("[newsletters.Bad_Slug]")[0], encoding="utf-8")
    config = load_config(path)
    markets = find(config, "markets", "weekly")
    assert markets is not None
    assert (markets.slug, markets.frequency, markets.schedule.weekdays) == (
        "markets",
        "weekly",
        ("fri",),
    )


# --- building and sending: one rendering per variant, the variant in the ledger ---------------


def _config(tmp_path: Path) -> Config:
    return replace(
        TWO,
        data_dir=tmp_path / "data",
        newsletter=replace(TWO.newsletter, timezone="UTC"),
        delivery=DeliveryConfig(transport="outbox"),
    )


def _articles(store: Store, now: datetime, first: int = 0) -> None:
    sources = {
        "Economy": ("EconoTimes", "https://a.example/feed"),
        "Markets": ("Wire", "https://b.example/feed"),
        "Commodities": ("Miner", "https://c.example/feed"),
    }
    articles = []
    for i in range(first, first + 12):
        section = ("Economy", "Markets", "Commodities")[i % 3]
        name, url = sources[section]
        article = sample_article(i, section=section, source=name)
        articles.append(replace(article, source_key=url, published=now - timedelta(minutes=10 + i)))
    store.save_articles(articles, now=now)


@pytest.fixture
def store(engine_store: Store) -> Store:
    """These run on SQLite and on PostgreSQL (tests/conftest.py: engine_store)."""
    return engine_store


def test_each_variant_is_rendered_once_and_each_reader_gets_theirs(
    store: Store, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    store.data_dir = config.data_dir
    readers = [f"r{i}@example.com" for i in range(6)]
    for address in readers:
        store.add_subscriber(address, now=NOW)
    markets_de = Membership(DEFAULT_NEWSLETTER, sections=("Markets",), language="de")
    for address in readers[:3]:
        store.set_memberships(address, [markets_de], now=NOW)
    store.set_memberships(
        readers[3], [Membership(DEFAULT_NEWSLETTER, sections=("Economy",))], now=NOW
    )
    _articles(store, NOW)

    (report,) = pipeline.build_all(config, store, now=NOW)
    assert report.email is not None and report.variants == 3  # the edition, de:Markets, *:Economy
    assert set(store.edition_variants("2026-03-10")) == {"de:Markets", "*:Economy"}

    (sent,) = pipeline.send_all(config, store, now=NOW)
    assert sent.counts["sent"] == 6
    assert store.variant_counts("2026-03-10") == {"": 2, "*:Economy": 1, "de:Markets": 3}
    german = store.edition_variants("2026-03-10")["de:Markets"]
    # Story i is in Economy when i % 3 == 0, Markets 1, Commodities 2.
    assert 'lang="de"' in german.html and "Abbestellen" in german.text
    assert {i % 3 for i in _stories(german.text)} == {1}
    economy = store.edition_variants("2026-03-10")["*:Economy"]
    assert 'lang="en"' in economy.html and {i % 3 for i in _stories(economy.text)} == {0}
    own = store.edition("2026-03-10")
    assert own is not None and {i % 3 for i in _stories(own.email.text)} == {0, 1, 2}
    # What each reader was sent is their variant, with their own unsubscribe link in its slot.
    outbox = sorted((config.data_dir / "outbox" / "2026-03-10").glob("*.eml"))
    assert len(outbox) == 6
    languages = {p.name.split("@")[0]: 'lang="de"' in _html(p) for p in outbox}
    assert languages == {"r0": True, "r1": True, "r2": True, "r3": False, "r4": False, "r5": False}
    assert all("digest-slot-" not in _html(p) for p in outbox)


def _html(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(("html",))  # type: ignore[attr-defined]
    return str(body.get_content())


def _stories(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"Story (\d+):", text)}


def test_a_reader_who_changes_sections_gets_the_new_ones_from_the_next_edition(
    store: Store, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    store.data_dir = config.data_dir
    store.add_subscriber("ana@example.com", now=NOW)
    store.add_subscriber("bo@example.com", now=NOW)
    store.set_memberships(
        "ana@example.com", [Membership(DEFAULT_NEWSLETTER, sections=("Markets",))], now=NOW
    )
    _articles(store, NOW)
    pipeline.build_all(config, store, now=NOW)
    pipeline.send_all(config, store, now=NOW)
    # Ana changes her mind after the edition went out; a later send of it changes nothing.
    store.set_memberships(
        "ana@example.com", [Membership(DEFAULT_NEWSLETTER, sections=("Economy",))], now=NOW
    )
    pipeline.send_all(config, store, now=NOW + timedelta(minutes=5))
    first = {d.email: d.variant for d in store.deliveries("2026-03-10")}
    assert first == {"ana@example.com": "*:Markets", "bo@example.com": ""}

    tomorrow = NOW + timedelta(days=1)
    _articles(store, tomorrow, first=100)
    pipeline.build_all(config, store, now=tomorrow)
    pipeline.send_all(config, store, now=tomorrow)
    second = {d.email: d.variant for d in store.deliveries("2026-03-11")}
    assert second == {"ana@example.com": "*:Economy", "bo@example.com": ""}


def test_rows_wait_for_their_readers_own_time_and_the_next_edition_does_not_strand_them(
    store: Store, tmp_path: Path
) -> None:
    config = _config(tmp_path)  # the newsletter: 07:00 UTC
    store.data_dir = config.data_dir
    store.add_subscriber("tokyo@example.com", now=NOW)
    store.add_subscriber("ny@example.com", now=NOW)
    store.add_subscriber("here@example.com", now=NOW)
    store.set_memberships(
        "tokyo@example.com", [Membership(DEFAULT_NEWSLETTER, timezone="Asia/Tokyo")], now=NOW
    )
    store.set_memberships(
        "ny@example.com", [Membership(DEFAULT_NEWSLETTER, timezone="America/New_York")], now=NOW
    )
    _articles(store, NOW)
    pipeline.build_all(config, store, now=NOW)

    (sent,) = pipeline.send_all(config, store, now=NOW)
    assert sent.counts["sent"] == 1
    due = {d.email: d.due for d in store.deliveries("2026-03-10")}
    # 10 March 2026: New York is on EDT (UTC-4) since 8 March; Tokyo is UTC+9.
    assert due == {
        "here@example.com": None,
        "ny@example.com": at("2026-03-10 11:00"),
        "tokyo@example.com": at("2026-03-10 22:00"),
    }
    assert store.next_due(after=NOW) == at("2026-03-10 11:00")
    (sent,) = pipeline.send_all(config, store, now=at("2026-03-10 11:00"))
    assert sent.counts["sent"] == 1
    # The next edition is made before Tokyo's 07:00 came: Tokyo still gets this one, then that.
    tomorrow = NOW + timedelta(days=1)
    _articles(store, tomorrow, first=100)
    pipeline.build_all(config, store, now=at("2026-03-10 21:00"))
    statuses = {d.email: d.status for d in store.deliveries("2026-03-10")}
    assert statuses["tokyo@example.com"] == "pending"
    pipeline.send_all(config, store, now=at("2026-03-10 22:00"))
    statuses = {d.email: d.status for d in store.deliveries("2026-03-10")}
    assert statuses == dict.fromkeys(statuses, "sent")


# --- the commands ----------------------------------------------------------------------------


def test_subscribers_set_changes_one_readers_choices_and_editions_lists_the_variants(
    tmp_path: Path,
) -> None:
    from .test_subscribers_cli import run, write_config

    config = write_config(
        tmp_path,
        'languages = ["de"]\n[edition]\nsections = ["Economy", "Markets"]\n'
        '[[sources]]\nname = "A"\nurl = "https://a.example/feed"\nsection = "Economy"\n'
        '[[sources]]\nname = "B"\nurl = "https://b.example/feed"\nsection = "Markets"\n'
        '[newsletters.markets]\nname = "Markets"\nsections = ["Markets"]\n',
    )
    assert run("subscribers", "add", "ana@example.com", config=config).returncode == 0
    done = run(
        "subscribers",
        "set",
        "ana@example.com",
        "--sections",
        "Markets",
        "--language",
        "de",
        "--timezone",
        "Asia/Tokyo",
        "--send-time",
        "07:00",
        config=config,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ana@example.com\tdefault\tdaily\tMarkets\t07:00\tAsia/Tokyo\tde\n"
    done = run(
        "subscribers",
        "set",
        "ana@example.com",
        "--newsletter",
        "markets",
        "--frequency",
        "weekly",
        config=config,
    )
    assert done.stdout.splitlines()[1] == (
        "ana@example.com\tmarkets\tweekly\tall sections\tits send time\tits time zone\tits language"
    )
    bad = run("subscribers", "set", "ana@example.com", "--sections", "Sport", config=config)
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "digest: error: --sections Sport: expected sections of default: Economy, Markets",
    )
    bad = run("subscribers", "set", "ana@example.com", "--timezone", "Mars/Olympus", config=config)
    assert (
        bad.returncode == 2 and "--timezone Mars/Olympus: expected an IANA time zone" in bad.stderr
    )
    left = run("subscribers", "set", "ana@example.com", "--leave", config=config)
    assert [line.split("\t")[1] for line in left.stdout.splitlines()] == ["markets"]

    cfg = load_config(config)
    with open_store(cfg.data_dir) as store:
        _articles(store, NOW)
        store.add_subscriber("bo@example.com", now=NOW)
        store.set_memberships(
            "bo@example.com", [Membership(DEFAULT_NEWSLETTER, sections=("Economy",))], now=NOW
        )
        # Ana reads markets weekly (from Monday on, once a week); nobody reads it daily.
        reports = pipeline.build_all(cfg, store, now=NOW)
        assert [r.edition.key for r in reports if r.edition] == ["2026-03-10", "markets/2026-W11"]
        pipeline.send_all(cfg, store, now=NOW)
    listed = run("editions", config=config)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("markets/2026-W11\tmarkets\tweekly\tissue 2\tMarkets: ")
    assert lines[1] == "  variant (all sections, its language): 1 readers"
    assert lines[2].startswith("2026-03-10\tdefault\tdaily\tissue 1\t")
    assert lines[3:] == [
        "  variant (all sections, its language): 0 readers",
        "  variant *:Economy: 1 readers",
    ]


# --- weekly editions -------------------------------------------------------------------------

MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def _report(i: int, outlet: str, hours_ago: float, title: str, text: str) -> Article:
    return Article(
        id=f"tag:week:{i}",
        source=outlet,
        section="Markets",
        url=f"https://{outlet.lower().replace(' ', '')}.example/{i}",
        title=title,
        text=text,
        published=MONDAY - timedelta(hours=hours_ago),
        source_key=f"https://{outlet.lower().replace(' ', '')}.example/feed",
    )


STRIKE = "Escondida copper miners strike over pay as BHP talks collapse in Chile"
STRIKE_TEXT = (
    "Workers at Escondida, the biggest copper mine in the world, walked out on {day} after BHP "
    "and the union failed to agree on pay. Copper prices rose as the Escondida strike entered "
    "its {n} day and the union said talks with BHP would not resume soon."
)
RATE = "Norges Bank raises its rate to 4.75 percent, surprising economists in Oslo"
RATE_TEXT = (
    "Norges Bank raised its policy rate to 4.75 percent on Sunday, a move few economists in "
    "Oslo expected; the krone strengthened against the euro after the Norges Bank decision."
)


def _week() -> list[Article]:
    """A strike covered by two outlets all week, growing each day; a rate rise an hour old,
    also by two outlets."""
    strike = [
        _report(
            i,
            ("Mining Wire", "Andes Post")[i % 2],
            150 - 12 * i,
            STRIKE,
            STRIKE_TEXT.format(day="Tuesday", n=("first", "second", "third", "fourth", "fifth")[i]),
        )
        for i in range(5)
    ]
    rate = [
        _report(10 + i, outlet, 1, RATE, RATE_TEXT)
        for i, outlet in enumerate(("Nordic Times", "Krone Daily"))
    ]
    return strike + rate


def test_a_weekly_edition_ranks_the_weeks_stories_by_coverage_and_growth() -> None:
    articles = _week()
    daily = group_stories(articles, now=MONDAY)
    weekly = group_stories(articles, now=MONDAY, weekly=True)
    assert sorted(len(s.members) for s in daily) == [2, 5]
    assert [s.lead.title for s in daily] == [RATE, STRIKE]  # a day's edition: the fresh story
    assert [s.lead.title for s in weekly] == [STRIKE, RATE]  # a week's: the one that grew
    strike = weekly[0].score
    assert (strike.sources, strike.growth) == (2, 3)
    assert daily[1].score.growth == 0


def test_a_weekly_reader_gets_the_weeks_edition_on_its_day(store: Store, tmp_path: Path) -> None:
    config = replace(
        _config(tmp_path),
        sources=(
            *TWO.sources,
            SourceConfig(name="Mining", url="https://m.example/f", section="Markets"),
        ),
    )
    store.data_dir = config.data_dir
    store.add_subscriber("weekly@example.com", now=MONDAY)
    store.add_subscriber("daily@example.com", now=MONDAY)
    store.set_memberships(
        "weekly@example.com", [Membership(DEFAULT_NEWSLETTER, frequency="weekly")], now=MONDAY
    )
    store.save_articles(_week(), now=MONDAY)
    reports = pipeline.build_all(config, store, now=MONDAY)
    built = {r.edition.key: r.edition for r in reports if r.edition}
    assert set(built) == {"2026-11-30", "default/2026-W49"}
    # The day's edition looks back a day: the strike's first reports are too old for it.
    assert len(built["2026-11-30"].article_ids) < 7
    assert built["default/2026-W49"].top[0].article.title == STRIKE
    assert len(built["default/2026-W49"].article_ids) == 7
    sent = pipeline.send_all(config, store, now=MONDAY)
    assert [(r.edition_key, r.counts["sent"]) for r in sent] == [
        ("2026-11-30", 1),
        ("default/2026-W49", 1),
    ]
    assert [d.email for d in store.deliveries("default/2026-W49")] == ["weekly@example.com"]


def test_the_scheduler_wakes_at_the_next_due_time_and_a_new_wake_up_replaces_the_old() -> None:
    import threading
    import time as clock

    from digest.schedule import Scheduler

    woke: list[str] = []
    done = threading.Event()

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            woke.append(name)
            done.set()

        return run

    scheduler = Scheduler(Config(), collect=lambda: None, send=lambda: None, missed=lambda _: None)
    scheduler.start()
    try:
        soon = datetime.now(UTC) + timedelta(seconds=0.6)
        scheduler.wake(soon + timedelta(seconds=0.3), job("replaced"))
        scheduler.wake(soon, job("due"))  # replaces the first: one wake-up, the newest
        assert done.wait(10)
        clock.sleep(1.0)  # past the replaced one's time
    finally:
        scheduler.shutdown()
    assert woke == ["due"]
