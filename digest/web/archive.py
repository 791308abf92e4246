"""The public archive: the latest edition, the list of editions, and each edition's views.

The list comes from the store's index of editions (key, number, subject), a page at a time,
so its cost does not grow with the archive; an edition's page is one file of its archive.
The phone and dark views frame or restyle the email itself; only the live preview's viewer
carries a script (from /static/), never the email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest.live import PREVIEW_KEY
from digest.web.auth import require_admin, site_of
from digest.web.pages import NO_STORE, message, render
from digest.web.site import EDITION_KEY

PER_PAGE = 50
VIEWS = ("phone", "dark", "text", "eml", "json")
FILES = {
    "": ("edition.html", "text/html; charset=utf-8"),
    "dark": ("edition.html", "text/html; charset=utf-8"),
    "text": ("edition.txt", "text/plain; charset=utf-8"),
    "eml": ("sample.eml", "message/rfc822"),
    "json": ("edition.json", "application/json"),
}


def latest(request: Request) -> Response:
    key = site_of(request).using(lambda store: store.latest_edition_key())
    if key is None:
        return message(
            "No editions yet", "Nothing has been built yet: run digest build.", status=404
        )
    return RedirectResponse(f"/editions/{key}/", status_code=303)


def archive_index(request: Request) -> Response:
    before = request.query_params.get("before", "")
    if before and not EDITION_KEY.match(before):
        raise HTTPException(400, "before= takes an edition's date, such as 2026-03-10.")
    site = site_of(request)
    editions = site.using(lambda store: store.edition_index(before=before, limit=PER_PAGE + 1))
    older = editions[PER_PAGE - 1].key if len(editions) > PER_PAGE else ""
    return render(
        "archive.html",
        title="Archive",
        site_name=site.config.newsletter.name,
        editions=editions[:PER_PAGE],
        older=older,
        views=VIEWS,
    )


def edition(request: Request) -> Response:
    """/editions/KEY/ and /editions/KEY/VIEW; KEY 'preview' is the (private) live preview."""
    key, view = request.path_params["key"], request.path_params.get("view", "")
    if not (EDITION_KEY.match(key) or key == PREVIEW_KEY) or view not in (*FILES, "phone"):
        raise HTTPException(404, "There is no such page.")
    site = site_of(request)
    headers: dict[str, str] = {}
    if key == PREVIEW_KEY:
        refused = require_admin(request)
        if refused is not None:
            return refused
        site.preview.refresh(site.current_config)
        headers = NO_STORE
    if view == "phone":
        frames = [
            Frame(f"/editions/{key}/", 375, "light"),
            Frame(f"/editions/{key}/dark", 375, "dark"),
        ]
        return viewer(request, f"{key} at phone width", key, frames)
    name, media_type = FILES[view]
    content = site.archive_file(key, name)
    if content is None:
        raise HTTPException(404, f"There is no edition {key}.")
    if view == "dark":
        content = force_dark(content.decode("utf-8")).encode("utf-8")
    return Response(content, media_type=media_type, headers=headers)


_DARK_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)")


def force_dark(markup: str) -> str:
    """The HTML with its dark-mode media rules always on (and its light-only rules off)."""
    return _DARK_QUERY.sub(
        lambda m: "(min-width: 0px)" if m[1] == "dark" else "(max-width: 0px)", markup
    )


@dataclass(frozen=True)
class Frame:
    src: str
    width: int
    label: str


def viewer(
    request: Request,
    title: str,
    key: str,
    frames: list[Frame],
    *,
    error: str = "",
    version: str = "",
) -> Response:
    """A page of iframes showing the email at given widths; the preview's reloads itself."""
    return render(
        "viewer.html",
        headers=NO_STORE,
        title=title,
        site_name=site_of(request).config.newsletter.name,
        key=key,
        views=VIEWS,
        frames=frames,
        error=error,
        version=version,
    )
