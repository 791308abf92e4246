"""`digest send` killed with SIGKILL at random moments, run again until it finishes: everyone
gets the edition, and a kill costs at most one duplicate. benchmarks/deliver.py runs 10 trials."""

from __future__ import annotations

import random
from pathlib import Path

from .crash import crash_trial


def test_killed_sends_resume_without_losing_anyone_and_duplicate_at_most_once_per_kill(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for number in range(2):
        trial = crash_trial(tmp_path / f"trial{number}", rng, subscribers=300)
        where = f"seed {seed}, trial {number}: {trial}"
        assert trial.kills >= 1, where
        assert trial.missing == 0, where
        assert trial.duplicates <= trial.kills, where
        assert trial.ledger == {"sent": 300}, where
        print(
            f"trial {number}: {trial.kills} kills, {trial.duplicates} duplicates, {trial.runs} runs"
        )
