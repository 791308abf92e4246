"""The preferences page over real HTTP (uvicorn on 127.0.0.1): the signed link, what it shows,
what a change stores, and everything a hostile client may send instead; the link at the foot
of a delivered edition and on the page that confirms a sign-up; and, end to end, a change made
on the page that counts from the next edition built and sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from digest import pipeline, preferences, tokens
from digest.newsletters import Membership, Offer, offers
from digest.pipeline.messages import web_reader
from digest.render import personalize, render_email
from digest.store import utcnow
from digest.web.pages import ENVIRONMENT

from .mailserver import Received
from .samples import sample_article, sample_edition
from .website import SECRET, Site, csrf_of, running_site

READER = "reader@example.com"
SOURCES = """
[edition]
sections = ["World", "Science", "Money"]
[[sources]]
name = "World Wire"
url = "https://world.example.com/feed.xml"
section = "World"
[[sources]]
name = "Lab Notes"
url = "https://science.example.com/feed.xml"
section = "Science"
[[sources]]
name = "Ledger"
url = "https://money.example.com/feed.xml"
section = "Money"
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path, web_options="signups_per_client = 20", more=SOURCES) as running:
        with running.store() as store:
            store.add_subscriber(READER, now=utcnow())
        yield running


def link(address: str = READER, purpose: str = "preferences") -> str:
    return f"/preferences/{tokens.sign(address, purpose, SECRET)}"


def slug(site: Site) -> str:
    return offers(site.config())[0].slug


def stored(site: Site, address: str = READER) -> list[Membership]:
    with site.store() as store:
        return store.memberships(address)


