"""Meta-tests that keep the documentation honest."""

from __future__ import annotations

import re

import click

from digest.cli import cli
from digest.config import option_keys

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_every_option_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"^\| `([\w.\[\]]+)` \|", README, re.M))
    expected = {key.replace("sources.", "sources[].") for key in option_keys()}
    assert expected == documented


def test_every_command_is_in_the_readme() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `digest ")]
    for name, command in cli.commands.items():
        row = next((r for r in rows if r.startswith(f"| `digest {name}")), None)
        assert row is not None, f"digest {name} is not in the README's command table"
        if isinstance(command, click.Group):
            for sub in command.commands:
                assert sub in row, f"digest {name} {sub}"


def test_the_quick_start_is_two_commands_and_ci_runs_the_second_verbatim() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "digest demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
