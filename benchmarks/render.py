"""Render benchmark: one 40-story edition rendered and inlined once, then personalized per reader.

    .venv/bin/python benchmarks/render.py [--recipients 10000] [--repeat 5]

The edition is made of real headlines and texts (../shared/data/stories/dev.jsonl: 40 story
clusters, the lead article plus the other outlets as "also covered by"), summarized by digest,
with a picture per story and tracking parameters on every link, in five sections.

It prints, in one run:
  * the time to render the templates and inline the CSS with premailer, once per edition;
  * the time to personalize that email for N recipients (digest's way: the template's slots,
    split once, joined with each reader's values) beside what a careful sender does: compile
    the already-inlined HTML into a Jinja2 template whose only variables are the reader's
    name and unsubscribe link, and render it per reader (autoescaped);
  * the HTML size of the 40-story edition, against Gmail's ~102 KB clipping limit.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jinja2  # noqa: E402

from digest import render, tokens  # noqa: E402
from digest.config import NewsletterConfig, RenderConfig  # noqa: E402
from digest.models import Article, Edition, Email, Image, Item, Recipient, Section, Summary  # noqa: E402
from digest.render import slots  # noqa: E402
from digest.summarize import Settings, summarize_text  # noqa: E402

DATA_FOLDERS = [parent / "shared" / "data" for parent in ROOT.parents[:2]]
"""../shared/data beside the checkout (or beside the folder of worktrees holding it)."""
NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
SECTIONS = ("Politics", "Economy", "World", "Technology", "Health")
GMAIL_CLIP = 102_000
"""Gmail clips a message's HTML past about 102 KB; counted here as 102,000 bytes to be safe."""
NEWSLETTER = NewsletterConfig(
    name="The Morning Brief",
    base_url="https://news.example.com/brief",
    postal_address="Example Media Ltd, 1 Example Street, Exampleville EX1 2MP",
    timezone="Europe/London",
)
LINK_PARAMS = "utm_source=digest&utm_medium=email&utm_campaign=morning-brief"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def article(record: dict[str, str], i: int, section: str) -> Article:
    outlet = record.get("outlet") or "Example News"
    site = re.sub(r"[^a-z]", "", outlet.lower()) or "examplenews"
    path = f"2026/03/{slug(section)}/{slug(record['title'])}-{abs(hash(record['id'])) % 10**8}"
    return Article(
        id=record["id"],
        source=re.sub(r"\s*\(.*\)$", "", outlet),
        section=section,
        url=f"https://www.{site}.com/{path}",
        title=record["title"],
        text=record["text"],
        published=NOW - timedelta(minutes=31 * i + 7),
        author="",
        image=Image(
            f"https://cdn.{site}.com/images/2026/03/{slug(record['title'])[:60]}-1200x675.jpg",
            f"Photo for: {record['title']}",
            1200,
            675,
        ),
    )


def load_edition(stories: Path, count: int = 40) -> Edition:
    clusters: dict[str, list[dict[str, str]]] = {}
    for line in stories.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["title"]:
            clusters.setdefault(record["cluster"], []).append(record)
    chosen = [group for group in clusters.values() if len(group) >= 3][:count]
    items = []
    for i, group in enumerate(chosen):
        section = SECTIONS[i % len(SECTIONS)]
        lead, *others = (article(r, i, section) for r in group)
        sentences = summarize_text(lead.text, title=lead.title, settings=Settings())
        items.append(
            Item(lead, Summary(lead.id, tuple(sentences), "news"), also=tuple(others), rank=i)
        )
    sections = tuple(
        Section(name, tuple(item for item in items[3:] if item.article.section == name))
        for name in SECTIONS
    )
    return Edition("2026-03-10", 412, NOW, tuple(items[:3]), sections)


def recipients(count: int) -> list[Recipient]:
    secret = "benchmark-secret"
    people = []
    for i in range(count):
        address = f"reader{i}@example.org"
        token = tokens.sign(address, "unsubscribe", secret)
        people.append(
            Recipient(
                address,
                f"Reader {i}",
                unsubscribe_url=f"{NEWSLETTER.base_url}/unsubscribe?t={token}",
                unsubscribe_mailto="mailto:brief@news.example.com?subject=unsubscribe",
            )
        )
    return people


