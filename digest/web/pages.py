"""The site's pages as Jinja templates (digest/web/templates/, apart from the email's theme),
and the error pages: every error is a page that says what happened, never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

log = logging.getLogger("digest.serve")

FOLDER = Path(__file__).resolve().parent
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
NO_STORE = {"Cache-Control": "no-store"}

TITLES = {
    400: "This request could not be read",
    403: "Not for you",
    404: "Not found",
    405: "Not allowed here",
    413: "Too much data",
    415: "This kind of data is not accepted here",
    429: "Too many requests",
    503: "Not available",
}


def render(
    template: str,
    /,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` filled with ``context``."""
    markup = ENVIRONMENT.get_template(template).render(**context)
    return HTMLResponse(markup, status_code=status, headers=headers)


def message(title: str, text: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with a title and one paragraph."""
    context.setdefault("site_name", "")
    return render("message.html", status=status, title=title, text=text, **context)


async def http_error(request: Request, error: Exception) -> Response:
    status = error.status_code if isinstance(error, HTTPException) else 400
    detail = error.detail if isinstance(error, HTTPException) else ""
    title = TITLES.get(status, "This request could not be answered")
    if detail == title or not isinstance(detail, str):
        detail = ""
    headers = dict(error.headers or {}) if isinstance(error, HTTPException) else {}
    return message(title, detail, status=status, headers=headers)


async def server_error(request: Request, error: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return message(
        "Something went wrong",
        "The server could not answer this request. It has been logged.",
        status=500,
    )
