"""Rows <-> values: the store's own record types, times as ISO 8601 text, row converters."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from digest.models import Article, Email, FetchState, Image
from digest.store.engine import Record


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EditionRecord:
    """A built edition as the store keeps it."""

    key: str
    number: int
    built: datetime
    email: Email
    article_ids: tuple[str, ...]
    version: int = 1
    """Bumped by each rebuild; a send plans against one version."""
    sealed: bool = False
    """A delivery of this version has been claimed: it never changes again."""


@dataclass(frozen=True)
class EditionEntry:
    """An edition as a list of editions shows it: no HTML, no text, no files."""

    key: str
    number: int
    built: datetime
    subject: str
    articles: int
    """How many articles it carried."""


RunOutcome = Literal["started", "sent", "skipped", "missed"]


@dataclass(frozen=True)
class EditionRun:
    """What the scheduler did about one day's edition.

    ``started``: the cycle began and has not finished (it resumes on the next start);
    ``sent``: every recipient was handed the edition or had a final answer;
    ``skipped``: too few new articles; ``missed``: found too late to send (after catch_up).
    The last three are final: a second trigger for the same key does nothing.
    """

    key: str
    scheduled: datetime
    outcome: RunOutcome
    detail: str
    updated: datetime

    @property
    def final(self) -> bool:
        return self.outcome != "started"


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    status: str
    created: datetime
    updated: datetime | None = None
    """When the status last changed (for a pending address: when it signed up)."""


def content_hash(article: Article) -> str:
    """Changes whenever what a reader would see of the article changes."""
    payload = "\x1f".join((article.title, article.text, article.author, article.url))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def article_row(article: Article, *, now: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "source": article.source,
        "source_key": article.source_key,
        "section": article.section,
        "title": article.title,
        "text": article.text,
        "author": article.author,
        "published": iso(article.published),
        "dated": int(article.dated),
        "first_seen": iso(now),
        "updated": iso(now),
        "image": json.dumps(dataclasses.asdict(article.image)) if article.image else None,
        "language": article.language,
        "tags": json.dumps(article.tags),
        "priority": article.priority,
        "content_hash": content_hash(article),
    }


def article_from(row: Record) -> Article:
    published = from_iso(row["published"])
    assert published is not None
    return Article(
        id=row["id"],
        source=row["source"],
        section=row["section"],
        url=row["url"],
        title=row["title"],
        text=row["text"],
        published=published,
        dated=bool(row["dated"]),
        author=row["author"],
        image=Image(**json.loads(row["image"])) if row["image"] else None,
        language=row["language"],
        tags=tuple(json.loads(row["tags"])),
        priority=row["priority"],
        source_key=row["source_key"],
    )


def edition_run_from(row: Record) -> EditionRun:
    scheduled, updated = from_iso(row["scheduled"]), from_iso(row["updated"])
    assert scheduled is not None and updated is not None
    return EditionRun(row["key"], scheduled, row["outcome"], row["detail"], updated)


def subscriber_from(row: Record) -> Subscriber:
    created = from_iso(row["created"]) or utcnow()
    return Subscriber(row["email"], row["name"], row["status"], created, from_iso(row["updated"]))


def fetch_state_from(row: Record) -> FetchState:
    return FetchState(
        key=row["key"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        not_before=from_iso(row["not_before"]),
        last_success=from_iso(row["last_success"]),
        last_error=row["last_error"],
        failures=row["failures"],
        disabled=row["disabled"],
    )
