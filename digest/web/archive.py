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

from digest import newsletters
from digest.config import Config
from digest.live import PREVIEW_KEY
from digest.models import DEFAULT_SERIES
from digest.newsletters import pattern_of
from digest.store import EditionEntry, Store
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


def editions(request: Request) -> Response:
    """Everything under /editions/: an archive's index, or an edition and its views.

    /editions/                         the default newsletter's daily editions
    /editions/KEY/, /editions/KEY/VIEW an edition of those (KEY 2026-03-10; 'preview': private)
    /editions/SLUG/, /editions/SLUG/weekly/   another archive (a newsletter, a frequency)
    /editions/SLUG/PERIOD/[VIEW]       an edition of it (its key SLUG/PERIOD: tech/2026-W49)
    """
    rest = request.path_params["rest"]
    if not rest:
        return archive_index(request, site_of(request).config)
    if _wants_slash(rest):
        return RedirectResponse(f"/editions/{rest}/", status_code=308)
    first, _, after = rest.partition("/")
    if EDITION_KEY.match(first) or first == PREVIEW_KEY:
        return edition(request, first, after)
    found = _SERIES.match(rest)
    if found is None:
        raise HTTPException(404, "There is no such page.")
    slug, period, view = found["slug"], found["period"] or "", found["view"] or ""
    if period not in ("", "weekly"):
        return edition(request, f"{slug}/{period}", view)
    if view:  # an archive has no views
        raise HTTPException(404, "There is no such page.")
    series = newsletters.find(site_of(request).config, slug, period or "daily")
    if series is None:
        raise HTTPException(404, f"There is no newsletter {slug}.")
    if pattern_of(series) == DEFAULT_SERIES:
        return RedirectResponse("/editions/", status_code=308)
    return archive_index(request, series)


_SERIES = re.compile(  # anchored: a search from every position would be quadratic
    r"\A(?P<slug>[a-z0-9][a-z0-9-]*+)/"
    r"(?:(?P<period>weekly|\d{4}-\d{2}-\d{2}|\d{4}-W\d{2})/(?P<view>[a-z]*))?\Z"
)


def _wants_slash(rest: str) -> bool:
    """Whether ``rest`` names an edition or an archive but for its final slash."""
    if rest.endswith("/"):
        return False
    if EDITION_KEY.match(rest) or rest == PREVIEW_KEY:
        return True
    return _SERIES.match(rest + "/") is not None and _SERIES.match(rest) is None


def _path(series: Config) -> str:
    """Where the archive of ``series`` (a newsletter at a frequency) is."""
    slug = pattern_of(series).rpartition("/")[0]
    weekly = "weekly/" if series.frequency == "weekly" else ""
    return f"/editions/{slug}/{weekly}" if slug else "/editions/"


def _name(series: Config) -> str:
    return series.newsletter.name + (" (weekly)" if series.frequency == "weekly" else "")


def archive_index(request: Request, series: Config) -> Response:
    """One newsletter's editions at one frequency, newest first, a page at a time."""
    pattern = pattern_of(series)
    before = request.query_params.get("before", "")
    if before and not _matches(before, pattern):
        raise HTTPException(400, "before= takes an edition's key, such as 2026-03-10.")
    site = site_of(request)

    def index(store: Store) -> tuple[list[EditionEntry], list[tuple[str, str]]]:
        found = store.edition_index(before=before, limit=PER_PAGE + 1, series=pattern)
        return found, _others(store, site.config, pattern)

    entries, others = site.using(index)
    older = entries[PER_PAGE - 1].key if len(entries) > PER_PAGE else ""
    return render(
        "archive.html",
        title="Archive" if pattern == DEFAULT_SERIES else f"Archive: {_name(series)}",
        site_name=site.config.newsletter.name,
        editions=entries[:PER_PAGE],
        older=older,
        here=_path(series),
        others=others,
        views=VIEWS,
    )


def _others(store: Store, config: Config, shown: str) -> list[tuple[str, str]]:
    """(path, name) of the other archives that hold an edition: one query each, LIMIT 1."""
    return [
        (_path(series), _name(series))
        for series in newsletters.series(config)
        if pattern_of(series) != shown and store.edition_index(limit=1, series=pattern_of(series))
    ]


def _matches(key: str, pattern: str) -> bool:
    """Whether ``key`` fits the keys' LIKE ``pattern``, each '_' a digit ('tech/____-W__')."""
    digits = "".join(r"\d" if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(digits, key) is not None


def edition(request: Request, key: str, view: str) -> Response:
    """/editions/KEY/ and /editions/KEY/VIEW; KEY 'preview' is the (private) live preview."""
    if view not in (*FILES, "phone"):
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
