"""Per-host politeness across processes: three `digest collect` at once, into one store,
hold `collect.per_host` and `collect.host_interval` together, as the server counts them."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import HttpServer, digest_command, respond

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>One</title><link>https://news.example.com/1</link>"
    b"<description>Text.</description></item></channel></rss>"
)


@dataclass
class Meter:
    """What the server saw: when each request began, and the most it had in hand at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    most: int = 0
    starts: list[float] = field(default_factory=list)

    def slow_feed(self, seconds: float):  # type: ignore[no-untyped-def]
        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.starts.append(time.monotonic())
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            try:
                time.sleep(seconds)
                respond(handler, 200, FEED)
            finally:
                with self.lock:
                    self.in_flight -= 1

        return route


def site(
    server: HttpServer,
    tmp_path: Path,
    database_url: str,
    *,
    feeds: int,
    seconds: float,
    collect: str,
) -> tuple[Path, Meter]:
    """A config naming ``feeds`` feeds on the server, each answering after ``seconds``."""
    meter = Meter()
    lines = [f'data_dir = "{(tmp_path / "data").as_posix()}"']
    if database_url:
        lines.append(f'database_url = "{database_url}"')
    lines += ["[collect]", 'allow_hosts = ["127.0.0.1"]', collect]
    for number in range(feeds):
        server.routes[f"/feed{number}.xml"] = meter.slow_feed(seconds)
        lines += [
            "[[sources]]",
            f'name = "Feed {number}"',
            f'url = "{server.url(f"feed{number}.xml")}"',
            'full_text = "never"',
        ]
    config = tmp_path / "digest.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config, meter


def collect_at_once(config: Path, processes: int) -> list[subprocess.Popen[str]]:
    command = digest_command("--config", str(config), "collect")
    return [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(processes)
    ]


def finished(running: list[subprocess.Popen[str]]) -> list[str]:
    outputs = [p.communicate(timeout=120)[0] for p in running]
    assert [p.returncode for p in running] == [0] * len(running), outputs
    return outputs


def test_three_processes_hold_per_host_together(
    http_server: HttpServer, tmp_path: Path, engine_url: str
) -> None:
    config, meter = site(
        http_server, tmp_path, engine_url, feeds=8, seconds=0.3, collect="per_host = 2"
    )
    finished(collect_at_once(config, 3))
    assert len(meter.starts) == 24, "each process fetched every feed"
    assert meter.most == 2, f"at most 2 requests at once to the host; the server saw {meter.most}"


def test_three_processes_keep_the_host_interval_together(
    http_server: HttpServer, tmp_path: Path, engine_url: str
) -> None:
    config, meter = site(
        http_server,
        tmp_path,
        engine_url,
        feeds=3,
        seconds=0.02,
        collect='per_host = 4\nhost_interval = "0.5s"',
    )
    finished(collect_at_once(config, 3))
    starts = sorted(meter.starts)
    assert len(starts) == 9
    # Turns are booked 0.5 s apart; a request reaches the server a moment after its turn,
    # later on a busy machine (a fresh process's first request the latest), so single gaps
    # jitter while the pace holds. Kept by each process alone, the pace would let the
    # three send their nine requests within 1 s, three at a time.
    late = 1.0
    assert starts[-1] - starts[0] >= 8 * 0.5 - late, [round(t - starts[0], 3) for t in starts]
    in_two_seconds = max(sum(1 for t in starts if begin <= t < begin + 2.0) for begin in starts)
    assert in_two_seconds <= 4 + int(late / 0.5) + 1, [round(t - starts[0], 3) for t in starts]


@pytest.mark.slow
def test_a_place_held_by_a_killed_process_is_free_again_after_its_timeout(
    http_server: HttpServer, tmp_path: Path, fresh_postgres: str
) -> None:
    # One request in flight to the host at a time; the first process is killed while it
    # holds the place, in the middle of a request the server never finishes in time.
    config, meter = site(
        http_server,
        tmp_path,
        fresh_postgres,
        feeds=2,
        seconds=3.0,
        collect='per_host = 1\ntimeout = "1s"',
    )
    command = digest_command("--config", str(config), "collect")
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait(lambda: meter.in_flight == 1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    (second,) = collect_at_once(config, 1)
    second.communicate(timeout=60)
    # The killed process's place ran out after its timeout and the margin (1 s + 5 s), not before.
    waited = meter.starts[1] - started
    assert 3.0 <= waited <= 30, waited


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
