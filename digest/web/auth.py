"""Who may see the private pages (the live preview and the status dashboard).

With a password in the environment variable ``web.admin_password_env``, whoever logs in (a
signed, HttpOnly, SameSite=Strict cookie for :data:`SESSION_FOR`); without one, only a
browser on this machine talking to the server directly (no proxy headers), as when an
editor runs ``digest serve`` beside their templates.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest.web.guard import is_https, is_local
from digest.web.pages import message
from digest.web.site import Site

SESSION_COOKIE = "digest_session"
SESSION_FOR = 12 * 3600


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def session_value(password: str, *, expires: int) -> str:
    mac = hmac.new(password.encode(), f"admin:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def is_admin(request: Request) -> bool:
    password = site_of(request).admin_password
    if not password:
        return is_local(request)
    expires, _, _ = request.cookies.get(SESSION_COOKIE, "").partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    expected = session_value(password, expires=int(expires))
    given = request.cookies.get(SESSION_COOKIE, "")
    return given.isascii() and hmac.compare_digest(given, expected)


def require_admin(request: Request) -> Response | None:
    """None for an administrator; else the login page's redirect or a refusal."""
    if is_admin(request):
        return None
    site = site_of(request)
    if site.admin_password:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return message(
        "Not for you",
        "This page is shown only on the machine that runs digest serve, or after logging in "
        f"once the operator sets {site.config.web.admin_password_env}.",
        status=403,
    )


def log_in(request: Request, response: Response) -> None:
    expires = int(time.time()) + SESSION_FOR
    response.set_cookie(
        SESSION_COOKIE,
        session_value(site_of(request).admin_password, expires=expires),
        max_age=SESSION_FOR,
        httponly=True,
        samesite="strict",
        secure=is_https(request, site_of(request).trusted),
    )


def safe_next(path: str) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/status"
