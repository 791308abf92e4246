"""The values passed between stages. All frozen: a stage returns new values, never edits old ones.

collect    SourceConfig          -> FeedResult (FetchState, Article...)
collect    page URL              -> Page
extract    Page                  -> Extracted
summarize  Article               -> Summary
edition    Article + SentArticle + Summary -> Edition (Section, Item)
render     Edition               -> Email
deliver    Email + Recipient     -> DeliveryResult
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class Image:
    """A picture hosted elsewhere; emails link to it, never embed it."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Article:
    """One news item, as collected and (when the feed had only a teaser) completed from its page."""

    id: str
    """Stable across fetches: a unique guid, else the canonical link, else a content hash."""
    source: str
    """The configured source name, shown beside the article."""
    section: str
    url: str
    """Absolute http(s) link to the article, tracking parameters removed."""
    title: str
    """Plain text: entities decoded, tags and extra whitespace removed."""
    text: str
    """Plain text, paragraphs separated by a blank line. Never HTML."""
    published: datetime
    """Aware, UTC. Falls back to the updated time, then to when digest first saw it (undated)."""
    author: str = ""
    image: Image | None = None
    language: str = ""
    tags: tuple[str, ...] = ()
    priority: int = 0
    """The source's configured priority."""
    source_key: str = ""
    """The configured URL of the source it came from."""
    dated: bool = True
    """False when neither the feed nor the page gave a readable date: ``published`` is then
    when digest first saw it, which is no news value and is never shown as a time."""
    guessed: frozenset[str] = frozenset()
    """Fields the feed lacked and collect filled in ("title", "published"): the page may know
    better. Only meaningful during a collect run; the store does not keep it."""


@dataclass(frozen=True)
class FetchState:
    """What digest remembers about one source between fetches."""

    key: str
    """The source's configured URL: its identity in the store."""
    url: str
    """Where to fetch it now: the configured URL, or where a permanent redirect pointed."""
    etag: str = ""
    last_modified: str = ""
    not_before: datetime | None = None
    """Skip the source until then (Retry-After, Cache-Control max-age)."""
    last_success: datetime | None = None
    last_error: str = ""
    failures: int = 0
    """Consecutive failed fetches."""
    disabled: str = ""
    """Why the source is no longer fetched (410 Gone), or empty."""


FeedStatus = Literal["ok", "unchanged", "skipped", "failed", "disabled"]


@dataclass(frozen=True)
class FeedResult:
    """The outcome of fetching one source: its new state and the articles it gave."""

    state: FetchState
    status: FeedStatus
    articles: tuple[Article, ...] = ()
    message: str = ""
    """One line for the user: the error, or why the source was skipped."""


@dataclass(frozen=True)
class Page:
    """An article page as fetched."""

    url: str
    """Where the page was finally found, after redirects."""
    html: str


@dataclass(frozen=True)
class Extracted:
    """What extract found in a page: the main text and whatever metadata the page offers."""

    text: str
    title: str = ""
    author: str = ""
    published: datetime | None = None
    image: Image | None = None
    language: str = ""


@dataclass(frozen=True)
class Summary:
    article_id: str
    sentences: tuple[str, ...]
    """Whole sentences, in the article's order."""
    method: str

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class Item:
    """One story in an edition: the article that tells it best, and its summary."""

    article: Article
    summary: Summary
    also: tuple[Article, ...] = ()
    """The story's other articles: other outlets' reports and the lead source's own updates."""
    update: bool = False
    """True when the story was in an earlier edition and has grown since."""
    rank: int = 0
    """0 for the day's most important story; the size budget drops the highest ranks first."""
    story: str = ""
    """The story's id across editions: the id of the article that led it the first time."""

    @property
    def covered_by(self) -> tuple[Article, ...]:
        """One article per other source, for "also covered by": an outlet's own update is not."""
        seen = {self.article.source}
        others = []
        for article in self.also:
            if article.source not in seen:
                seen.add(article.source)
                others.append(article)
        return tuple(others)


@dataclass(frozen=True)
class SentArticle:
    """An article an earlier edition carried: as it is now, and as it was when carried."""

    article: Article
    """The stored article now (it may have been updated since)."""
    story: str
    """The id of the story it was carried in."""
    edition_key: str
    """The latest edition that carried it."""
    title: str
    """Its headline as that edition carried it."""
    text: str
    """Its text as that edition carried it."""


