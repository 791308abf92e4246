"""The web site's tables on SQLite and on PostgreSQL: limits and the confirmation queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.store import Store

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
HOUR = NOW.replace(minute=0)


@pytest.fixture
def store(engine_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py: engine_store)."""
    return engine_store


def test_a_window_counts_hits_up_to_its_limit(store: Store) -> None:
    assert [store.take_hit("client:a", HOUR, 3) for _ in range(5)] == [True] * 3 + [False] * 2
    assert store.hits("client:a", HOUR) == 3
    assert store.take_hit("client:a", HOUR + timedelta(hours=1), 3), "a new window"
    assert store.take_hit("client:b", HOUR, 3), "another bucket"
    assert store.prune_hits(before=HOUR + timedelta(minutes=1)) == 2
    assert store.hits("client:a", HOUR) == 0


def test_one_queued_mail_per_address_until_the_resend_guard_passes(store: Store) -> None:
    guard = timedelta(minutes=10)
    assert store.queue_confirmation("a@example.com", name="A", now=NOW, resend_after=guard)
    assert not store.queue_confirmation("A@example.com", name="", now=NOW, resend_after=guard)
    claimed = store.claim_confirmation(now=NOW, lease=timedelta(minutes=2), oldest=NOW - guard)
    assert claimed is not None and (claimed.email, claimed.name, claimed.attempts) == (
        "a@example.com",
        "A",
        1,
    )
    assert store.claim_confirmation(now=NOW, lease=timedelta(minutes=2), oldest=NOW) is None
    assert store.finish_confirmation("a@example.com", "sent", now=NOW)
    assert not store.finish_confirmation("a@example.com", "sent", now=NOW), "not claimed"
    later = NOW + timedelta(minutes=5)
    assert not store.queue_confirmation("a@example.com", name="", now=later, resend_after=guard)
    later = NOW + timedelta(minutes=11)
    assert store.queue_confirmation("a@example.com", name="", now=later, resend_after=guard)


def test_a_claim_whose_lease_ran_out_is_due_again_and_old_ones_are_dropped(store: Store) -> None:
    lease = timedelta(minutes=2)
    store.queue_confirmation(
        "old@example.com", name="", now=NOW - timedelta(days=2), resend_after=lease
    )
    store.queue_confirmation("b@example.com", name="", now=NOW, resend_after=lease)
    first = store.claim_confirmation(now=NOW, lease=lease, oldest=NOW - timedelta(days=1))
    assert first is not None and first.email == "b@example.com"
    assert store.claim_confirmation(now=NOW + timedelta(minutes=1), lease=lease, oldest=NOW) is None
    again = store.claim_confirmation(now=NOW + timedelta(minutes=3), lease=lease, oldest=NOW)
    assert again is not None and again.email == "b@example.com" and again.attempts == 2
    assert store.confirmation_counts() == {"dropped": 1, "sending": 1}
    later = NOW + timedelta(minutes=5)
    assert store.prune_confirmations(before=later) == 1, "the dropped one; one in flight stays"
    assert store.confirmation_counts() == {"sending": 1}
