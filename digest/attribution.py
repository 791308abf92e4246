"""Attribution: which earlier sentence a sentence needs so that a reader knows who speaks or acts.

A summary keeps a few sentences of an article and drops the rest. A kept sentence must not lean
on a dropped one for its subject: "She said ..." after the sentence that named her was left out
puts a quote in the wrong mouth (the last person named in the summary). Three signs, each found
in one pass over the words:

- a pronoun opener ("He", "But she", "Their"): it needs the sentence before it (or, past
  sentences that name no one and lean on the one before them too, the one they need);
- a pronoun speaker ("..., he said.", "said she"): the same;
- a bare surname ("Van Rooij said", "Mr Penrose"), whose full name ("Matthijs van Rooij") the
  text gave first in an earlier sentence: it needs that sentence.

`needs` returns, for each sentence of a text, the earlier sentences it needs directly; the
summarizer takes them too, or leaves the sentence out. Pronouns and speech verbs are per
language (sumy's language names); a language without a list here has only the surname rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["needs"]


def _words(listed: str) -> frozenset[str]:
    return frozenset(listed.split())


def _per_language(words: dict[str, str]) -> dict[str, frozenset[str]]:
    return {language: _words(listed) for language, listed in words.items()}


NONE: frozenset[str] = frozenset()

PRONOUNS = _per_language(
    {
        "english": "he she they his her their him them it its",
        "german": "er sie ihr ihre ihren ihrem ihrer sein seine seinen seinem seiner",
        "french": "il elle ils elles",
        "spanish": "él ella ellos ellas",
        "portuguese": "ele ela eles elas",
        "italian": "lui lei egli ella essi esse",
        "dutch": "hij zij ze zijn haar hun",
    }
)
"""Third-person pronouns (and possessives) that stand for someone named before."""
CONNECTIVES = _per_language(
    {
        "english": "but and yet so still however meanwhile also then now",
        "german": "aber und doch auch dann",
        "french": "mais et puis",
        "spanish": "pero y",
        "portuguese": "mas e",
        "italian": "ma e poi",
        "dutch": "maar en ook",
    }
)
"""Words that may come before the pronoun at the start of a sentence ("But she said")."""
SPEECH = _per_language(
    {
        "english": "said says added adds told tells explained noted argued warned wrote insisted "
        "stressed continued recalled admitted acknowledged believes believed thinks thought",
        "german": "sagte sagt erklärte betonte fügte",
        "french": "dit déclare affirme ajoute explique souligne",
        "spanish": "dijo afirmó añadió explicó declaró",
        "portuguese": "disse afirmou acrescentou explicou declarou",
        "italian": "dice afferma aggiunge spiega",
        "dutch": "zei zegt voegde verklaarde",
    }
)
"""Verbs of saying: a pronoun beside one is the speaker."""
HONORIFICS = _words(
    "mr mrs ms miss mx dr prof sir dame lord lady president governor gov chair chairman"
    " chairwoman minister senator sen rep judge mayor general gen herr frau m mme monsieur madame sr"
    " sra señor señora dom dona signor signora"
)
"""Titles before a surname: "Mr Penrose" is still the bare surname."""
PARTICLES = _words("van von der den de del della di da du la le al bin ibn dos das ter")
"""Lower-case parts of a surname ("van Rooij", "da Silva")."""
NOT_GIVEN = PARTICLES | HONORIFICS
TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
POSSESSIVE = re.compile(r"['’]s?$")
APOSTROPHE = re.compile(r"['’]")


def needs(sentences: Sequence[str], language: str) -> list[frozenset[int]]:
    """For each sentence, the indexes of the earlier sentences it needs to be understood.

    A pronoun needs the sentence before it; when that one names no one and itself leans on
    the one before ("It is a choice, she said."), it needs what that one needs instead.
    """
    words = [[POSSESSIVE.sub("", t) for t in TOKEN.findall(s)] for s in sentences]
    lowercase = {w for ws in words for w in ws if w.islower()}
    introduced: dict[str, int] = {}
    """Surname -> the sentence that first gave it with a given name."""
    anchor = -1
    """The last sentence that names someone or stands on its own."""
    result: list[frozenset[int]] = []
    for index, tokens in enumerate(words):
        needed = set()
        leans = index > 0 and _leans_on_previous(sentences[index], tokens, language)
        if leans and anchor >= 0:
            needed.add(anchor)
        names = [
            (name, whole)
            for n, (name, whole) in enumerate(_names(tokens, lowercase))
            if name.lower() not in lowercase
            and len(name) > 1
            and (n or whole or name in introduced or tokens[:1] != [name])
        ]  # a capital that only opens the sentence is not a name
        for surname, whole in names:
            first = introduced.get(surname)
            if whole and first is None:
                introduced[surname] = index
            elif not whole and first is not None and first < index:
                needed.add(first)
        if names or not leans:
            anchor = index
        result.append(frozenset(needed))
    return result


def _leans_on_previous(sentence: str, tokens: Sequence[str], language: str) -> bool:
    pronouns = PRONOUNS.get(language, NONE)
    if not pronouns:
        return False
    lowered = [APOSTROPHE.split(t)[0].lower() for t in tokens[:6]]  # "They've" -> "they"
    connectives = CONNECTIVES.get(language, NONE)
    opener = next((w for w in lowered if w not in connectives), "")
    if opener in pronouns:
        return True
    return _speaker_pronoun(sentence, pronouns, SPEECH.get(language, NONE))


def _speaker_pronoun(sentence: str, pronouns: frozenset[str], speech: frozenset[str]) -> bool:
    """ "..., he said." or "..., said she." : a pronoun beside a verb of saying."""
    lowered = [t.rstrip(".").lower() for t in sentence.replace(",", " , ").split()]
    for i, word in enumerate(lowered[:-1]):
        after = lowered[i + 1].strip("\"'”“’")
        if word in pronouns and after in speech:
            return True
        if (
            word in speech
            and after in pronouns
            and (i + 2 == len(lowered) or lowered[i + 2] == ",")
        ):
            return True
    return False


def _names(tokens: Sequence[str], lowercase: set[str]) -> list[tuple[str, bool]]:
    """Each surname-like word with whether a given name comes with it here.

    A run of capitalized words (particles allowed inside) ends in a surname; it is whole when
    a capitalized word comes before the particles that is neither a title nor a word the text
    also writes in lower case ("But", "The").
    """
    found: list[tuple[str, bool]] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if token[:1].isupper() or (run and token.lower() in PARTICLES):
            run.append(token)
            continue
        while run and run[-1].lower() in PARTICLES:
            run.pop()
        if run and run[-1].lower() not in HONORIFICS:
            given = [
                t for t in run[:-1] if t.lower() not in NOT_GIVEN and t.lower() not in lowercase
            ]
            found.append((run[-1], bool(given)))
        run = []
    return found
