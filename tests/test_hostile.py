"""Hostile and odd inputs (issue 13): each served on 127.0.0.1 beside a healthy feed.

Every case runs `digest collect` (or the pattern driver) in a subprocess under a
memory limit and a time limit, as CI does, and checks that the healthy feed of
the same run was still collected.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import re
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.store import open_store
from digest.workers import within_budget

from .conftest import ROOT, HttpServer, digest_command, respond

MEMORY = 1_500_000_000
"""Address space a collecting process may use (RLIMIT_AS); one expanded bomb needs more."""
SECONDS = 120
"""Wall-clock limit of one collecting process (generous: the machine is shared)."""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_limited(
    command: list[str], *, seconds: float = SECONDS
) -> subprocess.CompletedProcess[str]:
    """``command`` under the memory limit; fails the test when it outlives ``seconds``."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds,
        preexec_fn=_limited,
        cwd=ROOT,
    )


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(title: str, link: str, description: str = "Text.") -> str:
    return f"<item><title>{title}</title><link>{link}</link><description>{description}</description></item>"


HEALTHY = rss(item("Healthy news", "https://news.example.com/healthy"))


def write_config(server: HttpServer, tmp_path: Path, feeds: dict[str, str], **collect: str) -> Path:
    """A config with a healthy feed and ``feeds`` (name -> path); 127.0.0.1 allowed."""
    server.routes["/healthy.xml"] = lambda h: respond(h, 200, HEALTHY)
    lines = [f'data_dir = "{(tmp_path / "data").as_posix()}"', "[collect]"]
    lines += ['allow_hosts = ["127.0.0.1"]', *(f"{k} = {v}" for k, v in collect.items())]
    for name, path in {"Healthy": "healthy.xml", **feeds}.items():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{server.url(path)}"']
        if name != "Markets":  # the one with an article page to fetch
            lines.append('full_text = "never"')
    config = tmp_path / "digest.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def collect(config: Path) -> subprocess.CompletedProcess[str]:
    return run_limited(digest_command("--config", str(config), "collect"))


def titles(tmp_path: Path) -> set[str]:
    with open_store(tmp_path / "data") as store:
        return {a.title for a in store.latest_articles(1000)}


# --- 1. patterns --------------------------------------------------------------------------


def test_every_pattern_runs_in_linear_time_on_long_repetitive_text() -> None:
    try:
        result = run_limited([sys.executable, "-m", "tests.patterns"], seconds=240)
    except subprocess.TimeoutExpired as timeout:
        started = [
            line for line in str(timeout.stdout or "").splitlines() if line.startswith("pattern")
        ]
        raise AssertionError(f"hung on {started[-1] if started else 'import'}") from None
    slow = [line for line in result.stdout.splitlines() if line.startswith("slow")]
    assert result.returncode == 0 and not slow, slow or result.stderr
    assert result.stdout.splitlines()[-1] == "done"


CURRENCIES = " ".join(
    f"{code} {rate}"
    for code, rate in [
        ("EUR", "1.08"),
        ("GBP", "1.27"),
        ("JPY", "151.2"),
        ("CHF", "0.91"),
        ("CAD", "1.36"),
        ("AUD", "0.65"),
        ("NZD", "0.60"),
        ("SEK", "10.4"),
    ]
    * 4
)


def test_a_page_with_a_long_currency_line_is_extracted(
    http_server: HttpServer, tmp_path: Path
) -> None:
    paragraph = "The central bank held rates steady on Tuesday, citing slower inflation. " * 8
    page = f"<html><body><article><h1>Rates</h1><p>{paragraph}</p><p>{CURRENCIES} as of noon</p></article></body></html>"
    http_server.routes["/rates.html"] = lambda h: respond(
        h, 200, page.encode(), Content_Type="text/html; charset=utf-8"
    )
    teaser = item("Rates held", http_server.url("rates.html"), "Teaser.")
    http_server.routes["/markets.xml"] = lambda h: respond(h, 200, rss(teaser))
    config = write_config(http_server, tmp_path, {"Markets": "markets.xml"})
    result = collect(config)
    assert result.returncode == 0, result.stderr
    assert titles(tmp_path) == {"Healthy news", "Rates held"}
    with open_store(tmp_path / "data") as store:
        (rates,) = [a for a in store.latest_articles(10) if a.title == "Rates held"]
    assert "held rates steady" in rates.text


# --- 2. compressed bombs ------------------------------------------------------------------


def gzip_of_repeats(megabytes: int) -> bytes:
    """A gzip stream of ``megabytes`` MB of "<", made without compressing them all.

    One megabyte is deflated and ended with a full flush, which makes the block
    stand alone; the stream repeats it, then adds the final block and the trailer.
    """
    chunk = b"<" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = functools.reduce(lambda value, _: zlib.crc32(chunk, value), range(megabytes), 0)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    trailer = struct.pack("<II", crc, (megabytes << 20) & 0xFFFFFFFF)
    return GZIP_HEADER + block * megabytes + end + trailer


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def test_a_body_compressed_twice_is_cut_off_at_max_bytes(
    http_server: HttpServer, tmp_path: Path
) -> None:
    bomb = gzip.compress(gzip_of_repeats(2000), compresslevel=9)
    assert len(bomb) < 10_000
    http_server.routes["/bomb.xml"] = lambda h: respond(
        h, 200, bomb, Content_Encoding="gzip, gzip", Content_Type="application/rss+xml"
    )
    config = write_config(http_server, tmp_path, {"Bomb": "bomb.xml"})
    result = collect(config)
    assert result.returncode == 0
    assert result.stderr.strip() == (
        "failed    Bomb: body is over the 5,000,000-byte cap (collect.max_bytes) once decoded"
    )
    assert titles(tmp_path) == {"Healthy news"}


