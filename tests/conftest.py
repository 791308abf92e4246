"""Shared fixtures: real servers on 127.0.0.1 (HTTP for feeds and pages, SMTP for delivery)."""

from __future__ import annotations

import http.server
import json
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest import demo
from digest.config import Config, load_config
from digest.pipeline import BuildReport
from digest.store import Store, open_store

from .databases import empty_schema, postgres_database
from .mailserver import Certificate, MailServer, free_port, make_certificate

__all__ = ["free_port"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = next(
    (p / "shared" for p in ROOT.parents[:2] if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared",
)
"""../shared beside the checkout, or beside the folder of worktrees the checkout is in."""
FIXED_NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
LOCAL = ("127.0.0.1",)
"""collect.allow_hosts for the test servers: internal addresses are refused by default."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long trials (marked slow) first: the test processes start on them, and the many short
    tests fill in around them instead of one long trial running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- HTTP ------------------------------------------------------------------------------------


Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class HttpServer:
    """A real HTTP server: files from ``folder``, or a route function per path."""

    folder: Path
    base_url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == "/" + path.lstrip("/"))


def _handler_for(server: HttpServer) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(server.folder), **kwargs)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            server.requests.append((path, dict(self.headers.items())))
            route = server.routes.get(path)
            if route is not None:
                route(self)
            else:
                super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _ThreadingServer(http.server.ThreadingHTTPServer):
    # Not the default backlog of 5: connections that arrive together must not be dropped
    # (a dropped SYN is retried a second later).
    request_queue_size = 128


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    with serving(tmp_path / "www") as server:
        yield server


@contextmanager
def serving(folder: Path, *, tls: ssl.SSLContext | None = None) -> Iterator[HttpServer]:
    """An HttpServer on a free port of 127.0.0.1 (HTTPS with ``tls``), serving ``folder``."""
    folder.mkdir()
    server = HttpServer(folder)
    httpd = _ThreadingServer(("127.0.0.1", 0), _handler_for(server))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    scheme = "https" if tls else "http"
    server.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    # A short poll interval: shutdown() at teardown waits for the next poll.
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def respond(
    handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str
) -> None:
    """Send a complete response from a route function."""
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


# --- the demo site ---------------------------------------------------------------------------


@dataclass
class DemoSite:
    server: HttpServer
    config_path: Path
    now: datetime

    def config(self) -> Config:
        return load_config(self.config_path)

    def use_database(self, url: str, *, data_dir: Path | None = None) -> None:
        """Keep the store in the PostgreSQL at ``url`` (and, optionally, files in ``data_dir``)."""
        text = self.config_path.read_text(encoding="utf-8")
        if data_dir is not None:
            text = re.sub(r'(?m)^data_dir = ".*"$', f'data_dir = "{data_dir.as_posix()}"', text)
        text = re.sub(r"(?m)^data_dir = .*$", rf'\g<0>\ndatabase_url = "{url}"', text, count=1)
        self.config_path.write_text(text, encoding="utf-8")

    def set_newsletter(self, **options: str) -> None:
        """Set these [newsletter] options in the demo's config file."""
        text = self.config_path.read_text(encoding="utf-8")
        for key, value in options.items():
            line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
            text, found = re.subn(rf"(?m)^{key} = .*$", line, text, count=1)
            if not found:
                text = text.replace("[newsletter]\n", f"[newsletter]\n{line}\n", 1)
        self.config_path.write_text(text, encoding="utf-8")

    def build(self) -> BuildReport:
        """Collect the demo site and build its edition at the fixed clock."""
        from digest import pipeline

        config = self.config()

        def collect_and_build() -> BuildReport:
            with open_store(config.data_dir, url=config.database_url) as store:
                pipeline.collect(config, store, now=self.now)
                return pipeline.build(config, store, now=self.now)

        # A thread of its own: collect runs an event loop, and Playwright's may be running here.
        with ThreadPoolExecutor(1) as worker:
            report = worker.submit(collect_and_build).result()
        assert report.edition is not None, report.message
        return report


def demo_config_text(base_url: str, data_dir: Path) -> str:
    """config/demo.toml, pointed at ``base_url`` and ``data_dir``."""
    text = (ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace(f"http://{demo.HOST}:{demo.PORT}", base_url)
    return re.sub(r'(?m)^data_dir = ".*"$', f'data_dir = "{data_dir.as_posix()}"', text)


@pytest.fixture
def demo_site(http_server: HttpServer, tmp_path: Path) -> DemoSite:
    now = FIXED_NOW  # a fixed clock: no test depends on the time of day it runs at
    demo.write_site(http_server.folder, base_url=http_server.base_url, now=now)
    config_path = tmp_path / "demo.toml"
    config_path.write_text(
        demo_config_text(http_server.base_url, tmp_path / "data"), encoding="utf-8"
    )
    return DemoSite(http_server, config_path, now)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "store")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """This test run's own PostgreSQL database (tests/databases.py); skips where none answers."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    """The run's PostgreSQL database, emptied for this test."""
    empty_schema(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest) -> str:
    """A store URL per engine: '' (SQLite in the data directory), then an empty PostgreSQL."""
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("fresh_postgres")
    return url


@pytest.fixture
def engine_store(engine_url: str, tmp_path: Path) -> Iterator[Store]:
    """A new store on each engine in turn: the store's contract holds on both."""
    opened = open_store(tmp_path / "store", url=engine_url)
    yield opened
    opened.close()


# --- SMTP ------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    """A plain SMTP server on 127.0.0.1 that accepts everything (tests/mailserver.py)."""
    with MailServer() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made once per test session."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def digest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "digest", *args]


# --- the demo, built and served by `digest serve` --------------------------------------------


@dataclass
class ServedDemo:
    site: DemoSite
    url: str
    """Where `digest serve`'s app listens; also the newsletter's base_url."""
    key: str
    """The edition built from the demo site."""

    @property
    def config_path(self) -> Path:
        return self.site.config_path


@pytest.fixture
def served_demo(demo_site: DemoSite) -> Iterator[ServedDemo]:
    """The demo collected and built at the fixed clock, with `digest serve` on 127.0.0.1."""
    from digest import web

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo_site.set_newsletter(base_url=url)
    report = demo_site.build()
    assert report.edition is not None
    server = web.Server(web.Site(demo_site.config_path), port=port)
    server.start()
    yield ServedDemo(demo_site, url, report.edition.key)
    server.stop()