def choices(site: Site, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """A genuine form's fields for the default newsletter, with ``changes`` (by short name)."""
    name = slug(site)
    fields: dict[str, str | list[str]] = {
        f"sections:{name}": ["World", "Science", "Money"],
        f"frequency:{name}": "daily",
        f"send_time:{name}": "07:00",
        "timezone": "",
    }
    for key, value in changes.items():
        fields[key if key == "timezone" else f"{key}:{name}"] = value
    return fields


def post(
    client: httpx.Client, path: str, fields: dict[str, str | list[str]], **headers: str
) -> httpx.Response:
    """What a browser does: load the page (its cookie and token), then post the form."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf": csrf_of(page), **fields}, headers=headers)


def test_the_page_shows_what_the_reader_may_choose(site: Site) -> None:
    with site.client() as client:
        page = client.get(link())
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "digest_csrf" in page.headers["set-cookie"]
    text = page.text
    assert READER in text and "take effect from the next edition" in text
    name = slug(site)
    for section in ("World", "Science", "Money"):
        assert f'name="sections:{name}" value="{section}" checked' in text, "all, by default"
    assert f'name="frequency:{name}" value="daily" checked' in text
    assert f'name="frequency:{name}" value="weekly">' in text
    assert '<option value="Asia/Tokyo">' in text and '<option value="America/New_York">' in text
    assert '<option value="" selected>The newsletter\'s own (UTC)</option>' in text.replace(
        "&#39;", "'"
    )
    assert 'value="US/Eastern"' not in text, "old aliases are not offered"
    unsubscribe = re.search(r'href="(/unsubscribe\?t=[^"]+)"', text)
    assert unsubscribe is not None
    assert tokens.verify(unsubscribe.group(1).split("=", 1)[1], "unsubscribe", SECRET) == READER


def test_a_change_is_stored_and_the_page_says_when_it_counts(site: Site) -> None:
    fields = choices(
        site,
        sections=["Science", "World"],
        frequency="weekly",
        send_time="06:30",
        timezone="Asia/Tokyo",
    )
    with site.client() as client:
        answer = post(client, link(), fields)
        assert answer.status_code == 200, answer.text
        assert "Saved. Your changes take effect from the next edition." in answer.text
        (membership,) = stored(site)
        assert membership == Membership(
            newsletter=slug(site),
            sections=("World", "Science"),  # the newsletter's order
            frequency="weekly",
            send_time="06:30",
            timezone="Asia/Tokyo",
            language="",
        )
        again = client.get(link()).text
    assert 'value="Money">' in again and 'value="Money" checked' not in again
    assert 'value="weekly" checked' in again and 'value="06:30"' in again
    assert '<option value="Asia/Tokyo" selected>' in again


def test_a_change_is_stored_in_postgresql_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_postgres: str
) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path, more=SOURCES, database_url=fresh_postgres) as site:
        with site.store() as store:
            store.add_subscriber(READER, now=utcnow())
        with site.client() as client:
            answer = post(client, link(), choices(site, sections=["Money"], frequency="weekly"))
        assert answer.status_code == 200, answer.text
        assert [(m.sections, m.frequency) for m in stored(site)] == [(("Money",), "weekly")]
    assert not (tmp_path / "data" / "digest.sqlite3").exists(), "nothing went to SQLite"


def test_choosing_every_section_and_the_newsletters_time_stores_the_defaults(site: Site) -> None:
    with site.client() as client:
        post(client, link(), choices(site, sections=["Money"], timezone="Europe/London"))
        assert (stored(site)[0].sections, stored(site)[0].timezone) == (("Money",), "Europe/London")
        post(client, link(), choices(site))
    (membership,) = stored(site)
    # Empty: "all sections", "the newsletter's time and zone": they follow its changes.
    assert (membership.sections, membership.send_time, membership.timezone) == ((), "", "")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("not-a-token", "garbage"),
        ("A" * 2000, "too long"),
        ("%FF%FE", "not ASCII"),
        ("unsubscribe", "a token made for unsubscribing"),
        ("tampered", "one character changed"),
    ],
)
def test_a_bad_link_is_a_clear_page_and_changes_nothing(site: Site, token: str, why: str) -> None:
    if token == "unsubscribe":
        token = tokens.sign(READER, "unsubscribe", SECRET)
    elif token == "tampered":
        good = tokens.sign(READER, "preferences", SECRET)
        token = good[:10] + ("B" if good[10] != "B" else "C") + good[11:]
    with site.client() as client:
        page = client.get(f"/preferences/{token}")
        assert page.status_code == 400, why
        assert "This link is not valid" in page.text
        assert "Traceback" not in page.text
        sent = client.post(f"/preferences/{token}", data=choices(site, sections=["Money"]))
        assert sent.status_code == 400
    assert stored(site) == [Membership(slug(site))], "still the defaults"


def test_a_link_for_an_address_that_is_not_subscribed(site: Site) -> None:
    with site.store() as store:
        store.add_subscriber("gone@example.com", status="unsubscribed", now=utcnow())
    with site.client() as client:
        for address in ("gone@example.com", "stranger@example.com"):
            page = client.get(link(address))
            assert page.status_code == 410
            assert f"{address} does not receive Daily Digest" in page.text
            assert client.post(link(address), data=choices(site)).status_code == 410
    assert stored(site, "gone@example.com") == []


def test_without_a_secret_the_link_says_it_does_not_work_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    with running_site(tmp_path) as site, site.client() as client:
        page = client.get(link())
    assert page.status_code == 503
    assert "does not work on this server yet" in page.text


def test_the_page_without_a_token_says_where_the_link_is(site: Site) -> None:
    with site.client() as client:
        page = client.get("/preferences")
    assert page.status_code == 200
    assert "at the foot of any Daily Digest email" in page.text


def test_a_post_from_another_site_or_without_the_forms_token_is_refused(site: Site) -> None:
    wanted = choices(site, sections=["Money"])
    with site.client() as client:
        bare = client.post(link(), data=wanted)
        assert bare.status_code == 403 and "This form has expired" in bare.text
        page = client.get(link())
        genuine = csrf_of(page)
        other_digit = "1" if genuine.endswith("0") else "0"
        forged = client.post(link(), data={**wanted, "csrf": genuine[:-1] + other_digit})
        assert forged.status_code == 403
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            answer = post(client, link(), wanted, **headers)
            assert answer.status_code == 403, headers
        assert stored(site) == [Membership(slug(site))]
        same = post(client, link(), wanted, Origin=site.url, **{"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 200
        # What Chromium sends from the page itself: its Referrer-Policy makes the Origin null.
        ours = post(client, link(), wanted, Origin="null", **{"Sec-Fetch-Site": "same-origin"})
        assert ours.status_code == 200
    assert stored(site)[0].sections == ("Money",)
    with site.client() as other:
        # The form's token is bound to its own cookie: another browser's is refused.
        page = other.get(link())
    with site.client() as client:
        client.get(link())
        assert client.post(link(), data={**wanted, "csrf": csrf_of(page)}).status_code == 403


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sections": ["World", "Sport"]}, "Daily Digest has no section 'Sport'."),
        ({"sections": ["World", "x" * 5000]}, "Daily Digest has no section 'xxxx"),
        ({"sections": []}, "Choose at least one section of Daily Digest."),
        ({"timezone": "Mars/Olympus_Mons"}, "Time zone 'Mars/Olympus_Mons' is not one of those"),
        ({"timezone": "../../../etc/passwd"}, "Time zone '../../../etc/passwd' is not one"),
        ({"timezone": "US/Eastern"}, "Time zone 'US/Eastern' is not one of those offered."),
        ({"timezone": "utc"}, "Time zone 'utc' is not one of those offered."),
        ({"frequency": "hourly"}, "Daily Digest is not sent 'hourly'."),
        ({"send_time": "25:00"}, "Send time '25:00': expected a time like 07:30."),
        ({"send_time": "7:30pm"}, "Send time '7:30pm'"),
        ({"language": "tlh"}, "Daily Digest is not written in 'tlh'."),
        ({"newsletter": "weekly-secrets"}, "There is no newsletter 'weekly-secrets' here."),
    ],
)
def test_values_that_are_not_offered_are_named_and_nothing_is_stored(
    site: Site, change: dict[str, str | list[str]], problem: str
) -> None:
    fields = choices(site, **{k: v for k, v in change.items() if k != "newsletter"})
    if "newsletter" in change:
        fields["newsletter"] = change["newsletter"]
    with site.client() as client:
        answer = post(client, link(), fields)
    assert answer.status_code == 400
    assert problem in answer.text.replace("&#39;", "'")
    assert "x" * 100 not in answer.text, "a long value is quoted cut short"
    assert stored(site) == [Membership(slug(site))]


def test_hostile_bodies_are_refused_before_they_are_read(site: Site) -> None:
    with site.client() as client:
        page = client.get(link())
        csrf = csrf_of(page)
        huge = client.post(link(), data={"csrf": csrf, "timezone": "A" * 20_000})
        assert huge.status_code == 413
        many = "&".join(f"sections:{slug(site)}=World" for _ in range(200))
        flood = client.post(
            link(),
            content=f"csrf={csrf}&{many}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert flood.status_code == 400, "more fields than a genuine form has"
        binary = client.post(
            link(),
            content=b"csrf=" + csrf.encode() + b"&timezone=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert binary.status_code == 400
        as_json = client.post(link(), json={"csrf": csrf, "timezone": "Asia/Tokyo"})
        assert as_json.status_code == 403, "not a form: no token in it"
    for answer in (huge, flood, binary):
        assert "Traceback" not in answer.text
    assert stored(site) == [Membership(slug(site))]


def test_changes_are_limited_per_client_and_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path, web_options="signups_per_client = 2", more=SOURCES) as site:
        with site.store() as store:
            store.add_subscriber(READER, now=utcnow())
        with site.client() as client:
            first = post(client, link(), choices(site, sections=["Money"]))
            second = post(client, link(), choices(site, sections=["Tennis"]))  # counts too
            third = post(client, link(), choices(site, sections=["World"]))
    assert [first.status_code, second.status_code, third.status_code] == [200, 400, 429]
    assert stored(site)[0].sections == ("Money",)


def test_every_delivered_edition_carries_the_readers_own_link(site: Site) -> None:
    with site.store() as store:
        store.add_subscriber("ana@example.com", now=utcnow())
        report = pipeline.send(site.config(), store)
    assert report.counts["sent"] == 2
    links = {}
    for address in (READER, "ana@example.com"):
        (mail,) = site.mails_to(address)
        html = mail.message.get_body(("html",)).get_content()
        text = mail.message.get_body(("plain",)).get_content()
        found = re.findall(r'href="(http://127\.0\.0\.1:\d+/preferences/[^"]+)"', html)
        assert len(found) == 1, html[-2000:]
        assert f"Preferences: {found[0]}" in text
        token = found[0].rsplit("/", 1)[1]
        assert tokens.verify(token, "preferences", SECRET) == address
        links[address] = found[0]
    assert links[READER] != links["ana@example.com"]
    with site.client() as client:
        page = client.get(links["ana@example.com"])
    assert page.status_code == 200 and "ana@example.com" in page.text


def test_the_web_edition_links_to_the_page_that_says_where_the_link_is(site: Site) -> None:
    config = site.config()
    email, _ = render_email(sample_edition(3), config.newsletter, config.render)
    html, text = personalize(email, web_reader(config))
    assert f'href="{site.url}/preferences"' in html
    assert f"Preferences: {site.url}/preferences\n" in text
    without_site = replace(config, newsletter=replace(config.newsletter, base_url=""))
    email, _ = render_email(sample_edition(3), without_site.newsletter, without_site.render)
    html, text = personalize(email, web_reader(without_site))
    assert "Preferences" not in html and "Preferences" not in text, "no site, no page"


def test_the_confirmation_page_links_to_the_readers_preferences(site: Site) -> None:
    with site.store() as store:
        store.record_signup("new@example.com", name="", now=utcnow())
    confirm = tokens.sign("new@example.com", "confirm", SECRET, issued=utcnow())
    with site.client() as client:
        done = client.post(f"/confirm?t={confirm}")
        assert "You are subscribed" in done.text
        found = re.search(r'href="(/preferences/[^"]+)"', done.text)
        assert found is not None
        page = client.get(found.group(1))
    assert page.status_code == 200 and "new@example.com" in page.text


# --- several newsletters (the pure part: what the form shows and what a form stores) ----------

DAILY = Offer(
    slug="daily",
    name="Morning Brief",
    sections=("World", "Science"),
    languages=("en", "de"),
    frequencies=("daily", "weekly"),
    send_time="07:00",
    timezone="Europe/Berlin",
)
MARKETS = Offer(
    slug="markets",
    name="Markets Wrap",
    sections=("Stocks", "Bonds"),
    languages=("en",),
    frequencies=("daily", "weekly"),
    send_time="",
    timezone="America/New_York",
)


def test_with_several_newsletters_the_reader_picks_which_and_each_ones_choices() -> None:
    shown = preferences.current((DAILY, MARKETS), [Membership("markets", ("Bonds",))])
    assert [item.chosen for item in shown.items] == [False, True]
    assert shown.items[1].sections == ("Bonds",)
    assert shown.timezone == "", "each newsletter's own zone until the reader picks one"
    fields = [
        ("newsletter", "daily"),
        ("newsletter", "markets"),
        ("sections:daily", "Science"),
        ("frequency:daily", "weekly"),
        ("send_time:daily", "06:15"),
        ("language:daily", "de"),
        ("sections:markets", "Stocks"),
        ("sections:markets", "Bonds"),
        ("frequency:markets", "daily"),
        ("send_time:markets", ""),  # the newsletter has no fixed time: left to it
        ("timezone", "Asia/Tokyo"),
    ]
    chosen, problems = preferences.read((DAILY, MARKETS), fields)
    assert problems == []
    assert preferences.memberships(chosen) == [
        Membership("daily", ("Science",), "weekly", "06:15", "Asia/Tokyo", "de"),
        Membership("markets", (), "daily", "", "Asia/Tokyo", ""),
    ]
    left, problems = preferences.read((DAILY, MARKETS), [("timezone", "")])
    assert problems == ["Choose at least one newsletter, or unsubscribe from all of them below."]
    assert preferences.memberships(left) == []
    html = ENVIRONMENT.get_template("preferences.html").render(
        choices=chosen,
        several=True,
        zone_groups=preferences.zone_groups(),
        language_name=lambda code: {"en": "English", "de": "Deutsch"}[code],
        problems=[],
        address=READER,
    )
    assert html.count('name="newsletter"') == 2
    assert '<option value="de" lang="de" selected>Deutsch</option>' in html
    assert html.count('name="language:') == 1, "a language choice only where there are several"


def test_without_a_zone_of_their_own_each_newsletter_goes_out_in_its_own() -> None:
    old = replace(MARKETS, timezone="US/Eastern")  # an old alias, not in the list
    shown = preferences.current((old,), [Membership("markets", timezone="US/Eastern")])
    assert shown.timezone == "", "a stored zone that is not offered shows as the newsletter's"
    fields = [("sections:markets", "Bonds"), ("frequency:markets", "daily"), ("timezone", "")]
    chosen, problems = preferences.read((old,), fields)
    assert problems == [] and preferences.memberships(chosen)[0].timezone == ""
    assert "US/Eastern" not in preferences.zones() and "Asia/Tokyo" in preferences.zones()


# --- end to end: a change made on the page counts from the next edition -------------------------


def section_titles(mail: Received) -> list[str]:
    html = mail.message.get_body(("html",)).get_content()
    return re.findall(r'<h2 class="section-title"[^>]*>([^<]+)</h2>', html)


def collected(site: Site, now: datetime, *, first: int) -> None:
    """Articles for each section, as a collection at ``now`` would have stored them."""
    feeds = {s.section: s for s in site.config().sources}
    articles = []
    for i in range(first, first + 9):
        source = feeds[("World", "Science", "Money")[i % 3]]
        article = sample_article(i, section=source.section, source=source.name)
        articles.append(
            replace(article, source_key=source.url, published=now - timedelta(minutes=10 + i))
        )
    with site.store() as store:
        store.save_articles(articles, now=now)


def test_a_change_on_the_page_counts_from_the_next_edition(site: Site) -> None:
    first_day, second_day = (
        datetime(2026, 3, 11, 7, tzinfo=UTC),
        datetime(2026, 3, 12, 7, tzinfo=UTC),
    )
    collected(site, first_day, first=0)
    with site.store() as store:
        pipeline.build_all(site.config(), store, now=first_day)
        pipeline.send_all(site.config(), store, now=first_day)
    (before,) = site.mails_to(READER)
    assert section_titles(before) == ["Top stories", "World", "Science", "Money"]

    found = re.search(
        r'href="http://127\.0\.0\.1:\d+(/preferences/[^"]+)"',
        before.message.get_body(("html",)).get_content(),
    )
    assert found is not None
    with site.client() as client:
        assert post(client, found.group(1), choices(site, sections=["Science"])).status_code == 200
    with site.store() as store:  # the edition already sent is not sent again
        pipeline.send_all(site.config(), store, now=first_day + timedelta(minutes=5))
    assert len(site.mail.received_by(READER)) == 1

    collected(site, second_day, first=100)
    with site.store() as store:
        pipeline.build_all(site.config(), store, now=second_day)
        pipeline.send_all(site.config(), store, now=second_day)
    after = site.mails_to(READER, count=2)[1]
    assert section_titles(after) == ["Top stories", "Science"]
    text = after.message.get_body(("plain",)).get_content()
    stories = {int(n) for n in re.findall(r"Story (\d+):", text)}
    assert stories and all(n % 3 == 1 for n in stories), "Science's stories only, top ones too"
