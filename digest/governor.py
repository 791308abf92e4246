"""The send-rate governor: messages per second and per day across every sender of one store.

Each message waits for a slot that the store hands out with one atomic statement (see
:meth:`digest.store.Store.reserve_send_slot`), so the rate holds for any number of
processes on one data directory, or machines on one PostgreSQL. When the mail server says
"slow down" (421, 450, 451, 452, 454) every sender pauses: the pause is written to the
same row, and the message goes back to the queue without counting as an attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

FIRST_PAUSE = 2.0
"""Seconds of the first pause after a throttling reply; it doubles while they continue."""
MAX_PAUSE = 300.0


class SlotStore(Protocol):
    def reserve_send_slot(
        self, *, now: float, interval: float, today: datetime, per_day: int
    ) -> float | None: ...

    def pause_sending(self, until: float) -> None: ...

    def sending_paused_until(self) -> float: ...


class Governor:
    """Waits for each message's slot; pauses every sender on throttling replies."""

    def __init__(
        self,
        store: SlotStore,
        *,
        rate: float,
        per_day: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store, self.rate, self.per_day = store, rate, per_day
        self.clock, self.sleep = clock, sleep
        self.pause = 0.0

    @property
    def interval(self) -> float:
        return 1.0 / self.rate if self.rate > 0 else 0.0

    def wait(self, should_stop: Callable[[], bool] = lambda: False) -> str:
        """Sleep until this sender's next slot: ``go``, or ``daily-limit`` (today's messages
        are spent), or ``stopped`` (``should_stop`` said so while waiting).

        Without limits there are no slots to hand out, only a pause to honour: one read.
        """
        now = self.clock()
        if self.rate <= 0 and self.per_day <= 0:
            slot: float | None = self.store.sending_paused_until()
        else:
            slot = self.store.reserve_send_slot(
                now=now,
                interval=self.interval,
                today=datetime.fromtimestamp(now, UTC),
                per_day=self.per_day,
            )
        if slot is None:
            return "daily-limit"
        while (left := slot - self.clock()) > 0:
            if should_stop():
                return "stopped"
            self.sleep(min(left, 1.0))
        return "go"

    def throttled(self) -> float:
        """The server asked to slow down: pause every sender; return the pause in seconds."""
        self.pause = min(MAX_PAUSE, self.pause * 2 if self.pause else FIRST_PAUSE)
        self.store.pause_sending(self.clock() + self.pause)
        return self.pause

    def accepted(self) -> None:
        """A message went through: the next throttling starts from the first pause again."""
        self.pause = 0.0

    @property
    def exhausted(self) -> bool:
        """The longest pause did not help: the server refuses for longer than a run waits."""
        return self.pause >= MAX_PAUSE