def inlined_template(email: Email) -> jinja2.Template:
    """The careful sender's way: the inlined HTML as a template with two variables only."""
    pieces = re.split(r"digest-slot-[0-9a-f]{32}-(\w+?)-end", slots.unsealed(email.html))
    source = "".join(
        f"{{{{ {piece} }}}}" if i % 2 else f"{{% raw %}}{piece}{{% endraw %}}"
        for i, piece in enumerate(pieces)
    )
    return jinja2.Environment(autoescape=True).from_string(source)


def timed(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """The median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--data", type=Path, help="the shared data folder (default: ../shared/data)"
    )
    args = parser.parse_args()
    folders = [args.data] if args.data else DATA_FOLDERS
    stories = next((f / "stories" / "dev.jsonl" for f in folders if (f / "stories").is_dir()), None)
    if stories is None or not stories.is_file():
        sys.exit(f"no stories/dev.jsonl in {' or '.join(map(str, folders))} (see its MANIFEST.md)")

    edition = load_edition(stories)
    settings = RenderConfig(link_params=LINK_PARAMS)
    env = render.environment()
    unlimited = RenderConfig(link_params=LINK_PARAMS, max_html_bytes=10**9)

    # 1. Once per edition: templates, then premailer.
    templates_only = timed(
        lambda: render.render_templates(edition, NEWSLETTER, settings, env), args.repeat
    )
    once = timed(lambda: render.render_email(edition, NEWSLETTER, unlimited, env=env), args.repeat)
    email, fitted = render.render_email(edition, NEWSLETTER, settings, env=env)
    natural, _ = render.render_email(edition, NEWSLETTER, unlimited, env=env)

    # 2. Per recipient: fill the placeholders (digest) or inline every copy (naive).
    people = recipients(args.recipients)
    start = time.perf_counter()
    for person in people:
        render.personalize(email, person)
    personalize_all = time.perf_counter() - start

    peer = inlined_template(email)
    start = time.perf_counter()
    for person in people:
        peer.render(recipient_name=f" {person.name}", unsubscribe_url=person.unsubscribe_url)
    peer_all = time.perf_counter() - start

    stories_file = stories
    size = len(email.html.encode("utf-8"))
    natural_size = len(natural.html.encode("utf-8"))
    count = len(edition.items)
    rows = [
        ("render templates (Jinja2), one edition", f"{templates_only * 1000:.1f} ms", ""),
        ("render + inline CSS (premailer), one edition", f"{once * 1000:.1f} ms", ""),
        (
            f"personalize for {len(people):,} recipients (digest)",
            f"{personalize_all:.2f} s",
            f"{personalize_all / len(people) * 1e6:.0f} µs each",
        ),
        (
            f"peer: Jinja2 render of the inlined HTML, {len(people):,} recipients",
            f"{peer_all:.2f} s",
            f"{peer_all / len(people) * 1e6:.0f} µs each",
        ),
        ("digest / peer time", f"{personalize_all / peer_all:.2f}", "below 1: digest is faster"),
        (
            f"HTML size, {count} stories, no budget",
            f"{natural_size:,} bytes",
            f"{natural_size / GMAIL_CLIP:.0%} of Gmail's ~102 KB clip",
        ),
        (
            f"HTML size, default budget ({settings.max_html_bytes:,} bytes)",
            f"{size:,} bytes",
            f"{len(fitted.items)} stories in the email, {len(fitted.more)} moved to the web edition",
        ),
    ]
    print(f"render benchmark: {count} stories from {stories_file}, median of {args.repeat} runs")
    print("(wall times on a shared machine; other work may have been running)")
    print()
    print("| measure | value | notes |")
    print("|---|---|---|")
    for measure, value, note in rows:
        print(f"| {measure} | {value} | {note} |")


if __name__ == "__main__":
    main()
