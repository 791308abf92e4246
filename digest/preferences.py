"""A subscriber's choices as the preferences page shows and reads them (no web, no store).

:func:`current` turns the stored memberships into what the form shows: every newsletter
offered, with the reader's effective sections, frequency, send time and language (a value
left to the newsletter shows as the newsletter's own). :func:`read` takes a posted form
back, keeping only values that are offered: an unknown newsletter, section, frequency,
language, time or zone is never kept, and each is named in a problem.
:func:`memberships` is what gets stored: a value equal to the newsletter's own is stored
empty, so it follows the newsletter when the newsletter changes it.

The reader has one time zone for all their newsletters (they live in one place), or none:
then each newsletter goes out at the reader's send time in the newsletter's own zone. The
memberships carry it each.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from digest import tokens
from digest.newsletters import Membership, Offer

PURPOSE = "preferences"
"""The purpose the preferences links' tokens are sealed for (:mod:`digest.tokens`)."""

REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)
"""The areas of the IANA names offered (the others are old aliases: 'US/Eastern', 'GB')."""
UTC = "UTC"
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d\Z")
_SHOWN = 40
"""Characters of a refused value quoted back in a problem."""


def path(address: str, secret: str) -> str:
    """The site's path of ``address``'s preferences page, signed."""
    return f"/preferences/{tokens.sign(address, PURPOSE, secret)}"


def url(base_url: str, address: str, secret: str) -> str:
    """The signed link to ``address``'s preferences, as the emails carry it."""
    return base_url.rstrip("/") + path(address, secret)


@dataclass(frozen=True)
class Choice:
    """What the form shows or was sent for one newsletter."""

    offer: Offer
    chosen: bool
    sections: tuple[str, ...]
    """The sections ticked, in the newsletter's order."""
    frequency: str
    send_time: str
    """'HH:MM', or '' when the newsletter has no fixed time and the reader chose none."""
    language: str


@dataclass(frozen=True)
class Choices:
    timezone: str
    """The reader's IANA zone; '' for each newsletter's own."""
    items: tuple[Choice, ...]

    @property
    def any_chosen(self) -> bool:
        return any(item.chosen for item in self.items)


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """The time zones offered: UTC and the IANA names of the regions, sorted."""
    names = zoneinfo.available_timezones()
    regional = sorted(n for n in names if n.split("/", 1)[0] in REGIONS and "/" in n)
    return (UTC, *regional)


def zone_groups() -> list[tuple[str, tuple[str, ...]]]:
    """The zones by region, for a select's option groups ('': UTC)."""
    groups: dict[str, list[str]] = {}
    for name in zones():
        region = name.split("/", 1)[0]
        groups.setdefault(region if region in REGIONS else "", []).append(name)
    return [(region, tuple(names)) for region, names in groups.items()]


def max_fields(offers: Sequence[Offer]) -> int:
    """The most fields a genuine form has: the CSRF token, the zone, and per newsletter its
    box, its sections, frequency, time and language."""
    return 2 + sum(4 + len(offer.sections) for offer in offers)


def current(offers: Sequence[Offer], stored: Sequence[Membership]) -> Choices:
    """What the form shows for ``stored`` (an unknown newsletter in it is left out)."""
    by_slug = {m.newsletter: m for m in stored}
    items = tuple(_shown(offer, by_slug.get(offer.slug)) for offer in offers)
    zone = next((m.timezone for m in stored if m.timezone), "")
    return Choices(zone if zone in zones() else "", items)


def _shown(offer: Offer, membership: Membership | None) -> Choice:
    m = membership or Membership(offer.slug)
    sections = tuple(s for s in offer.sections if not m.sections or s in m.sections)
    frequency = m.frequency if m.frequency in offer.frequencies else offer.frequencies[0]
    language = m.language if m.language in offer.languages else _default_language(offer)
    return Choice(
        offer=offer,
        chosen=membership is not None,
        sections=sections or offer.sections,
        frequency=frequency,
        send_time=m.send_time or offer.send_time,
        language=language,
    )


def read(offers: Sequence[Offer], fields: Sequence[tuple[str, str]]) -> tuple[Choices, list[str]]:
    """The choices a posted form makes, and what was wrong with it (empty when nothing).

    ``fields`` are the form's (name, value) pairs, repeated names kept (checkboxes).
    """
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name, []).append(value)
    problems: list[str] = []
    zone = _one(values, "timezone")
    if zone and zone not in zones():
        problems.append(f"Time zone {_quoted(zone)} is not one of those offered.")
        zone = ""
    only = len(offers) == 1
    wanted = set(values.get("newsletter", []))
    for slug in sorted(wanted - {o.slug for o in offers}):
        problems.append(f"There is no newsletter {_quoted(slug)} here.")
    items = []
    for offer in offers:
        item, wrong = _read_one(offer, values, chosen=only or offer.slug in wanted)
        items.append(item)
        problems.extend(wrong)
    choices = Choices(zone, tuple(items))
    if not choices.any_chosen:
        problems.append("Choose at least one newsletter, or unsubscribe from all of them below.")
    return choices, problems


def _read_one(
    offer: Offer, values: dict[str, list[str]], *, chosen: bool
) -> tuple[Choice, list[str]]:
    problems: list[str] = []
    name = offer.name
    ticked = values.get(f"sections:{offer.slug}", [])
    for section in dict.fromkeys(ticked):
        if section not in offer.sections:
            problems.append(f"{name} has no section {_quoted(section)}.")
    sections = tuple(s for s in offer.sections if s in ticked)
    if offer.sections and not sections:
        problems.append(f"Choose at least one section of {name}.")
    frequency = _one(values, f"frequency:{offer.slug}")
    if frequency not in offer.frequencies:
        problems.append(f"{name} is not sent {_quoted(frequency)}.")
        frequency = offer.frequencies[0]
    send_time = _one(values, f"send_time:{offer.slug}")
    if not _TIME.match(send_time) and not (send_time == "" == offer.send_time):
        problems.append(f"Send time {_quoted(send_time)}: expected a time like 07:30.")
        send_time = offer.send_time
    language = _one(values, f"language:{offer.slug}") or _default_language(offer)
    if language not in offer.languages:
        problems.append(f"{name} is not written in {_quoted(language)}.")
        language = _default_language(offer)
    choice = Choice(offer, chosen, sections, frequency, send_time, language)
    return choice, problems if chosen else []  # a newsletter not chosen stores nothing


def memberships(choices: Choices) -> list[Membership]:
    """What to store for ``choices`` (sections, send time and language equal to the
    newsletter's own are stored empty; the zone as chosen)."""
    return [_membership(item, choices.timezone) for item in choices.items if item.chosen]


def _membership(item: Choice, zone: str) -> Membership:
    offer = item.offer
    return Membership(
        newsletter=offer.slug,
        sections=() if set(item.sections) == set(offer.sections) else item.sections,
        frequency=item.frequency,
        send_time="" if item.send_time == offer.send_time else item.send_time,
        timezone=zone,
        language="" if item.language == _default_language(offer) else item.language,
    )


def _default_language(offer: Offer) -> str:
    return offer.languages[0] if offer.languages else ""


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name, [""])
    return found[0]


def _quoted(value: str) -> str:
    shown = value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
    return repr(shown)
