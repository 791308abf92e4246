"""Edition: choose and order the day's stories from the collected, summarized articles.

Articles that report the same event, in any source, become one story (the grouping
itself is in :mod:`digest.stories`), told by its best article with the others listed
as "also covered by". Stories are ranked by how many sources carry them, the sources'
priority, recency and the configured section weights; the best become "Top stories",
the rest go to their sections in the configured order, each section capped.

A story that an earlier edition carried comes back only when it has grown: a source
that had not covered it, or an article with substantially new text. It is then marked
as an update. Every decision is kept on the :class:`Story` and the :class:`Plan`, so
``digest stories`` can say why each article landed where it did.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from digest import similarity
from digest import stories as grouping
from digest.config import EditionConfig
from digest.models import Article, Edition, Item, Section, SentArticle, Summary

SOURCE_POINTS = 2.0
"""Each distinct source covering a story adds this much; the rest only breaks near-ties."""
PRIORITY_POINTS = 0.2
"""Per level of the best source priority (-10 to 10): ten levels weigh as much as one source."""
FRESH_HOURS = 6.0
"""The freshness point halves when the newest article is this many hours old."""
WEEKLY_FRESH_HOURS = 7 * 24.0
"""In a weekly edition freshness halves over a week: a Monday story still counts on Sunday."""
GROWTH_POINTS = 0.5
"""In a weekly edition, each article beyond one per outlet (a story that kept growing) adds this."""
REPEAT_POINTS = 0.1
"""A story loses this much per story its outlet already tells higher in the edition, so one
outlet with many feeds does not fill every section: its twentieth story weighs one outlet less."""
NEW_MATERIAL = 0.2
"""An article whose word pairs are at least this share new since it was carried was updated."""


@dataclass(frozen=True)
class Score:
    """Why a story ranks where it does: weight × (outlets + priority + freshness - repeats)."""

    sources: int
    """Distinct outlets covering the story (several feeds of one outlet count once)."""
    priority: int
    freshness: float
    weight: float
    repeats: int = 0
    """Stories placed before it in the edition that its teller's outlet tells too."""
    growth: int = 0
    """Weekly editions only: articles beyond one per outlet (follow-ups over the week)."""

    @property
    def total(self) -> float:
        points = SOURCE_POINTS * self.sources + PRIORITY_POINTS * self.priority + self.freshness
        points += GROWTH_POINTS * self.growth
        return self.weight * (points - REPEAT_POINTS * self.repeats)

    def __str__(self) -> str:
        repeats = f" - {REPEAT_POINTS * self.repeats:.1f} repeat" if self.repeats else ""
        growth = f" + {GROWTH_POINTS * self.growth:.1f} growth" if self.growth else ""
        return (
            f"{self.total:.2f} = {self.weight:g} × ({SOURCE_POINTS:g}×{self.sources} outlets"
            f" {PRIORITY_POINTS * self.priority:+.1f} priority + {self.freshness:.2f} fresh"
            f"{growth}{repeats})"
        )


@dataclass(frozen=True)
class Member:
    """One article of a story and how it joined it."""

    article: Article
    linked_to: Article | None = None
    """The member it is most similar to; when it stands alone, the closest article of all."""
    similarity: float = 0.0
    alone: bool = False
    sent_in: str = ""
    """The edition that carried it before, or empty for a new article."""
    change: str = ""
    """Why it counts as growth of a story already sent ('new source', 'updated'), or empty."""

    @property
    def shared(self) -> list[str]:
        """The words it shares with ``linked_to``, most telling first."""
        if self.linked_to is None:
            return []
        one, two = (_text(a) for a in (self.article, self.linked_to))
        return grouping.shared_terms(one, two)


@dataclass(frozen=True)
class Story:
    """Articles about one event; the first is the one that tells it."""

    members: tuple[Member, ...]
    score: Score
    id: str
    """The article id that first led it: stable across editions."""
    sent_in: str = ""
    """The latest edition that carried this story, or empty for a new story."""
    update: bool = False
    """Sent before and grown since."""
    note: str = ""
    """Why it is told by other than its best article (the per-outlet cap on top stories)."""

    @property
    def articles(self) -> tuple[Article, ...]:
        return tuple(m.article for m in self.members)

    @property
    def lead(self) -> Article:
        return self.articles[0]

    @property
    def held_back(self) -> bool:
        """Sent before and not grown since: it stays out of the edition."""
        return bool(self.sent_in) and not self.update


