"""`digest send` killed with SIGKILL at random moments, run again until it finishes: everyone
gets the edition, and a kill costs at most one duplicate; also with two senders at once, one
of them killed while the other goes on. benchmarks/deliver.py runs more trials."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from .crash import crash_trial


def trials(
    tmp_path: Path, count: int, *, senders: int, connections: int = 4, first: int = 0
) -> None:
    """A kill may cost one duplicate per connection: each may have a message handed over."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for number in range(first, first + count):
        trial = crash_trial(
            tmp_path / f"trial{number}",
            rng,
            subscribers=300,
            senders=senders,
            connections=connections,
        )
        where = f"seed {seed}, trial {number}: {trial}"
        assert trial.kills >= 1, where
        assert trial.missing == 0, where
        assert trial.duplicates <= trial.kills * connections, where
        assert trial.ledger == {"sent": 300}, where
        print(
            f"trial {number}: {trial.kills} kills, {trial.duplicates} duplicates, {trial.runs} runs"
        )


def test_killed_sends_resume_without_losing_anyone_and_duplicate_at_most_once_per_kill(
    tmp_path: Path,
) -> None:
    trials(tmp_path, 1, senders=1, connections=1)


def test_a_killed_send_on_four_connections_loses_nobody_and_duplicates_at_most_four(
    tmp_path: Path,
) -> None:
    trials(tmp_path, 1, senders=1, connections=4)


def test_two_senders_with_one_killed_lose_nobody_and_duplicate_at_most_once_per_kill(
    tmp_path: Path,
) -> None:
    trials(tmp_path, 1, senders=2, connections=2)


@pytest.mark.slow
@pytest.mark.parametrize("number", range(10))
def test_ten_crash_trials_with_two_senders(tmp_path: Path, number: int) -> None:
    """Ten trials, each a test of its own so that parallel test workers share them out."""
    trials(tmp_path, 1, senders=2, first=number)
