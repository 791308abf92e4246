"""Edition: choose and order the day's stories from the collected, summarized articles.

Articles that report the same thing (the same link, or the same headline in
two feeds) become one story, told by its best article with the others listed
as "also covered by". Stories are ranked by how many sources carry them, the
sources' priority and recency; the best become "Top stories", the rest go to
their sections in the configured order, each section capped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config import EditionConfig
from digest.models import Article, Edition, Item, Section, Summary


@dataclass(frozen=True)
class Story:
    """Articles about one event; the first is the one that tells it."""

    articles: tuple[Article, ...]
    score: float

    @property
    def lead(self) -> Article:
        return self.articles[0]


def edition_key(moment: datetime) -> str:
    """The edition a moment belongs to: its date in the newsletter's time zone."""
    return moment.date().isoformat()


def candidates_since(
    now: datetime, *, window: timedelta, last_edition: datetime | None
) -> datetime:
    """The oldest publication time an article may have to enter the next edition.

    The window, stretched back to the previous edition when that is older, so a
    skipped day's articles fold into the next edition instead of being lost.
    """
    since = now - window
    return min(since, last_edition) if last_edition else since


def group_stories(articles: Sequence[Article], *, now: datetime) -> list[Story]:
    """Group articles about the same story, best-told first; stories ranked best first."""
    groups: dict[str, list[Article]] = defaultdict(list)
    for article in articles:
        groups[_story_key(article)].append(article)
    stories = []
    for members in groups.values():
        members.sort(key=lambda a: (-a.priority, -len(a.text), a.published, a.id))
        stories.append(Story(tuple(members), _score(members, now=now)))
    stories.sort(key=lambda s: (-s.score, -s.lead.published.timestamp(), s.lead.id))
    return stories


def _story_key(article: Article) -> str:
    words = re.findall(r"\w+", article.title.lower())
    return " ".join(words) or article.url or article.id


def _score(articles: Sequence[Article], *, now: datetime) -> float:
    sources = len({a.source for a in articles})
    newest = max(a.published for a in articles)
    hours_old = max((now - newest).total_seconds() / 3600, 0.0)
    priority = max(a.priority for a in articles)
    return 3.0 * (sources - 1) + 0.5 * priority + 1.0 / (1.0 + hours_old / 6.0)


def build_edition(
    stories: Sequence[Story],
    summaries: dict[str, Summary],
    settings: EditionConfig,
    *,
    key: str,
    number: int,
    date: datetime,
) -> Edition:
    """Top stories first, then each section in order, capped; every story summarized."""
    items = [_item(story, summaries, rank) for rank, story in enumerate(stories)]
    top = tuple(items[: settings.top_stories])
    by_section: dict[str, list[Item]] = defaultdict(list)
    for item in items[settings.top_stories :]:
        by_section[item.article.section].append(item)
    sections = tuple(
        Section(name, tuple(by_section[name][: settings.max_per_section]))
        for name in section_order(by_section, settings.sections)
    )
    return Edition(key=key, number=number, date=date, top=top, sections=sections)


def _item(story: Story, summaries: dict[str, Summary], rank: int) -> Item:
    lead = story.lead
    summary = summaries.get(lead.id) or Summary(lead.id, (), "none")
    return Item(article=lead, summary=summary, also=story.articles[1:], rank=rank)


def section_order(present: Iterable[str], configured: Sequence[str]) -> list[str]:
    """Configured sections first, in their order; the others alphabetically after them."""
    names = list(present)
    listed = [name for name in configured if name in names]
    return listed + sorted(name for name in names if name not in configured)
