"""Memberships: each subscriber's newsletters and choices, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.config import Config, NewsletterConfig, ScheduleConfig, SourceConfig
from digest.models import DEFAULT_NEWSLETTER, Membership
from digest.newsletters import offers
from digest.store import MIGRATIONS, Store

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
def store(engine_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py: engine_store)."""
    return engine_store


def test_a_confirmed_subscriber_without_a_row_gets_the_default_newsletter(store: Store) -> None:
    store.add_subscriber("Ana@Example.com", now=NOW)
    store.add_subscriber("bo@example.com", status="pending", now=NOW)

    assert store.memberships("ana@example.com") == [Membership(DEFAULT_NEWSLETTER)]
    assert store.memberships("bo@example.com") == []
    assert store.memberships("nobody@example.com") == []


def test_set_memberships_replaces_all_and_matches_any_spelling(store: Store) -> None:
    store.add_subscriber("ana@example.com", now=NOW)
    tokyo = Membership("morning", ("Markets", "Economy"), "weekly", "06:30", "Asia/Tokyo", "de")
    store.set_memberships("ANA@example.com", [tokyo, Membership("tech")], now=NOW)
    assert store.memberships("ana@example.com") == [tokyo, Membership("tech")]

    store.set_memberships("ana@example.com", [Membership("tech", ("AI",))], now=NOW)
    assert store.memberships("Ana@Example.COM") == [Membership("tech", ("AI",))]
    assert store.stored_memberships() == {"ana@example.com": [Membership("tech", ("AI",))]}


def test_choosing_no_newsletter_is_remembered(store: Store) -> None:
    store.add_subscriber("ana@example.com", now=NOW)
    store.set_memberships("ana@example.com", [], now=NOW)
    assert store.memberships("ana@example.com") == []
    assert store.stored_memberships() == {"ana@example.com": []}


def test_bad_memberships_are_refused_and_change_nothing(store: Store) -> None:
    store.add_subscriber("ana@example.com", now=NOW)
    store.set_memberships("ana@example.com", [Membership("tech")], now=NOW)
    with pytest.raises(ValueError, match="frequency 'monthly'"):
        store.set_memberships("ana@example.com", [Membership("x", frequency="monthly")], now=NOW)
    with pytest.raises(ValueError, match="chosen twice"):
        store.set_memberships("ana@example.com", [Membership("x"), Membership("x")], now=NOW)
    assert store.memberships("ana@example.com") == [Membership("tech")]


def test_the_schema_holds_memberships(store: Store) -> None:
    assert store.schema_version() == len(MIGRATIONS)
    row = store.db.execute("SELECT COUNT(*) FROM memberships").fetchone()
    assert row[0] == 0


def test_a_single_newsletter_config_offers_one_newsletter() -> None:
    config = Config(
        newsletter=NewsletterConfig(name="Morning", timezone="Asia/Tokyo", language="ja"),
        schedule=ScheduleConfig(send_at="7:05"),
        sources=(
            SourceConfig(name="A", url="a.xml", section="Markets"),
            SourceConfig(name="B", url="b.xml", section="Economy"),
            SourceConfig(name="C", url="c.xml", section="Markets"),
        ),
    )
    (offer,) = offers(config)
    assert (offer.slug, offer.name, offer.timezone, offer.send_time) == (
        DEFAULT_NEWSLETTER,
        "Morning",
        "Asia/Tokyo",
        "07:05",
    )
    assert offer.sections == ("Economy", "Markets")
    assert offer.languages == ("ja",)
    assert offer.frequencies == ("daily", "weekly")
