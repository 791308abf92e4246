"""A summary never shows a sentence whose subject (a pronoun, a bare surname) was left out."""

from __future__ import annotations

import pytest

from digest.attribution import needs
from digest.summarize import METHODS, Settings, summarize_text

# Written for these tests, after the demo's two stories that went wrong.
FED = """The Federal Reserve lowered its benchmark interest rate by a quarter point to a range of \
4.00% to 4.25%, its first cut in several months, citing a cooling labor market and easing \
inflation.

The vote was 10-2. Gov. Raymond Teller dissented in favor of a half-point cut, while Kansas City \
Fed President Ana Duvall preferred to leave rates unchanged, showing the divisions among \
policymakers over how quickly to move.

“We are not on a preset course. Each meeting is live,” Fed Chair Eleanor Whitcombe told reporters \
in Washington. She said the labor market was “solid but softening” and that the risks to jobs \
had grown.

Officials now expect two more quarter-point cuts next year, one fewer than three months ago, and \
see core inflation ending the year at 2.8%.
"""
ECB = """A senior European Central Bank official pushed back against market bets on an interest-rate \
cut in December, saying policymakers needed more evidence that services inflation was easing.

“A December cut is not a done deal,” said Dr. Matthijs van Rooij, a member of the ECB's \
Executive Board, in an interview on the sidelines of a banking conference in Frankfurt.

Van Rooij said the deposit rate, now 2.25%, was close to neutral territory and no longer clearly \
restrained the economy. Further cuts could fuel inflation once wage growth picks up, he said.

Traders trimmed their bets on a December move after the interview, and the euro rose 0.3% \
against the dollar.
"""


def shown_with_antecedent(summary: list[str], sentence: str, antecedent: str) -> bool:
    """``sentence`` is not in the summary, or ``antecedent`` is, before it."""
    if not any(sentence in s for s in summary):
        return True
    first = next(i for i, s in enumerate(summary) if sentence in s)
    return any(antecedent in s for s in summary[:first])


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("max_words", [40, 60, 90, 150])
def test_the_fed_chairs_words_are_never_put_in_another_mouth(method: str, max_words: int) -> None:
    settings = Settings(method=method, max_words=max_words)
    summary = summarize_text(
        FED, title="Fed Cuts Rates by a Quarter Point", language="english", settings=settings
    )
    assert summary
    assert shown_with_antecedent(summary, "She said the labor market", "Eleanor Whitcombe")


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("max_words", [40, 60, 90, 150])
def test_van_rooij_is_introduced_before_he_is_quoted(method: str, max_words: int) -> None:
    settings = Settings(method=method, max_words=max_words)
    summary = summarize_text(
        ECB, title="ECB Official Says December Cut Is Not a Done Deal", settings=settings
    )
    assert summary
    assert shown_with_antecedent(summary, "Van Rooij said", "Matthijs van Rooij")
    assert shown_with_antecedent(summary, "he said.", "Van Rooij said")


def test_a_sentence_comes_with_its_antecedent_when_the_budget_allows() -> None:
    text = (
        "The city council approved the new budget on Monday after a long debate.\n\n"
        "Mayor Lena Okafor spoke for an hour before the vote on the housing plan. She said the "
        "housing plan would build ten thousand homes for families within five years."
    )
    summary = summarize_text(
        text, title="Housing plan to build ten thousand homes for families", settings=Settings()
    )
    assert summary[-2:] == [
        "Mayor Lena Okafor spoke for an hour before the vote on the housing plan.",
        "She said the housing plan would build ten thousand homes for families within five years.",
    ]


@pytest.mark.parametrize(
    ("sentences", "language", "expected"),
    [
        (["Ana Ruiz won the vote.", "She thanked her staff."], "english", [set(), {0}]),
        (["Ana Ruiz won the vote.", "But they're not done yet."], "english", [set(), {0}]),
        (["Ana Ruiz won.", "Turnout was high, she said."], "english", [set(), {0}]),
        (["Ana Ruiz won.", "Turnout was high, said he."], "english", [set(), {0}]),
        (
            ["Ana Ruiz won.", "Turnout was high.", "Ruiz thanked her."],
            "english",
            [set(), set(), {0}],
        ),
        (["Ana Ruiz won.", "Turnout was high.", "Ms Ruiz's team."], "english", [set(), set(), {0}]),
        (
            ["Ana Ruiz won.", "Turnout was high.", "Ana Ruiz smiled."],
            "english",
            [set(), set(), set()],
        ),
        (
            ["Dr. Jan van Dijk spoke.", "Rain fell.", "Van Dijk left."],
            "english",
            [set(), set(), {0}],
        ),
        (["The Bank of England met.", "Rain fell.", "The bank held."], "english", [set()] * 3),
        (["But Whitcombe said no.", "It rained."], "english", [set(), {0}]),
        (["Olaf Scholz sprach.", "Er sagte nichts."], "german", [set(), {0}]),
        (["Olaf Scholz sprach.", "Es regnete."], "german", [set(), set()]),
        (["Olaf Scholz sprach.", "Scholz ging."], "", [set(), {0}]),
    ],
)
def test_what_each_sentence_needs(
    sentences: list[str], language: str, expected: list[set[int]]
) -> None:
    assert needs(sentences, language) == expected
