"""Reading a posted form within bounds, and the CSRF token of the forms that need one.

A CSRF token is a random value kept in a cookie (SameSite=Strict, HttpOnly) and repeated in
the form with an HMAC of it: another site can neither read the cookie nor forge the MAC.
The one-click unsubscribe and the confirmation buttons need none: the signed token in their
URL is what proves them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from digest.web.auth import site_of
from digest.web.guard import is_https
from digest.web.pages import NO_STORE, render

MAX_FIELDS = 20
CSRF_COOKIE = "digest_csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form posted (first value of each field); {} for another body type.

    The body's size was limited before it got here (Starlette's ``max_body_size``).
    """
    return first_values(await read_fields(request, max_fields=MAX_FIELDS))


async def read_fields(request: Request, *, max_fields: int) -> list[tuple[str, str]]:
    """The urlencoded form posted as (name, value) pairs, repeated names kept (checkboxes);
    [] for another body type; 400 for more than ``max_fields`` fields or one not UTF-8."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded":
        return []
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "The form could not be read.") from None


def first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def same_origin(request: Request, base_url: str) -> bool:
    """False when the browser says the request comes from another site: Sec-Fetch-Site, or an
    Origin that is neither this server's (as the request addresses it) nor ``base_url``'s.

    Origin "null" is what a browser sends for a form on these very pages (their
    Referrer-Policy is no-referrer), so it proves nothing either way; it, and clients that
    send neither header (older browsers, scripts), are judged by the CSRF token alone."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin", "null")
    if origin == "null":
        return True
    ours = {f"{request.url.scheme}://{request.url.netloc}", _origin(base_url)}
    return origin.rstrip("/").lower() in {o.lower() for o in ours if o}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def csrf_nonce(request: Request) -> str:
    """The client's CSRF value (from its cookie), or a new one to set."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    return nonce if _NONCE.match(nonce) else secrets.token_urlsafe(18)


def csrf_token(nonce: str, key: str) -> str:
    mac = hmac.new(key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{nonce}.{mac}"


def csrf_ok(request: Request, form: dict[str, str], key: str) -> bool:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    return (
        bool(_NONCE.match(nonce))
        and sent.isascii()
        and hmac.compare_digest(sent, csrf_token(nonce, key))
    )


def set_csrf_cookie(response: Response, nonce: str, *, https: bool) -> None:
    response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=https)


def form_page(request: Request, template: str, /, *, status: int = 200, **context: Any) -> Response:
    """The page ``template`` (not cached) with the form's CSRF token as ``csrf``, its cookie set."""
    site = site_of(request)
    nonce = csrf_nonce(request)
    response = render(
        template,
        status=status,
        headers=NO_STORE,
        csrf=csrf_token(nonce, site.form_key()),
        **context,
    )
    set_csrf_cookie(response, nonce, https=is_https(request, site.trusted))
    return response
