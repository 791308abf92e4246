from __future__ import annotations

import time

import pytest

from digest.extract import clean_article_text, extract_page, is_furniture
from digest.models import Page
from digest.text import is_table_row

from .conftest import SHARED

SEED = SHARED / "seed" / "econotimes-article-page.txt"

PAGE = """<!DOCTYPE html><html lang="en"><head><title>Rates held | Example News</title>
<meta property="og:image" content="https://news.example.com/img/rates.png">
<meta name="author" content="Ana Lima">
<meta property="article:published_time" content="2026-03-10T05:30:00+00:00">
<script>track()</script></head>
<body><nav><a href="/">Home</a> | <a href="/economy">Economy</a> | <a href="/markets">Markets</a></nav>
<div class="ticker">DOW 38,512.30 +0.42% S&amp;P 500 5,120.75 -0.18%</div>
<article><h1>Central bank holds rates at 4%</h1>
<figure><img src="/img/rates.png" alt="The bank's headquarters"><figcaption>The bank's headquarters. Photo: Reuters</figcaption></figure>
<p>The central bank held its main interest rate at 4% on Thursday, as most economists had expected, and signalled that cuts were still some months away.</p>
<p>Governor Ana Lima said inflation had fallen faster than forecast but that wage growth remained too strong for comfort.</p>
<p>"We are not there yet," she told reporters after the decision. Markets barely moved, and the currency was steady against the dollar.</p>
<p>Economists at several banks now expect the first cut in June, later than they had forecast a month ago.</p>
</article>
<div class="signup"><h2>Welcome to Example News</h2><p>Sign up for daily updates for the most important stories unfolding in the global economy.</p></div>
<footer>&copy; 2026 Example News. All rights reserved.</footer></body></html>"""


def test_the_main_text_without_the_site_around_it() -> None:
    found = extract_page(Page(url="https://news.example.com/rates", html=PAGE))
    headline, first, *rest = found.text.split("\n\n")
    assert headline == "Central bank holds rates at 4%", "kept: the summarizer skips it"
    assert first.startswith("The central bank held its main interest rate at 4% on Thursday")
    assert len(rest) == 3
    for furniture in (
        "Sign up",
        "All rights reserved",
        "DOW 38,512",
        "Photo: Reuters",
        "Home",
        "track()",
    ):
        assert furniture not in found.text
    assert found.title.startswith("Central bank holds rates")
    assert found.author == "Ana Lima"
    assert found.image is not None and found.image.url == "https://news.example.com/img/rates.png"
    assert (
        found.published is not None and found.published.isoformat() == "2026-03-10T05:30:00+00:00"
    )


@pytest.mark.parametrize(
    "html", ["", "<html></html>", "not html at all", "<html><body><p>Tiny.</p></body></html>"]
)
def test_an_empty_or_malformed_page_gives_text_not_an_error(html: str) -> None:
    found = extract_page(Page(url="", html=html))
    assert isinstance(found.text, str)


@pytest.mark.parametrize(
    "line",
    [
        "Menu",
        "Sign up for daily updates for the most important stories unfolding in the global economy.",
        "Trump Confirms Offer. Source: President Donald J. Trump, Public domain, via Wikimedia Commons",
        "Photo: AP",
        "Welcome to EconoTimes",
        "DOW 38,512.30 +0.42% NASDAQ 16,102.11 -0.31%",
        "Read more: Oil prices fall",
    ],
)
def test_furniture_lines(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "The central bank held its main interest rate at 4% on Thursday.",
        "Shares rose 3% after the company said it would sign up 2,000 new clients.",
        "Gold rose to a record $2,950 an ounce.",
        "Copyright holders won a ruling against the platform on Tuesday.",
        "Welcome to the new normal of higher rates, the bank's chief economist said.",
    ],
)
def test_story_lines_are_kept(line: str) -> None:
    assert not is_furniture(line)


@pytest.mark.parametrize(
    "notice",
    [
        "Copyright 2026 Harbour Herald. All rights reserved.",
        "© 2026 Example News",
        "Copyright © 2026 Valley Times. All rights reserved. This material may not be "
        "published, broadcast, rewritten or redistributed.",
    ],
)
def test_the_articles_copyright_notice_stays_in_its_text(notice: str) -> None:
    # Part of the article as its publisher wrote it (and as a reader's copy keeps it); the
    # summarizer is what leaves it out (tests/test_boilerplate.py).
    text = f"The bank held rates on Thursday.\n\n{notice}"
    assert clean_article_text(text) == text


