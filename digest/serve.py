"""`digest serve`: a small web server for the editions (and, later, subscribers' links).

A WSGI application on the standard library's server, bound to 127.0.0.1 by
default. Each route is a function ``(site, request, **params) -> Response``
listed in :data:`ROUTES`; the store is opened per request because SQLite
connections belong to one thread. The edition views (phone width, forced dark
mode) and the live preview (:mod:`digest.live`) are pages around the email's own
HTML; only those viewer pages carry script, never the email.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from digest import subscriptions
from digest.config import Config, load_config
from digest.live import PREVIEW_KEY, LivePreview
from digest.store import Store, open_store

EDITION_KEY = r"(?P<key>\d{4}-\d{2}-\d{2}|preview)"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]

    def arg(self, name: str) -> str:
        """A query or form value, '' when absent."""
        values = self.query.get(name) or self.form.get(name) or [""]
        return values[0]


@dataclass(frozen=True)
class Response:
    body: bytes | str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    def encoded(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


class Site:
    """What every route needs: the config (reloaded when its file changes) and the store."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config = load_config(config_path)
        self._mtime = _mtime(config_path)
        self._lock = threading.Lock()
        self.preview = LivePreview()

    @property
    def config(self) -> Config:
        with self._lock:
            mtime = _mtime(self.config_path)
            if mtime != self._mtime:
                self._config = load_config(self.config_path)
                self._mtime = mtime
            return self._config

    @contextmanager
    def store(self) -> Iterator[Store]:
        with open_store(self.config.data_dir, url=self.config.database_url) as store:
            yield store


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# --- routes ----------------------------------------------------------------------------------

Handler = Callable[..., Response]


def latest(site: Site, request: Request) -> Response:
    with site.store() as store:
        record = store.latest_edition()
    if record is None:
        return page(
            "No editions yet",
            "<p>Nothing has been built yet: run <code>digest build</code>.</p>",
            404,
        )
    return redirect(f"/editions/{record.key}/")


def archive_index(site: Site, request: Request) -> Response:
    with site.store() as store:
        records = store.edition_index()
    rows = "".join(
        f'<li><a href="/editions/{r.key}/">{r.key}</a> — issue {r.number}: '
        f"{html.escape(r.subject)} <small>{_view_links(r.key)}</small></li>"
        for r in records
    )
    preview = '<p><a href="/preview">Live preview</a> of the next edition.</p>'
    return page("Archive", preview + (f"<ul>{rows}</ul>" if rows else "<p>No editions yet.</p>"))


def _view_links(key: str) -> str:
    names = ("phone", "dark", "text", "eml", "json")
    return " · ".join(f'<a href="/editions/{key}/{name}">{name}</a>' for name in names)


def edition_html(site: Site, request: Request, key: str) -> Response:
    return _archived(site, key, "edition.html", "text/html; charset=utf-8")


def edition_text(site: Site, request: Request, key: str) -> Response:
    return _archived(site, key, "edition.txt", "text/plain; charset=utf-8")


def edition_eml(site: Site, request: Request, key: str) -> Response:
    return _archived(site, key, "sample.eml", "message/rfc822")


def edition_json(site: Site, request: Request, key: str) -> Response:
    return _archived(site, key, "edition.json", "application/json")


def edition_dark(site: Site, request: Request, key: str) -> Response:
    """The email as a mail client in dark mode shows it, whatever the viewer's own setting."""
    response = _archived(site, key, "edition.html", "text/html; charset=utf-8")
    if response.status != 200:
        return response
    return replace(response, body=force_dark(response.encoded().decode("utf-8")))


def edition_phone(site: Site, request: Request, key: str) -> Response:
    frames = [Frame(f"/editions/{key}/", 375, "light"), Frame(f"/editions/{key}/dark", 375, "dark")]
    return _viewer(site, f"{key} at phone width", key, frames)


def preview(site: Site, request: Request) -> Response:
    """The next edition at desktop and phone width, light and dark, reloading as it changes."""
    frames = [
        Frame("/editions/preview/", 680, "desktop"),
        Frame("/editions/preview/", 375, "phone"),
        Frame("/editions/preview/dark", 375, "phone, dark"),
    ]
    return _viewer(site, "Preview of the next edition", PREVIEW_KEY, frames)


def preview_version(site: Site, request: Request) -> Response:
    state = site.preview.refresh(lambda: site.config)
    return Response(state.version, content_type="text/plain", headers=NO_STORE)


def _archived(site: Site, key: str, name: str, content_type: str) -> Response:
    headers: tuple[tuple[str, str], ...] = ()
    if key == PREVIEW_KEY:
        site.preview.refresh(lambda: site.config)
        headers = NO_STORE
    with site.store() as store:
        content = store.archive_file(key, name)
    if content is None:
        return page("Not found", f"<p>No edition {html.escape(key)}.</p>", 404)
    return Response(content, content_type=content_type, headers=headers)


NO_STORE = (("Cache-Control", "no-store"),)

