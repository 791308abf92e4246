"""Option values TOML has no type for: durations ('90s', '6h') and weights ({ Politics = 1.5 })."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar


class Weights(tuple[tuple[str, float], ...]):
    """Names with a number each, from a TOML table such as ``{ Politics = 1.5 }``; frozen."""

    def get(self, name: str, default: float = 1.0) -> float:
        return next((weight for key, weight in self if key == name), default)


class Keyed(tuple[tuple[str, Any], ...]):
    """Tables by name, from a TOML table of tables such as ``[newsletters.tech]``; frozen.

    A subclass names the dataclass of each table in ``item`` and the pattern names must match.
    """

    item: ClassVar[type]
    name_pattern: ClassVar[str] = r"[a-z0-9][a-z0-9-]*"
    name_expected: ClassVar[str] = "a name of lower-case letters, digits and '-'"

    def get(self, name: str) -> Any:
        return next((value for key, value in self if key == name), None)


# --- durations ------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta | None:
    """'90s', '30m', '1h30m', '2d' -> timedelta; None when the text is not a duration."""
    text = text.strip()
    if not text or _DURATION_PART.sub("", text).strip():
        return None
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        # Days only from two on: "24h" reads better than "1d".
        if seconds >= size * (2 if unit == "d" else 1) and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
