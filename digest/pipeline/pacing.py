"""The send rate, held across every process and machine that shares the store."""

from __future__ import annotations

import time
from collections.abc import Callable

from digest.config import Config
from digest.store import Store

RATE = "smtp"
"""The name of the send rate's slots in the store."""


def shared_pace(config: Config, store: Store) -> Callable[[], None] | None:
    """Wait for each message's slot of ``delivery.rate_limit``, reserved in the store.

    None when there is no limit. Three workers at 50 messages/s send 50 in all, not 150:
    each slot is reserved by one statement that the database orders (store/limits.py).
    """
    rate = config.delivery.rate_limit
    if rate <= 0:
        return None
    interval = 1.0 / rate

    def pace() -> None:
        slot = store.reserve_slot(RATE, interval=interval, now=time.time())
        time.sleep(max(0.0, slot - time.time()))

    return pace