def test_cleaning_drops_furniture_and_keeps_the_story_as_written() -> None:
    text = "Rates held\nThe bank held rates on Thursday.\nThe bank held rates on Thursday.\nMenu\nMarkets rose."
    assert clean_article_text(text) == (
        "Rates held\n\nThe bank held rates on Thursday.\n\nThe bank held rates on Thursday."
        "\n\nMarkets rose."
    ), "the headline stays (the summarizer skips it), the menu goes, a repeat is the author's"


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed is not here")
def test_the_seed_page_loses_its_furniture_and_keeps_its_story() -> None:
    text = clean_article_text(SEED.read_text(encoding="utf-8"))
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith("Trump Confirms Offer to Send U.S. Troops to Mexico")
    assert paragraphs[1].startswith("U.S. President Donald Trump confirmed on Sunday")
    assert paragraphs[-1].startswith("The exchange underscores growing tensions")
    for furniture in ("Menu", "Search", "Politics", "Wikimedia", "Market Data", "Close"):
        assert all(not p.startswith(("|", "•")) and furniture not in p for p in paragraphs), (
            furniture
        )
    assert "Welcome to EconoTimes" not in text and "Sign up" not in text
    assert "stories unfolding in the global economy" not in text, "the sign-up box's second line"


TABLE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Rates by country</title></head>
<body><article><h1>Where central banks stand</h1>
<p>Central banks in the largest economies have moved in different directions this year, and
the gap between their policy rates is now the widest in a decade, economists said on Monday.</p>
<p>The table below shows each bank's main rate and its latest move, as of the end of March.</p>
<table><thead><tr><th>Bank</th><th>Rate</th><th>Last move</th></tr></thead>
<tbody><tr><td>Fed</td><td>4.25%</td><td>cut</td></tr>
<tr><td>ECB</td><td>2.25%</td><td>cut</td></tr>
<tr><td>BoJ</td><td>0.50%</td><td>hike</td></tr></tbody></table>
<p>Economists expect the gap to narrow in the second half as inflation converges across the
large economies and the Bank of Japan moves more slowly than markets once thought.</p>
</article></body></html>"""


def test_a_tables_rows_are_kept_as_lines_of_cells() -> None:
    text = extract_page(Page(url="https://news.example.com/rates", html=TABLE_PAGE)).text
    lines = text.split("\n\n")
    for row in ("| Bank | Rate | Last move |", "| Fed | 4.25% | cut |", "| BoJ | 0.50% | hike |"):
        assert row in lines
        assert is_table_row(row), "marked, so that the summarizer can leave it out"
    assert "---" not in text
    assert lines[-1].startswith("Economists expect the gap to narrow")
    assert not any(is_table_row(line) for line in lines if "Economists" in line)


LAYOUT_TABLE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Harbour notes</title></head>
<body><table><tr><td>Harbour notes</td></tr>
<tr><td>12 May 2026</td><td>The harbour board approved the new ferry timetable on Tuesday after
a year of complaints from commuters about late and cancelled crossings, and said the first
boats would run to the new times from the start of June, weather permitting.</td></tr>
<tr><td>The board also agreed to spend two million on a second landing stage at the north
quay, which should halve the time passengers wait to board at the busiest hours.</td></tr>
</table></body></html>"""


def test_a_table_that_lays_out_prose_is_read_as_paragraphs() -> None:
    # A cell that holds a paragraph, or a row of one cell, is layout, not a grid of data: its
    # text is the story, which the summarizer must be able to quote.
    lines = extract_page(Page(url="", html=LAYOUT_TABLE_PAGE)).text.split("\n\n")
    assert not any(is_table_row(line) for line in lines)
    assert any(line.startswith("The harbour board approved the new ferry") for line in lines)
    assert any(line.startswith("The board also agreed to spend two million") for line in lines)


WRAPPED_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Savings rates rise</title></head>
<body><article><h1>Savings rates rise at the biggest lenders</h1>
<p>The three largest lenders raised the rates they pay on easy-access savings accounts on
Tuesday, the first increase since the central bank's decision last month.</p>
<p>Savers who want the new rate must set <code>paperless</code> to off before May and
sign up for a paper statement by post, the largest of the three lenders said in a statement.</p>
<p>Analysts said the smaller banks were likely to follow within weeks, as they compete for
deposits to fund their mortgage lending.</p>
</article></body></html>"""


def test_a_paragraph_wrapped_in_the_pages_source_stays_one_paragraph() -> None:
    # A line break in HTML source is a space. trafilatura's text keeps some of them; read as
    # paragraph breaks they cut sentences in two, and a half that opened like a sign-up box
    # ("sign up for ...") was dropped as furniture.
    paragraphs = extract_page(Page(url="", html=WRAPPED_PAGE)).text.split("\n\n")
    assert (
        "Savers who want the new rate must set paperless to off before May and sign up for a"
        " paper statement by post, the largest of the three lenders said in a statement."
    ) in paragraphs
    assert len(paragraphs) == 4


CODE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Counting orders</title></head>
<body><article><h1>Counting orders by day</h1>
<p>The query below counts the orders placed each day and prints the busiest day, which is
what the dashboard shows at the top of its front page every morning.</p>
<pre><code>rows = db.query(
    "SELECT day, count(*) FROM orders GROUP BY day"
)
print()
for day, n in rows:
    print()
    total += n
</code></pre>
<p>Running it on last year's orders takes about a second on a laptop, and the result matches
the figure the finance team reported for the same period.</p>
</article></body></html>"""