@dataclass(frozen=True)
class Plan:
    """Where each story goes: top, a section, or nowhere (and why)."""

    top: tuple[Story, ...]
    sections: tuple[tuple[str, tuple[Story, ...]], ...]
    left_out: tuple[tuple[Story, str], ...] = field(default=())
    """Stories not in the edition, with the reason."""

    @property
    def shown(self) -> tuple[Story, ...]:
        return self.top + tuple(s for _, stories in self.sections for s in stories)


def edition_key(moment: datetime, timezone: str) -> str:
    """The edition a moment belongs to: its date in the newsletter's time zone."""
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def candidates_since(
    now: datetime, *, window: timedelta, last_edition: datetime | None
) -> datetime:
    """The oldest publication time an article may have to enter the next edition.

    The window, stretched back to the previous edition when that is older, so a
    skipped day's articles fold into the next edition instead of being lost.
    """
    since = now - window
    return min(since, last_edition) if last_edition else since


def sent_since(candidates: datetime) -> datetime:
    """How far back articles already sent can still be part of a new article's story."""
    return candidates - similarity.APART


# --- grouping --------------------------------------------------------------------------------


def group_stories(
    articles: Sequence[Article],
    *,
    now: datetime,
    sent: Sequence[SentArticle] = (),
    settings: EditionConfig = EditionConfig(),
    weekly: bool = False,
) -> list[Story]:
    """Group new (and already sent) articles into stories, ranked best first.

    ``weekly``: rank a week's stories: by coverage and growth over the week, freshness
    halving over a week rather than hours.
    """
    known = {s.article.id: s for s in sent}
    pool = [a for a in articles if a.id not in known] + [s.article for s in sent]
    pool.sort(key=lambda a: (a.published, a.id))  # the grouping is independent of input order
    found = grouping.group_texts([_text(a) for a in pool])
    stories = [
        _story(group, found, pool, known, now=now, settings=settings, weekly=weekly)
        for group in found.groups
    ]
    stories.sort(key=lambda s: (-s.score.total, -s.lead.published.timestamp(), s.lead.id))
    return stories


def _text(article: Article) -> grouping.Text:
    return grouping.Text(article.title, article.text, article.published, article.source)


def _story(
    group: tuple[int, ...],
    found: grouping.Grouping,
    pool: list[Article],
    known: dict[str, SentArticle],
    *,
    now: datetime,
    settings: EditionConfig,
    weekly: bool = False,
) -> Story:
    articles = [pool[i] for i in group]
    changes = _changes(articles, known)
    sent = [known[a.id] for a in articles if a.id in known]
    grown = bool(sent) and any(changes.values())
    # An update is told by what is new; a new story by its best article.
    tellers = [i for i in group if changes.get(pool[i].id)] if grown else group
    lead = min(tellers, key=lambda i: _telling_order(pool[i]))
    rest = sorted((i for i in group if i != lead), key=lambda i: _telling_order(pool[i]))
    members = tuple(_member(i, found, pool, known, changes) for i in (lead, *rest))
    story_id = min((s.edition_key, s.story) for s in sent)[1] if sent else pool[lead].id
    return Story(
        members,
        _score(articles, pool[lead], now=now, settings=settings, weekly=weekly),
        story_id,
        sent_in=max(s.edition_key for s in sent) if sent else "",
        update=grown,
    )


def outlet(article: Article) -> str:
    """Who published the article: its source's name, so several feeds of one outlet are one."""
    return " ".join(article.source.casefold().split())


def _telling_order(article: Article) -> tuple[int, int, float, str]:
    """Best source first, then the most complete text, then the earliest."""
    return (-article.priority, -len(article.text), article.published.timestamp(), article.id)


def _changes(articles: list[Article], known: dict[str, SentArticle]) -> dict[str, str]:
    """What each article adds to a story sent before: a new source, or new text."""
    sent = [known[a.id] for a in articles if a.id in known]
    if not sent:
        return {}
    sent_sources = {s.article.source for s in sent}
    changes = {}
    for article in articles:
        before = [s for s in sent if s.article.source == article.source]
        if article.source not in sent_sources:
            changes[article.id] = "new source"
        elif all(new_material(s.title, s.text, article) >= NEW_MATERIAL for s in before):
            changes[article.id] = "updated" if article.id in known else "new article, new text"
    return changes


