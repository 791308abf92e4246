"""Render: an Edition becomes an Email (subject, HTML with inlined CSS, plain text).

Templates are Jinja2, searched in the user's folder first, then in the default
theme; the default theme is also reachable as ``default/NAME`` so an override
can extend it. CSS is inlined by premailer once per edition; the parts that
differ per recipient are slots (:mod:`digest.render.slots`) that only the template can
place, filled in by :func:`personalize`, so inlining never runs per recipient.
"""

from __future__ import annotations

import html
import logging
import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import jinja2

from digest import resources
from digest.config import NewsletterConfig, RenderConfig
from digest.errors import TemplateError
from digest.models import Edition, Email, Item, Recipient
from digest.render import i18n, slots
from digest.render.clock import Clock, locale_of
from digest.render.pictures import SMALL_THUMB_WIDTH, is_web_url, thumbnail
from digest.transfer import encoded_size

HTML_TEMPLATE = "edition.html"
TEXT_TEMPLATE = "edition.txt"
SUBJECT_TEMPLATE = "subject.txt"
PREHEADER_TEMPLATE = "preheader.txt"
TEXT_WIDTH = 72


def default_theme() -> Path:
    return resources.bundled("templates")


def environment(user_templates: str = "") -> jinja2.Environment:
    """Templates from the user's folder first, then the default theme (also as 'default/...')."""
    folders = [Path(user_templates)] if user_templates else []
    folders.append(default_theme())
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader([str(f) for f in folders]),
            jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(str(default_theme()))}),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        extensions=["jinja2.ext.i18n"],
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["wrap"] = wrap
    env.filters["shorten"] = shorten
    env.globals["folders"] = folders
    return env


