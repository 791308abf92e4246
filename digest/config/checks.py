"""What an option's value must be, alone (each option's check=) and beside others (cross_checks)."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import babel
import babel.dates
from email_validator import EmailNotValidError, validate_email

from digest.config.values import Weights, format_duration
from digest.models import DEFAULT_NEWSLETTER

if TYPE_CHECKING:
    from digest.config import Config

Check = Callable[[Any], str | None]
"""A check returns None when a value is fine, else what was expected ("an email address")."""


def email(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "an email address"
    return None


def optional_email(value: str) -> str | None:
    return email(value) if value else None


def timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone such as 'Europe/London'"
    return None


def http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return "an http(s) URL"


def optional_http_url(value: str) -> str | None:
    return http_url(value) if value else None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def database_url(value: str) -> str | None:
    if not value or value.startswith(("postgresql://", "postgres://")):
        return None
    return "a postgresql:// URL, or nothing for SQLite in data_dir"


def feed_location(value: str) -> str | None:
    """A source is an http(s) URL, a file: URL or a path to an existing file."""
    if _SCHEME.match(value) and not re.match(r"^[A-Za-z]:[\\/]", value):
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return None
        if parts.scheme == "file" and Path(parts.path).is_file():
            return None
        return "an http(s) URL or a file path"
    if not value.strip():
        return "an http(s) URL or a file path"
    if Path(value).is_file():
        return None
    return f"an http(s) URL or a file path (no such file: {value})"


def positive(value: float) -> str | None:
    return None if value > 0 else "a number above 0"


def at_least(low: float) -> Check:
    return lambda value: None if value >= low else f"a number of at least {low}"


def non_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty string"


def env_name(value: str) -> str | None:
    return (
        None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else "an environment variable name"
    )


def locale(value: str) -> str | None:
    if not value:
        return None
    try:
        babel.Locale.parse(value.replace("-", "_"))
    except (ValueError, TypeError, babel.UnknownLocaleError):
        return "a locale such as 'en_GB', 'de' or 'pt_BR'"
    return None


def date_format(value: str) -> str | None:
    expected = "full, long, medium, short or a CLDR pattern such as 'EEEE d MMMM y'"
    if "%" in value:  # an strftime format: Babel would print its letters as pattern fields
        return expected
    try:
        babel.dates.format_datetime(datetime(2026, 1, 2, 3, 4), value, locale="en")
    except (ValueError, KeyError, AttributeError, TypeError):
        return expected
    return None


def send_at(value: str) -> str | None:
    # Imported here: schedule.py (the one module that imports APScheduler) imports digest.config.
    from digest.schedule import send_at_problem

    return send_at_problem(value)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekdays(value: tuple[str, ...]) -> str | None:
    if value and all(day in WEEKDAYS for day in value):
        return None
    return "day names from " + ", ".join(repr(d) for d in WEEKDAYS)


def weekday(value: str) -> str | None:
    return None if value in WEEKDAYS else "a day name from " + ", ".join(repr(d) for d in WEEKDAYS)


def optional_weekday(value: str) -> str | None:
    return weekday(value) if value else None


def optional_weekdays(value: tuple[str, ...]) -> str | None:
    return weekdays(value) if value else None


def optional_send_at(value: str) -> str | None:
    return send_at(value) if value else None


def optional_timezone(value: str) -> str | None:
    return timezone(value) if value else None


def at_least_duration(low: timedelta) -> Check:
    return lambda value: None if value >= low else f"a duration of at least {format_duration(low)}"


def optional_file(value: str) -> str | None:
    if not value or Path(value).expanduser().is_file():
        return None
    return f"a path to an existing file (no such file: {value})"


def query(value: str) -> str | None:
    return None if "=" in value or not value else "query parameters like 'utm_source=digest'"


def hosts_or_networks(value: tuple[str, ...]) -> str | None:
    for entry in value:
        host = entry.strip().strip("[]")
        if not host or not (_HOST_NAME.fullmatch(host) or _is_network(host)):
            return "host names, addresses or networks ('127.0.0.1', '10.0.0.0/8')"
    return None


_HOST_NAME = re.compile(r"[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*+\.?+")


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def positive_weights(value: Weights) -> str | None:
    return None if all(weight > 0 for _, weight in value) else "weights above 0"


# --- checks across options -----------------------------------------------------------------


def networks(value: tuple[str, ...]) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return "IP addresses or networks ('127.0.0.1', '10.0.0.0/8')"
    return None


def cross_checks(config: Config) -> list[str]:
    """Problems that involve more than one option."""
    problems = []
    if config.delivery.transport == "smtp" and not config.smtp.host:
        problems.append("smtp.host: expected a host name when delivery.transport is 'smtp', got ''")
    if _names_its_days(config.schedule.send_at) and set(config.schedule.weekdays) != set(WEEKDAYS):
        problems.append(
            "schedule.weekdays: expected every day (the default) when schedule.send_at's cron "
            f"expression names its own days, got {list(config.schedule.weekdays)}"
        )
    local = config.smtp.host in ("localhost", "127.0.0.1", "::1")
    if config.smtp.username and config.smtp.security == "none" and not local:
        problems.append(
            "smtp.security: expected 'starttls' or 'ssl' when smtp.username is set "
            "(the password would cross the network in clear), got 'none'"
        )
    if config.dkim.key_file and not config.dkim.selector:
        problems.append("dkim.selector: expected a selector when dkim.key_file is set, got ''")
    names = {source.name for source in config.sources}
    for slug, table in config.newsletters:
        if slug == DEFAULT_NEWSLETTER:
            problems.append(
                f"newsletters.{slug}: expected another name ('{slug}' is [newsletter]'s)"
            )
        for name in table.sources:
            if name not in names:
                problems.append(
                    f"newsletters.{slug}.sources: expected names of [[sources]], got '{name}'"
                )
    seen: dict[str, int] = {}
    for i, source in enumerate(config.sources):
        if source.url in seen:
            problems.append(
                f"sources[{i}].url: expected each source once, got the URL of sources[{seen[source.url]}]"
            )
        seen.setdefault(source.url, i)
    return problems


def _names_its_days(send_at: str) -> bool:
    parts = send_at.split()
    return len(parts) == 5 and parts[4] != "*"
