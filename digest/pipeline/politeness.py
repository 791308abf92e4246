"""Per-host politeness held by the store, so it holds across processes and machines.

Each process bounds its own requests to a host (``collect.per_host``) with a semaphore;
several processes collecting into one store (a daemon and a `digest collect`, workers on
several machines) would each take that many. Here every request also holds one of the
leases ``collect-host:<host>#<n>``, n below ``per_host``, while it runs: one conditional
statement takes a free one (see :mod:`digest.store.leases`), the same on SQLite and
PostgreSQL. With ``collect.host_interval`` set, it then books the host's next turn
(:meth:`Store.next_turn`, on the clock read under the row's lock), turns that far apart
whoever books them, and waits for it.

A place is held for the wait, the request's timeout and a margin, so one left by a process
that died (SIGKILL, a machine gone) is free again at the latest then.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from digest.config import CollectConfig
from digest.store import Store, utcnow

MARGIN = timedelta(seconds=5)
"""How much longer than a request's timeout its place is held."""
RETRY = 0.05
"""Seconds to wait before asking again for a place when every one is taken."""


class StoreGate:
    """:class:`digest.collect.fetch.HostGate` on the store's leases."""

    def __init__(self, store: Store, settings: CollectConfig) -> None:
        self.store = store
        self.per_host = settings.per_host
        self.interval = settings.host_interval
        self.hold = settings.timeout + MARGIN
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._places: dict[tuple[str, str], str] = {}
        self._booked: dict[tuple[str, str], datetime] = {}
        self._turns = 0

    def enter(self, host: str, ticket: str) -> float:
        key, who = (host, ticket), f"{self.holder}/{ticket}"
        if key not in self._places:
            place = self._take_place(host, who)
            if place is None:
                return RETRY
            self._places[key] = place
            if self.interval:
                turn = self.store.next_turn(f"collect-pace:{host}", every=self.interval)
                self._booked[key] = turn
                # Held through the wait as well as the request.
                until = max(turn - utcnow(), timedelta(0)) + self.hold
                self.store.take_lease(place, who, now=utcnow(), ttl=until)
        booked = self._booked.get(key)
        if booked is not None:
            left = (booked - utcnow()).total_seconds()
            if left > 0:
                return left
            del self._booked[key]
        return 0.0

    def leave(self, host: str, ticket: str) -> None:
        self._booked.pop((host, ticket), None)
        place = self._places.pop((host, ticket), None)
        if place is not None:
            self.store.release_lease(place, f"{self.holder}/{ticket}", now=utcnow())

    def _take_place(self, host: str, who: str) -> str | None:
        """One of the host's places, tried from a turning start (requests end roughly in
        the order they began, so the place the last but ``per_host`` request held is
        likely the free one). Places this process holds now are not asked for: the
        answer is known, and each question is a write to the store."""
        self._turns += 1
        mine = set(self._places.values())
        for step in range(self.per_host):
            place = f"collect-host:{host}#{(self._turns + step) % self.per_host}"
            if place in mine:
                continue
            if self.store.take_lease(place, who, now=utcnow(), ttl=self.hold) is not None:
                return place
        return None
