"""The configuration: one TOML file, every option declared once, validated in one place.

Each option is a dataclass field with its default and a one-line help text
(:func:`option`). :func:`load_config` checks the whole file against these
declarations and reports every problem at once, as ``FILE: key.path: what``;
:func:`example_config` writes the commented example from the same declarations.
Secrets never live in the file: options ending in ``_env`` name an environment variable.

The declarations are here; what a value must be is in :mod:`~digest.config.checks`
(durations and weights in :mod:`~digest.config.values`), reading a file in
:mod:`~digest.config.loading`, writing the example in :mod:`~digest.config.example`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from digest import resources
from digest.config import checks, loading
from digest.config.checks import WEEKDAYS, Check
from digest.config.example import commented_toml, dotted_keys
from digest.config.loading import CONFIG_ENV, DEFAULT_CONFIG, config_path
from digest.config.values import Keyed, Weights, format_duration, parse_duration
from digest.errors import ConfigError
from digest.models import DEFAULT_NEWSLETTER

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "MIN_SECRET_LENGTH",
    "WEEKDAYS",
    "Check",
    "CollectConfig",
    "Config",
    "DeliveryConfig",
    "DkimConfig",
    "EditionConfig",
    "NewsletterConfig",
    "NewsletterTable",
    "Newsletters",
    "RenderConfig",
    "ScheduleConfig",
    "SmtpConfig",
    "SourceConfig",
    "SummaryConfig",
    "WebConfig",
    "Weights",
    "bundled_config",
    "config_path",
    "example_config",
    "format_duration",
    "load_config",
    "option",
    "option_keys",
    "parse_duration",
]


def option(
    default: Any,
    help: str,
    *,
    check: Check | None = None,
    example: Any = None,
    required: bool = False,
    path: bool = False,
) -> Any:
    """Declare one option: its default, a one-line help, an optional extra check.

    ``path``: the value is a file or folder; a relative one is relative to the config
    file's directory (a URL is left as it is).
    """
    metadata = {
        "help": help,
        "check": check,
        "example": example,
        "required": required,
        "path": path,
    }
    return field(default=default, metadata=metadata)


# --- the options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewsletterConfig:
    name: str = option("Daily Digest", "The newsletter's name: header, From display name, List-Id.")
    tagline: str = option(
        "The most important stories of the day, summarized.",
        "One line under the name in the header.",
    )
    from_address: str = option(
        "digest@example.com", "The sender address of every edition.", check=checks.email
    )
    reply_to: str = option("", "Reply-To address; empty for none.", check=checks.optional_email)
    language: str = option("en", "The newsletter's language (html lang, summaries' default).")
    timezone: str = option(
        "UTC", "Time zone for the edition date and the send time.", check=checks.timezone
    )
    locale: str = option(
        "",
        "Locale of dates and times ('en_GB', 'de'); empty for the newsletter's language.",
        check=checks.locale,
    )
    date_format: str = option(
        "full",
        "Date in the header: full, long, medium, short or a CLDR pattern ('EEEE d MMMM y').",
        check=checks.date_format,
    )
    base_url: str = option(
        "",
        "Public URL of the web edition and the unsubscribe and preferences pages (view-in-browser, List-Unsubscribe).",
        check=checks.optional_http_url,
        example="https://news.example.com/digest",
    )
    reason: str = option(
        "You receive this email because you signed up for daily updates.",
        "Why the reader gets this email (footer).",
    )
    postal_address: str = option("", "Postal address line in the footer (required by CAN-SPAM).")
    languages: tuple[str, ...] = option(
        (),
        "Other languages a reader may choose for the edition's own words (summaries stay in their articles' language).",
        example=("de", "fr"),
    )


@dataclass(frozen=True)
class SourceConfig:
    name: str = option(
        "", "Shown beside each article, e.g. 'EconoTimes'.", check=checks.non_empty, required=True
    )
    url: str = option(
        "",
        "The feed: an http(s) URL or a path to a file.",
        check=checks.feed_location,
        required=True,
        path=True,
    )
    section: str = option("News", "The edition section this source's articles go to.")
    priority: int = option(0, "Higher ranks earlier when stories tie (-10 to 10).")
    full_text: Literal["auto", "always", "never"] = option(
        "auto", "Fetch the article page: 'auto' when the feed gives only a teaser."
    )
    max_items: int = option(
        30, "At most this many newest entries per fetch.", check=checks.positive
    )
    include: tuple[str, ...] = option((), "Keep only entries mentioning one of these words.")
    exclude: tuple[str, ...] = option((), "Drop entries mentioning any of these words.")


@dataclass(frozen=True)
class CollectConfig:
    window: timedelta = option(
        timedelta(hours=24), "How far back an edition looks for articles ('24h')."
    )
    timeout: timedelta = option(timedelta(seconds=15), "Give up on one request after this.")
    max_bytes: int = option(
        5_000_000, "Largest response body accepted, in bytes.", check=checks.positive
    )
    concurrency: int = option(16, "Requests in flight at once.", check=checks.positive)
    per_host: int = option(
        4,
        "Requests in flight at once to one host, counting every process and machine "
        "that collects into the same store.",
        check=checks.positive,
    )
    host_interval: timedelta = option(
        timedelta(0),
        "Least time between the starts of two requests to one host, across every process "
        "and machine that collects into the same store ('1s', '0.5s'); '0s' for none.",
        check=checks.at_least_duration(timedelta(0)),
    )
    teaser_words: int = option(
        80,
        "A feed entry shorter than this is a teaser: fetch the page ('auto').",
        check=checks.positive,
    )
    user_agent: str = option("", "User-Agent header; empty for digest's own.")
    allow_hosts: tuple[str, ...] = option(
        (),
        "Internal hosts, addresses or networks feeds and pages may come from "
        "(e.g. '127.0.0.1', '10.0.0.0/8', 'intranet.example'); all other loopback, "
        "private, link-local, multicast and reserved addresses are refused.",
        check=checks.hosts_or_networks,
    )
    page_budget: timedelta = option(
        timedelta(seconds=20),
        "Longest time extracting one article page may take; a page over it fails alone.",
        check=checks.at_least_duration(timedelta(seconds=1)),
    )


@dataclass(frozen=True)
class SummaryConfig:
    sentences: int = option(3, "Sentences per summary.", check=checks.positive)
    max_words: int = option(
        90,
        "Most words in one summary; whole sentences only, so most are shorter.",
        check=checks.positive,
    )
    method: Literal["news", "lead", "lexrank", "textrank", "lsa", "luhn", "sumbasic"] = option(
        "news", "Summarizer: news, lead, lexrank, textrank, lsa, luhn, sumbasic."
    )


@dataclass(frozen=True)
class EditionConfig:
    top_stories: int = option(
        3, "How many stories lead the edition as 'Top stories'.", check=checks.at_least(0)
    )
    top_per_outlet: int = option(
        2,
        "At most this many top stories told by one outlet (sources of one name); 0: no limit.",
        check=checks.at_least(0),
    )
    max_per_section: int = option(
        6, "At most this many stories per section.", check=checks.positive
    )
    sections: tuple[str, ...] = option(
        (), "Section order; sections not listed follow alphabetically."
    )
    min_articles: int = option(
        1, "Skip the edition when fewer new articles than this arrived.", check=checks.at_least(0)
    )
    section_weights: Weights = option(
        Weights(),
        "Multiply the scores of a section's stories, e.g. { Politics = 1.5 }; others count 1.",
        check=checks.positive_weights,
        example=Weights([("Politics", 1.5), ("Central Banks", 1.2)]),
    )


@dataclass(frozen=True)
class RenderConfig:
    templates: str = option(
        "", "Your template folder, searched before the default theme.", path=True
    )
    max_html_bytes: int = option(
        100_000,
        "HTML byte budget (Gmail clips at ~102 KB); the rest becomes a web-edition link.",
        check=checks.positive,
    )
    link_params: str = option(
        "", "Query parameters added to article links, e.g. 'utm_source=digest'.", check=checks.query
    )
    pictures: Literal["lead", "all", "none"] = option(
        "lead",
        "Pictures in the email: 'lead' on the top stories only, 'all' small ones beside the others too, 'none'.",
    )
    section_sentences: int = option(
        2,
        "Sentences of a section story's summary (top stories show the whole summary); 0 for all.",
        check=checks.at_least(0),
    )


@dataclass(frozen=True)
class DeliveryConfig:
    transport: Literal["outbox", "smtp"] = option(
        "outbox", "'outbox' writes .eml files into the data directory; 'smtp' sends."
    )
    rate_limit: float = option(
        0.0,
        "Messages per second at most, across every sender sharing the store; 0 for no limit.",
        check=checks.at_least(0),
    )
    daily_limit: int = option(
        0,
        "Messages per day (UTC) at most, across every sender sharing the store; 0 for no limit. The rest wait for the next day.",
        check=checks.at_least(0),
    )
    max_attempts: int = option(
        5,
        "Attempts per recipient, over all runs, before a temporary failure is final.",
        check=checks.positive,
    )
    retries_per_run: int = option(
        2,
        "Retries within one `digest send` of temporary failures (4xx, dropped connection); later ones wait for the next run.",
        check=checks.at_least(0),
    )
    retry_pause: timedelta = option(
        timedelta(seconds=2),
        "Pause before the first retry within a run; doubles for each next one.",
    )
    keep_ledger: timedelta = option(
        timedelta(days=90),
        "How long each recipient's ledger row is kept after an edition is built; older ones (not the latest edition's) become per-edition counts.",
    )
    secret_env: str = option(
        "DIGEST_SECRET",
        "Environment variable holding the key that signs unsubscribe, confirmation and preferences links (16 characters or more).",
        check=checks.env_name,
    )


@dataclass(frozen=True)
class SmtpConfig:
    host: str = option("", "SMTP server host name.", example="smtp.example.com")
    port: int = option(587, "SMTP server port.", check=checks.positive)
    security: Literal["starttls", "ssl", "none"] = option("starttls", "starttls, ssl or none.")
    username: str = option("", "Login name; empty for no AUTH.")
    password_env: str = option(
        "DIGEST_SMTP_PASSWORD",
        "Environment variable holding the SMTP password.",
        check=checks.env_name,
    )
    timeout: timedelta = option(timedelta(seconds=30), "Socket timeout.")
    data_timeout: timedelta = option(
        timedelta(minutes=10),
        "How long to wait for the reply to the end of a message (RFC 5321 4.5.3.2.6); without one the outcome is unknown, retried once, later.",
    )
    connections: int = option(
        8,
        "SMTP connections one `digest send` keeps open at once, each claiming its own recipients; the send rate limits still hold over all of them.",
        check=checks.positive,
    )
    ca_file: str = option(
        "",
        "CA certificates (PEM) to trust instead of the system's, for a server with a private CA.",
        check=checks.optional_file,
        path=True,
    )


@dataclass(frozen=True)
class DkimConfig:
    key_file: str = option(
        "",
        "Private key (PEM) that DKIM-signs every message; empty for no signing.",
        check=checks.optional_file,
        path=True,
    )
    selector: str = option(
        "",
        "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN.",
        example="digest",
    )
    domain: str = option("", "Signing domain (d=); empty for the From address's domain.")


@dataclass(frozen=True)
class WorkersConfig:
    enabled: bool = option(
        False,
        "Hand collecting, summarizing and sending to `digest worker` processes on a job queue in PostgreSQL (needs database_url); off, the daemon or `digest run` does all the work itself.",
    )
    send_batch: int = option(
        500,
        "Ledger rows per send job: the leader queues one job per this many recipients, and any worker takes any job.",
        check=checks.positive,
    )
    concurrency: int = option(
        4,
        "Jobs one `digest worker` runs at once, each in a thread of its own (collect jobs mostly wait on the network). Its send jobs still take turns, so a worker keeps smtp.connections SMTP connections.",
        check=checks.positive,
    )


@dataclass(frozen=True)
class BouncesConfig:
    address: str = option(
        "",
        "Return-path mailbox: each message's envelope sender is this address plus a signed tag, so a bounce names its subscriber.",
        check=checks.optional_email,
        example="bounces@news.example.com",
    )
    mailbox: str = option(
        "",
        "Where bounces and complaint reports arrive, for `digest bounces`: a maildir folder, an mbox file or imaps://USER@HOST/FOLDER.",
        example="imaps://bounces@mail.example.com/INBOX",
    )
    password_env: str = option(
        "DIGEST_BOUNCES_PASSWORD",
        "Environment variable holding the IMAP password.",
        check=checks.env_name,
    )
    soft_threshold: int = option(
        5,
        "Soft bounces (counted at most once a day) before an address is suppressed.",
        check=checks.positive,
    )
    stale_after: timedelta = option(
        timedelta(days=7), "A soft-bounce count starts again after this long without a bounce."
    )


@dataclass(frozen=True)
class ScheduleConfig:
    send_at: str = option(
        "07:00",
        "When `digest daemon` builds and sends: 'HH:MM' or a cron expression, in newsletter.timezone.",
        check=checks.send_at,
    )
    weekdays: tuple[str, ...] = option(
        WEEKDAYS, "The days an edition goes out; other days' articles wait.", check=checks.weekdays
    )
    collect_every: timedelta = option(
        timedelta(minutes=30),
        "The daemon collects this often (plus up to a tenth, at most 5m, of jitter).",
        check=checks.at_least_duration(timedelta(minutes=1)),
    )
    catch_up: timedelta = option(
        timedelta(hours=6),
        "After downtime, still send up to this long after send_at; later, the articles go to the next edition.",
    )
    weekly_on: str = option(
        "mon",
        "The day the weekly edition (for readers who chose weekly) goes out, at send_at.",
        check=checks.weekday,
    )


@dataclass(frozen=True)
class NewsletterTable:
    """One more newsletter, ``[newsletters.SLUG]``: empty values are the default newsletter's."""

    name: str = option(
        "",
        "The newsletter's name (header, From display name).",
        check=checks.non_empty,
        required=True,
    )
    tagline: str = option("", "One line under the name; empty for newsletter.tagline.")
    sections: tuple[str, ...] = option(
        (), "The sections it carries, in this order; empty for every section."
    )
    sources: tuple[str, ...] = option(
        (), "The sources (by name) whose articles it carries; empty for every source."
    )
    templates: str = option("", "Its template folder; empty for render.templates.", path=True)
    language: str = option("", "Its language; empty for newsletter.language.")
    languages: tuple[str, ...] = option((), "Other languages a reader may choose.")
    send_at: str = option(
        "",
        "When it is made and sent ('HH:MM' or cron); empty for schedule.send_at.",
        check=checks.optional_send_at,
    )
    timezone: str = option(
        "", "Its time zone; empty for newsletter.timezone.", check=checks.optional_timezone
    )
    weekdays: tuple[str, ...] = option(
        (), "The days it goes out; empty for schedule.weekdays.", check=checks.optional_weekdays
    )
    weekly_on: str = option(
        "",
        "The day its weekly edition goes out; empty for schedule.weekly_on.",
        check=checks.optional_weekday,
    )
    reason: str = option("", "Why the reader gets it (footer); empty for newsletter.reason.")


