"""Reading a config file: the TOML, then its tables turned into option dataclasses, every problem kept."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from digest.config.values import Keyed, Weights, parse_duration
from digest.errors import ConfigError

DEFAULT_CONFIG = Path("config/digest.toml")
CONFIG_ENV = "DIGEST_CONFIG"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: --config, else $DIGEST_CONFIG, else config/digest.toml."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def read_table(path: Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a table; ConfigError when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (create one with `digest init`)"]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read config: {error}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: invalid TOML: {error}"]) from None


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
"""A scheme (http:, file:): not a path. One letter (C:) is a drive."""


def anchored(value: Any, base: Path | None) -> Any:
    """A relative path made absolute against ``base`` (the config file's folder); a URL, an
    absolute path, an empty string or a value of another type, as it is."""
    if base is None or not isinstance(value, str) or not value.strip() or _URL.match(value):
        return value
    return os.path.normpath(base / Path(value).expanduser())


def from_table(
    cls: type[Any], data: Any, where: str, problems: list[str], base: Path | None = None
) -> Any:
    """Build dataclass ``cls`` from a TOML table, appending each problem found.

    Options declared with ``path=True`` are made absolute against ``base``, the config
    file's folder, before they are checked; a problem shows the value as written.
    """
    if not isinstance(data, dict):
        problems.append(f"{where.rstrip('.')}: expected a table, got {_show(data)}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}{key}: unknown option{hint}")
    values = {}
    for name, f in fields.items():
        if f.metadata.get("required") and name not in data:
            check = f.metadata.get("check")
            expected = (check(f.default) if check else None) or "a value"
            problems.append(f"{where}{name}: expected {expected}, got nothing")
        if name in data:
            value = anchored(data[name], base) if f.metadata.get("path") else data[name]
            values[name] = _convert(hints[name], value, f"{where}{name}", problems, base)
            check = f.metadata.get("check")
            expected = check(values[name]) if check and values[name] is not None else None
            if expected:
                problems.append(f"{where}{name}: expected {expected}, got {_show(data[name])}")
    values = {k: v for k, v in values.items() if v is not None}
    return cls(**values)


def _convert(
    hint: Any, value: Any, where: str, problems: list[str], base: Path | None = None
) -> Any:
    """Convert one TOML value to the declared type; None (and a problem) when it does not fit."""
    origin = typing.get_origin(hint)
    expected: str
    if dataclasses.is_dataclass(hint):
        return from_table(typing.cast(type, hint), value, f"{where}.", problems, base)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, list):
            items = [
                _convert(item, v, f"{where}[{i}]", problems, base) for i, v in enumerate(value)
            ]
            return tuple(items) if all(i is not None for i in items) else None
        expected = "an array of tables" if dataclasses.is_dataclass(item) else "a list"
    elif isinstance(hint, type) and issubclass(hint, Keyed):
        if isinstance(value, dict):
            tables = []
            for name, table in value.items():
                if not re.fullmatch(hint.name_pattern, name):
                    problems.append(f"{where}.{name}: expected {hint.name_expected}")
                    continue
                tables.append(
                    (name, from_table(hint.item, table, f"{where}.{name}.", problems, base))
                )
            return hint(tables)
        expected = "a table of tables, e.g. [" + where + ".NAME]"
    elif hint is Weights:
        if isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            return Weights((str(k), float(v)) for k, v in value.items())
        expected = "a table of names and numbers, e.g. { Politics = 1.5 }"
    elif origin is Literal:
        choices = typing.get_args(hint)
        if value in choices:
            return value
        expected = "one of " + ", ".join(repr(c) for c in choices)
    elif hint is bool:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "a whole number"
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif hint is str:
        if isinstance(value, str):
            return value
        expected = "a string"
    elif hint is Path:
        if isinstance(value, str) and value.strip():
            return Path(value).expanduser()
        expected = "a folder path"
    elif hint is timedelta:
        duration = parse_duration(value) if isinstance(value, str) else None
        if duration is not None:
            return duration
        expected = "a duration like '90s', '30m', '6h' or '1d'"
    else:  # pragma: no cover - a declaration with a type this function does not know
        raise TypeError(f"unsupported option type {hint!r} for {where}")
    problems.append(f"{where}: expected {expected}, got {_show(value)}")
    return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
