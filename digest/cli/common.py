"""What the commands share: the config that --config (or its default) names."""

from __future__ import annotations

import click

from digest.config import Config, config_path, load_config


def config_of(ctx: click.Context) -> Config:
    return load_config(config_path(ctx.obj["config_file"]))
