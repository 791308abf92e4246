"""/preferences/{token}: a subscriber's newsletters, sections, frequency, send time, time
zone and language, reached by the signed link at the foot of every edition and from the
page that confirms a sign-up.

The token (purpose "preferences", :mod:`digest.tokens`) is what proves the reader, as for
the unsubscribe links; it holds no date, so the link in any past edition keeps working while
the address is subscribed. A change is a POST that carries the form's CSRF token (cookie
and MAC, :mod:`digest.web.forms`), comes from this site (Sec-Fetch-Site and Origin), stays
within the fields a genuine form has and counts against the client's hourly limit
(``web.signups_per_client``); only offered values are stored (:mod:`digest.preferences`),
in one transaction (:meth:`digest.store.Store.set_memberships`). Editions already planned
go out as they were: the change counts from the next one.
"""

from __future__ import annotations

import logging

from babel import Locale, UnknownLocaleError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest import preferences, tokens
from digest.config import Config
from digest.errors import ConfigError
from digest.newsletters import Membership, offers
from digest.preferences import Choices
from digest.signup import hour_of
from digest.store import Store, utcnow
from digest.web.auth import site_of
from digest.web.forms import (
    csrf_ok,
    first_values,
    form_page,
    read_fields,
    same_origin,
)
from digest.web.guard import client_address
from digest.web.pages import message

log = logging.getLogger("digest.serve")

SAVED = "Saved. Your changes take effect from the next edition."


def without_token(request: Request) -> Response:
    """/preferences: the web edition's footer link, which is signed for no one."""
    name = site_of(request).config.newsletter.name
    return message(
        "Your preferences",
        f"Open the “Preferences” link at the foot of any {name} email you received: "
        "it is signed for your address, so no password is needed.",
        link="/subscribe",
        link_intro="Not subscribed yet?",
        link_text="Sign up",
        site_name=name,
    )


async def page(request: Request) -> Response:
    site = site_of(request)
    config = site.config
    offered = offers(config)
    fields = []
    if request.method == "POST":
        fields = await read_fields(request, max_fields=preferences.max_fields(offered))
    token = request.path_params["token"]
    address = _verify(config, token)
    if isinstance(address, Response):
        return address
    stored = await run_in_threadpool(site.using, lambda store: _stored(store, address))
    if stored is None:
        return message(
            "Not subscribed",
            f"{address} does not receive {config.newsletter.name}.",
            status=410,
            link="/subscribe",
            link_text="Sign up",
            site_name=config.newsletter.name,
        )
    shown = preferences.current(offered, stored)
    if request.method == "GET":
        return _form(request, address, token, shown)
    form = first_values(fields)
    if not (
        same_origin(request, config.newsletter.base_url) and csrf_ok(request, form, site.form_key())
    ):
        problem = "This form has expired: please send it again."
        return _form(request, address, token, shown, problems=[problem], status=403)
    chosen, problems = preferences.read(offered, fields)
    client = client_address(request, site.trusted)
    limit = config.web.signups_per_client

    def save(store: Store) -> bool:
        """Every genuine POST counts against the client's hour; only a valid one is stored."""
        if not store.take_hit(f"preferences:{client}", hour_of(utcnow()), limit):
            return False
        if not problems:
            store.set_memberships(address, preferences.memberships(chosen), now=utcnow())
        return True

    if not await run_in_threadpool(site.using, save):
        return message(
            "Too many requests",
            "Too many changes from here this hour: please try again later.",
            status=429,
            site_name=config.newsletter.name,
        )
    if problems:
        return _form(request, address, token, chosen, problems=problems, status=400)
    log.info("preferences changed for %s", address)
    return _form(request, address, token, chosen, saved=True)


def _verify(config: Config, token: str) -> str | Response:
    try:
        secret = config.require_secret("the preferences links")
    except ConfigError as error:
        log.warning("%s", error)
        return message("Not available", "This link does not work on this server yet.", status=503)
    address = tokens.verify(token, preferences.PURPOSE, secret)
    if address is None:
        return message(
            "This link is not valid",
            "It may have been cut short: copy the whole link from the email, or use the "
            "“Preferences” link at the foot of a newer one.",
            status=400,
            site_name=config.newsletter.name,
        )
    return address


def _stored(store: Store, address: str) -> list[Membership] | None:
    """The address's memberships; None when it is not a confirmed subscriber."""
    if store.subscriber_status(address) != "confirmed":
        return None
    return list(store.memberships(address))


def _form(
    request: Request,
    address: str,
    token: str,
    choices: Choices,
    *,
    problems: list[str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    site = site_of(request)
    config = site.config
    return form_page(
        request,
        "preferences.html",
        status=status,
        title="Your preferences",
        site_name=config.newsletter.name,
        address=address,
        action=f"/preferences/{token}",
        choices=choices,
        several=len(choices.items) > 1,
        zone_groups=preferences.zone_groups(),
        language_name=_language_name,
        problems=problems or [],
        saved=SAVED if saved else "",
        unsubscribe=f"/unsubscribe?t={tokens.sign(address, 'unsubscribe', config.secret)}",
    )


def _language_name(code: str) -> str:
    """'de' -> 'Deutsch': the language's name in itself."""
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
