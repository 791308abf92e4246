from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest

from digest.cli import summarize as summarize_command
from digest.config import SummaryConfig
from digest.extract import extract_page
from digest.models import Article, Page
from digest.sentences import detect_language, language_name, split_sentences
from digest.summarize import METHODS, Settings, summarize, summarize_text
from digest.text import word_count

from .conftest import SHARED

SEED = SHARED / "seed" / "econotimes-article-page.txt"
SEED_TITLE = (
    "Trump Confirms Offer to Send U.S. Troops to Mexico, Sheinbaum Rejects Over Sovereignty"
)


def sentences_of(text: str) -> list[str]:
    return [s for paragraph in split_sentences(text) for s in paragraph]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "U.S. President Donald Trump confirmed the offer on Sunday. Mexico rejected it.",
            ["U.S. President Donald Trump confirmed the offer on Sunday.", "Mexico rejected it."],
        ),
        (
            "Gov. Ana Ruiz signed the bill in Jan. last year. It passed.",
            ["Gov. Ana Ruiz signed the bill in Jan. last year.", "It passed."],
        ),
        (
            "Prices rose 3.5% to $1.2bn in the quarter. Analysts had expected 2.9%.",
            ["Prices rose 3.5% to $1.2bn in the quarter.", "Analysts had expected 2.9%."],
        ),
        (
            '"We will not accept it," she said. "Never." He left.',
            ['"We will not accept it," she said.', '"Never."', "He left."],
        ),
        (
            "The U.K. and the E.U. agreed on Monday. Talks end Sept. 30. Nobody left.",
            ["The U.K. and the E.U. agreed on Monday.", "Talks end Sept. 30.", "Nobody left."],
        ),
        (
            "J. K. Rowling met Dr. Smith at St. Paul's. They talked.",
            ["J. K. Rowling met Dr. Smith at St. Paul's.", "They talked."],
        ),
        (
            'Two guests died on Thursday. " The cabin was sealed, " the line said. " Never. " Oh.',
            [
                "Two guests died on Thursday.",
                '" The cabin was sealed, " the line said.',
                '" Never. "',
                "Oh.",
            ],
        ),
    ],
)
def test_sentence_splitting_keeps_abbreviations_decimals_quotes_and_initials(
    text: str, expected: list[str]
) -> None:
    assert sentences_of(text) == expected


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed is not here")
def test_the_seed_page_summarizes_to_whole_story_sentences() -> None:
    text = SEED.read_text(encoding="utf-8")
    summary = summarize_text(text, title=SEED_TITLE, language="english", settings=Settings())
    assert 2 <= len(summary) <= 3
    assert summary[0].startswith("U.S. President Donald Trump confirmed")
    joined = " ".join(summary)
    for furniture in (
        "Menu",
        "Search",
        "Sign up",
        "Wikimedia",
        "Market Data",
        "Welcome to EconoTimes",
    ):
        assert furniture not in joined
    source_sentences = sentences_of(text)
    assert all(s in source_sentences for s in summary), "whole sentences, verbatim"
    positions = [source_sentences.index(s) for s in summary]
    assert positions == sorted(positions), "in document order"
    assert word_count(joined) <= Settings().max_words


def article(text: str, title: str = "", language: str = "") -> Article:
    return Article(
        id="a",
        source="s",
        section="x",
        url="https://example.com/a",
        title=title,
        text=text,
        published=datetime(2026, 1, 1, tzinfo=UTC),
        language=language,
    )


def test_an_empty_article_gives_an_empty_summary() -> None:
    assert summarize(article("")).sentences == ()


def test_a_one_sentence_article_gives_that_sentence() -> None:
    one = "The central bank kept its main interest rate unchanged at 4.5 percent on Thursday."
    assert summarize(article(one)).sentences == (one,)


def test_a_german_article_is_summarized_in_german() -> None:
    text = (
        "Die Europäische Zentralbank hat den Leitzins am Donnerstag um 0,25 Prozentpunkte gesenkt. "
        "Die Inflation im Euroraum war zuvor auf 2,1 Prozent gefallen. "
        "Ökonomen hatten mit diesem Schritt gerechnet, weil die Wirtschaft schwach wächst. "
        "Die Präsidentin der Notenbank sagte, weitere Senkungen seien nicht ausgeschlossen."
    )
    assert detect_language(text) == "german"
    summary = summarize(article(text))
    assert summary.sentences[0].startswith("Die Europäische Zentralbank")
    assert all(s in text for s in summary.sentences)


def test_an_unknown_language_still_gives_whole_sentences() -> None:
    text = "Lorem ipsum dolor sit amet consectetur adipiscing. Sed do eiusmod tempor incididunt labore. Ut enim ad minim veniam quis nostrud."
    summary = summarize(article(text, language="xx"))
    assert summary.sentences and all(s in text for s in summary.sentences)


