"""The newsletters one installation sends, and what a subscriber may choose of each.

The ``[newsletter]``, ``[schedule]`` and ``[edition]`` tables configure the default newsletter
(slug :data:`~digest.models.DEFAULT_NEWSLETTER`); every existing config is one newsletter.
:func:`offers` is what the preferences page shows.
"""

from __future__ import annotations

import re

from digest.config import Config
from digest.edition import section_order
from digest.models import DEFAULT_NEWSLETTER, FREQUENCIES, Membership, Offer

__all__ = ["DEFAULT_NEWSLETTER", "Membership", "Offer", "offers"]

_HH_MM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def offers(config: Config) -> tuple[Offer, ...]:
    """What a subscriber may choose: one Offer per newsletter, the default one first."""
    newsletter = config.newsletter
    languages = (newsletter.language,)
    return (
        Offer(
            slug=DEFAULT_NEWSLETTER,
            name=newsletter.name,
            sections=_sections(config),
            languages=languages,
            frequencies=FREQUENCIES,
            send_time=_send_time(config.schedule.send_at),
            timezone=newsletter.timezone,
        ),
    )


def _sections(config: Config) -> tuple[str, ...]:
    """The sections the sources fill, in the edition's order."""
    present = dict.fromkeys(source.section for source in config.sources)
    return tuple(section_order(present, config.edition.sections))


def _send_time(send_at: str) -> str:
    """'HH:MM' (zero-padded) when ``send_at`` is one; '' for a cron expression."""
    match = _HH_MM.fullmatch(send_at.strip())
    return f"{int(match[1]):02d}:{match[2]}" if match else ""