_DARK_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)")


def force_dark(markup: str) -> str:
    """The HTML with its dark-mode media rules always on (and its light-only rules off)."""
    return _DARK_QUERY.sub(
        lambda m: "(min-width: 0px)" if m[1] == "dark" else "(max-width: 0px)", markup
    )


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/", latest),
    ("GET", r"/editions/", archive_index),
    ("GET", rf"/editions/{EDITION_KEY}/", edition_html),
    ("GET", rf"/editions/{EDITION_KEY}/text", edition_text),
    ("GET", rf"/editions/{EDITION_KEY}/eml", edition_eml),
    ("GET", rf"/editions/{EDITION_KEY}/json", edition_json),
    ("GET", rf"/editions/{EDITION_KEY}/dark", edition_dark),
    ("GET", rf"/editions/{EDITION_KEY}/phone", edition_phone),
    ("GET", r"/preview", preview),
    ("GET", r"/preview/version", preview_version),
    *subscriptions.ROUTES,  # /unsubscribe, /subscribe, /confirm
]


# --- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    src: str
    width: int
    label: str


_RELOAD = """<script>
const shown = %s;
setInterval(async () => {
  try {
    const now = await (await fetch("/preview/version", {cache: "no-store"})).text();
    if (now !== shown) location.reload();
  } catch (e) {}
}, 1000);
</script>"""


def _viewer(site: Site, title: str, key: str, frames: list[Frame]) -> Response:
    """A page of iframes showing the email at given widths; the preview's reloads itself."""
    top = f'<p>{_view_links(key)} · <a href="/editions/">archive</a></p>'
    script = ""
    if key == PREVIEW_KEY:
        state = site.preview.refresh(lambda: site.config)
        if state.error:
            top += f'<p class="error" role="alert">{html.escape(state.error)}</p>'
        script = _RELOAD % json.dumps(state.version)
    boxes = "".join(
        f"<figure><figcaption>{f.width} px, {html.escape(f.label)}</figcaption>"
        f'<iframe src="{f.src}" width="{f.width}" title="{html.escape(f.label)}"></iframe></figure>'
        for f in frames
    )
    style = (
        "body{font-family:sans-serif;margin:1em;background:#ddd}"
        ".frames{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
        "figure{margin:0}figcaption{font-size:13px;margin-bottom:4px}"
        "iframe{height:calc(100vh - 9em);border:1px solid #888;background:#fff}"
        ".error{background:#fee;border:1px solid #c00;padding:.5em;white-space:pre-wrap}"
    )
    markup = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f'<h1 style="font-size:20px">{html.escape(title)}</h1>{top}'
        f'<div class="frames">{boxes}</div>{script}</body></html>'
    )
    return Response(markup, headers=NO_STORE)


def page(title: str, body: str, status: int = 200) -> Response:
    """A plain page around ``body`` (already HTML)."""
    markup = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em;">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(markup, status)


def redirect(location: str, status: int = 303) -> Response:
    return Response(b"", status, headers=(("Location", location),))


# --- WSGI ------------------------------------------------------------------------------------


def application(site: Site) -> Callable[..., Iterable[bytes]]:
    """The WSGI application serving ``site``."""
    compiled = [
        (method, re.compile(pattern + r"\Z"), handler) for method, pattern, handler in ROUTES
    ]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _request(environ)
        response = _dispatch(site, request, compiled)
        reason = HTTPStatus(response.status).phrase
        headers = [("Content-Type", response.content_type), *response.headers]
        headers.append(("Content-Length", str(len(response.encoded()))))
        start_response(f"{response.status} {reason}", headers)
        return [b"" if request.method == "HEAD" else response.encoded()]

    return app


def _dispatch(
    site: Site, request: Request, routes: list[tuple[str, re.Pattern[str], Handler]]
) -> Response:
    allowed = []
    for method, pattern, handler in routes:
        match = pattern.match(request.path)
        if match is None:
            continue
        if request.method == method or (request.method == "HEAD" and method == "GET"):
            return handler(site, request, **match.groupdict())
        allowed.append(method)
    if allowed:
        return Response("method not allowed", 405, "text/plain", (("Allow", ", ".join(allowed)),))
    return page("Not found", "<p>Nothing here.</p>", 404)


def _request(environ: dict[str, Any]) -> Request:
    method = environ["REQUEST_METHOD"].upper()
    form: dict[str, list[str]] = {}
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(length, 64_000)).decode("utf-8", "replace")
        form = parse_qs(body, keep_blank_values=True)
    headers = {
        k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    return Request(
        method,
        environ.get("PATH_INFO") or "/",
        parse_qs(environ.get("QUERY_STRING", "")),
        form,
        headers,
    )


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make(site: Site, *, host: str = "127.0.0.1", port: int = 8080) -> WSGIServer:
    """A server bound to host:port (port 0 picks a free one), not yet serving."""
    return make_server(
        host, port, application(site), server_class=_Server, handler_class=_QuietHandler
    )
