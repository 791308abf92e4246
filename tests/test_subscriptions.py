"""Joining and leaving over HTTP (digest serve) with mail going through a real SMTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from digest import pipeline, tokens
from digest.config import load_config
from digest.errors import ConfigError
from digest.render import render_email

from .mailserver import Received, free_port
from .samples import NOW, sample_edition
from .website import SECRET, Site, confirm_link, running_site, sign_up


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with running_site(tmp_path) as running:
        yield running


def one_click_url(received: Received) -> str:
    https = received.message["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert https.startswith("http://127.0.0.1:")
    return https


def test_one_click_unsubscribe_from_the_received_header_and_the_next_send_skips(
    site: Site,
) -> None:
    with site.store() as store:
        for address in ("ana@example.com", "bo@example.com"):
            store.add_subscriber(address, now=NOW)
        assert pipeline.send(site.config(), store, now=NOW).counts["sent"] == 2
    url = one_click_url(site.mail.received_by("ana@example.com")[0])
    with site.client() as client:
        # What a mailbox provider does (RFC 8058): POST the body, no cookies, no login.
        response = client.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and "You are unsubscribed" in response.text
        assert "set-cookie" not in response.headers
        # RFC 8058's own example posts multipart/form-data: the token in the URL is enough.
        multipart = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        assert multipart.status_code == 200
    with site.store() as store:
        assert store.subscriber_status("ana@example.com") == "unsubscribed"
        tomorrow, _ = render_email(
            sample_edition(3), site.config().newsletter, site.config().render
        )
        store.save_edition(
            replace(tomorrow, edition_key="2026-03-11"), number=2, built=NOW, article_ids=[]
        )
        assert pipeline.send(site.config(), store, now=NOW).counts["sent"] == 1
    assert site.mail.per_recipient() == {"ana@example.com": 1, "bo@example.com": 2}


def test_the_page_asks_first_and_a_recipient_who_left_mid_edition_is_skipped(
    site: Site,
) -> None:
    with site.store() as store:
        for address in ("ana@example.com", "bo@example.com"):
            store.add_subscriber(address, now=NOW)
        # A first run that stopped before anyone was sent the edition (the server was down).
        down = load_config(
            site.config_path,
            overrides={"smtp": {"host": "127.0.0.1", "port": free_port(), "security": "none"}},
        )
        assert pipeline.send(down, store, now=NOW).stopped
    token = tokens.sign("ana@example.com", "unsubscribe", SECRET)
    with site.client() as client:
        page = client.get(f"/unsubscribe?t={token}")
        assert page.status_code == 200 and '<form method="post">' in page.text
        with site.store() as store:
            assert store.subscriber_status("ana@example.com") == "confirmed", (
                "a GET changes nothing"
            )
        # The page's button posts the form to the same URL.
        assert client.post(f"/unsubscribe?t={token}", data={"t": token}).status_code == 200
    with site.store() as store:
        report = pipeline.send(site.config(), store, now=NOW)
    assert report.counts == {"sent": 1, "deferred": 0, "failed": 0, "skipped": 1, "unknown": 0}
    assert site.mail.per_recipient() == {"bo@example.com": 1}


def test_a_forged_cut_or_garbled_token_is_refused(site: Site) -> None:
    forged = tokens.sign("ana@example.com", "unsubscribe", "another-secret-of-some-length")
    confirm_token = tokens.sign("ana@example.com", "confirm", SECRET)
    with site.client() as client:
        for url in (
            f"/unsubscribe?t={forged}",
            f"/unsubscribe?t={confirm_token}",  # signed for another purpose
            f"/unsubscribe?t={tokens.sign('ana@example.com', 'unsubscribe', SECRET)[:-3]}",
            "/unsubscribe?t=%C3%A9t%C3%A9.%E2%82%AC",  # not ASCII: once a 500 with a traceback
            "/unsubscribe?t=" + "a" * 5000,
            "/unsubscribe",
        ):
            assert client.post(url).status_code == 400, url
            page = client.get(url)
            assert page.status_code == 400 and "not valid" in page.text
            assert "Traceback" not in page.text


def test_sign_up_confirmation_mail_confirm_link_subscribed(site: Site) -> None:
    with site.client() as client:
        form = client.get("/subscribe")
        assert form.status_code == 200 and 'name="email"' in form.text
        response = sign_up(client, "New@Example.com", name="Nia")
        assert response.status_code == 200 and "Check your inbox" in response.text
        (mail,) = site.mails_to("New@example.com")
        # A second request soon after sends no second mail.
        assert sign_up(client, "new@example.com").status_code == 200
        assert mail.message["Subject"] == "Confirm your subscription to Daily Digest"
        link = confirm_link(mail)
        with site.store() as store:
            assert store.subscriber_status("new@example.com") == "pending"
            assert pipeline.send(site.config(), store, now=NOW).counts["sent"] == 0
        page = client.get(link)
        assert page.status_code == 200 and "Yes, subscribe me" in page.text
        with site.store() as store:
            assert store.subscriber_status("new@example.com") == "pending", "a GET changes nothing"
        done = client.post(link)
        assert done.status_code == 200 and "You are subscribed" in done.text
    with site.store() as store:
        assert store.subscriber("new@example.com").name == "Nia"  # type: ignore[union-attr]
        assert store.subscriber_status("new@example.com") == "confirmed"
        assert pipeline.send(site.config(), store, now=NOW).counts["sent"] == 1
    assert len(site.mails_to("New@example.com", 2)) == 2  # the confirmation, the edition


def test_bad_sign_ups_get_a_clear_answer_and_bots_get_nothing(site: Site) -> None:
    with site.client() as client:
        bad = sign_up(client, "not an address")
        assert bad.status_code == 400 and "not a valid email address" in bad.text
        bot = sign_up(client, "bot@example.com", website="http://spam.example")
        assert bot.status_code == 200 and "Check your inbox" in bot.text
    with site.store() as store:
        assert store.subscriber("bot@example.com") is None
        assert store.confirmation_counts() == {}
    assert site.mail.received == []


def test_without_the_secret_sign_up_and_the_links_answer_503_and_the_operator_is_told(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DIGEST_SECRET")
    token = tokens.sign("ana@example.com", "unsubscribe", SECRET)
    with caplog.at_level(logging.WARNING, logger="digest.serve"), site.client() as client:
        assert client.post(f"/unsubscribe?t={token}").status_code == 503
        form = client.get("/subscribe")
        assert form.status_code == 503 and "<form" not in form.text, "no form that cannot work"
        assert client.post("/subscribe", data={"email": "a@example.com"}).status_code == 503
    # What the requests logged (the site's mailer thread may log its own warning meanwhile).
    answered = [m for m in caplog.messages if not m.startswith("confirmation mails wait")]
    assert answered[:2] == [
        f"{site.config_path}: delivery.secret_env: the environment variable DIGEST_SECRET "
        "is not set; it signs the unsubscribe links",
        f"{site.config_path}: delivery.secret_env: the environment variable DIGEST_SECRET "
        "is not set; it signs the confirmation links",
    ]
    with site.store() as store, pytest.raises(ConfigError, match="DIGEST_SECRET is not set"):
        pipeline.send(site.config(), store, now=NOW)


def test_elodie_unsubscribes_with_her_accented_address_and_the_next_send_skips_her(
    site: Site,
) -> None:
    with site.store() as store:
        for address in ("Élodie@example.com", "bo@example.com"):
            store.add_subscriber(address, now=NOW)
        assert pipeline.send(site.config(), store, now=NOW).counts["sent"] == 2
    # The link in the mail she received; the page's button posts its form.
    link = one_click_url(site.mail.received_by("Élodie@example.com")[0])
    token = link.partition("t=")[2]
    with site.client() as client:
        done = client.post(link, data={"t": token})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    with site.store() as store:
        # One matching form everywhere: whichever way her address is written.
        for written in ("Élodie@example.com", "élodie@EXAMPLE.com", "E\u0301lodie@example.com"):
            assert store.subscriber_status(written) == "unsubscribed"
        assert not store.add_subscriber("ÉLODIE@example.com", status="unsubscribed", now=NOW)
        record = store.latest_edition()
        assert record is not None
        next_day = replace(record.email, edition_key="2026-03-11")
        store.save_edition(next_day, number=2, built=NOW, article_ids=[])
        report = pipeline.send(site.config(), store, now=NOW)
    assert (report.counts["sent"], report.counts["skipped"]) == (1, 0)
    assert site.mail.per_recipient() == {"Élodie@example.com": 1, "bo@example.com": 2}
