"""Command start-up: how long `digest --help` and the light commands take, beside digest before
its commands imported their stages lazily (commit 7c30711, the peer), in the same run.

The peer's `digest` package is taken from git (``git archive``) into a temporary folder
and run with the same interpreter and installed libraries, put first on PYTHONPATH. Each
command runs ``--runs`` times as a fresh process; the table shows the median wall time,
the peak memory (max RSS) and the modules imported, and the ratio peer / digest.

Usage: .venv/bin/python benchmarks/startup.py [--runs 7]
Target on 2 cores: `digest --help` under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER_COMMIT = "7c30711"
"""main on the morning of issue #15: every command imported the whole pipeline first."""

COUNT_MODULES = (
    "import atexit, sys; atexit.register(lambda: print(len(sys.modules), file=sys.stderr))"
)


def peer_package(folder: Path) -> Path:
    """The peer's digest package, extracted from git into ``folder``."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", PEER_COMMIT, "digest"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(
            f"cannot take commit {PEER_COMMIT} from git (a clone of digest is needed): {error}"
        )
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def write_config(folder: Path) -> Path:
    """A config with absolute paths (the peer read relative ones from the current directory)."""
    data = folder / "data"
    config = folder / "digest.toml"
    config.write_text(
        f'data_dir = "{data.as_posix()}"\n'
        "[[sources]]\n"
        'name = "Example"\n'
        'url = "http://127.0.0.1:9/feed.xml"\n',
        encoding="utf-8",
    )
    return config


def measure(args: list[str], *, path: Path | None, cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, max RSS in KB and modules imported, for one run of `digest ARGS`."""
    env = {**os.environ, "PYTHONPATH": str(path)} if path else dict(os.environ)
    code = f"{COUNT_MODULES}; sys.argv = ['digest', *sys.argv[1:]]; from digest.cli import main; main()"
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if child.returncode != 0:
        sys.exit(f"`digest {' '.join(args)}` failed ({child.returncode}): {err.decode()[-500:]}")
    return elapsed, usage.ru_maxrss, int(err.decode().split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        peer = peer_package(folder / "peer")
        (folder / "work").mkdir()
        # Each its own data directory: their databases' schema versions may differ.
        configs = {}
        for name, path in (("ours", None), ("peer", peer)):
            (folder / name / "data").mkdir(parents=True, exist_ok=True)
            configs[name] = str(write_config(folder / name))
            add = ["--config", configs[name], "subscribers", "add", "ana@example.com"]
            measure(add, path=path, cwd=folder)
        commands = [
            ["--help"],
            ["--config", "CONFIG", "status"],
            ["--config", "CONFIG", "sources"],
            ["--config", "CONFIG", "subscribers", "list"],
            ["--config", "CONFIG", "collect", "--help"],
        ]
        load = os.getloadavg()[0]
        print(f"start-up, median of {runs} runs each; load average {load:.1f} at the start\n")
        print(f"| command | digest | peer ({PEER_COMMIT}) | peer / digest |")
        print("|---|---|---|---|")
        for args in commands:
            ours, theirs = [], []
            for _ in range(runs):  # interleaved, so a change in load hits both alike
                mine = [configs["ours"] if a == "CONFIG" else a for a in args]
                peers = [configs["peer"] if a == "CONFIG" else a for a in args]
                ours.append(measure(mine, path=None, cwd=folder / "work"))
                theirs.append(measure(peers, path=peer, cwd=folder / "work"))
            a, b = _median(ours), _median(theirs)
            shown = " ".join(x for x in args if x not in ("--config", "CONFIG"))
            print(
                f"| `digest {shown}` | {a[0]:.3f} s, {a[1] / 1024:.0f} MB, {a[2]} modules "
                f"| {b[0]:.3f} s, {b[1] / 1024:.0f} MB, {b[2]} modules | {b[0] / a[0]:.1f}× |"
            )


def _median(samples: list[tuple[float, int, int]]) -> tuple[float, float, int]:
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        samples[0][2],
    )


if __name__ == "__main__":
    main()