def wrap(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """Plain text wrapped at ``width`` columns; long URLs stay whole on their own line."""
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    head = text[: width - 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(" ,;:.-–—") + "…"


def render_email(
    edition: Edition,
    newsletter: NewsletterConfig,
    settings: RenderConfig,
    *,
    env: jinja2.Environment | None = None,
) -> tuple[Email, Edition]:
    """The Email, and the edition as it fits the byte budget (low-ranked items moved to ``more``)."""
    env = env or environment(settings.templates)
    email = _render(edition, newsletter, settings, env)
    while _size(email) > settings.max_html_bytes and edition.items:
        edition = _without_lowest(edition, _items_to_drop(edition, email, settings))
        email = _render(edition, newsletter, settings, env)
    return email, edition


def _size(email: Email) -> int:
    """The HTML's size as sent (quoted-printable or base64): what Gmail's clipping counts."""
    return encoded_size(email.html)


def _items_to_drop(edition: Edition, email: Email, settings: RenderConfig) -> int:
    """Estimate how many of the lowest-ranked items must go for the HTML to fit."""
    per_item = _size(email) / max(len(edition.items), 1)
    return max(1, math.ceil((_size(email) - settings.max_html_bytes) / per_item))


def _without_lowest(edition: Edition, count: int) -> Edition:
    dropped = sorted(edition.items, key=lambda i: i.rank)[-count:]
    gone = {id(item) for item in dropped}
    sections = tuple(
        replace(s, items=tuple(i for i in s.items if id(i) not in gone)) for s in edition.sections
    )
    return replace(
        edition,
        top=tuple(i for i in edition.top if id(i) not in gone),
        sections=tuple(s for s in sections if s.items),
        more=tuple(sorted(edition.more + tuple(dropped), key=lambda i: i.rank)),
    )


def _render(
    edition: Edition, newsletter: NewsletterConfig, settings: RenderConfig, env: jinja2.Environment
) -> Email:
    marks = slots.new_slots()
    rendered = render_templates(edition, newsletter, settings, env, marks=marks)
    return replace(
        rendered, html=marks.seal(inline_css(rendered.html)), text=marks.seal(rendered.text)
    )


def render_templates(
    edition: Edition,
    newsletter: NewsletterConfig,
    settings: RenderConfig,
    env: jinja2.Environment,
    *,
    marks: slots.Slots | None = None,
) -> Email:
    """The Email as the templates make it, before the CSS is inlined (its slots unsealed)."""
    context = _context(edition, newsletter, settings) | (marks or slots.new_slots()).markers()
    words = i18n.translations(newsletter.language)
    env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
    env.filters["translated"] = words.gettext  # the config's default wording, in this language
    with _template_errors(env):
        subject = _one_line(env.get_template(SUBJECT_TEMPLATE).render(context))
        context["preheader"] = _one_line(env.get_template(PREHEADER_TEMPLATE).render(context))
        context["subject"] = subject
        body = env.get_template(HTML_TEMPLATE).render(context)
        text = env.get_template(TEXT_TEMPLATE).render(context).strip() + "\n"
    return Email(
        edition_key=edition.key,
        subject=subject,
        html=body,
        text=text,
        preheader=context["preheader"],
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def _template_errors(env: jinja2.Environment) -> Iterator[None]:
    """Turn Jinja's exceptions into one-line TemplateErrors that say where to look."""
    try:
        yield
    except jinja2.TemplateNotFound as error:
        searched = ", ".join(str(f) for f in env.globals["folders"])  # type: ignore[attr-defined]
        raise TemplateError(f"template {error.name!r} not found; searched {searched}") from None
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(
            f"{error.filename or error.name}:{error.lineno}: template syntax error: {error.message}"
        ) from None
    except jinja2.UndefinedError as error:
        raise TemplateError(f"template error: {error.message}") from None


def _context(
    edition: Edition, newsletter: NewsletterConfig, settings: RenderConfig
) -> dict[str, Any]:
    locale = locale_of(newsletter.locale or newsletter.language)
    clock = Clock(ZoneInfo(newsletter.timezone), locale, edition.date)
    anchors = {id(item): f"story-{n}" for n, item in enumerate(edition.items, 1)}
    return {
        "newsletter": newsletter,
        "edition": edition,
        "language": newsletter.language or "en",
        "date": clock.date(newsletter.date_format),
        "direction": "rtl" if locale.character_order == "right-to-left" else "ltr",
        "link": lambda url: add_query(url, settings.link_params) if is_web_url(url) else "",
        "anchor": lambda item: anchors[id(item)],
        "thumbnail": thumbnail,
        "pictures": settings.pictures,
        "summary_of": lambda item, lead: _summary_text(item, lead, settings),
        "SMALL_THUMB_WIDTH": SMALL_THUMB_WIDTH,
        "local_time": clock.time,
        "web_url": web_url(newsletter.base_url, edition.key),
        "more_count": len(edition.more),
    }


def _summary_text(item: Item, lead: bool, settings: RenderConfig) -> str:
    """A top story's whole summary; a section story's first ``render.section_sentences``."""
    sentences = item.summary.sentences
    if not lead and settings.section_sentences:
        sentences = sentences[: settings.section_sentences]
    return " ".join(sentences)


def web_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/editions/{key}/" if base_url else ""


def add_query(url: str, params: str) -> str:
    """``url`` with the configured tracking parameters added (existing ones kept)."""
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def inline_css(markup: str) -> str:
    """premailer with the options that keep dark-mode and phone rules working."""
    from premailer import Premailer  # here: a send, which only personalizes, never needs it

    premailer = Premailer(
        markup,
        strip_important=False,  # the kept rules need !important to beat the inlined styles
        keep_style_tags=False,  # inlined rules go; the templates mark the kept block "ignore"
        remove_classes=False,
        disable_validation=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
        # The templates set pixel widths for Outlook; CSS 'width: 100%' must not overwrite them.
        disable_basic_attributes=["width", "height"],
    )
    return str(premailer.transform(pretty_print=False))


def personalize(email: Email, recipient: Recipient) -> tuple[str, str]:
    """The HTML and text bodies for one recipient: the template's slots filled, nothing else.

    ``recipient_name`` is " Name" (with its leading space) or nothing, so that
    "Hello{{ recipient_name }}," reads well either way.
    """
    name = f" {recipient.name}" if recipient.name else ""
    url = recipient.unsubscribe_url or recipient.unsubscribe_mailto
    values = {
        "unsubscribe_url": url,
        "recipient_name": name,
        "preferences_url": recipient.preferences_url,
    }
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    return slots.fill(email.html, escaped), slots.fill(email.text, values)


def edition_json(edition: Edition) -> dict[str, Any]:
    """The edition as plain data, for the archive and the web edition."""

    def item(i: Item) -> dict[str, Any]:
        return {
            "title": i.article.title,
            "url": i.article.url,
            "source": i.article.source,
            "section": i.article.section,
            "published": i.article.published.isoformat(),
            "summary": list(i.summary.sentences),
            "also": [{"source": a.source, "url": a.url, "title": a.title} for a in i.covered_by],
            "update": i.update,
        }

    return {
        "key": edition.key,
        "number": edition.number,
        "date": edition.date.isoformat(),
        "top": [item(i) for i in edition.top],
        "sections": [
            {"name": s.name, "items": [item(i) for i in s.items]} for s in edition.sections
        ],
        "more": [item(i) for i in edition.more],
    }
