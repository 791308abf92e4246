"""The Starlette application and the uvicorn server around it."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digest.web import archive, joining, preferences, private
from digest.web.guard import DeadlineProtocol, SecurityHeaders
from digest.web.pages import FOLDER, http_error, server_error
from digest.web.site import Site

log = logging.getLogger("digest.serve")

KEEP_ALIVE = 5
"""Seconds an idle connection stays open between requests."""
MAX_CONNECTIONS = 1000
"""Connections and requests at once; more get 503 at once instead of waiting."""
MAX_HEAD = 16_384
"""Largest request line plus headers, in bytes."""


ROUTES = [
    Route("/", archive.latest),
    Route("/editions/{rest:path}", archive.editions),
    Route("/subscribe", joining.signup_form, methods=["GET"]),
    Route("/subscribe", joining.signup_submit, methods=["POST"]),
    Route("/confirm", joining.confirm, methods=["GET", "POST"]),
    Route("/unsubscribe", joining.unsubscribe, methods=["GET", "POST"]),
    Route("/preferences", preferences.without_token, methods=["GET"]),
    Route("/preferences/{token}", preferences.page, methods=["GET", "POST"]),
    Route("/preview", private.preview),
    Route("/preview/version", private.preview_version),
    Route("/status", private.status),
    Route("/login", private.login_form, methods=["GET"]),
    Route("/login", private.login, methods=["POST"]),
    Route("/logout", private.logout, methods=["POST"]),
    Mount("/static", StaticFiles(directory=FOLDER / "static"), name="static"),
]


def create_app(site: Site, *, mailer: bool = True) -> Starlette:
    """The application serving ``site``; with ``mailer``, its thread sends the sign-up mails."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if mailer:
            site.mailer.start()
            site.mailer.wake()  # mails queued while no server ran
        try:
            yield
        finally:
            if mailer:
                site.mailer.stop()

    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SecurityHeaders, trusted=site.config.web.trusted_proxies)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
        max_body_size=site.config.web.max_body_bytes,
    )
    app.state.site = site
    return app


class Server:
    """uvicorn serving ``site`` on a socket bound at once (port 0 picks a free one)."""

    def __init__(self, site: Site, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.socket = bind(host, port)
        self.port: int = self.socket.getsockname()[1]
        self.uvicorn = uvicorn.Server(
            uvicorn.Config(
                create_app(site),
                http=DeadlineProtocol,
                lifespan="on",
                proxy_headers=False,  # digest.web.guard reads them, from web.trusted_proxies only
                server_header=False,
                access_log=False,
                log_config=None,
                timeout_keep_alive=KEEP_ALIVE,
                limit_concurrency=MAX_CONNECTIONS,
                h11_max_incomplete_event_size=MAX_HEAD,
                timeout_graceful_shutdown=10,
            )
        )
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Serve until SIGINT or SIGTERM (in the main thread) or :meth:`stop`."""
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self) -> None:
        """Serve from a thread of its own (tests, benchmarks); returns once it accepts."""
        self._thread = threading.Thread(target=self.serve, name="digest-serve", daemon=True)
        self._thread.start()
        while not self.uvicorn.started and self._thread.is_alive():
            time.sleep(0.01)

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


def make_server(site: Site, *, host: str = "127.0.0.1", port: int = 8080) -> Server:
    return Server(site, host=host, port=port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock
