"""One reader's copy of an edition: the recipient with their unsubscribe and preferences
links, and the message."""

from __future__ import annotations

from datetime import datetime

from digest import deliver, preferences, render, tokens
from digest.config import Config
from digest.models import Email, Recipient


def compose_message(config: Config, email: Email, recipient: Recipient, *, now: datetime) -> bytes:
    html, text = render.personalize(email, recipient)
    return deliver.compose(
        subject=email.subject,
        html=html,
        text=text,
        recipient=recipient,
        newsletter=config.newsletter,
        edition_key=email.edition_key,
        now=now,
    )


def recipient_for(config: Config, address: str, *, secret: str, name: str = "") -> Recipient:
    base = config.newsletter.base_url
    url = unsubscribe_url(base, address, secret) if base and secret else ""
    choices = preferences.url(base, address, secret) if base and secret else _unsigned(base)
    return Recipient(
        email=address,
        name=name,
        unsubscribe_url=url,
        unsubscribe_mailto=_unsubscribe_mailto(config),
        preferences_url=choices,
    )


def web_reader(config: Config) -> Recipient:
    """Whoever reads the web edition: no name, and the site's unsubscribe page (no token)."""
    base = config.newsletter.base_url.rstrip("/")
    return Recipient(
        email="",
        unsubscribe_url=f"{base}/unsubscribe" if base else "",
        unsubscribe_mailto=_unsubscribe_mailto(config),
        preferences_url=_unsigned(base),
    )


def _unsigned(base_url: str) -> str:
    """The preferences page that says where the signed link is (no address to sign for)."""
    return f"{base_url.rstrip('/')}/preferences" if base_url else ""


def unsubscribe_url(base_url: str, address: str, secret: str) -> str:
    token = tokens.sign(address, "unsubscribe", secret)
    return f"{base_url.rstrip('/')}/unsubscribe?t={token}"


def _unsubscribe_mailto(config: Config) -> str:
    return f"mailto:{config.newsletter.from_address}?subject=unsubscribe"
