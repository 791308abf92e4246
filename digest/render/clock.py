"""Dates and times as the readers read them: their time zone, their locale, a zone label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import babel
import babel.dates


def locale_of(code: str) -> babel.Locale:
    """The Babel locale for a language or locale code ('de', 'pt-BR'); English when unknown."""
    try:
        return babel.Locale.parse((code or "en").replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        return babel.Locale.parse("en")  # an unknown language code: dates in English, not a crash


@dataclass(frozen=True)
class Clock:
    """Formats dates and times in one zone and locale, relative to the edition's date."""

    zone: ZoneInfo
    locale: babel.Locale
    edition_date: datetime

    def date(self, fmt: str) -> str:
        """The edition's date: a named format ('full') or a CLDR pattern."""
        if fmt in ("full", "long", "medium", "short"):
            fmt = str(self.locale.date_formats[fmt].pattern)
        return babel.dates.format_datetime(
            self.edition_date, fmt, tzinfo=self.zone, locale=self.locale
        )

    def time(self, moment: datetime) -> str:
        """An article's time with its zone label ('5:00 PM GMT', '17:00 MEZ', '14:00 UTC−3').

        Just the time on the edition's day; the day too on another day; the year too when
        it is not the edition's year.
        """
        local = moment.astimezone(self.zone)
        time = babel.dates.format_time(local, "short", tzinfo=self.zone, locale=self.locale)
        # CLDR puts a narrow no-break space before "AM"; not every mail client's font has it.
        time = f"{time}\xa0{self.zone_label(local)}".replace("\u202f", "\xa0")
        today = self.edition_date.astimezone(self.zone)
        if local.date() == today.date():
            return time
        skeleton = "MMMd" if local.year == today.year else "yMMMd"
        day = babel.dates.format_skeleton(skeleton, local, tzinfo=self.zone, locale=self.locale)
        return f"{day}, {time}"

    def zone_label(self, local: datetime) -> str:
        """The locale's short name for the zone at that moment, else its offset from UTC."""
        name = babel.dates.format_datetime(local, "z", tzinfo=self.zone, locale=self.locale)
        if name[:1] not in "+-":
            return name
        hours, minutes = int(name[1:3]), int(name[3:5])
        if not hours and not minutes:
            return "UTC"
        sign = "+" if name[0] == "+" else "\u2212"
        return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
