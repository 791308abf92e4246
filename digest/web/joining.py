"""The subscribers' pages: sign up (/subscribe), confirm (/confirm), unsubscribe (/unsubscribe).

Sign-up answers the same page, after the same work, whether or not the address is known:
the confirmation mail goes from the site's mailer thread, off the request's path
(:mod:`digest.signup`). The form carries a CSRF token and a field people never see (a bot
fills it in); each client address gets ``web.signups_per_client`` tries an hour.

Confirm and unsubscribe links carry a signed token, so they need no login. A GET only shows
a page with a button (mail scanners open links); a POST acts: the button's, or a mailbox
provider's RFC 8058 one-click POST. They keep working while the config file is broken.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest import preferences, signup, subscriptions, tokens
from digest.config import Config
from digest.errors import ConfigError
from digest.store import Store, utcnow
from digest.web.auth import site_of
from digest.web.forms import csrf_ok, form_page, read_form
from digest.web.guard import client_address
from digest.web.pages import NO_STORE, message, render

log = logging.getLogger("digest.serve")

MAX_ADDRESS = 320


def _unavailable(config: Config) -> Response | None:
    """The 503 page when sign-up cannot work (no base_url, no secret)."""
    try:
        config.require_secret("the confirmation links")
        if not config.newsletter.base_url:
            raise ConfigError(
                [
                    f"{config.path}: newsletter.base_url: expected the public URL of digest serve, got ''"
                ]
            )
    except ConfigError as error:
        log.warning("%s", error)  # the details are for the operator, not for the page
        return message(
            "Not available",
            "Sign-up is not available on this server yet.",
            status=503,
            site_name=config.newsletter.name,
        )
    return None


def signup_form(
    request: Request, *, problem: str = "", status: int = 200, values: dict[str, str] | None = None
) -> Response:
    site = site_of(request)
    config = site.config
    refused = _unavailable(config)
    if refused is not None:
        return refused
    values = values or {}
    return form_page(
        request,
        "subscribe.html",
        status=status,
        title=f"Sign up for {config.newsletter.name}",
        site_name=config.newsletter.name,
        tagline=config.newsletter.tagline,
        problem=problem,
        email=values.get("email", ""),
        name=values.get("name", ""),
    )


async def signup_submit(request: Request) -> Response:
    site = site_of(request)
    config = site.config
    form = await read_form(request)
    refused = _unavailable(config)
    if refused is not None:
        return refused
    if not csrf_ok(request, form, site.form_key()):
        return signup_form(
            request,
            problem="This form has expired: please send it again.",
            status=403,
            values=form,
        )
    inbox = message(
        "Check your inbox",
        "If the address can receive mail, a message with a confirmation link is on its way. "
        "Nothing is sent until you confirm.",
        site_name=config.newsletter.name,
    )
    if form.get("website"):
        return inbox  # the field people do not see: a bot filled it in
    try:
        address = subscriptions.valid_address(form.get("email", "")[:MAX_ADDRESS])
    except subscriptions.InvalidAddress as error:
        return signup_form(request, problem=str(error), status=400, values=form)
    client = client_address(request, site.trusted)

    def queue(store: Store) -> bool:
        return signup.request_signup(
            config,
            store,
            address,
            name=" ".join(form.get("name", "").split())[:100],
            client=client,
            now=utcnow(),
        )

    if not await run_in_threadpool(site.using, queue):
        wait = signup.hour_of(utcnow()) + timedelta(hours=1) - utcnow()
        return message(
            "Too many requests",
            "This address has sent many sign-ups this hour: please try again later.",
            status=429,
            headers={"Retry-After": str(int(wait.total_seconds()) + 1)},
            site_name=config.newsletter.name,
        )
    site.mailer.wake()
    return inbox


# --- the signed links ---------------------------------------------------------------------------


async def _token(request: Request) -> str:
    token = request.query_params.get("t", "")
    if not token and request.method == "POST":
        token = (await read_form(request)).get("t", "")
    return token


def _verify(request: Request, token: str, purpose: str) -> tuple[str, datetime | None] | Response:
    """(address, issued) for a genuine token, or the page to answer with."""
    config = site_of(request).config
    try:
        secret = config.require_secret(f"the {purpose} links")
    except ConfigError as error:
        log.warning("%s", error)
        return message("Not available", "This link does not work on this server yet.", status=503)
    found = tokens.verify_issued(token, purpose, secret)
    if found is None:
        return message(
            "This link is not valid",
            "It may have been cut short: copy the whole link from the message.",
            status=400,
        )
    return found


def _ask(request: Request, token: str, title: str, question: str, button: str) -> Response:
    """A page whose button POSTs the link's token back to the same URL."""
    return render(
        "ask.html",
        headers=NO_STORE,
        title=title,
        site_name=site_of(request).config.newsletter.name,
        question=question,
        token=token,
        button=button,
    )


async def unsubscribe(request: Request) -> Response:
    token = await _token(request)
    found = _verify(request, token, "unsubscribe")
    if isinstance(found, Response):
        return found
    address = found[0]
    site = site_of(request)
    name = site.config.newsletter.name
    if request.method == "POST":
        await run_in_threadpool(
            site.using, lambda store: subscriptions.unsubscribe(store, address, now=utcnow())
        )
        return message(
            "You are unsubscribed",
            f"{address} will no longer receive {name}.",
            link="/subscribe",
            link_intro="Changed your mind?",
            link_text="Sign up again",
            site_name=name,
        )
    status = await run_in_threadpool(site.using, lambda store: store.subscriber_status(address))
    if status in (None, "unsubscribed"):
        return message(
            "Not subscribed",
            f"{address} does not receive {name}.",
            link="/subscribe",
            link_text="Sign up",
            site_name=name,
        )
    return _ask(
        request,
        token,
        f"Unsubscribe from {name}?",
        f"{address} will no longer receive {name}.",
        "Unsubscribe",
    )


async def confirm(request: Request) -> Response:
    token = await _token(request)
    found = _verify(request, token, "confirm")
    if isinstance(found, Response):
        return found
    address, issued = found
    site = site_of(request)
    name = site.config.newsletter.name
    if request.method == "GET":
        return _ask(
            request,
            token,
            f"Confirm your subscription to {name}",
            f"Send {name} to {address}?",
            "Yes, subscribe me",
        )
    outcome = await run_in_threadpool(
        site.using, lambda store: signup.confirm(store, address, issued=issued, now=utcnow())
    )
    if outcome in ("left", "expired"):
        because = (
            f"{address} unsubscribed after this link was sent."
            if outcome == "left"
            else "Confirmation links work for a week."
        )
        return message(
            "This link has expired",
            because,
            status=410,
            link="/subscribe",
            link_text="Sign up again",
            site_name=name,
        )
    return message(
        "You are subscribed",
        f"{name} will come to {address}{' (it already did)' if outcome == 'already' else ''}.",
        link=preferences.path(address, site.config.secret),
        link_intro="Choose your sections, how often and at what time:",
        link_text="your preferences",
        site_name=name,
    )
