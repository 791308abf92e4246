"""One form of an email address for matching: the same person, however the address was typed.

``Élodie@Example.COM`` and ``élodie@example.com`` (composed or not), or a domain in
its ``xn--`` form, must all find the same subscriber: at sign-up, in a signed link's token, when
unsubscribing and when importing. :func:`address_key` gives that form; the store keeps it
beside the address as typed (which is what mail is sent to). A leaf module: it imports
nothing from digest.
"""

from __future__ import annotations

import unicodedata


def address_key(address: str) -> str:
    """The address in the form used for matching (idempotent).

    Unicode NFC, then lower case (Unicode-aware: ``É`` -> ``é``; not case folding, which
    would make ``straße`` and ``strasse`` one address); the domain in its Unicode form
    (IDNA ``xn--`` labels decoded). Surrounding white space goes.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return _lower(address.strip())
    return f"{_lower(local)}@{_domain(domain)}"


def _lower(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


def _domain(domain: str) -> str:
    domain = _lower(domain).rstrip(".")
    if "xn--" not in domain:
        return domain
    try:
        return _lower(domain.encode("ascii").decode("idna"))
    except UnicodeError:
        return domain  # not valid IDNA: matched as written
