"""digest serve (digest.web) on 127.0.0.1 with its mail going to a real SMTP server, for the
subscriber-page tests; and the browser-like steps of signing up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from digest import web
from digest.config import Config, load_config
from digest.render import render_email
from digest.store import Store, open_store

from .conftest import wait_for
from .mailserver import MailServer, Received, free_port
from .samples import NOW, sample_edition

SECRET = "a-long-enough-secret-for-tests"


@dataclass
class Site:
    url: str
    config_path: Path
    mail: MailServer
    server: web.Server
    web: web.Site

    def config(self) -> Config:
        return load_config(self.config_path)

    def store(self) -> Store:
        config = self.config()
        return open_store(config.data_dir, url=config.database_url)

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, headers=headers, timeout=30)

    def mails_to(self, address: str, count: int = 1) -> list[Received]:
        """The mails ``address`` received, once there are ``count`` (the mailer is a thread)."""
        wait_for(lambda: len(self.mail.received_by(address)) >= count, timeout=30)
        return self.mail.received_by(address)


def config_text(data_dir: Path, port: int, mail: MailServer, extra: str = "") -> str:
    return (
        f'data_dir = "{data_dir.as_posix()}"\n'
        f'[newsletter]\nname = "Daily Digest"\nfrom_address = "daily@news.example.com"\n'
        f'base_url = "http://127.0.0.1:{port}"\n'
        f'[delivery]\ntransport = "smtp"\nretry_pause = "10ms"\n'
        f'[smtp]\nhost = "{mail.host}"\nport = {mail.port}\nsecurity = "none"\n{extra}'
    )


@contextmanager
def running_site(
    tmp_path: Path, *, web_options: str = "", more: str = "", database_url: str = ""
) -> Iterator[Site]:
    """The site on a free port, its config pointing at a live SMTP server; one edition built.
    ``more``: TOML added at the end of the config (tables, ``[[sources]]``); with
    ``database_url``, the store is that PostgreSQL database."""
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    with MailServer() as mail:
        config_path = tmp_path / "digest.toml"
        extra = (f"[web]\n{web_options}\n" if web_options else "") + more
        text = config_text(tmp_path / "data", port, mail, extra)
        if database_url:
            text = f'database_url = "{database_url}"\n{text}'
        config_path.write_text(text, encoding="utf-8")
        config = load_config(config_path)
        email, _ = render_email(sample_edition(3), config.newsletter, config.render)
        with open_store(config.data_dir, url=config.database_url) as store:
            store.save_edition(email, number=1, built=NOW, article_ids=[])
        served = web.Site(config_path)
        server = web.Server(served, port=port)
        server.start()
        try:
            yield Site(f"http://127.0.0.1:{port}", config_path, mail, server, served)
        finally:
            server.stop()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_up(client: httpx.Client, email: str, **fields: str) -> httpx.Response:
    """What a browser does: load the form (its cookie and token), then post it."""
    form = client.get("/subscribe")
    assert form.status_code == 200, form.text
    return client.post("/subscribe", data={"csrf": csrf_of(form), "email": email, **fields})


def confirm_link(received: Received) -> str:
    found = re.search(r"http://127\.0\.0\.1:\d+/confirm\?t=\S+", received.message.get_content())
    assert found is not None
    return found.group()
