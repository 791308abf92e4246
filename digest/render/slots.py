"""Per-recipient values, placed only where the template put a slot.

Each render draws a fresh random nonce. The template writes ``{{ unsubscribe_url }}``,
``{{ preferences_url }}`` and ``{{ recipient_name }}``, which render as markers that carry the nonce
(``digest-slot-NONCE-unsubscribe_url-end``); feed content was written before the nonce
existed, so it cannot contain them. The rendered document opens with a line naming its
nonce (``<!--digest-slots:NONCE-->``), at a place no content reaches, so the email can be
stored and personalized later without any other record.

Personalizing splits the document on its own markers once (cached), then joins the trusted
pieces with each recipient's values: no string in the content is ever searched or replaced.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

SLOT_NAMES = ("unsubscribe_url", "recipient_name", "preferences_url")
"""The values that differ per recipient; nothing else is ever filled in after rendering."""
_HEADER = re.compile(r"<!--digest-slots:([0-9a-f]{32})-->\n")


@dataclass(frozen=True)
class Slots:
    """One render's markers."""

    nonce: str

    def marker(self, name: str) -> str:
        """What the template writes where ``name`` goes (plain ASCII: escaping leaves it be)."""
        return f"digest-slot-{self.nonce}-{name}-end"

    def markers(self) -> dict[str, str]:
        return {name: self.marker(name) for name in SLOT_NAMES}

    def seal(self, document: str) -> str:
        """The document with the line that names its nonce in front."""
        return f"<!--digest-slots:{self.nonce}-->\n{document}"


def new_slots() -> Slots:
    return Slots(secrets.token_hex(16))


def fill(document: str, values: Mapping[str, str]) -> str:
    """The sealed ``document`` with each slot replaced by ``values[name]`` (already escaped)."""
    pieces, names = _split(document)
    out = [pieces[0]]
    for name, piece in zip(names, pieces[1:], strict=True):
        out.append(values[name])
        out.append(piece)
    return "".join(out)


def unsealed(document: str) -> str:
    """The document without its nonce line (the slots' markers stay)."""
    header = _HEADER.match(document)
    return document[header.end() :] if header else document


@lru_cache(maxsize=16)
def _split(document: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The trusted pieces and the slot names between them; one split per document."""
    header = _HEADER.match(document)
    if header is None:  # not rendered by this version: no slots are trusted
        return (document,), ()
    marker = re.compile(
        rf"digest-slot-{header.group(1)}-({'|'.join(map(re.escape, SLOT_NAMES))})-end"
    )
    parts = marker.split(document[header.end() :])
    return tuple(parts[0::2]), tuple(parts[1::2])