class Newsletters(Keyed):
    """The ``[newsletters.SLUG]`` tables, by slug."""

    item = NewsletterTable


@dataclass(frozen=True)
class WebConfig:
    admin_password_env: str = option(
        "DIGEST_ADMIN_PASSWORD",
        "Environment variable holding the password of /status and /preview; unset, they answer only on 127.0.0.1.",
        check=checks.env_name,
    )
    trusted_proxies: tuple[str, ...] = option(
        (),
        "Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or networks).",
        check=checks.networks,
        example=("127.0.0.1",),
    )
    signups_per_client: int = option(
        10,
        "Sign-up, login and preference-change attempts per hour from one client address.",
        check=checks.positive,
    )
    confirmations_per_mailbox: int = option(
        3,
        "Confirmation mails per day to one mailbox (name+tag@ counts as name@).",
        check=checks.positive,
    )
    confirmations_per_hour: int = option(
        100, "Confirmation mails per hour in all; the rest wait.", check=checks.positive
    )
    max_body_bytes: int = option(
        16_384, "Largest request body accepted, in bytes.", check=checks.positive
    )


@dataclass(frozen=True)
class Config:
    data_dir: Path = option(
        Path(".digest"), "Where the database, editions and outbox live.", path=True
    )
    database_url: str = option(
        "",
        "PostgreSQL shared by several machines ('postgresql://host/digest'); empty: SQLite in data_dir. A password goes in PGPASSWORD or ~/.pgpass, not here.",
        check=checks.database_url,
        example="postgresql://db.example.com/digest",
    )
    newsletter: NewsletterConfig = option(NewsletterConfig(), "")
    collect: CollectConfig = option(CollectConfig(), "")
    summary: SummaryConfig = option(SummaryConfig(), "")
    edition: EditionConfig = option(EditionConfig(), "")
    render: RenderConfig = option(RenderConfig(), "")
    delivery: DeliveryConfig = option(DeliveryConfig(), "")
    smtp: SmtpConfig = option(SmtpConfig(), "")
    schedule: ScheduleConfig = option(ScheduleConfig(), "")
    dkim: DkimConfig = option(DkimConfig(), "")
    bounces: BouncesConfig = option(BouncesConfig(), "")
    workers: WorkersConfig = option(WorkersConfig(), "")
    web: WebConfig = option(WebConfig(), "")
    sources: tuple[SourceConfig, ...] = option((), "The feeds to collect.")
    newsletters: Newsletters = option(
        Newsletters(), "More newsletters from the same sources, one [newsletters.SLUG] table each."
    )
    path: Path = field(default=Path("<defaults>"), metadata={"internal": True})
    slug: str = field(default=DEFAULT_NEWSLETTER, metadata={"internal": True})
    """Which newsletter this config makes (digest.newsletters derives one config per newsletter)."""
    frequency: str = field(default="daily", metadata={"internal": True})
    """Which of its editions: daily or weekly."""
    only_sources: tuple[str, ...] | None = field(default=None, metadata={"internal": True})
    """The source URLs whose articles the newsletter carries; None for all."""

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


# --- loading, and writing the example ------------------------------------------------------


def load_config(path: Path, *, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path``; raise ConfigError listing every problem.

    Relative paths in it (data_dir, render.templates, a source's file...) are relative to
    the file's directory, whatever the current directory: a cron job or a systemd unit
    started elsewhere finds the same newsletter.
    """
    data = loading.read_table(path)
    data.update(overrides or {})
    data.setdefault("data_dir", str(Config.data_dir))
    problems: list[str] = []
    config: Config = loading.from_table(Config, data, "", problems, path.absolute().parent)
    problems.extend(checks.cross_checks(config))
    if problems:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return dataclasses.replace(config, path=path)


def example_config() -> str:
    """The commented example config, generated from the declarations above."""
    return commented_toml(Config, SourceConfig)


def option_keys() -> list[str]:
    """Every option's dotted key, for the docs meta-test."""
    return dotted_keys(Config, SourceConfig)


def bundled_config(name: str) -> Path:
    """A config shipped with digest, e.g. 'demo.toml'."""
    return resources.bundled("config") / name