def test_preformatted_lines_are_kept_as_written() -> None:
    # A line of code is never a site's furniture ("print()" reads like the Print button, ")"
    # is short) nor a repeat to drop, and a line after it is not a furniture's continuation.
    lines = extract_page(Page(url="", html=CODE_PAGE)).text.split("\n\n")
    start = lines.index("rows = db.query(")
    assert lines[start : start + 7] == [
        "rows = db.query(",
        '    "SELECT day, count(*) FROM orders GROUP BY day"',
        ")",
        "print()",
        "for day, n in rows:",
        "    print()",
        "    total += n",
    ]
    assert lines[start + 7].startswith("Running it on last year's orders")


QUOTE = (
    '"We have waited long enough for an offer that keeps up with prices," the union\'s leader said.'
)
PULL_QUOTE_PAGE = f"""<!DOCTYPE html><html lang="en"><head><title>Port strike</title></head>
<body><article><h1>Port workers vote to strike</h1>
<p>Dock workers at the country's largest port voted on Friday to strike for two weeks from
the first of June, after talks on pay broke down for the third time this year.</p>
<p>{QUOTE}</p>
<p>The port handles a third of the country's imports, and shippers warned that a long strike
would leave shelves empty within days and push prices higher over the summer.</p>
<blockquote><p>{QUOTE}</p></blockquote>
<p>The port's operator said it remained open to talks and would make a new offer next week,
but that it could not afford the increase the union has asked for.</p>
</article></body></html>"""


def test_a_paragraph_the_page_shows_twice_is_kept_twice() -> None:
    # A pull quote, a caption under two pictures, a step repeated: the page as written.
    assert extract_page(Page(url="", html=PULL_QUOTE_PAGE)).text.split("\n\n").count(QUOTE) == 2


OFFER = (
    "The port's operator said it remained open to talks and would make a new offer next week, "
    "but that it could not afford the increase the union has asked for in its latest letter."
)


@pytest.mark.parametrize("hidden", ["hidden", 'style="display: none"', 'style="visibility:hidden"'])
def test_a_hidden_copy_of_a_paragraph_is_left_out(hidden: str) -> None:
    html = (
        f"<html><head><title>Port talks</title></head><body><h1>Port talks</h1><p>{OFFER}</p>"
        f"<h2>Talks</h2><p {hidden}>{OFFER}</p></body></html>"
    )
    assert extract_page(Page(url="", html=html)).text.split("\n\n").count(OFFER) == 1


def test_a_hidden_copy_deep_in_hidden_blocks_is_found_in_one_walk() -> None:
    # 200 hidden blocks, one inside the other (the parser allows 255 levels), around a copy:
    # each block's text is read once, not once per block it sits in (46 s for this page).
    nested = "<div hidden>" * 200 + f"<p>{OFFER}</p>" + "<p>more words here</p>" * 2000
    html = (
        f"<html><head><title>Port talks</title></head><body><h1>Port talks</h1><p>{OFFER}</p>"
        f"{nested}{'</div>' * 200}</body></html>"
    )
    started = time.process_time()
    text = extract_page(Page(url="", html=html)).text
    assert time.process_time() - started < 5
    assert text.split("\n\n").count(OFFER) == 1


SENTENCE_WITH_CODE = (
    "<p>To stop the printed copy, set the option <code>paper_copy\n= false</code> in the"
    " settings file before the end of May, the bank said in its notice to customers.</p>"
)
POEM = "<pre>The tide comes in\nand the tide goes <i>out</i>\n\nand the harbour sleeps</pre>"


def test_code_inside_a_sentence_runs_with_it_and_a_plain_pre_keeps_its_lines() -> None:
    html = CODE_PAGE.replace("<pre>", SENTENCE_WITH_CODE + POEM + "<pre>")
    paragraphs = extract_page(Page(url="", html=html)).text.split("\n\n")
    sentence = (
        "To stop the printed copy, set the option paper_copy = false in the settings file"
        " before the end of May, the bank said in its notice to customers."
    )
    assert paragraphs.count(sentence) == 1
    assert not [p for p in paragraphs if "bank said" in p and p != sentence]
    start = paragraphs.index("The tide comes in")
    assert paragraphs[start : start + 3] == [
        "The tide comes in",
        "and the tide goes out",
        "and the harbour sleeps",
    ]
    assert "rows = db.query(" in paragraphs  # code in a <pre> still keeps its lines
