"""Sign-up abuse controls: limits per client, per mailbox and per hour, CSRF, one mail for
concurrent requests, the same answer for known and unknown addresses, no re-subscription
without the person's own confirmation; and the queue claimed safely by several processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from digest import signup, subscriptions, tokens
from digest.store import open_store, utcnow

from .conftest import ROOT, wait_for
from .mailserver import MailServer, free_port
from .website import SECRET, Site, confirm_link, csrf_of, running_site, sign_up


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


@pytest.fixture
def site(tmp_path: Path, secret: None) -> Iterator[Site]:
    options = "signups_per_client = 4\nconfirmations_per_mailbox = 2\nconfirmations_per_hour = 3"
    with running_site(tmp_path, web_options=options) as running:
        yield running


def test_a_client_gets_its_hours_worth_of_sign_ups_then_429(site: Site) -> None:
    with site.client() as client:
        answers = [sign_up(client, f"person{n}@example.com").status_code for n in range(6)]
        assert answers == [200, 200, 200, 200, 429, 429]
        late = sign_up(client, "person9@example.com")
        assert "Too many requests" in late.text and int(late.headers["retry-after"]) <= 3600
    # Behind a trusted proxy each forwarded client has its own limit; untrusted headers count
    # for nothing (this server trusts no proxy, so X-Forwarded-For does not escape the limit).
    with site.client(**{"X-Forwarded-For": "203.0.113.9"}) as client:
        assert sign_up(client, "other@example.com").status_code == 429


def test_plus_addresses_share_their_mailboxs_limit_and_the_hour_has_a_cap(site: Site) -> None:
    with site.client(**{"X-Forwarded-For": "x"}) as client:
        for n in range(4):
            assert sign_up(client, f"victim+{n}@example.com").status_code == 200
    with site.store() as store:
        settled = {"sent": 2, "dropped": 2}
        assert wait_for(lambda: store.confirmation_counts() == settled, timeout=30)
    assert site.mail.count() == 2, "confirmations_per_mailbox = 2"
    # The global cap: 3 an hour in all; two are used, so one of these goes and two wait.
    with site.store() as store:
        for n in range(3):
            store.queue_confirmation(
                f"reader{n}@example.org", name="", now=utcnow(), resend_after=timedelta(0)
            )
    site.web.mailer.wake()
    with site.store() as store:
        settled = {"sent": 3, "dropped": 2, "queued": 2}
        assert wait_for(lambda: store.confirmation_counts() == settled, timeout=30)
    assert site.mail.count() == 3


def test_concurrent_sign_ups_of_one_address_send_one_mail(site: Site) -> None:
    with site.client() as client:
        form = client.get("/subscribe")
        token = csrf_of(form)
        answers: list[int] = []

        def post() -> None:
            response = client.post("/subscribe", data={"csrf": token, "email": "one@example.com"})
            answers.append(response.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200] * 4
    site.mails_to("one@example.com")
    with site.store() as store:
        assert wait_for(lambda: store.confirmation_counts() == {"sent": 1}, timeout=30)
    assert len(site.mail.received_by("one@example.com")) == 1


def test_without_the_forms_token_nothing_is_queued(site: Site) -> None:
    with site.client() as client:
        bare = client.post("/subscribe", data={"email": "csrf@example.com"})
        assert bare.status_code == 403 and "expired" in bare.text
        # A token made for another browser's cookie does not fit this one's.
        other = csrf_of(httpx.get(f"{site.url}/subscribe", trust_env=False))
        client.get("/subscribe")
        mismatched = client.post("/subscribe", data={"csrf": other, "email": "csrf@example.com"})
        assert mismatched.status_code == 403
    with site.store() as store:
        assert store.confirmation_counts() == {}


def test_the_answer_is_the_same_for_a_known_address_and_with_the_mail_server_down(
    tmp_path: Path, secret: None
) -> None:
    with running_site(tmp_path) as site:
        with site.store() as store:
            store.add_subscriber("known@example.com", now=utcnow())
        # The mail server is down: sign-up must neither wait for it nor say so.
        text = site.config_path.read_text(encoding="utf-8")
        dead = text.replace(f"port = {site.mail.port}", f"port = {free_port()}")
        site.config_path.write_text(dead, encoding="utf-8")
        with site.client() as client:
            known = sign_up(client, "known@example.com")
            unknown = sign_up(client, "unknown@example.com")
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text
        with site.store() as store:
            # The unknown address waits for the mail server; the known one needs no mail.
            settled = {"queued": 1, "dropped": 1}
            assert wait_for(lambda: store.confirmation_counts() == settled, timeout=30)


def test_an_unsubscribed_address_needs_its_own_new_confirmation(site: Site) -> None:
    old_link = tokens.sign(
        "left@example.com", "confirm", SECRET, issued=utcnow() - timedelta(hours=1)
    )
    with site.store() as store:
        store.add_subscriber("left@example.com", now=utcnow() - timedelta(days=30))
        subscriptions.unsubscribe(store, "left@example.com", now=utcnow() - timedelta(minutes=5))
    with site.client() as client:
        assert sign_up(client, "left@example.com").status_code == 200
        (mail,) = site.mails_to("left@example.com")
        with site.store() as store:
            assert store.subscriber_status("left@example.com") == "unsubscribed"
            # A later import does not bring the address back either.
            csv = Path(site.config_path.parent / "list.csv")
            csv.write_text("left@example.com\n", encoding="utf-8")
            assert subscriptions.import_csv(store, csv, now=utcnow()).kept_unsubscribed == 1
        stale = client.post(f"/confirm?t={old_link}")
        assert stale.status_code == 410 and "unsubscribed after this link" in stale.text
        expired = tokens.sign(
            "left@example.com", "confirm", SECRET, issued=utcnow() - timedelta(days=8)
        )
        assert client.post(f"/confirm?t={expired}").status_code == 410
        with site.store() as store:
            assert store.subscriber_status("left@example.com") == "unsubscribed"
        assert client.post(confirm_link(mail)).status_code == 200
    with site.store() as store:
        assert store.subscriber_status("left@example.com") == "confirmed"


SENDER = """
import sys
from pathlib import Path
from digest import signup
from digest.config import load_config
from digest.store import open_store
config = load_config(Path(sys.argv[1]))
with open_store(config.data_dir) as store:
    print(signup.send_due(config, store))