@dataclass(frozen=True)
class Section:
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Edition:
    """One day's newsletter, before it is rendered."""

    key: str
    """The edition's date in the newsletter's time zone, YYYY-MM-DD: built and sent once."""
    number: int
    """Issue number, counting from 1."""
    date: datetime
    """When it was built, in the newsletter's time zone."""
    top: tuple[Item, ...]
    sections: tuple[Section, ...]
    more: tuple[Item, ...] = ()
    """Items that did not fit the size budget: listed only in the web edition."""

    @property
    def items(self) -> tuple[Item, ...]:
        """The items shown in the email, in reading order (``more`` excluded)."""
        return self.top + tuple(item for section in self.sections for item in section.items)

    @property
    def article_ids(self) -> tuple[str, ...]:
        """Every article the edition carries: leads, "also covered by", and ``more``."""
        ids = [a.id for item in self.items + self.more for a in (item.article, *item.also)]
        return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class Email:
    """A rendered edition, the same for every recipient until :func:`render.personalize`.

    ``html`` and ``text`` are sealed documents: the per-recipient slots are filled only by
    :func:`digest.render.personalize`.
    """

    edition_key: str
    subject: str
    html: str
    """CSS already inlined; opens with the line naming its slots (:mod:`digest.render.slots`)."""
    text: str
    preheader: str


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    unsubscribe_url: str = ""
    """Signed one-click link (https), or empty when no base_url is configured."""
    unsubscribe_mailto: str = ""
    preferences_url: str = ""
    """Signed link to the reader's preferences page; the unsigned page (which says where to
    find the link) for the web edition; empty when no base_url is configured."""


DeliveryStatus = Literal["pending", "sending", "sent", "deferred", "failed", "skipped", "unknown"]
"""``unknown``: the message was handed over but the server never answered the end of DATA
(it may or may not have been accepted): retried once, later, then left as it is."""


@dataclass(frozen=True)
class Planned:
    """A ledger row to add: who, which variant, from when."""

    email: str
    variant: str = ""
    due: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """One row of the delivery ledger: an edition for one recipient."""

    edition_key: str
    email: str
    status: DeliveryStatus
    attempts: int = 0
    reply: str = ""
    next_attempt: datetime | None = None
    updated: datetime | None = None
    claimant: str = ""
    """Who holds the row while it is ``sending`` (a sender's id)."""
    lease_until: datetime | None = None
    """When a ``sending`` row falls due again if its claimant has not finished it."""
    unknowns: int = 0
    """How many attempts ended without a reply to the end of DATA."""
    variant: str = ""
    """Which rendering of the edition the reader is sent ('': the edition's own)."""
    due: datetime | None = None
    """When a pending row may first be claimed (the reader's own send time); None: at once."""

    def is_due(self, moment: datetime) -> bool:
        """Whether a sender at ``moment`` may claim this row (the store's rule, in Python)."""
        if self.status == "pending":
            return self.due is None or self.due <= moment
        if self.status == "sending":
            return self.lease_until is None or self.lease_until <= moment
        if self.status == "unknown":
            return self.next_attempt is not None and self.next_attempt <= moment
        return self.status == "deferred" and (
            self.next_attempt is None or self.next_attempt <= moment
        )


DEFAULT_NEWSLETTER = "default"
"""The slug of the newsletter the ``[newsletter]`` table configures: a confirmed subscriber
with no stored membership belongs to it, with its defaults."""
DEFAULT_SERIES = "____-__-__"
"""The LIKE pattern of the default newsletter's daily editions' keys (2026-03-10), and of no
other's: another newsletter's daily keys are SLUG/ and this (digest.newsletters.pattern_of)."""

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")


@dataclass(frozen=True)
class Membership:
    """One subscriber's choices for one newsletter (a row of ``memberships``).

    Empty values mean the newsletter's own: ``sections`` () all of them, ``send_time`` ''
    its send time, ``timezone`` '' its time zone, ``language`` '' its default language.
    """

    newsletter: str
    """The newsletter's slug (:func:`digest.newsletters.offers`)."""
    sections: tuple[str, ...] = ()
    frequency: str = "daily"
    """``daily`` or ``weekly``."""
    send_time: str = ""
    """'HH:MM', local to ``timezone``."""
    timezone: str = ""
    """An IANA time zone name."""
    language: str = ""


@dataclass(frozen=True)
class Offer:
    """What a subscriber may choose of one newsletter (the preferences page shows these)."""

    slug: str
    name: str
    sections: tuple[str, ...]
    """The sections a reader may pick from, in the newsletter's order."""
    languages: tuple[str, ...]
    """The first is the newsletter's default."""
    frequencies: tuple[str, ...]
    send_time: str
    """The newsletter's own send time ('HH:MM'; '' when its schedule is a cron expression)."""
    timezone: str
