"""Entry dates that feedparser cannot read: localised names ("Seg, 24 Set 2018"), odd formats.

feedparser reads RFC 822 and ISO 8601 dates in English; a Portuguese or German feed that
writes its day and month names in its own language gets no date from it. Those dates go
to dateparser, told the feed's language (and English): detecting the language among all
of dateparser's would load every one of them, seconds and tens of megabytes. dateparser
is imported only when a feed has such a date. Only absolute dates with a day, a month and
a year count ("yesterday" or "1 March" would be invented from the clock), each string is
cut to MAX_CHARS, and one feed has at most MAX_PARSES of them read (feeds list their newest
entries first): the rest are undated. A count, not a clock, so the outcome does not depend
on how busy the machine is; each read is bounded by the string's length.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_CHARS = 80
"""Longest date string looked at; real ones are about 30 characters."""
MAX_PARSES = 300
"""Dates one feed may send to dateparser (about 1 ms each); entries past these stay undated."""

SETTINGS = {
    "TIMEZONE": "UTC",
    "TO_TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
    "REQUIRE_PARTS": ["day", "month", "year"],
    "PARSERS": ["timestamp", "absolute-time"],
}


class DateReader:
    """Reads one feed's dates that feedparser could not, in the feed's language or English."""

    def __init__(self, language: str = "") -> None:
        self.languages = list(dict.fromkeys([language, "en"] if language else ["en"]))
        self._parser: Any = None
        self._parses = 0

    def __call__(self, text: str) -> datetime | None:
        text = " ".join(str(text).split())[:MAX_CHARS]
        if not text or self._parses >= MAX_PARSES:
            return None
        self._parses += 1
        try:
            found = self._dateparser().get_date_data(text).date_obj
        except (ValueError, TypeError, OverflowError, LookupError):
            return None
        if not isinstance(found, datetime):
            return None
        return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)

    def _dateparser(self) -> Any:
        if self._parser is None:
            from dateparser.date import DateDataParser

            try:
                self._parser = DateDataParser(languages=self.languages, settings=SETTINGS)
            except ValueError:  # a language dateparser does not know
                self._parser = DateDataParser(languages=["en"], settings=SETTINGS)
        return self._parser