"""


def test_several_processes_share_the_queue_and_the_hourly_cap(tmp_path: Path, secret: None) -> None:
    """Four processes drain one queue at once: each mail goes once, and no more than the cap."""
    with MailServer() as mail:
        config_path = tmp_path / "digest.toml"
        config_path.write_text(
            f'data_dir = "{(tmp_path / "data").as_posix()}"\n'
            '[newsletter]\nbase_url = "http://127.0.0.1:9"\n'
            f'[delivery]\ntransport = "smtp"\n[smtp]\nhost = "{mail.host}"\nport = {mail.port}\n'
            'security = "none"\n[web]\nconfirmations_per_hour = 25\n',
            encoding="utf-8",
        )
        with open_store(tmp_path / "data") as store:
            for n in range(40):
                store.queue_confirmation(
                    f"p{n}@example.com", name="", now=utcnow(), resend_after=timedelta(0)
                )
        env = {"PYTHONPATH": str(ROOT), "DIGEST_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", SENDER, str(config_path)],
                stdout=subprocess.PIPE,
                env=env,
                cwd=tmp_path,
            )
            for _ in range(4)
        ]
        sent = [int(p.communicate(timeout=120)[0]) for p in processes]
        assert sum(sent) == 25 and mail.count() == 25
        assert all(n == 1 for n in mail.per_recipient().values())
        with open_store(tmp_path / "data") as store:
            assert store.confirmation_counts() == {"sent": 25, "queued": 15}
            assert store.hits("confirmations", signup.hour_of(utcnow())) == 25
