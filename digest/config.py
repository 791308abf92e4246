"""The configuration: one TOML file, every option declared once, validated in one place.

Each option is a dataclass field with its default and a one-line help text
(:func:`option`). :func:`load_config` checks the whole file against these
declarations and reports every problem at once, as ``FILE: key.path: what``;
:func:`example_config` writes the commented example from the same declarations.
Secrets never live in the file: options ending in ``_env`` name an environment variable.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import babel
import babel.dates
from email_validator import EmailNotValidError, validate_email

from digest import resources
from digest.errors import ConfigError

DEFAULT_CONFIG = Path("config/digest.toml")
CONFIG_ENV = "DIGEST_CONFIG"

Check = Callable[[Any], str | None]
"""A check returns None when a value is fine, else what was expected ("an email address")."""


def option(
    default: Any,
    help: str,
    *,
    check: Check | None = None,
    example: Any = None,
    required: bool = False,
) -> Any:
    """Declare one option: its default, a one-line help, an optional extra check."""
    metadata = {"help": help, "check": check, "example": example, "required": required}
    return field(default=default, metadata=metadata)


# --- checks for values whose type alone says too little -------------------------------------


def _email(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "an email address"
    return None


def _optional_email(value: str) -> str | None:
    return _email(value) if value else None


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone such as 'Europe/London'"
    return None


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return "an http(s) URL"


def _optional_http_url(value: str) -> str | None:
    return _http_url(value) if value else None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _feed_location(value: str) -> str | None:
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
    return "an http(s) URL or a file path (no such file)"


def _positive(value: float) -> str | None:
    return None if value > 0 else "a number above 0"


def _at_least(low: float) -> Check:
    return lambda value: None if value >= low else f"a number of at least {low}"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty string"


def _env_name(value: str) -> str | None:
    return (
        None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else "an environment variable name"
    )


def _locale(value: str) -> str | None:
    if not value:
        return None
    try:
        babel.Locale.parse(value.replace("-", "_"))
    except (ValueError, TypeError, babel.UnknownLocaleError):
        return "a locale such as 'en_GB', 'de' or 'pt_BR'"
    return None


def _date_format(value: str) -> str | None:
    expected = "full, long, medium, short or a CLDR pattern such as 'EEEE d MMMM y'"
    if "%" in value:  # an strftime format: Babel would print its letters as pattern fields
        return expected
    try:
        babel.dates.format_datetime(datetime(2026, 1, 2, 3, 4), value, locale="en")
    except (ValueError, KeyError, AttributeError, TypeError):
        return expected
    return None


def _send_at(value: str) -> str | None:
    # Imported here: schedule.py (the one module that imports APScheduler) imports this module.
    from digest.schedule import send_at_problem

    return send_at_problem(value)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekdays(value: tuple[str, ...]) -> str | None:
    if value and all(day in WEEKDAYS for day in value):
        return None
    return "day names from " + ", ".join(repr(d) for d in WEEKDAYS)


def _at_least_duration(low: timedelta) -> Check:
    return lambda value: None if value >= low else f"a duration of at least {format_duration(low)}"


def _optional_file(value: str) -> str | None:
    return None if not value or Path(value).expanduser().is_file() else "a path to an existing file"


def _query(value: str) -> str | None:
    return None if "=" in value or not value else "query parameters like 'utm_source=digest'"


def _positive_weights(value: Weights) -> str | None:
    return None if all(weight > 0 for _, weight in value) else "weights above 0"


class Weights(tuple[tuple[str, float], ...]):
    """Names with a number each, from a TOML table such as ``{ Politics = 1.5 }``; frozen."""

    def get(self, name: str, default: float = 1.0) -> float:
        return next((weight for key, weight in self if key == name), default)


# --- durations ------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta | None:
    """'90s', '30m', '1h30m', '2d' -> timedelta; None when the text is not a duration."""
    text = text.strip()
    if not text or _DURATION_PART.sub("", text).strip():
        return None
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        # Days only from two on: "24h" reads better than "1d".
        if seconds >= size * (2 if unit == "d" else 1) and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- the options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewsletterConfig:
    name: str = option("Daily Digest", "The newsletter's name: header, From display name, List-Id.")
    tagline: str = option(
        "The most important stories of the day, summarized.",
        "One line under the name in the header.",
    )
    from_address: str = option(
        "digest@example.com", "The sender address of every edition.", check=_email
    )
    reply_to: str = option("", "Reply-To address; empty for none.", check=_optional_email)
    language: str = option("en", "The newsletter's language (html lang, summaries' default).")
    timezone: str = option(
        "UTC", "Time zone for the edition date and the send time.", check=_timezone
    )
    locale: str = option(
        "",
        "Locale of dates and times ('en_GB', 'de'); empty for the newsletter's language.",
        check=_locale,
    )
    date_format: str = option(
        "full",
        "Date in the header: full, long, medium, short or a CLDR pattern ('EEEE d MMMM y').",
        check=_date_format,
    )
    base_url: str = option(
        "",
        "Public URL of the web edition and the unsubscribe page (view-in-browser, List-Unsubscribe).",
        check=_optional_http_url,
        example="https://news.example.com/digest",
    )
    reason: str = option(
        "You receive this email because you signed up for daily updates.",
        "Why the reader gets this email (footer).",
    )
    postal_address: str = option("", "Postal address line in the footer (required by CAN-SPAM).")


@dataclass(frozen=True)
class SourceConfig:
    name: str = option(
        "", "Shown beside each article, e.g. 'EconoTimes'.", check=_non_empty, required=True
    )
    url: str = option(
        "", "The feed: an http(s) URL or a path to a file.", check=_feed_location, required=True
    )
    section: str = option("News", "The edition section this source's articles go to.")
    priority: int = option(0, "Higher ranks earlier when stories tie (-10 to 10).")
    full_text: Literal["auto", "always", "never"] = option(
        "auto", "Fetch the article page: 'auto' when the feed gives only a teaser."
    )
    max_items: int = option(30, "At most this many newest entries per fetch.", check=_positive)
    include: tuple[str, ...] = option((), "Keep only entries mentioning one of these words.")
    exclude: tuple[str, ...] = option((), "Drop entries mentioning any of these words.")


@dataclass(frozen=True)
class CollectConfig:
    window: timedelta = option(
        timedelta(hours=24), "How far back an edition looks for articles ('24h')."
    )
    timeout: timedelta = option(timedelta(seconds=15), "Give up on one request after this.")
    max_bytes: int = option(5_000_000, "Largest response body accepted, in bytes.", check=_positive)
    concurrency: int = option(16, "Requests in flight at once.", check=_positive)
    per_host: int = option(4, "Requests in flight at once to one host.", check=_positive)
    teaser_words: int = option(
        80, "A feed entry shorter than this is a teaser: fetch the page ('auto').", check=_positive
    )
    user_agent: str = option("", "User-Agent header; empty for digest's own.")


@dataclass(frozen=True)
class SummaryConfig:
    sentences: int = option(3, "Sentences per summary.", check=_positive)
    max_words: int = option(
        90, "Most words in one summary; whole sentences only, so most are shorter.", check=_positive
    )
    method: Literal["news", "lead", "lexrank", "textrank", "lsa", "luhn", "sumbasic"] = option(
        "news", "Summarizer: news, lead, lexrank, textrank, lsa, luhn, sumbasic."
    )


@dataclass(frozen=True)
class EditionConfig:
    top_stories: int = option(
        3, "How many stories lead the edition as 'Top stories'.", check=_at_least(0)
    )
    max_per_section: int = option(6, "At most this many stories per section.", check=_positive)
    sections: tuple[str, ...] = option(
        (), "Section order; sections not listed follow alphabetically."
    )
    min_articles: int = option(
        1, "Skip the edition when fewer new articles than this arrived.", check=_at_least(0)
    )
    section_weights: Weights = option(
        Weights(),
        "Multiply the scores of a section's stories, e.g. { Politics = 1.5 }; others count 1.",
        check=_positive_weights,
        example=Weights([("Politics", 1.5), ("Central Banks", 1.2)]),
    )


@dataclass(frozen=True)
class RenderConfig:
    templates: str = option("", "Your template folder, searched before the default theme.")
    max_html_bytes: int = option(
        100_000,
        "HTML byte budget (Gmail clips at ~102 KB); the rest becomes a web-edition link.",
        check=_positive,
    )
    link_params: str = option(
        "", "Query parameters added to article links, e.g. 'utm_source=digest'.", check=_query
    )


@dataclass(frozen=True)
class DeliveryConfig:
    transport: Literal["outbox", "smtp"] = option(
        "outbox", "'outbox' writes .eml files into the data directory; 'smtp' sends."
    )
    rate_limit: float = option(
        0.0, "Messages per second at most; 0 for no limit.", check=_at_least(0)
    )
    max_attempts: int = option(
        5,
        "Attempts per recipient, over all runs, before a temporary failure is final.",
        check=_positive,
    )
    retries_per_run: int = option(
        2,
        "Retries within one `digest send` of temporary failures (4xx, dropped connection); later ones wait for the next run.",
        check=_at_least(0),
    )
    retry_pause: timedelta = option(
        timedelta(seconds=2),
        "Pause before the first retry within a run; doubles for each next one.",
    )
    secret_env: str = option(
        "DIGEST_SECRET",
        "Environment variable holding the key that signs unsubscribe and confirmation links (16 characters or more).",
        check=_env_name,
    )


@dataclass(frozen=True)
class SmtpConfig:
    host: str = option("", "SMTP server host name.", example="smtp.example.com")
    port: int = option(587, "SMTP server port.", check=_positive)
    security: Literal["starttls", "ssl", "none"] = option("starttls", "starttls, ssl or none.")
    username: str = option("", "Login name; empty for no AUTH.")
    password_env: str = option(
        "DIGEST_SMTP_PASSWORD", "Environment variable holding the SMTP password.", check=_env_name
    )
    timeout: timedelta = option(timedelta(seconds=30), "Socket timeout.")
    ca_file: str = option(
        "",
        "CA certificates (PEM) to trust instead of the system's, for a server with a private CA.",
        check=_optional_file,
    )


@dataclass(frozen=True)
class DkimConfig:
    key_file: str = option(
        "",
        "Private key (PEM) that DKIM-signs every message; empty for no signing.",
        check=_optional_file,
    )
    selector: str = option(
        "",
        "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN.",
        example="digest",
    )
    domain: str = option("", "Signing domain (d=); empty for the From address's domain.")


@dataclass(frozen=True)
class ScheduleConfig:
    send_at: str = option(
        "07:00",
        "When `digest daemon` builds and sends: 'HH:MM' or a cron expression, in newsletter.timezone.",
        check=_send_at,
    )
    weekdays: tuple[str, ...] = option(
        WEEKDAYS, "The days an edition goes out; other days' articles wait.", check=_weekdays
    )
    collect_every: timedelta = option(
        timedelta(minutes=30),
        "The daemon collects this often (plus up to a tenth, at most 5m, of jitter).",
        check=_at_least_duration(timedelta(minutes=1)),
    )
    catch_up: timedelta = option(
        timedelta(hours=6),
        "After downtime, still send up to this long after send_at; later, the articles go to the next edition.",
    )


@dataclass(frozen=True)
class Config:
    data_dir: Path = option(Path(".digest"), "Where the database, editions and outbox live.")
    newsletter: NewsletterConfig = option(NewsletterConfig(), "")
    collect: CollectConfig = option(CollectConfig(), "")
    summary: SummaryConfig = option(SummaryConfig(), "")
    edition: EditionConfig = option(EditionConfig(), "")
    render: RenderConfig = option(RenderConfig(), "")
    delivery: DeliveryConfig = option(DeliveryConfig(), "")
    smtp: SmtpConfig = option(SmtpConfig(), "")
    schedule: ScheduleConfig = option(ScheduleConfig(), "")
    dkim: DkimConfig = option(DkimConfig(), "")
    sources: tuple[SourceConfig, ...] = option((), "The feeds to collect.")
    path: Path = field(default=Path("<defaults>"), metadata={"internal": True})

    @property
    def smtp_password(self) -> str:
        return os.environ.get(self.smtp.password_env, "")

    @property
    def secret(self) -> str:
        return os.environ.get(self.delivery.secret_env, "")

    def require_secret(self, used_for: str) -> str:
        """The key that signs subscribers' links; a ConfigError saying what to set when it is unusable."""
        secret = self.secret
        if len(secret) >= MIN_SECRET_LENGTH:
            return secret
        state = f"is shorter than {MIN_SECRET_LENGTH} characters" if secret else "is not set"
        raise ConfigError(
            [
                f"{self.path}: delivery.secret_env: the environment variable "
                f"{self.delivery.secret_env} {state}; it signs {used_for}"
            ]
        )


