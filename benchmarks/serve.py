"""`digest serve` under load, beside the server it replaced, in the same run.

Each server runs as its own process (`python -m digest serve`) on 127.0.0.1 with its own data
directory, filled by its own code with 1 and then 365 editions (the HTML of the golden demo
edition, 45 KB, in each). wrk (Debian's package: `apt-get install wrk`) loads it with 1 and
32 connections; the table shows requests per second and the 99th-percentile latency for the
latest edition's page, the sign-up form and the archive list (/editions/), and each server's
peak memory.

    .venv/bin/python benchmarks/serve.py [--peer ../web-old] [--seconds 5]

``--peer`` is a checkout of digest from before digest.web (its stdlib wsgiref server); it runs
with this virtual environment's Python and its own code (PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "tests" / "golden" / "edition.html"
SECRET = "a-benchmark-secret-of-some-length"

POPULATE = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from digest.models import Email
from digest.store import open_store
data, count, html = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]).read_text()
first = datetime(2025, 1, 1, 7, 0, tzinfo=UTC)
with open_store(data) as store:
    for n in range(count):
        built = first + timedelta(days=n)
        key = built.date().isoformat()
        email = Email(key, f"Daily Digest, issue {n + 1}", html, "text " * 2000, "preheader")
        store.save_edition(email, number=n + 1, built=built, article_ids=[])
        files = {"edition.html": html, "edition.txt": "text", "edition.json": "{}"}
        store.write_archive(key, files)
    store.add_subscriber("known@example.com", now=first)
"""


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One `digest serve` process on its own data directory."""

    def __init__(self, checkout: Path, folder: Path, editions: int, *, extra: str = "") -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(checkout),
            "DIGEST_SECRET": SECRET,
            "DIGEST_CONFIG": str(folder / "digest.toml"),
        }
        (folder / "digest.toml").write_text(
            f'data_dir = "{(folder / "data").as_posix()}"\n'
            f'[newsletter]\nbase_url = "http://127.0.0.1:{self.port}"\n{extra}',
            encoding="utf-8",
        )
        subprocess.run(
            [sys.executable, "-c", POPULATE, str(folder / "data"), str(editions), str(HTML)],
            env=self.env,
            cwd=folder,
            check=True,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url("/editions/"), timeout=5) as answer:
                    answer.read()
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the server in {folder} did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def peak_memory_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wrk(url: str, connections: int, seconds: float) -> Result:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Result(rate, _percentile(output, "50%"), _percentile(output, "99%"), errors)


def signup_times(server: Server, addresses: list[str]) -> float:
    """The median time of a sign-up POST (form token and cookie included where the form has one)."""
    form = urllib.request.urlopen(server.url("/subscribe"), timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', form.read().decode())
    cookie = form.headers.get("Set-Cookie", "").split(";")[0]
    times = []
    for address in addresses:
        fields = {"email": address, **({"csrf": token.group(1)} if token else {})}
        request = urllib.request.Request(
            server.url("/subscribe"),
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Cookie": cookie} if cookie else {},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _percentile(output: str, which: str) -> float:
    found = re.search(rf"{re.escape(which)}\s+([\d.]+)(us|ms|s)\b", output)
    if found is None:
        return float("nan")
    value, unit = float(found.group(1)), found.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", type=Path, default=ROOT.parent / "web-old")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("benchmarks/serve.py needs wrk: apt-get install wrk")
    if not (args.peer / "digest" / "serve.py").exists():
        raise SystemExit(
            f"{args.peer}: expected a checkout of digest with digest/serve.py (--peer)"
        )
    print(f"load average at the start: {os.getloadavg()[0]:.1f}; {args.seconds:g} s per cell")
    print()
    print(
        f"{'editions':>8} {'page':<12} {'conns':>5} | {'digest req/s':>12} {'p50 ms':>7} "
        f"{'p99 ms':>7} | {'peer req/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>6}"
    )
    memory: list[str] = []
    sign_ups: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="digest-bench-serve-") as tmp:
        for editions in (1, 365):
            servers = {
                "digest": Server(
                    ROOT,
                    Path(tmp) / f"digest-{editions}",
                    editions,
                    extra="[web]\nsignups_per_client = 1_000_000\n",
                ),
                "peer": Server(args.peer, Path(tmp) / f"peer-{editions}", editions),
            }
            latest = f"/editions/{_latest_key(editions)}/"
            pages = [("/editions/", "/editions/")]
            if editions == 365:
                pages = [(latest, "latest"), ("/subscribe", "/subscribe"), *pages]
            try:
                for path, label in pages:
                    for server in servers.values():  # warm up: threads, connections, caches
                        wrk(server.url(path), 32, 1)
                    for connections in (1, 32):
                        ours = wrk(servers["digest"].url(path), connections, args.seconds)
                        theirs = wrk(servers["peer"].url(path), connections, args.seconds)
                        print(
                            f"{editions:>8} {label:<12} {connections:>5} | {ours.rate:>12,.0f} "
                            f"{ours.p50_ms:>7.2f} {ours.p99_ms:>7.2f} | {theirs.rate:>10,.0f} "
                            f"{theirs.p50_ms:>7.2f} {theirs.p99_ms:>7.2f} | "
                            f"{ours.rate / theirs.rate:>5.2f}×"
                            + (
                                f"  errors: {ours.errors} / {theirs.errors}"
                                if ours.errors or theirs.errors
                                else ""
                            )
                        )
                if editions == 365:
                    for name, server in servers.items():
                        known = signup_times(server, ["known@example.com"] * 100)
                        unknown = signup_times(server, [f"new{n}@example.org" for n in range(100)])
                        sign_ups[name] = f"{name}: known {known:.2f} ms, unknown {unknown:.2f} ms"
                for name, server in servers.items():
                    memory.append(
                        f"{name} with {editions} editions: {server.peak_memory_mb():,.0f} MB"
                    )
            finally:
                for server in servers.values():
                    server.stop()
    print()
    print("sign-up POST, median of 100 (outbox transport): " + "; ".join(sign_ups.values()))
    print("peak memory (VmHWM) of each server process: " + "; ".join(memory))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def _latest_key(editions: int) -> str:
    from datetime import date, timedelta

    return (date(2025, 1, 1) + timedelta(days=editions - 1)).isoformat()


if __name__ == "__main__":
    main()
