"""`digest demo`: build and deliver a full edition from a sample news site served on 127.0.0.1.

The site (three outlets, seven feeds, RSS and Atom, full-text and teaser-only)
is written for the current moment into the data directory and served by a
local HTTP server for the length of the run; config/demo.toml points at it.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.demo.site import load_content, write_site
from digest.models import DEFAULT_NEWSLETTER, Membership

if TYPE_CHECKING:
    from digest.config import Config

HOST = "127.0.0.1"
PORT = 8642
"""The port config/demo.toml's sources point at; the demo takes a free one when it is in use."""

CONFIG = "demo.toml"
"""The demo's config, written into its data directory for later commands (`digest --config`)."""

SUBSCRIBERS = (
    ("ana.lima@example.com", "Ana"),
    ("ben.okafor@example.com", "Ben"),
    ("chloe.martin@example.com", "Chloé"),
)

MEMBERSHIPS = {
    "ben.okafor@example.com": (Membership(DEFAULT_NEWSLETTER), Membership("markets")),
    "chloe.martin@example.com": (
        Membership(DEFAULT_NEWSLETTER, sections=("Markets", "Commodities")),
    ),
}
"""What two of the demo's readers chose (config/demo.toml offers the newsletter 'markets')."""

__all__ = [
    "CONFIG",
    "HOST",
    "MEMBERSHIPS",
    "PORT",
    "SUBSCRIBERS",
    "load_content",
    "offline_copy",
    "pointed_at",
    "serve_folder",
    "write_config",
    "write_site",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path, *, host: str = HOST, port: int = PORT) -> Iterator[str]:
    """Serve ``folder`` over HTTP in a background thread; yield its base URL.

    On ``port``, or on a free port when something else listens there (another demo, a
    test run): two demos on one machine must not fail each other.
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        server = http.server.ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pointed_at(config: Config, base_url: str) -> Config:
    """``config`` with the sources that name the demo's default address moved to ``base_url``."""
    default = f"http://{HOST}:{PORT}"
    sources = tuple(
        dataclasses.replace(s, url=base_url + s.url.removeprefix(default))
        if s.url.startswith(default + "/")
        else s
        for s in config.sources
    )
    return dataclasses.replace(config, sources=sources)


def write_config(data_dir: Path) -> Path:
    """The bundled demo config, as a file in ``data_dir`` whose data directory is that folder."""
    from digest.config import bundled_config

    text = bundled_config(CONFIG).read_text(encoding="utf-8")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG
    path.write_text(re.sub(r'(?m)^data_dir = ".*"$', 'data_dir = "."', text), encoding="utf-8")
    return path


def offline_copy(edition_html: Path, *, base_url: str, site: Path, to: Path) -> Path:
    """A copy of the demo's web edition whose pictures and links open the site's files.

    The demo site is served only while the demo runs; its files stay in ``site``. The demo's
    own address (``base_url``, which the demo chose) becomes the folder's file URL, so the
    copy still shows its pictures and opens its articles after the command ends.
    """
    html = edition_html.read_text(encoding="utf-8")
    to.write_text(html.replace(f"{base_url}/", site.resolve().as_uri() + "/"), encoding="utf-8")
    return to
