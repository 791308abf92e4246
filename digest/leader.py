"""One leader among the daemons that share a PostgreSQL: a lease in the store, renewed by a thread.

Every `digest daemon` on a shared database runs its scheduler, but only the one holding the
``scheduler`` lease acts on it; the others wait and ask again every :data:`RENEW` seconds.
The leader renews every :data:`RENEW` seconds a lease of :data:`TTL`; a leader that dies
(SIGKILL, a lost machine) stops renewing, and another daemon takes the lease when it runs
out: within TTL + RENEW = 20 s. A leader that cannot renew (its database unreachable, its
process paused) counts itself out when its own copy of the deadline passes, a margin before
the lease runs out, and its send stops between messages; the ledger's claims keep a
message from going out twice meanwhile.

Why a lease row rather than an advisory lock held on a session: the lease's length bounds a
takeover whatever happened to the old leader's connection (a session lock lasts until the
server notices the connection is gone, which after a lost machine can take TCP keep-alive
minutes), it needs no connection held for the daemon's life outside the pool, it works the
same on SQLite, and the row says who leads and since which term, for `digest status`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from digest import logs
from digest.config import Config
from digest.errors import DigestError
from digest.store import Store, open_store, utcnow

LEASE = "scheduler"
TTL = timedelta(seconds=15)
RENEW = 5.0
"""Seconds between renewals (and, for a daemon that waits, between tries)."""
CONNECT_WAIT = 30.0
"""Seconds `digest run` waits for its first try at the lease (the store's connect timeout)."""


def holder_name() -> str:
    """This process, as the lease names its holder: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class Leadership:
    """Takes and keeps the lease on a thread of its own; :meth:`leads` says whether it is held.

    ``on_gain`` runs (on the keeper thread, so it should only hand work on) each time this
    process becomes the leader.
    """

    def __init__(self, config: Config, *, on_gain: Callable[[], None], quiet: bool = False) -> None:
        self.config = config
        self.holder = holder_name()
        self._on_gain = on_gain
        self._deadline = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="digest-lease", daemon=True)
        self._waiting_logged = quiet  # `digest run` says it once, as its error
        self._tried = threading.Event()
        self.leader = ""
        """Who held the lease at the last try this process lost."""

    def first_try(self) -> bool:
        """Start, and wait for the first attempt: whether this process leads now."""
        self.start()
        self._tried.wait(CONNECT_WAIT)
        return self.leads()

    def leads(self) -> bool:
        return time.monotonic() < self._deadline

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and let the lease go at once, so another daemon takes over now."""
        self._stopping.set()
        self._thread.join(RENEW + 1)
        if self.leads():
            self._deadline = 0.0
            try:
                with self._store() as store:
                    store.release_lease(LEASE, self.holder, now=utcnow())
            except DigestError as error:
                logs.warning("lease", f"could not release the lease: {error}")

    def _keep(self) -> None:
        while not self._stopping.is_set():
            try:
                self._try()
            finally:
                self._tried.set()
            self._stopping.wait(RENEW)

    def _try(self) -> None:
        asked = time.monotonic()
        led = self.leads()
        try:
            with self._store() as store:
                term = store.take_lease(LEASE, self.holder, now=utcnow(), ttl=TTL)
                current = None if term else store.lease(LEASE)
        except DigestError as error:
            logs.warning("lease", f"cannot reach the store to renew the lease: {error}")
            return
        if term is not None:
            # Counted from before the request, a renewal's margin short of the lease's end.
            self._deadline = asked + TTL.total_seconds() - RENEW
            if not led:
                logs.event("lead", f"leading the daemons (term {term})", term=term)
                self._waiting_logged = False
                self._on_gain()
            return
        self._deadline = 0.0
        self.leader = current.holder if current else ""
        if led:
            logs.warning("follow", "lost the lease: another daemon leads now")
        if not self._waiting_logged and current is not None:
            logs.event("follow", f"waiting: {current.holder} leads", leader=current.holder)
            self._waiting_logged = True

    def _store(self) -> Store:
        return open_store(self.config.data_dir, url=self.config.database_url)
