"""Signed tokens for links that act on a subscriber (unsubscribe, confirm) without a login."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from digest.addresses import address_key


def sign(email: str, purpose: str, secret: str) -> str:
    """A URL-safe token that names ``email`` (its matching form) and only ``secret`` can make."""
    payload = _b64(address_key(email).encode())
    return f"{payload}.{_mac(payload, purpose, secret)}"


def verify(token: str, purpose: str, secret: str) -> str | None:
    """The email address a genuine token names, or None."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(payload, purpose, secret)):
        return None
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _mac(payload: str, purpose: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