def test_language_codes_map_to_sumy_names() -> None:
    assert language_name("en-US") == "english"
    assert language_name("de") == "german"
    assert language_name("pt-BR") == "portuguese"
    assert language_name("xx", "The bank said that it would not change the rate.") == ""
    assert language_name("", "東京の株式市場は今日、大きく上昇しました。") == "japanese"
    assert (
        language_name(
            "", "The bank said that it would not change the rate this year, and the market fell."
        )
        == "english"
    )


def test_the_word_budget_holds_whole_sentences() -> None:
    text = " ".join(
        f"Sentence number {i} reports that the economy grew by {i}.5 percent in the last quarter."
        for i in range(30)
    )
    summary = summarize_text(text, settings=Settings(sentences=3, max_words=40))
    assert 1 <= len(summary) <= 3
    assert word_count(" ".join(summary)) <= 40


def test_the_headline_repeated_as_the_first_line_is_not_a_summary_sentence() -> None:
    title = "Oil prices fall as OPEC agrees to raise output next month."
    text = f"{title}\n\nOil prices fell 3% on Monday after the cartel agreed to pump more crude. Brent traded at $78 a barrel. Traders expect more supply in June."
    summary = summarize_text(text, title=title, settings=Settings())
    assert title not in summary
    assert summary[0].startswith("Oil prices fell 3% on Monday")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_returns_source_sentences_in_order(method: str) -> None:
    text = (
        "The economy grew 2.1 percent in the third quarter, the statistics office said on Tuesday. "
        "Consumer spending rose for a fourth month as wages outpaced prices. "
        "Business investment fell, held back by higher borrowing costs. "
        "Exports were flat after a strong second quarter. "
        "Economists expect growth to slow next year as the labour market cools."
    )
    summary = summarize_text(text, settings=Settings(method=method, sentences=2))
    sentences = sentences_of(text)
    assert 1 <= len(summary) <= 2
    positions = [sentences.index(s) for s in summary]
    assert positions == sorted(positions)


def test_a_chinese_article_gives_whole_sentences() -> None:
    text = (
        "中国人民银行周四宣布下调存款准备金率零点五个百分点。"
        "这是今年以来的第二次降准，预计将释放长期资金约一万亿元。"
        "分析人士认为，此举有助于稳定市场预期并支持实体经济。"
        "央行表示，将继续实施稳健的货币政策。"
    )
    summary = summarize(article(text, language="zh")).sentences
    assert 1 <= len(summary) <= 3
    assert summary[0] == "中国人民银行周四宣布下调存款准备金率零点五个百分点。"
    assert all(s in text for s in summary)


def test_page_furniture_and_datelines_stay_out_of_the_summary() -> None:
    text = (
        "Markets\n\nBy Jane Doe and John Roe\n\n"
        "WASHINGTON (Reuters) - The Federal Reserve held its benchmark rate steady on Wednesday "
        "and signalled two cuts later this year. Policymakers said inflation had eased but "
        "remained above the 2% target.\n\n"
        "Fed Chair Jerome Powell speaks in Washington. Photo: Reuters/Kevin Lamarque\n\n"
        "Read more: What the Fed decision means for your mortgage.\n\n"
        "Markets rose after the decision, with the S&P 500 closing 1.2% higher at a record. "
        "Treasury yields fell as traders priced in the first cut for September.\n\n"
        "Sign up for our free daily newsletter to get the news first."
    )
    summary = summarize_text(text, title="Fed holds rates steady", settings=Settings())
    assert summary[0].startswith("The Federal Reserve held its benchmark rate steady")
    joined = " ".join(summary)
    for furniture in ("By Jane", "WASHINGTON", "Reuters", "Photo", "Read more", "Sign up"):
        assert furniture not in joined