MIN_SECRET_LENGTH = 16


# --- loading and validating -----------------------------------------------------------------


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: --config, else $DIGEST_CONFIG, else config/digest.toml."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path, *, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path``; raise ConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (create one with `digest init`)"]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read config: {error}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: invalid TOML: {error}"]) from None
    data.update(overrides or {})
    problems: list[str] = []
    config: Config = _build(Config, data, "", problems)
    problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return dataclasses.replace(config, path=path)


def _build(cls: type[Any], data: Any, where: str, problems: list[str]) -> Any:
    """Build dataclass ``cls`` from a TOML table, appending each problem found."""
    if not isinstance(data, dict):
        problems.append(f"{where.rstrip('.')}: expected a table, got {_show(data)}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}{key}: unknown option{hint}")
    values = {}
    for name, f in fields.items():
        if f.metadata.get("required") and name not in data:
            check = f.metadata.get("check")
            expected = (check(f.default) if check else None) or "a value"
            problems.append(f"{where}{name}: expected {expected}, got nothing")
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}{name}", problems)
            check = f.metadata.get("check")
            expected = check(values[name]) if check and values[name] is not None else None
            if expected:
                problems.append(f"{where}{name}: expected {expected}, got {_show(data[name])}")
    values = {k: v for k, v in values.items() if v is not None}
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    """Convert one TOML value to the declared type; None (and a problem) when it does not fit."""
    origin = typing.get_origin(hint)
    expected: str
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, f"{where}.", problems)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, list):
            items = [_convert(item, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
            return tuple(items) if all(i is not None for i in items) else None
        expected = "an array of tables" if dataclasses.is_dataclass(item) else "a list"
    elif hint is Weights:
        if isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            return Weights((str(k), float(v)) for k, v in value.items())
        expected = "a table of names and numbers, e.g. { Politics = 1.5 }"
    elif origin is Literal:
        choices = typing.get_args(hint)
        if value in choices:
            return value
        expected = "one of " + ", ".join(repr(c) for c in choices)
    elif hint is bool:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "a whole number"
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif hint is str:
        if isinstance(value, str):
            return value
        expected = "a string"
    elif hint is Path:
        if isinstance(value, str) and value.strip():
            return Path(value).expanduser()
        expected = "a folder path"
    elif hint is timedelta:
        duration = parse_duration(value) if isinstance(value, str) else None
        if duration is not None:
            return duration
        expected = "a duration like '90s', '30m', '6h' or '1d'"
    else:  # pragma: no cover - a declaration with a type this function does not know
        raise TypeError(f"unsupported option type {hint!r} for {where}")
    problems.append(f"{where}: expected {expected}, got {_show(value)}")
    return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _cross_checks(config: Config) -> list[str]:
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


# --- writing the example --------------------------------------------------------------------


def example_config() -> str:
    """The commented example config, generated from the declarations above."""
    lines = [
        "# digest configuration. Every option is shown with its default.",
        "# Durations: '90s', '30m', '6h', '1d'. Relative paths are relative to the working directory.",
        "# Secrets never go here: options ending in _env name an environment variable.",
        "",
    ]
    tables = []
    for f in dataclasses.fields(Config):
        if f.metadata.get("internal"):
            continue
        if dataclasses.is_dataclass(f.default):
            tables.append(f)
        elif f.name != "sources":
            lines += _example_option(f, f.default)
    for f in tables:
        lines += ["", f"[{f.name}]"]
        for sub in dataclasses.fields(typing.cast(Any, f.default)):
            lines += _example_option(sub, sub.default)
    lines += ["", "# One [[sources]] table per feed."]
    example_source = {
        "name": "EconoTimes",
        "url": "https://www.econotimes.com/rss/economy.xml",
        "section": "Economy",
    }
    lines.append("[[sources]]")
    for sub in dataclasses.fields(SourceConfig):
        lines += _example_option(sub, example_source.get(sub.name, sub.default))
    return "\n".join(lines) + "\n"


def _example_option(f: dataclasses.Field[Any], value: Any) -> list[str]:
    shown = f.metadata.get("example")
    line = f"{f.name} = {_toml_value(value)}"
    if shown is not None and not value:
        line = f"# {f.name} = {_toml_value(shown)}"
    return [f"# {f.metadata['help']}", line]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:_}" if isinstance(value, int) and abs(value) >= 10_000 else repr(value)
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, Weights):
        pairs = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value)
        return "{ " + pairs + " }" if pairs else "{}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def option_keys() -> list[str]:
    """Every option's dotted key, for the docs meta-test."""
    keys = []
    for f in dataclasses.fields(Config):
        if f.metadata.get("internal"):
            continue
        nested = SourceConfig if f.name == "sources" else f.default
        if dataclasses.is_dataclass(nested):
            keys += [f"{f.name}.{sub.name}" for sub in dataclasses.fields(typing.cast(Any, nested))]
        else:
            keys.append(f.name)
    return keys


def bundled_config(name: str) -> Path:
    """A config shipped with digest, e.g. 'demo.toml'."""
    return resources.bundled("config") / name


if __name__ == "__main__":
    print(example_config(), end="")
