"""Writing the declarations out: the commented example config and every option's dotted key."""

from __future__ import annotations

import dataclasses
import re
import typing
from datetime import timedelta
from typing import Any

from digest.config.values import Keyed, Weights, format_duration


def commented_toml(root: type[Any], source: type[Any]) -> str:
    """The commented example config: every option of ``root`` with its default, then one ``source``."""
    lines = [
        "# digest configuration. Every option is shown with its default.",
        "# Durations: '90s', '30m', '6h', '1d'. Relative paths (data_dir, render.templates, a source's",
        "# file, ...) are relative to the folder this file is in, not to where digest is run from.",
        "# Secrets never go here: options ending in _env name an environment variable.",
        "",
    ]
    tables, keyed = [], []
    for f in dataclasses.fields(root):
        if f.metadata.get("internal"):
            continue
        if dataclasses.is_dataclass(f.default):
            tables.append(f)
        elif isinstance(f.default, Keyed):
            keyed.append(f)
        elif f.name != "sources":
            lines += _example_option(f, f.default)
    for f in tables:
        lines += ["", f"[{f.name}]"]
        for sub in dataclasses.fields(typing.cast(Any, f.default)):
            lines += _example_option(sub, sub.default)
    for f in keyed:
        lines += ["", f"# {f.metadata['help']} For example:", f"# [{f.name}.weekly-tech]"]
        for sub in dataclasses.fields(typing.cast(Keyed, f.default).item):
            lines += ["# " + line for line in _example_option(sub, sub.default)]
    lines += ["", "# One [[sources]] table per feed."]
    example_source = {
        "name": "EconoTimes",
        "url": "https://www.econotimes.com/rss/economy.xml",
        "section": "Economy",
    }
    lines.append("[[sources]]")
    for sub in dataclasses.fields(source):
        lines += _example_option(sub, example_source.get(sub.name, sub.default))
    return "\n".join(lines) + "\n"


def _example_option(f: dataclasses.Field[Any], value: Any) -> list[str]:
    shown = f.metadata.get("example")
    line = f"{f.name} = {_toml_value(value)}"
    if shown is not None and not value:
        line = f"# {f.name} = {_toml_value(shown)}"
    return [f"# {f.metadata['help']}", line]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:_}" if isinstance(value, int) and abs(value) >= 10_000 else repr(value)
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, Weights):
        pairs = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value)
        return "{ " + pairs + " }" if pairs else "{}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def dotted_keys(root: type[Any], source: type[Any]) -> list[str]:
    """Every option's dotted key; ``source``'s options under ``sources.``."""
    keys = []
    for f in dataclasses.fields(root):
        if f.metadata.get("internal"):
            continue
        nested = source if f.name == "sources" else f.default
        if isinstance(nested, Keyed):
            item = type(nested).item
            keys += [f"{f.name}.SLUG.{sub.name}" for sub in dataclasses.fields(item)]
        elif dataclasses.is_dataclass(nested):
            keys += [f"{f.name}.{sub.name}" for sub in dataclasses.fields(typing.cast(Any, nested))]
        else:
            keys.append(f.name)
    return keys
