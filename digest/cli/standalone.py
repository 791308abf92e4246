"""The commands that need no config or store: init, summarize, extract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from digest.config import example_config
from digest.errors import UsageError
from digest.models import Page


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create DIRECTORY/config/digest.toml and DIRECTORY/templates/ to start from."""
    config_file = directory / "config" / "digest.toml"
    template = directory / "templates" / "edition.html"
    existing = [p for p in (config_file, template) if p.exists()]
    if existing:
        raise UsageError(f"{existing[0]}: already exists; not overwriting it")
    config_file.parent.mkdir(parents=True, exist_ok=True)
    template.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(
        example_config().replace('templates = ""', 'templates = "templates"'), encoding="utf-8"
    )
    template.write_text(STARTER_TEMPLATE, encoding="utf-8")
    click.echo(f"created {config_file}")
    click.echo(f"created {template}")
    click.echo(f"next: add your feeds to {config_file}, then run `digest build` in {directory}")


STARTER_TEMPLATE = """\
{#- Your theme. Templates here are found before digest's default theme, and any
    default template stays reachable as "default/NAME". Override only the blocks
    you want: style, header, content, footer (see default/base.html). -#}
{% extends "default/edition.html" %}
{% block style %}
{{ super() }}
.name { color: #14213d; }
{% endblock %}
"""


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("-n", "--sentences", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--max-words", type=click.IntRange(1), default=90, show_default=True)
@click.option(
    "--method",
    type=click.Choice(sorted(["news", "lead", "lexrank", "textrank", "lsa", "luhn", "sumbasic"])),
    default="news",
    show_default=True,
)
@click.option("--title", default="", help="The headline, which helps pick the sentences.")
@click.option("--language", default="", help="Language code or name; detected when omitted.")
@click.option(
    "--jsonl", is_flag=True, help='Read lines {"id", "text", "title"?}; write {"id", "summary"}.'
)
def summarize(
    file: Any, sentences: int, max_words: int, method: str, title: str, language: str, jsonl: bool
) -> None:
    """Print a summary of FILE (or standard input)."""
    from digest.summarize import Settings, language_name, summarize_text

    settings = Settings(sentences=sentences, max_words=max_words, method=method)
    if not jsonl:
        text = file.read()
        click.echo(
            " ".join(
                summarize_text(
                    text, title=title, language=language_name(language, text), settings=settings
                )
            )
        )
        return
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text, key = str(record["text"]), record["id"]
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                f"{file.name}:{number}: expected a JSON object with 'id' and 'text'"
            ) from None
        summary = summarize_text(
            text,
            title=str(record.get("title") or ""),
            language=language_name(language, text),
            settings=settings,
        )
        click.echo(json.dumps({"id": key, "summary": " ".join(summary)}, ensure_ascii=False))


@click.command()
@click.argument("source")
def extract(source: str) -> None:
    """Print the main text of an article page (a file or an http(s) URL)."""
    from digest.collect import decode_html, fetch_pages
    from digest.config import CollectConfig
    from digest.extract import extract_page

    if source.startswith(("http://", "https://")):
        # The URL named on the command line is trusted, internal or not; its redirects are not.
        allowed = CollectConfig(allow_hosts=(urlsplit(source).hostname or "",))
        page = fetch_pages([source], allowed)[source]
        if not isinstance(page, Page):
            raise UsageError(f"{source}: {page}")
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as error:
            raise UsageError(f"{source}: cannot read: {error.strerror}") from None
        page = Page(url="", html=decode_html(raw))
    click.echo(extract_page(page).text)
