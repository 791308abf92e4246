"""The worker processes of a big collect start light: no main module, only what they need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# A program whose main module imports the whole pipeline (as the `digest` script and the
# benchmarks do) and says so each time it runs: a worker that ran it again would print twice.
PROGRAM = """
import json
import digest.pipeline
from digest.workers import Workers
from probe import modules

print("main module ran")

if __name__ == "__main__":
    with Workers(preload=("digest.extract",)) as workers:
        workers.count = 2
        pool = workers.executor()
        found = [pool.submit(modules).result() for _ in range(4)]
    print(json.dumps(found))
"""

PROBE = """
import os
import sys


def modules():
    return os.getpid(), sorted(name for name in sys.modules if name.startswith("digest"))
"""


def test_a_worker_imports_what_it_is_told_and_not_the_main_module(tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(tmp_path / "program.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines.count("main module ran") == 1, done.stdout
    found = json.loads(lines[-1])
    for _pid, modules in found:
        assert "digest.extract" in modules, modules
        assert "digest.pipeline" not in modules and "digest.cli" not in modules, modules
    assert len({pid for pid, _ in found}) <= 2
