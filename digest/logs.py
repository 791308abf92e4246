"""Event logs for unattended runs: one line per event on stderr, as text or as JSON.

    2026-03-10T07:00:02Z info  send: edition 2026-03-10: 3 sent, 0 deferred, 0 failed, 0 skipped

or, with ``--log-format json`` (for journald, Loki, CloudWatch and other collectors)::

    {"time": "2026-03-10T07:00:02Z", "level": "info", "event": "send",
     "message": "edition 2026-03-10: 3 sent, ...", "edition": "2026-03-10", "sent": 3, ...}

Every field passed to :func:`event` is a key of the JSON object; the text form shows
only the message. Lines from libraries (APScheduler's warnings) go through the same handler.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

_LOGGER = logging.getLogger("digest")


def setup(log_format: LogFormat = "text", *, verbose: bool = False) -> None:
    """Send every log record to stderr, one line each, in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries speak up only about problems (httpx logs every request at INFO).
    root.setLevel(logging.WARNING)
    _LOGGER.setLevel(logging.INFO)
    # APScheduler warns of each misfire; digest logs that itself as a "missed" event.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def event(name: str, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event: ``name`` says what happened, ``message`` says it to a person."""
    _LOGGER.log(level, message, extra={"event": name, "fields": fields})


def warning(name: str, message: str, **fields: Any) -> None:
    event(name, message, level=logging.WARNING, **fields)


def error(name: str, message: str, **fields: Any) -> None:
    event(name, message, level=logging.ERROR, **fields)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class TextFormatter(logging.Formatter):
    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        name = getattr(record, "event", record.name)
        line = f"{_timestamp(record)} {record.levelname.lower():<7} {name}: {_one_line(record.getMessage())}"
        if record.exc_info and self.verbose:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": _one_line(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