def test_more_than_two_layers_of_encoding_are_refused(
    http_server: HttpServer, tmp_path: Path
) -> None:
    body = gzip.compress(gzip.compress(gzip.compress(HEALTHY)))
    http_server.routes["/layers.xml"] = lambda h: respond(
        h, 200, body, Content_Encoding="gzip, gzip, gzip"
    )
    config = write_config(http_server, tmp_path, {"Layers": "layers.xml"})
    result = collect(config)
    assert result.stderr.strip() == (
        "failed    Layers: 3 layers of Content-Encoding (gzip, gzip, gzip); at most 2"
    )
    assert titles(tmp_path) == {"Healthy news"}


# --- 5. bad references --------------------------------------------------------------------


def test_bad_character_references_cost_nothing_but_themselves(
    http_server: HttpServer, tmp_path: Path
) -> None:
    feed = rss(
        item("Smile &#55357;&#56832;", "https://news.example.com/smile"),
        item("Beyond &#1114112; Unicode &#xD800;", "https://news.example.com/beyond"),
        item("Plain", "https://news.example.com/plain"),
    )
    http_server.routes["/odd.xml"] = lambda h: respond(h, 200, feed)
    config = write_config(http_server, tmp_path, {"Odd": "odd.xml"})
    result = collect(config)
    assert result.returncode == 0, result.stderr
    assert titles(tmp_path) == {"Healthy news", "Smile 😀", "Beyond \ufffd Unicode \ufffd", "Plain"}


# --- 6. a big feed ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_big_feed_does_not_make_a_healthy_one_time_out(
    http_server: HttpServer, tmp_path: Path
) -> None:
    # About 5 s of parsing on an idle machine, more than the late feed's timeout.
    big = rss(*(f"<item><title>Item {n}</title></item>" for n in range(40_000)))
    http_server.routes["/big.xml"] = lambda h: respond(h, 200, big)

    def late(handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(1)
        respond(handler, 200, rss(item("Late news", "https://news.example.com/late")))

    http_server.routes["/late.xml"] = late
    config = write_config(
        http_server, tmp_path, {"Big": "big.xml", "Late": "late.xml"}, timeout='"10s"'
    )
    result = collect(config)
    assert result.returncode == 0, result.stderr
    assert {"Healthy news", "Late news", "Item 0"} <= titles(tmp_path)


# --- 7. huge fields -----------------------------------------------------------------------


def test_a_150_kb_title_is_cut_with_an_ellipsis(http_server: HttpServer, tmp_path: Path) -> None:
    huge = "Enormous " * 17_000
    feed = rss(item(huge, "https://news.example.com/huge", "A story. " * 50))
    http_server.routes["/huge.xml"] = lambda h: respond(h, 200, feed)
    config = write_config(http_server, tmp_path, {"Huge": "huge.xml"})
    assert collect(config).returncode == 0
    (title,) = titles(tmp_path) - {"Healthy news"}
    assert len(title) <= 300 and title.endswith("Enormous…")
    build = run_limited(digest_command("--config", str(config), "build", "--no-collect"))
    assert build.returncode == 0, build.stderr
    text = next((tmp_path / "data" / "editions").glob("*/edition.txt")).read_text("utf-8")
    assert "Healthy news" in text and "Enormous Enormous" in text


# --- 8. interrupted -----------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_collect_keeps_the_feeds_that_arrived(
    http_server: HttpServer, tmp_path: Path, stop: signal.Signals
) -> None:
    release = threading.Event()

    def hang(handler: http.server.BaseHTTPRequestHandler) -> None:
        release.wait(30)
        respond(handler, 200, rss(item("Too late", "https://news.example.com/late")))

    http_server.routes["/slow.xml"] = hang
    http_server.routes["/other.xml"] = lambda h: respond(
        h, 200, rss(item("Other news", "https://news.example.com/other"))
    )
    config = write_config(http_server, tmp_path, {"Other": "other.xml", "Slow": "slow.xml"})
    process = subprocess.Popen(
        digest_command("--config", str(config), "collect"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limited,
    )
    try:
        assert process.stdout is not None
        arrived = [process.stdout.readline(), process.stdout.readline()]
        assert sorted(arrived) == ["ok        Healthy: 1 entries\n", "ok        Other: 1 entries\n"]
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=SECONDS)
    finally:
        release.set()
        process.kill()
    assert (process.returncode, stderr.strip()) == (130, "aborted")
    assert titles(tmp_path) == {"Healthy news", "Other news"}


# --- the extraction budget ----------------------------------------------------------------


def test_the_budget_stops_a_runaway_pattern_with_one_line() -> None:
    runaway = re.compile(r"^(a+)+$")  # exponential on "aaa…!": only a budget stops it
    started = time.monotonic()
    with pytest.raises(SourceError) as stopped:
        within_budget(0.5, "extraction", runaway.match, "a" * 60 + "!")
    assert str(stopped.value) == "extraction took longer than 0.5s; given up"
    assert time.monotonic() - started < 30
    assert within_budget(0.5, "extraction", runaway.match, "aaaa") is not None
