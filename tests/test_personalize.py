"""A feed cannot reach the per-recipient values: they go only where the template put a slot.

The feed is served by a real HTTP server on 127.0.0.1; its headline, summary and picture
address carry the placeholders that older digests replaced in the whole email and strings
shaped like today's slot markers. Every subscriber's copy must keep that content exactly as
the feed wrote it, with the subscriber's name and unsubscribe token nowhere in it.
"""

from __future__ import annotations

import email
import email.policy
import secrets
from email.message import EmailMessage
from pathlib import Path

import lxml.html
import pytest

from digest import pipeline, tokens
from digest.config import load_config
from digest.store import open_store

from .conftest import FIXED_NOW, HttpServer

GUESS = secrets.token_hex(16)
BAIT = (
    "DIGEST-PLACEHOLDER-UNSUBSCRIBE-URL DIGEST-PLACEHOLDER-RECIPIENT-NAME "
    f"digest-slot-{GUESS}-unsubscribe_url-end digest-slot-{GUESS}-recipient_name-end "
    f"digest-slot-{GUESS}-preferences_url-end"
)
PIXEL = (
    "https://tracker.example.net/p.gif?u=DIGEST-PLACEHOLDER-UNSUBSCRIBE-URL"
    "&n=DIGEST-PLACEHOLDER-RECIPIENT-NAME"
    f"&s=digest-slot-{GUESS}-unsubscribe_url-end&r=digest-slot-{GUESS}-recipient_name-end"
)
SECRET = "a-test-secret-of-enough-length"
WORDS = " ".join(
    f"Harvest sentence {i} explains the port's quarterly figures again." for i in range(30)
)


def hostile_feed() -> str:
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>Harvest</title><link>https://harvest.example.net/</link><description>x</description>
<item><guid>h1</guid><title>{escape("Port figures " + BAIT)}</title>
<link>https://harvest.example.net/a?x=DIGEST-PLACEHOLDER-UNSUBSCRIBE-URL</link>
<pubDate>Tue, 10 Mar 2026 05:00:00 +0000</pubDate>
<description>{escape(BAIT + " " + WORDS)}</description>
<media:content url="{escape(PIXEL)}" medium="image" width="600" height="300"/>
</item></channel></rss>"""


def messages(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_feed_content_never_receives_a_subscribers_values(
    http_server: HttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (http_server.folder / "feed.xml").write_text(hostile_feed(), encoding="utf-8")
    config_path = tmp_path / "digest.toml"
    config_path.write_text(
        f'data_dir = "{(tmp_path / "data").as_posix()}"\n'
        '[collect]\nallow_hosts = ["127.0.0.1"]\n'
        '[newsletter]\nbase_url = "https://news.example.com/daily"\n'
        f'[[sources]]\nname = "Harvest"\nurl = "{http_server.url("/feed.xml")}"\n'
        'full_text = "never"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config = load_config(config_path)
    readers = [("ana@example.org", "Ana Reader"), ("bo@example.org", "Bo Reader")]
    with open_store(config.data_dir) as store:
        for address, name in readers:
            store.add_subscriber(address, name=name, now=FIXED_NOW)
        pipeline.collect(config, store, now=FIXED_NOW)
        built = pipeline.build(config, store, now=FIXED_NOW)
        assert built.edition is not None, built.message
        assert pipeline.send(config, store, now=FIXED_NOW).counts["sent"] == 2

    copies = messages(config.data_dir / "outbox" / built.edition.key)
    assert len(copies) == 2
    names = dict(readers)
    for message in copies:
        name = names[message["To"].addresses[0].addr_spec]
        token = message["List-Unsubscribe"].split("t=")[1].split(">")[0]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        doc = lxml.html.fromstring(html)
        (picture,) = doc.cssselect("img")
        assert picture.get("src") == PIXEL, "the picture's address is the feed's, untouched"
        (headline,) = doc.cssselect(".headline a")
        assert headline.text_content() == "Port figures " + BAIT
        summary = doc.cssselect(".summary")[0].text_content()
        assert f"PLACEHOLDER-RECIPIENT-NAME digest-slot-{GUESS}-unsubscribe_url-end" in summary
        for body in (html, text):
            assert body.count(name) == 1, "the name is in the greeting only"
            assert body.count(token) == 1, "the token is in the unsubscribe link only"
        unsubscribe = [a for a in doc.cssselect("a") if token in (a.get("href") or "")]
        assert len(unsubscribe) == 1 and unsubscribe[0].text_content() == "Unsubscribe"
        own = tokens.sign(message["To"].addresses[0].addr_spec, "preferences", SECRET)
        for body in (html, text):
            assert body.count(own) == 1, "the preferences token is in its link only"
        (choices,) = [a for a in doc.cssselect("a") if own in (a.get("href") or "")]
        assert choices.text_content() == "Preferences"
