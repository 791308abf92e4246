"""A send's connections: one lane per SMTP connection, each in its own thread.

Each lane has its own store connection (a database connection serves one thread) and its
own ledger claimant; the claims decide who sends whom, so lanes never send anyone twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from digest.config import Config
from digest.deliver import Transport
from digest.store import Store, open_store, reserve_connections


class Lanes:
    """What a send's connections share: when to stop, progress (one call at a time), errors."""

    def __init__(
        self,
        progress: Callable[[str, str], None] | None,
        should_stop: Callable[[], bool] | None,
        *,
        limit: int | None = None,
    ) -> None:
        self._progress, self._should_stop = progress, should_stop
        self._left = limit
        self._lock = threading.Lock()
        self.abort = threading.Event()
        self.errors: list[BaseException] = []

    def stop(self) -> bool:
        return self.abort.is_set() or bool(self._should_stop and self._should_stop())

    def take(self, wanted: int) -> int:
        """Up to ``wanted`` more rows from the send's share (all, without a limit); a negative
        ``wanted`` gives rows back."""
        with self._lock:
            if self._left is None:
                return wanted
            granted = min(wanted, self._left)
            self._left -= granted
            return granted

    def progress(self, address: str, status: str) -> None:
        if self._progress:
            with self._lock:
                self._progress(address, status)

    def run(
        self,
        lane: Callable[[Store, Transport | None], None],
        config: Config,
        store: Store,
        transport: Transport | None,
        *,
        lanes: int,
    ) -> None:
        """``lane`` on ``store`` and ``transport`` here and ``lanes - 1`` times in threads,
        each on a store connection of its own; the first error any raised is raised here."""
        if config.database_url:  # one connection a lane, and one for this process's others
            reserve_connections(lanes + 2)
        threads = [
            threading.Thread(target=self._lane, args=(lane, config, store), name=f"send-{n}")
            for n in range(1, lanes)
        ]
        for thread in threads:
            thread.start()
        try:
            lane(store, transport)
        finally:
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]

    def _lane(
        self, lane: Callable[[Store, Transport | None], None], config: Config, store: Store
    ) -> None:
        """One more connection's lane, with a store connection of its own (one per thread)."""
        try:
            lane_store = open_store(store.data_dir, url=config.database_url)
            try:
                lane(lane_store, None)
            finally:
                lane_store.close()
        except BaseException as error:  # raised again by send() once every lane is done
            self.abort.set()
            self.errors.append(error)