def new_material(title: str, text: str, article: Article) -> float:
    """The share of the article's word pairs that the given headline and text lacked."""
    now, before = _word_pairs(article.title, article.text), _word_pairs(title, text)
    return len(now - before) / len(now) if now else 0.0


def _word_pairs(title: str, text: str) -> set[tuple[str, str]]:
    words = re.findall(r"\w+", f"{title}\n{text}".lower())
    return set(pairwise(words))


def _member(
    i: int,
    found: grouping.Grouping,
    pool: list[Article],
    known: dict[str, SentArticle],
    changes: dict[str, str],
) -> Member:
    article = pool[i]
    sent = known.get(article.id)
    alone = found.links[i].other < 0
    link = found.nearest[i] if alone else found.links[i]
    other = pool[link.other] if link.other >= 0 else None
    return Member(
        article,
        other,
        link.similarity,
        alone=alone,
        sent_in=sent.edition_key if sent else "",
        change=changes.get(article.id, ""),
    )


def _score(
    articles: Sequence[Article],
    lead: Article,
    *,
    now: datetime,
    settings: EditionConfig,
    weekly: bool = False,
) -> Score:
    # An undated article's time is when digest first saw it: no sign that it is news.
    newest = max((a.published for a in articles if a.dated), default=None)
    hours_old = max((now - newest).total_seconds() / 3600, 0.0) if newest else 0.0
    fresh_hours = WEEKLY_FRESH_HOURS if weekly else FRESH_HOURS
    outlets = len({outlet(a) for a in articles})
    return Score(
        sources=outlets,
        priority=max(a.priority for a in articles),
        freshness=1.0 / (1.0 + hours_old / fresh_hours) if newest else 0.0,
        weight=settings.section_weights.get(lead.section),
        growth=len(articles) - outlets if weekly else 0,
    )


# --- layout ----------------------------------------------------------------------------------


def plan_edition(stories: Sequence[Story], settings: EditionConfig) -> Plan:
    """Top stories first, then each section in order, capped; stories sent before held back."""
    left_out: list[tuple[Story, str]] = [
        (s, f"already in edition {s.sent_in}, not grown since") for s in stories if s.held_back
    ]
    top, rest = _top_stories([s for s in stories if not s.held_back], settings)
    by_section: dict[str, list[Story]] = defaultdict(list)
    for story in _diversified(rest, Counter(outlet(s.lead) for s in top)):
        by_section[story.lead.section].append(story)
    sections = []
    for name in section_order(by_section, settings.sections):
        kept = by_section[name][: settings.max_per_section]
        left_out += [
            (s, f"section {name} is full (at most {settings.max_per_section})")
            for s in by_section[name][settings.max_per_section :]
        ]
        sections.append((name, tuple(kept)))
    return Plan(top, tuple(sections), tuple(left_out))


def _top_stories(
    ranked: Sequence[Story], settings: EditionConfig
) -> tuple[tuple[Story, ...], list[Story]]:
    """The best stories, at most ``top_per_outlet`` told by one outlet; and the rest in order.

    A story whose teller's outlet has told its share is told by another outlet's article
    when it has one; otherwise it goes to its section.
    """
    cap = settings.top_per_outlet or len(ranked)
    told: Counter[str] = Counter()
    top: list[Story] = []
    rest: list[Story] = []
    for story in ranked:
        chosen = _told_within(story, told, cap) if len(top) < settings.top_stories else None
        if chosen is None:
            rest.append(story)
            continue
        top.append(chosen)
        told[outlet(chosen.lead)] += 1
    return tuple(top), rest


def _told_within(story: Story, told: Counter[str], cap: int) -> Story | None:
    """The story told by its best member whose outlet tells fewer than ``cap`` top stories."""
    tellers = [m for m in story.members if m.change] if story.update else list(story.members)
    for member in tellers:
        if told[outlet(member.article)] < cap:
            break
    else:
        return None
    if member is story.members[0]:
        return story
    others = tuple(m for m in story.members if m is not member)
    note = f"{story.lead.source} already tells {cap} top stor{'y' if cap == 1 else 'ies'}"
    return replace(story, members=(member, *others), note=note)


