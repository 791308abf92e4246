"""What the commands share: the config that --config (or its default) names, and its data directory.

Nothing heavy is imported at the top of the cli package: `digest --help` and the light
commands must not pay for the pipeline's stages (summarize, render, extract, collect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.errors import UsageError

if TYPE_CHECKING:
    from digest.config import Config


def config_of(ctx: click.Context) -> Config:
    from digest.config import config_path, load_config

    return load_config(config_path(ctx.obj["config_file"]))


def existing_config(ctx: click.Context) -> Config:
    """The config, for a command that reads the data directory but must not create it."""
    config = config_of(ctx)
    if not config.database_url and not config.data_dir.is_dir():
        raise UsageError(
            f"{config.path}: data_dir: {config.data_dir} does not exist yet "
            "(`digest collect` or `digest build` creates it; check data_dir if it should be there)"
        )
    return config


def require_sources(config: Config) -> None:
    """Collecting needs at least one source: a config without any is a config error."""
    from digest.errors import ConfigError

    if not config.sources:
        raise ConfigError(
            [f"{config.path}: sources: expected at least one [[sources]] table, got none"]
        )
