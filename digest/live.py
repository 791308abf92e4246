"""The live preview behind `digest serve`: the next edition, re-rendered when its inputs change.

The inputs are the config file, the template folders (the user's and the default
theme) and the collected articles. Each request asks :meth:`LivePreview.refresh`,
which compares a cheap stamp of those inputs with the last one and renders again
only when it moved. A render that fails (a template being edited, an invalid
config) is kept as the preview's error, to be shown instead of a crash.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest import pipeline, render
from digest.config import Config
from digest.errors import DigestError
from digest.store import open_store

PREVIEW_KEY = "preview"
"""pipeline.preview writes into DATA_DIR/editions/preview/."""


@dataclass(frozen=True)
class PreviewState:
    version: str
    """Changes whenever the preview was rendered again or its error changed."""
    error: str = ""
    """Why the last render failed; '' when the files in editions/preview/ are current."""


class LivePreview:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[object, ...] | None = None
        self._versions = itertools.count(1)
        self._state = PreviewState("0", "not rendered yet")

    def refresh(self, load_config: Callable[[], Config]) -> PreviewState:
        """Render the preview again if the config, a template or the articles changed."""
        with self._lock:
            try:
                config = load_config()
            except DigestError as error:
                self._stamp = None
                return self._publish(str(error))
            with open_store(config.data_dir, url=config.database_url) as store:
                stamp = inputs_stamp(config, store.articles_stamp())
                if stamp == self._stamp:
                    return self._state
                self._stamp = stamp  # a failed render is not retried until something changes
                try:
                    report = pipeline.preview(config, store)
                except DigestError as error:
                    return self._publish(str(error))
            return self._publish(report.message if report.email is None else "", rendered=True)

    def _publish(self, error: str, *, rendered: bool = False) -> PreviewState:
        if rendered or error != self._state.error:
            self._state = PreviewState(str(next(self._versions)), error)
        return self._state


def inputs_stamp(config: Config, articles: str) -> tuple[object, ...]:
    folders = [Path(config.render.templates)] if config.render.templates else []
    folders.append(render.default_theme())
    return (config, articles, *(files_stamp(folder) for folder in folders))


def files_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under ``folder`` with its modification time and size."""
    found = []
    for path in sorted(folder.rglob("*")):
        try:
            info = path.stat()
        except OSError:  # deleted while we looked: the next stamp will tell
            continue
        if path.is_file():
            found.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(found)
