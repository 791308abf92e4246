"""Signed tokens for links that act on a subscriber (unsubscribe, confirm) without a login.

``PAYLOAD.MAC`` names an address; ``PAYLOAD.ISSUED.MAC`` also carries when it was made (the
confirmation links, which expire and must be newer than a later unsubscribe). The MAC is an
HMAC-SHA256 over the purpose and the rest, so a token signed for one purpose is refused for
another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from digest.addresses import address_key

MAX_TOKEN = 1000
"""Longer tokens are refused unread."""


def sign(email: str, purpose: str, secret: str, *, issued: datetime | None = None) -> str:
    """A URL-safe token that names ``email`` (its matching form, and ``issued``) and that
    only ``secret`` can make."""
    payload = _b64(address_key(email).encode())
    if issued is not None:
        payload += f".{int(issued.timestamp()):x}"
    return f"{payload}.{_mac(payload, purpose, secret)}"


def verify(token: str, purpose: str, secret: str) -> str | None:
    """The email address a genuine token names, or None."""
    found = verify_issued(token, purpose, secret)
    return found[0] if found else None


def verify_issued(token: str, purpose: str, secret: str) -> tuple[str, datetime | None] | None:
    """The address a genuine token names and when it was issued (None if it does not say)."""
    if len(token) > MAX_TOKEN or not token.isascii():
        return None
    payload, _, mac = token.rpartition(".")
    if not payload or not hmac.compare_digest(mac, _mac(payload, purpose, secret)):
        return None
    address, _, stamp = payload.partition(".")
    try:
        email = base64.urlsafe_b64decode(address + "=" * (-len(address) % 4)).decode()
        issued = datetime.fromtimestamp(int(stamp, 16), UTC) if stamp else None
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        return None
    return email, issued


def _mac(payload: str, purpose: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
