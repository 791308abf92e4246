"""Bounces and complaints: which subscriber a returned message names, and what it says.

Every message goes out with its own return path (VERP): ``LOCAL+REF-MAC@DOMAIN``, where REF is
the subscriber's opaque reference (it says nothing about the address) and MAC signs it with the
newsletter's secret. A delivery status notification (RFC 3464, and the older forms that
flufl.bounce knows), or a complaint report (ARF, RFC 5965) names that return path, either as
the address it was delivered to or in the returned message's headers. A report whose return
path is missing, forged or altered names nobody and is ignored.

Pure: bytes in, a :class:`Finding` (or None) out. Input is bounded: a message larger than
:data:`MAX_MESSAGE_BYTES` is read only up to that size.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from typing import Literal

MAX_MESSAGE_BYTES = 512 * 1024
"""What is read of one report: DSNs and ARF reports are small; the rest is a returned body."""

Kind = Literal["hard", "soft", "complaint"]

# Headers a receiving server or mailbox adds with the address a message was delivered to.
_DELIVERED_TO = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
# Headers of the returned original that carry its return path.
_ORIGINAL_SENDER = ("Return-Path", "X-Digest-Return-Path")
# Feedback types that are a reader's complaint (RFC 5965 section 7.3); "not-spam" is not.
_COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other", "auth-failure"})
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_MAC_LENGTH = 10


@dataclass(frozen=True)
class Finding:
    """What one report says about one subscriber."""

    ref: str
    """The subscriber's opaque reference, from a return path whose signature held."""
    kind: Kind
    """``hard``: the address does not exist or refuses for good; ``soft``: a temporary
    failure (full mailbox, greylisting); ``complaint``: the reader reported the mail as spam."""
    detail: str
    """The status code and diagnostic, or the feedback type, for the log and the ledger."""


@dataclass(frozen=True)
class ReturnPath:
    """How return paths are made and read: ``local+REF-MAC@domain``."""

    local: str
    domain: str
    secret: str

    def address(self, ref: str) -> str:
        return f"{self.local}+{ref}-{self._mac(ref)}@{self.domain}"

    def ref_of(self, address: str) -> str | None:
        """The reference a genuine return path carries; None for any other address."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain.lower():
            return None
        prefix, plus, tagged = local.partition("+")
        if not plus or prefix.lower() != self.local.lower():
            return None
        ref, _, mac = tagged.rpartition("-")
        if not ref or not hmac.compare_digest(mac.encode(), self._mac(ref).encode()):
            return None
        return ref

    def _mac(self, ref: str) -> str:
        # Lower-case base32: a mail system may fold the local part's case.
        digest = hmac.new(self.secret.encode(), f"return-path:{ref}".encode(), hashlib.sha256)
        return base64.b32encode(digest.digest()).decode()[:_MAC_LENGTH].lower()


def read_report(data: bytes, paths: ReturnPath) -> Finding | None:
    """The finding a bounce or complaint message holds, or None (not a report, or nobody's)."""
    message = email.message_from_bytes(data[:MAX_MESSAGE_BYTES], policy=email.policy.compat32)
    ref = _addressee(message, paths)
    if ref is None:
        return None
    if _report_type(message) == "feedback-report":
        return _complaint(message, ref)
    return _bounce(message, ref)


def _addressee(message: Message, paths: ReturnPath) -> str | None:
    """The reference of the first genuine return path the report names."""
    for address in _candidates(message):
        ref = paths.ref_of(address)
        if ref is not None:
            return ref
    return None


def _candidates(message: Message) -> Iterator[str]:
    for name in _DELIVERED_TO:
        for _, address in getaddresses([str(v) for v in message.get_all(name, [])]):
            yield address
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            yield _fields(part).get("original-mail-from", "")
    for original in _originals(message):
        for name in _ORIGINAL_SENDER:
            for _, address in getaddresses([str(v) for v in original.get_all(name, [])]):
                yield address


def _originals(message: Message) -> Iterator[Message]:
    """The returned original's headers: a message/rfc822 or text/rfc822-headers part."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                yield payload[0]
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                yield email.message_from_bytes(raw, policy=email.policy.compat32)


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "") or "").lower()


def _complaint(message: Message, ref: str) -> Finding | None:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        fields = _fields(part)
        feedback = fields.get("feedback-type", "").lower()
        if feedback in _COMPLAINTS:
            return Finding(ref, "complaint", f"feedback-type: {feedback}")
        return None
    return None


def _bounce(message: Message, ref: str) -> Finding | None:
    status = _dsn_status(message)
    if status is not None:
        return status_finding(ref, *status)
    return _legacy_bounce(message, ref)


def _dsn_status(message: Message) -> tuple[str, str] | None:
    """The worst per-recipient (Status, Diagnostic-Code) of an RFC 3464 report."""
    worst: tuple[str, str] | None = None
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for fields in _status_blocks(part):
            action = fields.get("action", "").lower()
            match = _STATUS.search(fields.get("status", ""))
            if match is None or action in {"delivered", "relayed", "expanded"}:
                continue
            found = (match.group(0), fields.get("diagnostic-code", ""))
            if worst is None or found[0] > worst[0]:
                worst = found
    return worst


def status_finding(ref: str, status: str, diagnostic: str) -> Finding | None:
    """A 5.x.x status is a hard bounce, 4.x.x a soft one; 2.x.x is no bounce."""
    detail = f"{status} {' '.join(diagnostic.split())}".strip()[:300]
    if status.startswith("5"):
        return Finding(ref, "hard", detail)
    if status.startswith("4"):
        return Finding(ref, "soft", detail)
    return None


def _status_blocks(part: Message) -> Iterator[dict[str, str]]:
    """The per-recipient field blocks of a message/delivery-status part (the first is the
    per-message block, which has no Status and so never counts)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                yield {k.lower(): str(v) for k, v in block.items()}
    elif isinstance(payload, str):
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", payload):
            yield _fields(email.message_from_string(chunk, policy=email.policy.compat32))


def _fields(part: Message) -> dict[str, str]:
    """Header-like fields of a part whose body is ``Name: value`` lines (ARF, DSN)."""
    fields = {k.lower(): str(v) for k, v in part.items()}
    body = part.get_payload()
    if isinstance(body, list):
        for block in body:
            if isinstance(block, Message):
                fields.update({k.lower(): str(v) for k, v in block.items()})
    elif isinstance(body, str):
        parsed = email.message_from_string(body, policy=email.policy.compat32)
        fields.update({k.lower(): str(v) for k, v in parsed.items()})
    return fields


def _legacy_bounce(message: Message, ref: str) -> Finding | None:
    """Bounces in the non-standard forms older servers send, read by flufl.bounce."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # flufl's detectors are heuristics over arbitrary text
        return None
    if permanent:
        return Finding(ref, "hard", "permanent failure (non-standard report)")
    if temporary:
        return Finding(ref, "soft", "temporary failure (non-standard report)")
    return None
