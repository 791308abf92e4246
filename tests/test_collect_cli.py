"""`digest collect` and `digest sources` as a user runs them: lines when piped, a bar on a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

from .conftest import HttpServer, digest_command, respond

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>One</title><link>https://news.example.com/1</link>"
    b"<description>Text.</description></item></channel></rss>"
)


def site(server: HttpServer, tmp_path: Path) -> Path:
    """Three sources: one that works, one that fails, one that is gone."""
    server.routes["/good.xml"] = lambda h: respond(h, 200, FEED)
    server.routes["/bad.xml"] = lambda h: respond(h, 500, b"boom")
    server.routes["/gone.xml"] = lambda h: respond(h, 410, b"")
    lines = [
        f'data_dir = "{(tmp_path / "data").as_posix()}"',
        "[collect]",
        'allow_hosts = ["127.0.0.1"]',
    ]
    for name in ("good", "bad", "gone"):
        lines += [
            "[[sources]]",
            f'name = "{name.title()}"',
            f'url = "{server.url(name + ".xml")}"',
            'full_text = "never"',
        ]
    config = tmp_path / "digest.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def test_piped_collect_prints_a_line_per_source_and_the_counts_last(
    http_server: HttpServer, tmp_path: Path
) -> None:
    config = site(http_server, tmp_path)
    result = subprocess.run(
        digest_command("--config", str(config), "collect"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.strip().splitlines()
    assert sorted(out[:-1]) == [
        "disabled  Gone: 410 Gone: source disabled; remove it from the config",
        "ok        Good: 1 entries",
    ]
    assert result.stderr.strip() == "failed    Bad: HTTP 500 Internal Server Error"
    assert out[-1] == (
        "3 sources: 1 succeeded, 0 unchanged, 1 failed, 0 not due, 1 disabled; "
        "1 new articles, 0 updated"
    )
    table = subprocess.run(
        digest_command("--config", str(config), "sources"), capture_output=True, text=True
    )
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert rows["Good"].endswith("    0  ok")
    assert rows["Bad"].endswith("    1  HTTP 500 Internal Server Error")
    assert "disabled: 410 Gone at" in rows["Gone"]


def test_collect_on_a_terminal_shows_a_progress_bar(
    http_server: HttpServer, tmp_path: Path
) -> None:
    config = site(http_server, tmp_path)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        digest_command("--config", str(config), "collect"),
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100"},
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 90)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=30)
    os.close(leader)
    text = output.decode()
    assert process.returncode == 0, text
    assert "collecting" in text and "3/3" in text
    assert "ok        Good" not in text, "no line per source on a terminal"
    assert "failed    Bad: HTTP 500 Internal Server Error" in text, "failures are still listed"
    assert text.strip().splitlines()[-1].startswith("3 sources: 1 succeeded, 0 unchanged, 1 failed")
