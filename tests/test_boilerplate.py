"""Feed boilerplate never reaches a summary, and a text with words never summarizes to nothing."""

from __future__ import annotations

import pytest

from digest.summarize import Settings, summarize_text
from digest.text import strip_boilerplate, word_count

# Written for these tests, in the shape real feeds give their teasers.
TEASER = (
    "Coffee futures jumped 5% on Tuesday as a drought in Brazil cut the harvest outlook, adding "
    "to costs for roasters that already pay record prices. Traders said supplies could stay "
    "tight into next year, with growers holding back beans and buyers paying up a day."
)
LAST = "Traders said supplies could stay tight into next year, with growers holding back beans"


def summary_of(text: str, **options: object) -> str:
    return " ".join(summarize_text(text, settings=Settings(**options)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "link",
    [
        "Read more",
        "Read more »",
        "[Read more…]",
        "Continue reading “Coffee futures jump” →",
        "Read the full story",
        "Leia mais",
        "Continue lendo",
        "Weiterlesen",
        "Lire la suite",
        "Leer más",
        "Leggi di più",
        "Lees meer",
    ],
)
def test_a_read_more_link_ends_no_summary(link: str) -> None:
    summary = summary_of(f"{TEASER} {link}")
    assert summary.startswith("Coffee futures jumped 5%")
    assert summary.endswith("buyers paying up a day.")
    assert strip_boilerplate(f"{TEASER}\n\n{link}") == TEASER


def test_a_portuguese_teaser_with_leia_mais_summarizes() -> None:
    text = (
        "O preço do café subiu 5% na terça-feira por causa da seca no Brasil, que reduziu a "
        "previsão da colheita. Os torrefadores já pagam preços recordes e os comerciantes "
        "esperam oferta apertada até o próximo ano. Leia mais"
    )
    summary = summarize_text(text, language="portuguese", settings=Settings())
    assert summary[0].startswith("O preço do café subiu 5%")
    assert "Leia mais" not in " ".join(summary)


@pytest.mark.parametrize(
    "notice",
    [
        "The post Coffee futures jump on Brazil drought appeared first on Daily Grind.",
        "The post Coffee futures jump on Brazil drought first appeared on Daily Grind.",
        "O post Café sobe com a seca no Brasil apareceu primeiro em Diário do Café.",
        "Der Beitrag Kaffee wird teurer erschien zuerst auf Kaffeepost.",
    ],
)
@pytest.mark.parametrize("separator", ["\n\n", " "])
def test_wordpress_appeared_first_on_is_removed(notice: str, separator: str) -> None:
    assert strip_boilerplate(f"{TEASER}{separator}{notice}") == TEASER
    assert "appeared" not in summary_of(f"{TEASER}{separator}{notice}", sentences=5)


@pytest.mark.parametrize(
    "notice",
    [
        "Copyright 2026 Harbour Herald. All rights reserved.",
        "© 2026 Example News",
        "(c) 2026 Example News",
        "Copyright © 2026 Valley Times. All rights reserved. This material may not be "
        "published, broadcast, rewritten or redistributed.",
    ],
)
@pytest.mark.parametrize("separator", ["\n\n", " "])
def test_a_copyright_notice_is_removed(notice: str, separator: str) -> None:
    assert strip_boilerplate(f"{TEASER}{separator}{notice}") == TEASER
    summary = summary_of(f"{TEASER}{separator}{notice}", sentences=5)
    assert "reserved" not in summary and "2026" not in summary


@pytest.mark.parametrize("mark", ["[…]", "[...]", "[?]", "[&hellip;]", "[&#8230;]", "(…)"])
def test_a_cut_mark_becomes_an_ellipsis(mark: str) -> None:
    text = f"{TEASER}\n\n{LAST} {mark}"
    assert strip_boilerplate(text).endswith(f"{LAST}…")
    summary = summary_of(text, sentences=5)
    assert "[" not in summary
    assert "(…)" not in summary


@pytest.mark.parametrize(
    "widget",
    [
        "Share this withEmailFacebookMessengerTwitterWhatsAppLinkedinCopy this link",
        "Media playback is not supported on this device",
        "Scroll down for video",
    ],
)
def test_share_buttons_and_player_notices_glued_to_a_sentence_are_removed(widget: str) -> None:
    first, rest = TEASER.split(" as ", 1)
    assert strip_boilerplate(f"{widget}{first} as {rest}") == TEASER
    assert strip_boilerplate(f"{first} as {widget} {rest}") == TEASER
    summary = summary_of(f"{widget}{TEASER}\n\n{widget}")
    assert summary.startswith("Coffee futures jumped 5%") and widget[:5] not in summary


def test_a_text_without_a_final_stop_still_summarizes() -> None:
    text = TEASER.removesuffix(".")
    assert summary_of(text).startswith("Coffee futures jumped 5% on Tuesday")


def test_a_short_teaser_without_a_sentence_falls_back_to_its_first_sentence() -> None:
    assert summarize_text("Coffee prices jump as drought hits Brazil", settings=Settings()) == [
        "Coffee prices jump as drought hits Brazil"
    ]


def test_the_fallback_is_cut_at_the_word_budget() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    (summary,) = summarize_text(text, settings=Settings(max_words=20))
    assert summary == " ".join(f"word{i}" for i in range(20)) + "…"


def test_the_fallback_counts_words_as_the_budget_does() -> None:
    text = " ".join(f"{i}.5% rate" for i in range(100))  # "3.5%" counts as two words
    (summary,) = summarize_text(text, settings=Settings(max_words=20))
    assert word_count(summary) <= 20
    assert summary.startswith("0.5% rate 1.5% rate")
    assert summary.endswith("…")


def test_a_text_of_boilerplate_only_has_no_summary() -> None:
    assert summarize_text("Read more »\n\n[…]", settings=Settings()) == []


@pytest.mark.parametrize(
    "text",
    [
        "Many people read more books in winter.",
        "The post office closed at noon. Stamps sold out.",
        "Prices rose [sharply] on Monday.",
        "Copyright holders won a ruling against the platform on Tuesday.",
        "The label said the singer's rights were reserved in the contract.",
        "Share this with your friends. Media playback is a new feature.",
        "Scroll down to the harbour and turn left.",
    ],
)
def test_prose_that_looks_like_boilerplate_stays(text: str) -> None:
    assert strip_boilerplate(text) == text
