"""The newsletters one installation sends, what a reader may choose of each, and their editions.

The ``[newsletter]``, ``[schedule]`` and ``[edition]`` tables configure the default newsletter
(slug :data:`~digest.models.DEFAULT_NEWSLETTER`), so every config from before is one newsletter;
each ``[newsletters.SLUG]`` table adds one more from the same sources (collected once).
:func:`series` derives one whole :class:`~digest.config.Config` per newsletter and frequency,
which the pipeline builds and sends as it always did. An edition's key says which:

    2026-11-30            the default newsletter, daily (as before several newsletters)
    default/2026-W49      the default newsletter, weekly
    tech/2026-11-30       newsletter 'tech', daily;  tech/2026-W49: weekly

A reader's choices (a :class:`~digest.models.Membership`) pick a :class:`Variant` of an edition
(sections, language), rendered once per edition however many readers share it, and a due time
(:func:`due_time`): their own local send time, by zoneinfo, whatever the DST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.config import Config, Newsletters, NewsletterTable
from digest.models import DEFAULT_NEWSLETTER, DEFAULT_SERIES, FREQUENCIES, Membership, Offer

__all__ = [
    "DEFAULT_NEWSLETTER",
    "Membership",
    "Offer",
    "Variant",
    "due_time",
    "key_of",
    "offers",
    "pattern_of",
    "series",
    "variant_of",
]

_HH_MM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
WEEK = timedelta(days=7)


# --- newsletters and their editions ----------------------------------------------------------


def newsletters(config: Config) -> tuple[Config, ...]:
    """One config per newsletter: the default one first, then each [newsletters.SLUG]."""
    return (config, *(_derived(config, slug, table) for slug, table in config.newsletters))


def series(config: Config) -> tuple[Config, ...]:
    """One config per newsletter and frequency: each newsletter daily, then weekly."""
    return tuple(c for n in newsletters(config) for c in (n, weekly(n)))


def find(config: Config, slug: str, frequency: str = "daily") -> Config | None:
    """The config of newsletter ``slug`` at ``frequency``, or None when there is no such newsletter."""
    for found in newsletters(config):
        if found.slug == slug:
            return weekly(found) if frequency == "weekly" else found
    return None


def _derived(config: Config, slug: str, table: NewsletterTable) -> Config:
    own = config.newsletter
    newsletter = replace(
        own,
        name=table.name,
        tagline=table.tagline or own.tagline,
        language=table.language or own.language,
        languages=table.languages,
        timezone=table.timezone or own.timezone,
        reason=table.reason or own.reason,
    )
    schedule = replace(
        config.schedule,
        send_at=table.send_at or config.schedule.send_at,
        weekdays=table.weekdays or config.schedule.weekdays,
        weekly_on=table.weekly_on or config.schedule.weekly_on,
    )
    carried = [
        s
        for s in config.sources
        if (not table.sources or s.name in table.sources)
        and (not table.sections or s.section in table.sections)
    ]
    return replace(
        config,
        newsletter=newsletter,
        schedule=schedule,
        edition=replace(config.edition, sections=table.sections or config.edition.sections),
        render=replace(config.render, templates=table.templates or config.render.templates),
        newsletters=Newsletters(),
        slug=slug,
        only_sources=tuple(s.url for s in carried),
    )


def weekly(config: Config) -> Config:
    """The newsletter's weekly edition: once a week on ``weekly_on``, a week's articles."""
    if config.frequency == "weekly":
        return config
    return replace(
        config,
        frequency="weekly",
        collect=replace(config.collect, window=max(config.collect.window, WEEK)),
        schedule=replace(config.schedule, weekdays=(config.schedule.weekly_on,)),
    )


def key_of(config: Config, moment: datetime) -> str:
    """The key of the edition ``moment`` belongs to, in the config's newsletter and frequency."""
    day = moment.astimezone(ZoneInfo(config.newsletter.timezone)).date()
    return edition_key(day, slug=config.slug, frequency=config.frequency)


def edition_key(day: date, *, slug: str = DEFAULT_NEWSLETTER, frequency: str = "daily") -> str:
    prefix = "" if (slug, frequency) == (DEFAULT_NEWSLETTER, "daily") else f"{slug}/"
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{prefix}{year}-W{week:02d}"
    return prefix + day.isoformat()


