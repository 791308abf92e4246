"""The private pages: the live preview of the next edition and the status dashboard.

Both are behind :mod:`digest.web.auth`. Only here are config errors shown (the preview's
render errors name files and options, never a secret's value: secrets live in the
environment, and only their variables' names are in the file).
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from digest.config import Config
from digest.live import PREVIEW_KEY
from digest.models import DEFAULT_SERIES, FetchState
from digest.signup import hour_of
from digest.store import Store, utcnow
from digest.subscriptions import STATUSES
from digest.web import auth
from digest.web.archive import Frame, viewer
from digest.web.auth import require_admin, site_of
from digest.web.forms import csrf_ok, form_page, read_form
from digest.web.guard import client_address
from digest.web.pages import NO_STORE, message

DELIVERY_STATES = ("sent", "failed", "deferred", "pending", "sending", "skipped")
RECENT = 10


def preview(request: Request) -> Response:
    """The next edition at desktop and phone width, light and dark, reloading as it changes."""
    refused = require_admin(request)
    if refused is not None:
        return refused
    site = site_of(request)
    state = site.preview.refresh(site.current_config)
    frames = [
        Frame("/editions/preview/", 680, "desktop"),
        Frame("/editions/preview/", 375, "phone"),
        Frame("/editions/preview/dark", 375, "phone, dark"),
    ]
    return viewer(
        request,
        "Preview of the next edition",
        PREVIEW_KEY,
        frames,
        error=state.error,
        version=state.version,
    )


def preview_version(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    site = site_of(request)
    state = site.preview.refresh(site.current_config)
    return PlainTextResponse(state.version, headers=NO_STORE)


def status(request: Request) -> Response:
    """Subscribers by state, recent editions with their deliveries, failures, sources' health."""
    refused = require_admin(request)
    if refused is not None:
        return refused
    site = site_of(request)
    config = site.config
    figures = site.using(lambda store: _figures(store, config))
    return form_page(
        request,
        "status.html",
        title=f"{config.newsletter.name}: status",
        site_name=config.newsletter.name,
        config_error=site.config_error,
        subscriber_states=STATUSES,
        per_hour=config.web.confirmations_per_hour,
        delivery_states=DELIVERY_STATES,
        **figures,
    )


def _figures(store: Store, config: Config) -> dict[str, Any]:
    editions = store.edition_index(limit=RECENT, series="%")  # every newsletter's
    keys = [e.key for e in editions]
    states = {s.key: s for s in store.fetch_states()}
    return {
        "subscribers": store.subscriber_counts(),
        "confirmations": store.confirmation_counts(),
        "sent_this_hour": store.hits("confirmations", hour_of(utcnow())),
        "editions": editions,
        "deliveries": store.delivery_counts(keys),
        "failures": store.recent_failures(keys),
        "last_run": store.latest_run(series=DEFAULT_SERIES),  # the default newsletter's, daily
        "sources": [_source_row(s.name, states.get(s.url)) for s in config.sources],
    }


def _source_row(name: str, state: FetchState | None) -> dict[str, Any]:
    if state is None:
        return {
            "name": name,
            "last_success": "never",
            "failures": 0,
            "state": "not fetched yet",
            "health": "",
        }
    phrase = f"disabled: {state.disabled}" if state.disabled else state.last_error or "ok"
    health = "disabled" if state.disabled else "failing" if state.failures else "ok"
    return {
        "name": name,
        "last_success": f"{state.last_success:%Y-%m-%d %H:%M}" if state.last_success else "never",
        "failures": state.failures,
        "state": phrase,
        "health": health,
    }


# --- logging in and out ------------------------------------------------------------------------


def login_form(request: Request, *, problem: str = "", status: int = 200) -> Response:
    site = site_of(request)
    if not site.admin_password:
        return message(
            "No login here",
            f"Set {site.config.web.admin_password_env} to use the private pages from elsewhere; "
            "on this machine they need no login.",
            status=404,
        )
    return form_page(
        request,
        "login.html",
        status=status,
        title="Log in",
        site_name=site.config.newsletter.name,
        problem=problem,
        next=auth.safe_next(request.query_params.get("next", "")),
    )


async def login(request: Request) -> Response:
    site = site_of(request)
    form = await read_form(request)
    if not site.admin_password:
        return login_form(request)
    if not csrf_ok(request, form, site.form_key()):
        return login_form(
            request, problem="This form has expired: please log in again.", status=403
        )
    client = client_address(request, site.trusted)
    allowed = await run_in_threadpool(
        site.using,
        lambda store: store.take_hit(
            f"login:{client}", hour_of(utcnow()), site.config.web.signups_per_client
        ),
    )
    if not allowed:
        return message("Too many requests", "Too many tries this hour.", status=429)
    if not hmac.compare_digest(form.get("password", "").encode(), site.admin_password.encode()):
        return login_form(request, problem="That is not the password.", status=403)
    response = RedirectResponse(auth.safe_next(form.get("next", "")), status_code=303)
    auth.log_in(request, response)
    return response


async def logout(request: Request) -> Response:
    site = site_of(request)
    form = await read_form(request)
    if not csrf_ok(request, form, site.form_key()):
        return message("This form has expired", "Reload the page and try again.", status=403)
    response = RedirectResponse("/editions/", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
