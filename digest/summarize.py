"""Summarize: an Article's text condensed to a few whole sentences, offline.

Built on sumy's stemmers, stop words and summarizers (digest/sentences.py splits the text).
First the sentences a reader would accept alone are kept: no menus, captions, bylines,
datelines, headline repeats or quotation fragments. The default method, "news", then scores each
by its position (news puts the point first), its closeness to the article's centroid (what the
whole text is about) and its share of the headline's words, and picks greedily, skipping
sentences that repeat one already chosen, within the word budget; the summary reads in the
article's order. Every step is linear in the article's length (the sort aside).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sumy.parsers.plaintext import PlaintextParser
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer

from digest import attribution
from digest.models import Article, Summary
from digest.sentences import (
    WORD,
    Tokenizer,
    detect_language,
    join_quotes,
    language_name,
    stemmer,
    stop_words,
)
from digest.text import is_table_row, paragraphs, strip_boilerplate, word_count

__all__ = ["METHODS", "Settings", "language_name", "summarize", "summarize_text"]

SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")
# "By Jane Doe and John Roe", "Reporting by Ana Lima": names only, no verb.
BYLINE = re.compile(
    r"^(?:By|BY|(?:Written|Reporting|Editing|Additional reporting) by) "
    r"(?:(?:and|&|[A-Z][\w.'’-]*+),?+ ?+)++[.]?$"  # possessive: linear time
)
# "Updated 3 March 2025", "Published: 10:32 GMT": a time stamp, not a sentence.
TIMESTAMP = re.compile(
    r"^(?:last )?(?:updated|published|posted)\b(?: on| at)?:? (?:\w+,? ){0,2}\d", re.I
)
# Page furniture, matched in the lower-cased sentence; FURNITURE_HINTS find candidates fast.
FURNITURE = re.compile(
    r"\b(?:photo|image|picture|credit|source)s?\s*:|\bvia (?:getty|reuters|ap|afp|wikimedia)|"
    r"^(?:sign up|subscribe|read more|scroll down)\b|\bclick here\b|"
    r"\b(?:sign up|subscribe) (?:to|for) (?:our|the) (?:[\w-]+ ){0,3}(?:newsletter|alerts|updates)|"
    r"^\(?(?:pictured|above|below|left|right)\b"
)
FURNITURE_HINTS = (":", "via ", "click here", "sign up", "subscribe")
FURNITURE_OPENERS = ("read more", "scroll down", "pictured", "above", "below", "left", "right", "(")
# A paragraph this long is text even when it does not end a sentence (a story cut short).
LONG_PARAGRAPH = 60
# "news" takes no more sentences once a summary has this share of the word budget: a further
# sentence, less central than those before it, lowers the summary's precision more than it adds
# (ROUGE F1 on CNN/DailyMail rises from +0.2 to +0.9 over LEAD-3, measured as in Weights).
ENOUGH = 2 / 3
# Sentence openers that lean on the sentence before ("He said", "But", "This"): weak alone.
OPENERS = {
    "english": frozenset(
        [
            "he",
            "she",
            "it",
            "they",
            "this",
            "that",
            "these",
            "those",
            "his",
            "her",
            "their",
            "its",
            "but",
            "and",
            "so",
            "also",
            "however",
            "meanwhile",
            "then",
            "we",
            "i",
            "you",
            "there",
        ]
    ),
}
AGENCIES = r"CNN|AP|AFP|Reuters|Bloomberg|UPI|dpa|EFE|ANSA|Xinhua|BBC|CNBC|NPR|RTTNews"
DATELINE = re.compile(
    # "WASHINGTON (Reuters) - ", "PARIS — ", "New Delhi, India (CNN)", "(CNN) -- "
    rf"^(?:[A-Z][A-Z .,'-]{{2,40}}(?:\([^)]{{1,30}}\))?\s*[-—–]+\s*"
    rf"|(?:[A-Z][\w.'’-]*(?:,? [A-Z][\w.'’-]*){{0,4}} ?)?\((?:{AGENCIES})[\w .]{{0,20}}\)\s*(?:[-—–]+\s*)?)"
)


@dataclass(frozen=True)
class Settings:
    sentences: int = 3
    max_words: int = 90
    """A ceiling, not a target: whole sentences only, so news summaries average 60-76 words."""
    method: str = "news"

    @property
    def key(self) -> str:
        """Identifies the settings (and the summarizer's version) in the summary cache."""
        return f"{self.method}:{self.sentences}:{self.max_words}:v8"


def summarize(article: Article, settings: Settings | None = None) -> Summary:
    settings = settings or Settings()
    language = language_name(article.language, article.text)
    sentences = summarize_text(
        article.text, title=article.title, language=language, settings=settings
    )
    return Summary(article.id, tuple(sentences), settings.method)


def summarize_text(
    text: str, *, title: str = "", language: str | None = None, settings: Settings
) -> list[str]:
    """The summary's sentences, in the text's order.

    ``language`` is sumy's name for it (see `language_name`), detected when None; ''
    (a language sumy has nothing for) makes the summary language-neutral.
    """
    text = strip_boilerplate(text)
    language = detect_language(text) if language is None else language
    candidates = candidate_sentences(text, title=title, language=language) or (
        candidate_sentences(text, title=title, language=language, loose=True)
    )
    chosen = METHODS[settings.method](candidates, title, language, settings) if candidates else []
    return [c.text for c in chosen] or first_sentence(text, language=language, settings=settings)


def first_sentence(text: str, *, language: str, settings: Settings) -> list[str]:
    """When no sentence qualifies: the first one that is not a byline or furniture (else the
    first one), cut at the word budget. Empty only for a text without words outside tables."""
    tokenizer = Tokenizer(language)
    sentences = [
        s
        for p in paragraphs(text)
        if not is_table_row(p)
        for s in tokenizer.to_sentences(p)
        if WORD.search(s)
    ]
    if not sentences:
        return []
    prose = (s for s in sentences if not (BYLINE.match(s) or _is_furniture(s.lower())))
    sentence = next(prose, sentences[0])
    words = sentence.split()[: settings.max_words + 1]
    while word_count(" ".join(words)) > settings.max_words:
        words.pop()
    cut = " ".join(words)
    return [sentence if cut == sentence else cut.rstrip(",;:") + "…"]


# --- the sentences worth choosing from -------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A sentence that could stand in a summary."""

    index: int
    text: str
    terms: frozenset[str]
    """Stemmed content words."""
    words: int
    """Its length in words, as the word budget counts them."""
    opener: str
    """Its first word, lower-cased."""
    needs: frozenset[int] | None = frozenset()
    """The earlier candidates (indexes) that say who its subject is; None: it cannot be shown."""


def candidate_sentences(
    text: str, *, title: str, language: str, loose: bool = False
) -> list[Candidate]:
    """Sentences a reader would accept alone: no captions, bylines, headline repeats or fragments.

    A short paragraph that does not end a sentence is left out (a caption, a menu), unless
    ``loose`` and it holds more than one sentence (a teaser without its last full stop). A
    table's row is left out, always: its cells are a grid's entries, not the story's sentences.

    Each knows the earlier candidates it needs for its subject (see digest/attribution.py); one
    that needs a sentence that is not a candidate has ``needs`` None and is never shown.
    """
    tokenizer = Tokenizer(language)
    terms = term_maker(language)
    headline = _normalized(WORD.findall(title))
    sentences: list[str] = []
    kept: dict[int, tuple[str, tuple[str, ...]]] = {}
    """Sentence index -> the candidate's text (dateline removed) and words."""
    said: set[str] = set()
    """The candidates' words: a sentence the page says again (a pull quote) is one candidate."""
    for paragraph in paragraphs(text):
        if is_table_row(paragraph):
            continue
        prose = _is_prose(paragraph)
        if not (prose or loose):
            continue  # a headline, menu, caption or ticker: prose ends a sentence
        split = join_quotes(tokenizer.to_sentences(paragraph))
        if not (prose or len(split) > 1):
            continue
        for sentence in split:
            sentences.append(sentence)
            if not kept:
                sentence = DATELINE.sub("", sentence)
            words = tokenizer.to_words(sentence)
            normalized = _normalized(words)
            if (
                _stands_alone(sentence, words)
                and normalized not in headline  # whole or in part: articles often open with it
                and normalized not in said
            ):
                kept[len(sentences) - 1] = (sentence, words)
                said.add(normalized)
    position = {index: n for n, index in enumerate(kept)}
    needed = _needed_candidates(attribution.needs(sentences, language), position)
    return [
        Candidate(n, sentence, terms(words), word_count(sentence), words[0].lower(), needed[index])
        for n, (index, (sentence, words)) in enumerate(kept.items())
    ]


def _is_prose(paragraph: str) -> bool:
    return bool(SENTENCE_END.search(paragraph)) or word_count(paragraph) >= LONG_PARAGRAPH


def _needed_candidates(
    needs: Sequence[frozenset[int]], position: dict[int, int]
) -> dict[int, frozenset[int] | None]:
    """Sentence index -> every candidate it needs, directly or through another; None if it
    needs a sentence that is not a candidate."""
    closure: dict[int, frozenset[int] | None] = {}
    for index, direct in enumerate(needs):
        found: set[int] = set()
        for earlier in direct:
            further = closure[earlier]
            if earlier not in position or further is None:
                closure[index] = None
                break
            found |= {position[earlier], *further}
        else:
            closure[index] = frozenset(found)
    return closure


def term_maker(language: str) -> Callable[[Sequence[str]], frozenset[str]]:
    """words -> the set of their stems, stop words left out."""
    stem = stemmer(language)
    stops = stop_words(language)

    def terms(words: Sequence[str]) -> frozenset[str]:
        lowered = (w.lower() for w in words)
        return frozenset(stem(w) for w in lowered if w not in stops)

    return terms


def _stands_alone(sentence: str, words: Sequence[str]) -> bool:
    if len(words) < 6 or not SENTENCE_END.search(sentence):
        return False
    if BYLINE.match(sentence) or _is_furniture(sentence.lower()):
        return False
    if len(words) < 12 and TIMESTAMP.match(sentence):
        return False
    # An unbalanced quotation is a fragment of a longer quote.
    quotes = sentence.count('"') + sentence.count("“") + sentence.count("”")
    return quotes % 2 == 0 and sentence[0] not in ",;:)]-–—"


def _is_furniture(lowered: str) -> bool:
    """A caption, photo credit, "Read more" or sign-up line."""
    hinted = lowered.startswith(FURNITURE_OPENERS) or any(h in lowered for h in FURNITURE_HINTS)
    return hinted and FURNITURE.search(lowered) is not None


def _normalized(words: Sequence[str]) -> str:
    """The words lower-cased, each between spaces, so that `in` matches whole words."""
    return f" {' '.join(words).lower()} "


# --- the methods -----------------------------------------------------------------------------

Scores = list[float]
Method = Callable[[Sequence[Candidate], str, str, Settings], list[Candidate]]
"""(candidates, title, language, settings) -> the chosen candidates, in text order."""


@dataclass(frozen=True)
class Weights:
    """How much each sign of a summary sentence counts in the "news" score.

    Chosen by measurement (benchmarks/summarize.py) on half of each family of its news
    articles with reference summaries, and checked on the other half.
    """

    lead: int = 2
    """The first sentences that all count as the top of the story (many leads run to two)."""
    centrality: float = 0.3
    headline: float = 0.6
    opener: float = 0.2
    """The penalty for a sentence that opens with a word that needs the sentence before it."""


def news_scores(
    candidates: Sequence[Candidate], *, title: str, language: str, weights: Weights = Weights()
) -> Scores:
    """Position, centrality and headline overlap (each in [0, 1]), weighted, less the opener penalty."""
    centroid = Counter(w for c in candidates for w in c.terms)
    headline = term_maker(language)(WORD.findall(title))
    openers = OPENERS.get(language, frozenset())
    scores = []
    for c in candidates:
        # How many other sentences share each word, for its length: what the text is about.
        centrality = sum(centroid[w] - 1 for w in c.terms) / (
            len(candidates) * math.sqrt(len(c.terms) or 1)
        )
        overlap = len(c.terms & headline) / len(headline) if headline else 0.0
        position = min(1.0, math.sqrt(weights.lead / (1 + c.index)))
        scores.append(
            position
            + weights.centrality * min(centrality * 2, 1.0)
            + weights.headline * overlap
            - weights.opener * (c.opener in openers)
        )
    return scores


def news(
    candidates: Sequence[Candidate], title: str, language: str, settings: Settings
) -> list[Candidate]:
    scores = news_scores(candidates, title=title, language=language)
    return pick(candidates, scores, settings, enough=round(settings.max_words * ENOUGH))


def lead(
    candidates: Sequence[Candidate], title: str, language: str, settings: Settings
) -> list[Candidate]:
    return pick(candidates, [-float(c.index) for c in candidates], settings)


def _stock(summarizer_class: type) -> Method:
    """A stock sumy summarizer run over the candidate sentences, asked for `settings.sentences`."""

    def method(
        candidates: Sequence[Candidate], title: str, language: str, settings: Settings
    ) -> list[Candidate]:
        tokenizer = Tokenizer(language)
        document = PlaintextParser.from_string(
            "\n".join(c.text for c in candidates), tokenizer
        ).document
        summarizer = summarizer_class(stemmer(language))
        summarizer.stop_words = stop_words(language)
        chosen = {str(s) for s in summarizer(document, settings.sentences)}
        return attributed([c for c in candidates if c.text in chosen])

    return method


METHODS: dict[str, Method] = {
    "news": news,
    "lead": lead,
    "lexrank": _stock(LexRankSummarizer),
    "textrank": _stock(TextRankSummarizer),
    "lsa": _stock(LsaSummarizer),
    "luhn": _stock(LuhnSummarizer),
    "sumbasic": _stock(SumBasicSummarizer),
}


def pick(
    candidates: Sequence[Candidate],
    scores: Scores,
    settings: Settings,
    *,
    enough: int | None = None,
) -> list[Candidate]:
    """Best first, skipping near-repeats, within the sentence and word budgets; in text order.

    A sentence comes with the earlier ones it needs for its subject, or not at all. Once the
    chosen ones have ``enough`` words, no more are taken.
    """
    chosen: dict[int, Candidate] = {}
    words = 0
    for c in sorted(candidates, key=lambda c: (-scores[c.index], c.index)):
        if len(chosen) == settings.sentences or (enough is not None and words >= enough):
            break
        if c.index in chosen or c.needs is None:
            continue
        group = [candidates[i] for i in sorted(c.needs - chosen.keys())] + [c]
        added = sum(g.words for g in group)
        if len(chosen) + len(group) > settings.sentences:
            continue
        if chosen and words + added > settings.max_words:
            continue
        if any(_overlap(c, other) > 0.6 for other in chosen.values()):
            continue
        chosen.update((g.index, g) for g in group)
        words += added
    if len(chosen) == 1 and words > settings.max_words:
        # One long sentence blew the budget: a shorter good one serves the reader better.
        shorter = [
            c for c in candidates if c.words <= settings.max_words and c.needs == frozenset()
        ]
        if shorter:
            chosen = {0: max(shorter, key=lambda c: scores[c.index])}
    return sorted(chosen.values(), key=lambda c: c.index)


def attributed(chosen: Sequence[Candidate]) -> list[Candidate]:
    """``chosen`` less every sentence whose subject is in a sentence left out."""
    kept = list(chosen)
    while True:
        indexes = {c.index for c in kept}
        shown = [c for c in kept if c.needs is not None and c.needs <= indexes]
        if len(shown) == len(kept):
            return kept
        kept = shown


def _overlap(a: Candidate, b: Candidate) -> float:
    sa, sb = a.terms, b.terms
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0
