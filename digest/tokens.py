"""Sealed tokens for links that act on a subscriber (unsubscribe, confirm) without a login.

A token carries an address (its matching form) and, for confirmation links, when it was
issued (they expire and must be newer than a later unsubscribe), sealed with AES-GCM under a
key derived from the newsletter's secret: it reveals nothing about the address to whoever
sees the link, and only the secret can make or open one. The purpose ("unsubscribe",
"confirm") is authenticated too, so a token made for one is refused for another. The nonce is
derived from the contents (as in SIV), so the same address gets the same token: pages and
golden files stay stable, and only equality is revealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from digest.addresses import address_key

MAX_TOKEN = 1000
"""Longer tokens are refused unread."""
_NONCE = 12
_TAG = 16


def sign(email: str, purpose: str, secret: str, *, issued: datetime | None = None) -> str:
    """A URL-safe token that holds ``email`` (its matching form, and ``issued``), sealed."""
    payload = address_key(email).encode()
    if issued is not None:
        payload += b"\x00" + f"{int(issued.timestamp()):x}".encode()
    key = _key(secret)
    nonce = hmac.new(key, purpose.encode() + b":" + payload, hashlib.sha256).digest()[:_NONCE]
    return _b64(nonce + AESGCM(key).encrypt(nonce, payload, purpose.encode()))


def verify(token: str, purpose: str, secret: str) -> str | None:
    """The email address a genuine token holds, or None."""
    found = verify_issued(token, purpose, secret)
    return found[0] if found else None


def verify_issued(token: str, purpose: str, secret: str) -> tuple[str, datetime | None] | None:
    """The address a genuine token holds and when it was issued (None if it does not say)."""
    if len(token) > MAX_TOKEN or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if len(raw) <= _NONCE + _TAG:
            return None
        payload = AESGCM(_key(secret)).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
        address, _, stamp = payload.partition(b"\x00")
        issued = datetime.fromtimestamp(int(stamp, 16), UTC) if stamp else None
        return address.decode(), issued
    except (binascii.Error, InvalidTag, UnicodeDecodeError, ValueError, OverflowError, OSError):
        return None


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"digest link tokens", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