def _diversified(ranked: Sequence[Story], told: Counter[str]) -> list[Story]:
    """The stories re-ranked so each loses REPEAT_POINTS per story its outlet told before it.

    Each outlet's stories keep their order; a heap of each outlet's next story picks the best.
    """
    queues: dict[str, list[tuple[int, Story]]] = defaultdict(list)
    for position, story in enumerate(ranked):
        queues[outlet(story.lead)].append((position, story))
    heap: list[tuple[float, int, str]] = []

    def push(name: str) -> None:
        position, story = queues[name][-1]
        score = replace(story.score, repeats=told[name])
        heapq.heappush(heap, (-score.total, position, name))

    for name in queues:
        queues[name].reverse()  # pop from the end
        push(name)
    ordered = []
    while heap:
        _, _, name = heapq.heappop(heap)
        _, story = queues[name].pop()
        ordered.append(replace(story, score=replace(story.score, repeats=told[name])))
        told[name] += 1
        if queues[name]:
            push(name)
    return ordered


def build_edition(
    stories: Sequence[Story],
    summaries: dict[str, Summary],
    settings: EditionConfig,
    *,
    key: str,
    number: int,
    date: datetime,
) -> Edition:
    """The edition the plan for these stories lays out, every story summarized."""
    plan = plan_edition(stories, settings)
    rank = {id(story): r for r, story in enumerate([*plan.top, *_by_rank(plan)])}
    top = tuple(_item(s, summaries, rank[id(s)]) for s in plan.top)
    sections = tuple(
        Section(name, tuple(_item(s, summaries, rank[id(s)]) for s in stories))
        for name, stories in plan.sections
    )
    return Edition(key=key, number=number, date=date, top=top, sections=sections)


def _by_rank(plan: Plan) -> list[Story]:
    """Section stories in score order (the size budget drops the lowest first)."""
    below = [s for _, stories in plan.sections for s in stories]
    return sorted(below, key=lambda s: (-s.score.total, -s.lead.published.timestamp(), s.lead.id))


def _item(story: Story, summaries: dict[str, Summary], rank: int) -> Item:
    lead = story.lead
    summary = summaries.get(lead.id) or Summary(lead.id, (), "none")
    return Item(
        article=lead,
        summary=summary,
        also=story.articles[1:],
        update=story.update,
        rank=rank,
        story=story.id,
    )


def section_order(present: Iterable[str], configured: Sequence[str]) -> list[str]:
    """Configured sections first, in their order; the others alphabetically after them."""
    names = list(present)
    listed = [name for name in configured if name in names]
    return listed + sorted(name for name in names if name not in configured)


# --- explaining ------------------------------------------------------------------------------


def explain(plan: Plan) -> list[str]:
    """Lines that say where each story went and why each article is in it."""
    lines = []
    places = [("top", s) for s in plan.top] + [
        (f"section {name}", s) for name, stories in plan.sections for s in stories
    ]
    for number, (place, story) in enumerate(places, start=1):
        lines += _explain_story(f"{number}. {place}", story)
    for story, reason in plan.left_out:
        lines += _explain_story(f"-  left out: {reason}", story)
    return lines


def _explain_story(heading: str, story: Story) -> list[str]:
    flag = f" (update of edition {story.sent_in})" if story.update else ""
    lines = [f"{heading}{flag}: {story.lead.title}", f"   score {story.score}"]
    if story.note:
        lines.append(f"   told by {story.lead.source}: {story.note}")
    for position, member in enumerate(story.members):
        role = "lead" if position == 0 else "also"
        lines.append(f"   {role} {member.article.source}: {member.article.title}")
        lines.append(f"        {_why(member)}")
    return lines


def _why(member: Member) -> str:
    other = member.linked_to
    if other is None:
        reason = "alone: shares no telling word with any other article"
    else:
        words = ", ".join(member.shared) or "no telling words"
        tie = (
            f"similarity {member.similarity:.2f} to {other.source} '{_short(other.title)}'"
            f" (shares {words})"
        )
        reason = f"alone: closest is {tie}, not close enough" if member.alone else tie
    if member.sent_in:
        reason += f"; carried by edition {member.sent_in}"
    if member.change:
        reason += f"; {member.change}"
    return reason


def _short(title: str, size: int = 48) -> str:
    return title if len(title) <= size else title[: size - 1].rstrip() + "…"
