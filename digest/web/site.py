"""What every page needs: the config (the last valid one), a store per thread, the archive.

The config file is read again when it changes. While it is invalid the site goes on with the
last valid config, so unsubscribing, confirming and the archive keep working; the error is
logged once and shown only on the private pages (:attr:`Site.config_error`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from digest.config import Config, load_config
from digest.errors import ConfigError
from digest.live import LivePreview
from digest.signup import Mailer
from digest.store import Store, open_store
from digest.web.guard import Networks, networks

log = logging.getLogger("digest.serve")

EDITION_KEY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
T = TypeVar("T")


class Site:
    def __init__(self, config_path: Path) -> None:
        """Raises ConfigError when the config is invalid at start."""
        self.config_path = config_path
        self._config = load_config(config_path)
        self._mtime = _mtime(config_path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.config_error = ""
        self.preview = LivePreview()
        self._form_key = secrets.token_urlsafe(32)
        self.mailer = Mailer(
            lambda: self.config,
            lambda config: open_store(config.data_dir, url=config.database_url),
        )

    @property
    def config(self) -> Config:
        """The config as last read without error."""
        with self._lock:
            mtime = _mtime(self.config_path)
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._config = load_config(self.config_path)
                    self.config_error = ""
                except ConfigError as error:
                    self.config_error = str(error)
                    log.warning(
                        "the config is invalid; going on with the last valid one: %s", error
                    )
            return self._config

    def current_config(self) -> Config:
        """The config as the file says now; ConfigError when it is invalid (for the preview)."""
        config = self.config
        if self.config_error:
            raise ConfigError(self.config_error.splitlines())
        return config

    @property
    def trusted(self) -> Networks:
        return networks(self.config.web.trusted_proxies)

    @property
    def admin_password(self) -> str:
        return os.environ.get(self.config.web.admin_password_env, "")

    def form_key(self) -> str:
        """The key of the forms' CSRF tokens: the links' secret, else the admin password, else
        one made at start (then a token works only with this process)."""
        return self.config.secret or self.admin_password or self._form_key

    def using(self, work: Callable[[Store], T]) -> T:
        """``work(store)``: with this thread's SQLite store (a connection belongs to the
        thread that opened it), or a PostgreSQL connection from the pool for this call."""
        config = self.config
        if config.database_url:
            with open_store(config.data_dir, url=config.database_url) as store:
                return work(store)
        opened: tuple[Path, Store] | None = getattr(self._local, "store", None)
        if opened is None or opened[0] != config.data_dir:
            if opened is not None:
                opened[1].close()
            opened = (config.data_dir, open_store(config.data_dir))
            self._local.store = opened
        return work(opened[1])

    def archive_file(self, key: str, name: str) -> bytes | None:
        """One file of an edition's archive (or of the preview), None when there is none."""
        return self.using(lambda store: store.archive_file(key, name))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