def pattern_of(config: Config) -> str:
    """A LIKE pattern matching the keys of the config's editions, and no other's."""
    prefix = (
        ""
        if (config.slug, config.frequency) == (DEFAULT_NEWSLETTER, "daily")
        else f"{config.slug}/"
    )
    return prefix + ("____-W__" if config.frequency == "weekly" else DEFAULT_SERIES)


def series_of_key(config: Config, key: str) -> Config | None:
    """The newsletter config that made the edition ``key`` (None: no such newsletter now)."""
    slug, _, rest = key.rpartition("/")
    frequency = "weekly" if "-W" in rest else "daily"
    return find(config, slug or DEFAULT_NEWSLETTER, frequency)


# --- what a reader may choose ----------------------------------------------------------------


def offers(config: Config) -> tuple[Offer, ...]:
    """What a subscriber may choose: one Offer per newsletter, the default one first."""
    return tuple(offer_of(n) for n in newsletters(config))


def offer_of(config: Config) -> Offer:
    newsletter = config.newsletter
    languages = (
        newsletter.language,
        *(x for x in newsletter.languages if x != newsletter.language),
    )
    return Offer(
        slug=config.slug,
        name=newsletter.name,
        sections=_sections(config),
        languages=tuple(dict.fromkeys(languages)),
        frequencies=FREQUENCIES,
        send_time=_send_time(config.schedule.send_at),
        timezone=newsletter.timezone,
    )


def _sections(config: Config) -> tuple[str, ...]:
    """The sections the newsletter's sources fill, in its order."""
    from digest.edition import section_order  # here: the edition stage brings numpy

    carried = config.only_sources
    present = dict.fromkeys(
        s.section for s in config.sources if carried is None or s.url in carried
    )
    return tuple(section_order(present, config.edition.sections))


def _send_time(send_at: str) -> str:
    """'HH:MM' (zero-padded) when ``send_at`` is one; '' for a cron expression."""
    match = _HH_MM.fullmatch(send_at.strip())
    return f"{int(match[1]):02d}:{match[2]}" if match else ""


# --- variants and due times ------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Variant:
    """One rendering of an edition: the sections it shows (() all) and its language ('' the
    newsletter's). The variant every reader gets who chose nothing is the edition itself."""

    sections: tuple[str, ...] = ()
    language: str = ""

    @property
    def name(self) -> str:
        """'' for the edition itself; else 'LANGUAGE:SECTION+SECTION' ('*' for the default)."""
        if not self.sections and not self.language:
            return ""
        return f"{self.language or '*'}:{'+'.join(self.sections) or '*'}"


def variant_of(offer: Offer, membership: Membership) -> Variant:
    """The variant a reader's choices make, within what the newsletter offers now."""
    chosen = set(membership.sections)
    sections = tuple(s for s in offer.sections if s in chosen)
    if len(sections) == len(offer.sections):
        sections = ()  # every section is the edition itself; none offered any more, too
    language = membership.language if membership.language in offer.languages[1:] else ""
    return Variant(sections, language)


def due_time(anchor: datetime, offer: Offer, membership: Membership) -> datetime | None:
    """When the reader's copy of an edition scheduled at ``anchor`` falls due; None: at once.

    Their own send time in their own time zone (each defaulting to the newsletter's), the first
    such moment at or after ``anchor``. A reader who chose neither gets it at once.
    """
    if not membership.send_time and not membership.timezone:
        return None
    clock = _HH_MM.fullmatch(membership.send_time or offer.send_time)
    if clock is None:
        return None  # the newsletter's time is a cron expression and the reader chose none
    return next_local(
        anchor, time(int(clock[1]), int(clock[2])), membership.timezone or offer.timezone
    )


def next_local(anchor: datetime, clock: time, timezone: str) -> datetime:
    """The first moment at or after ``anchor`` when the wall clock in ``timezone`` reads ``clock``.

    Computed on local dates with zoneinfo, so 07:00 stays 07:00 across DST changes; a time a
    spring-forward skips is read with the offset before the change (so it falls just after).
    """
    zone = ZoneInfo(timezone)
    day = anchor.astimezone(zone).date()
    for offset in range(3):
        local = datetime.combine(day + timedelta(days=offset), clock, tzinfo=zone)
        instant = local.astimezone(UTC)  # compared as instants, never as wall-clock times
        if instant >= anchor.astimezone(UTC):
            return instant
    raise AssertionError("unreachable: a local time recurs within three days")
