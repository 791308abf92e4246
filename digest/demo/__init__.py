"""`digest demo`: build and deliver a full edition from a sample news site served on 127.0.0.1.

The site (three outlets, seven feeds, RSS and Atom, full-text and teaser-only)
is written for the current moment into the data directory and served by a
local HTTP server for the length of the run; config/demo.toml points at it.
"""

from __future__ import annotations

import errno
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digest.demo.site import load_content, write_site
from digest.errors import UsageError

HOST = "127.0.0.1"
PORT = 8642
"""The port config/demo.toml's sources point at."""

SUBSCRIBERS = (
    ("ana.lima@example.com", "Ana"),
    ("ben.okafor@example.com", "Ben"),
    ("chloe.martin@example.com", "Chloé"),
)

__all__ = [
    "HOST",
    "PORT",
    "SUBSCRIBERS",
    "load_content",
    "offline_copy",
    "serve_folder",
    "write_site",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path, *, host: str = HOST, port: int = PORT) -> Iterator[str]:
    """Serve ``folder`` over HTTP in a background thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"{host}:{port} is in use; the demo serves its sample site there. Stop what uses it and retry"
            ) from None
        raise
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def offline_copy(edition_html: Path, *, base_url: str, site: Path, to: Path) -> Path:
    """A copy of the demo's web edition whose pictures and links open the site's files.

    The demo site is served only while the demo runs; its files stay in ``site``. The demo's
    own address (``base_url``, which the demo chose) becomes the folder's file URL, so the
    copy still shows its pictures and opens its articles after the command ends.
    """
    html = edition_html.read_text(encoding="utf-8")
    to.write_text(html.replace(f"{base_url}/", site.resolve().as_uri() + "/"), encoding="utf-8")
    return to