RATES_TABLE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Central banks cut rates in March</title></head>
<body><article><h1>Central banks cut rates in March</h1>
<p>Central banks in the largest economies have moved in different directions this year, and
the gap between their policy rates is now the widest in a decade, economists said on Monday.</p>
<table><thead><tr><th>Bank</th><th>What it did</th></tr></thead>
<tbody><tr><td>Fed</td><td>The Fed cut rates in March, its first cut of the year.</td></tr>
<tr><td>ECB</td><td>The ECB cut rates in March and said more cuts could follow.</td></tr>
<tr><td>BoJ</td><td>The Bank of Japan held rates in March after its first hike.</td></tr></tbody></table>
<p>Economists expect the gap to narrow in the second half as inflation converges across the
large economies and the Bank of Japan moves more slowly than markets once thought.</p>
</article></body></html>"""


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_summary_is_not_built_from_a_tables_cells(method: str) -> None:
    # The rows' cells share the headline's words, but they are a grid's entries (and read
    # "Fed | The Fed cut ..." when quoted): the article keeps them, the summary does not.
    page = extract_page(Page(url="", html=RATES_TABLE_PAGE))
    summary = summarize_text(page.text, title=page.title, settings=Settings(method=method))
    assert summary, "the prose around the table is summarized"
    for sentence in summary:
        assert "|" not in sentence and "cut rates in March" not in sentence, sentence


def test_an_article_that_is_only_a_table_has_no_summary() -> None:
    rows = (
        "| Fed | The Fed cut rates in March. It was the first cut of the year. |\n\n"
        "| ECB | The ECB held rates in April. Its next meeting is in June. |"
    )
    assert summarize_text(rows, settings=Settings()) == []


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_summary_takes_a_sentence_from_a_table_row(method: str) -> None:
    text = (
        "Central banks moved in different directions this spring, as inflation cooled unevenly. "
        "Markets had expected a broad easing, and bond yields fell ahead of the meetings.\n\n"
        "| Fed | The Fed cut rates in March. It was the first cut of the year. |\n\n"
        "| ECB | The ECB held rates in April. Its next meeting is in June. |\n\n"
        "Analysts said the gap between the two banks could widen over the summer months. "
        "Traders now price two more cuts in Washington and none in Frankfurt this year."
    )
    summary = " ".join(summarize_text(text, settings=Settings(method=method, sentences=4)))
    assert summary and "|" not in summary
    assert "March" not in summary and "April" not in summary and "June" not in summary


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_sentence_the_page_says_twice_is_summarized_once(method: str) -> None:
    quote = '"We will not rush this decision," the governor told reporters on Tuesday.'
    text = "\n\n".join(
        [
            "The central bank left its main rate unchanged for a fourth meeting in a row. " + quote,
            quote,  # a pull quote: the page shows it again
            "Inflation slowed to 2.4 percent in October, close to the bank's target. "
            "Wage growth remains strong, and the labour market shows few signs of cooling.",
            quote,
            "Economists expect the first cut in the spring, once wage growth eases further.",
        ]
    )
    summary = summarize_text(text, settings=Settings(method=method, sentences=4))
    assert summary and len(summary) == len(set(summary)), summary


def test_a_wire_story_in_one_paragraph_keeps_its_sentences() -> None:
    # No paragraph breaks and a last line cut off mid-sentence: the sentences before it count.
    text = (
        "(CNN) A North Pacific gray whale has set a record for the longest migration of a mammal. "
        "The whale swam from Russia to Mexico and back, nearly 14,000 miles in 172 days. "
        "Scientists tracked her with a satellite tag fitted off Sakhalin Island in 2011. "
        "The previous record was set by a humpback whale that swam about 10,000 miles. "
        "Related: Fourth baby orca born this season"
    )
    summary = summarize_text(text, settings=Settings())
    assert summary[0] == (
        "A North Pacific gray whale has set a record for the longest migration of a mammal."
    )
    assert 2 <= len(summary) <= 3
    assert "Related" not in " ".join(summary)


def test_a_thousand_sentence_document_summarizes() -> None:
    text = "\n\n".join(
        f"Report {i} says the port of city {i} moved {i * 7} thousand containers last month. "
        f"Officials in region {i % 13} expect traffic to grow by {i % 9} percent next year."
        for i in range(500)
    )
    summary = summarize_text(text, title="Port traffic", settings=Settings())
    assert 2 <= len(summary) <= 3
    assert summary[0].startswith("Report 0 says")
    assert word_count(" ".join(summary)) <= Settings().max_words


def test_every_method_can_be_configured_and_chosen_on_the_command_line() -> None:
    configurable = set(typing.get_args(typing.get_type_hints(SummaryConfig)["method"]))
    method_option = next(p for p in summarize_command.params if p.name == "method")
    assert configurable == set(METHODS) == set(method_option.type.choices)  # type: ignore[attr-defined]


def test_prose_that_opens_like_a_byline_or_time_stamp_is_kept() -> None:
    text = (
        "By Ana Lima and Tom Roe.\n\nUpdated 3 March 2025 10:32 GMT\n\n"
        "By 2030, the country will generate half of its electricity from wind and sun, the "
        "energy minister said on Monday. Published figures showed that wind output rose 12% "
        "last year. From April, new turbines will no longer need a local permit."
    )
    summary = summarize_text(
        text, title="Wind to supply half of power by 2030", settings=Settings()
    )
    assert summary[0].startswith("By 2030, the country will generate half")
    assert "Published figures showed" in " ".join(summary)
    assert "Ana Lima" not in " ".join(summary)
    assert "Updated" not in " ".join(summary)
