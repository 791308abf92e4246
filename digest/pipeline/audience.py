"""Who gets an edition, and which variant of it when: each reader's membership, from the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.addresses import address_key
from digest.config import Config
from digest.models import DEFAULT_NEWSLETTER, Membership, Planned
from digest.newsletters import Variant, due_time, offer_of, variant_of
from digest.store import Store


@dataclass(frozen=True)
class Reader:
    email: str
    name: str
    membership: Membership


def readers(config: Config, store: Store) -> list[Reader]:
    """Confirmed, unsuppressed subscribers who get the config's newsletter at its frequency.

    A subscriber who never chose gets the default newsletter, daily (as before newsletters).
    """
    suppressed = store.suppressed_keys()
    stored = store.stored_memberships()
    found = []
    for subscriber in store.subscribers(status="confirmed"):
        key = address_key(subscriber.email)
        if key in suppressed:
            continue
        for membership in stored.get(key, [Membership(DEFAULT_NEWSLETTER)]):
            if (membership.newsletter, membership.frequency) == (config.slug, config.frequency):
                found.append(Reader(subscriber.email, subscriber.name, membership))
    return found


def variants(config: Config, chosen: list[Reader]) -> list[Variant]:
    """The distinct variants the readers' choices make, other than the edition itself."""
    offer = offer_of(config)
    return sorted({variant_of(offer, r.membership) for r in chosen} - {Variant()})


def plan(
    config: Config, chosen: list[Reader], *, rendered: set[str], anchor: datetime
) -> list[Planned]:
    """A ledger row per reader: the variant they chose (if it was rendered for this edition;
    else the edition itself) and their due time."""
    offer = offer_of(config)
    planned = []
    for reader in chosen:
        name = variant_of(offer, reader.membership).name
        due = due_time(anchor, offer, reader.membership)
        planned.append(Planned(reader.email, name if name in rendered else "", due))
    return planned
