"""The command line, run as a real subprocess the way a user runs it."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import lxml.html
import pytest

from digest import demo

from .conftest import SHARED, DemoSite, HttpServer, digest_command, respond


def run(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        digest_command(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
        env={**os.environ, "BROWSER": "", **(env or {})},
    )


def test_every_command_has_help(tmp_path: Path) -> None:
    commands = [
        "init",
        "collect",
        "build",
        "preview",
        "send",
        "summarize",
        "extract",
        "demo",
        "sources",
        "subscribers",
        "daemon",
        "run",
        "status",
        "stories",
        "editions",
    ]
    for command in commands:
        result = run(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage: digest" in result.stdout


def test_demo_builds_an_edition_and_fills_the_outbox(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    html_line = next(line for line in result.stdout.splitlines() if line.startswith("edition.html"))
    html = tmp_path / html_line.split()[-1]
    assert html.is_file() and 'style="' in html.read_text(encoding="utf-8")
    outbox = list((tmp_path / ".digest-demo" / "outbox").glob("*/*.eml"))
    assert len(outbox) == 3
    # Two newsletters: Chloé chose two sections of the daily one (its second variant), and
    # Ben also reads "Markets Morning", made in Tokyo's date.
    assert "; 2 variants rendered" in result.stdout
    markets = [line for line in result.stdout.splitlines() if line.startswith("edition markets/")]
    assert len(markets) == 2 and ": 1 sent to " in markets[1]
    assert (
        len(list((tmp_path / ".digest-demo" / "outbox" / "markets").glob("*/ben.okafor*.eml"))) == 1
    )
    message = email.message_from_bytes(outbox[0].read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert result.stdout.strip().splitlines()[-1].startswith("open file://")
    # What it opens still shows its pictures and opens its articles once the demo site stopped.
    opened = Path(url2pathname(urlsplit(result.stdout.split()[-1]).path))
    doc = lxml.html.fromstring(opened.read_text(encoding="utf-8"))
    pictures = [img.get("src") for img in doc.cssselect("img")]
    articles = [a.get("href") for a in doc.cssselect(".headline a")]
    assert pictures and len(articles) > 20
    for url in pictures + articles:
        assert url.startswith("file://"), url
        assert Path(url2pathname(urlsplit(url).path)).is_file(), url
    # Running the demo again the same day sends nobody a second copy.
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 sent" in again.stdout
    assert len(list((tmp_path / ".digest-demo" / "outbox").glob("*/*.eml"))) == 3
    # `digest stories` explains the edition the demo built.
    assert f"config        {tmp_path / '.digest-demo' / 'demo.toml'}" in result.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo_config = str(tmp_path / ".digest-demo" / "demo.toml")
    stories = run("--config", demo_config, "stories", cwd=elsewhere)
    assert stories.returncode == 0, stories.stderr
    lines = stories.stdout.splitlines()
    assert lines[0].startswith("36 new articles; ")
    assert lines[1] == "1. top: Fed Cuts Rates by a Quarter Point, Signals Caution on Further Moves"
    assert lines[2].startswith("   score ") and "3 outlets" in lines[2]
    assert (
        "   also Global Markets Wire: Wall Street Climbs After Fed Trims Rates but Flags Slower Path"
        in lines
    )


def test_the_demo_takes_a_free_port_when_its_own_is_in_use(tmp_path: Path) -> None:
    holder = socket.socket()
    try:
        holder.bind((demo.HOST, demo.PORT))
        holder.listen()
    except OSError:
        pass  # something else holds it already: the same situation
    try:
        result = run("demo", cwd=tmp_path)
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout and "not one source" not in result.stderr
    assert len(list((tmp_path / ".digest-demo" / "outbox").glob("*/*.eml"))) == 3


def test_init_then_build_from_a_local_feed(tmp_path: Path) -> None:
    assert run("init", "site", cwd=tmp_path).returncode == 0
    site = tmp_path / "site"
    assert (site / "config" / "digest.toml").is_file() and (
        site / "templates" / "edition.html"
    ).is_file()
    feed = site / "feed.xml"
    feed.write_text(
        """<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><title>Rates held at 4%</title><link>https://example.com/rates</link><guid>https://example.com/rates</guid>
<description>The central bank held its main rate at 4% on Thursday, as expected by most economists. It said
inflation was still too high, and that it would watch wages closely before acting. Markets barely moved.</description></item>
</channel></rss>""",
        encoding="utf-8",
    )
    config = (site / "config" / "digest.toml").read_text(encoding="utf-8")
    # Relative to the config file's folder, site/config/.
    config = config.replace("https://www.econotimes.com/rss/economy.xml", "../feed.xml").replace(
        'full_text = "auto"', 'full_text = "never"'
    )
    (site / "config" / "digest.toml").write_text(config, encoding="utf-8")
    result = run("build", cwd=site)
    assert result.returncode == 0, result.stderr
    assert "1 new articles" in result.stdout
    html = (site / ".digest").glob("editions/*/edition.html")
    assert "Rates held at 4%" in next(html).read_text(encoding="utf-8")
    again = run("init", "site", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_summarize_reads_standard_input(tmp_path: Path) -> None:
    text = (
        "U.S. President Ana Ruiz confirmed on Sunday that talks had failed. Gov. Lee said he was disappointed. "
        "The two sides will meet again in Jan. next year. Analysts expect no deal before then."
    )
    result = run("summarize", "-", "--sentences", "2", cwd=tmp_path, stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "U.S. President Ana Ruiz confirmed on Sunday that talks had failed."
    )


def test_summarize_jsonl(tmp_path: Path) -> None:
    lines = [
        {
            "id": 1,
            "text": "The bank raised rates by half a point on Tuesday. Markets fell sharply after the decision. Traders had expected less.",
        },
        {"id": "b", "title": "Oil", "text": ""},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n"
    result = run("summarize", "--jsonl", "-", cwd=tmp_path, stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "b"]
    assert out[0]["summary"].startswith("The bank raised rates")
    assert out[1]["summary"] == ""
    bad = run("summarize", "--jsonl", "-", cwd=tmp_path, stdin="not json\n")
    assert (
        bad.returncode == 2
        and bad.stderr.strip()
        == "digest: error: <stdin>:1: expected a JSON object with 'id' and 'text'"
    )


@pytest.mark.skipif(not (SHARED / "seed").exists(), reason="../shared/seed is not here")
def test_summarize_the_seed_page(tmp_path: Path) -> None:
    result = run("summarize", str(SHARED / "seed" / "econotimes-article-page.txt"), cwd=tmp_path)
    assert result.stdout.startswith("U.S. President Donald Trump confirmed")


def test_extract_a_file_and_a_url(demo_site: DemoSite, tmp_path: Path) -> None:
    page = next(demo_site.server.folder.glob("econotimes/news/*.html"))
    from_file = run("extract", str(page), cwd=tmp_path)
    assert from_file.returncode == 0, from_file.stderr
    assert (
        "Sign up for daily updates" not in from_file.stdout and len(from_file.stdout.split()) > 150
    )
    from_url = run(
        "extract",
        demo_site.server.url(str(page.relative_to(demo_site.server.folder))),
        cwd=tmp_path,
    )
    assert from_url.stdout == from_file.stdout


def test_extract_reports_a_missing_page_in_one_line(
    http_server: HttpServer, tmp_path: Path
) -> None:
    http_server.routes["/gone"] = lambda h: respond(h, 500, b"oops")
    result = run("extract", http_server.url("gone"), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"digest: error: {http_server.url('gone')}: HTTP 500 Internal Server Error"
    )
    missing = run("extract", "no-such-file.html", cwd=tmp_path)
    assert (
        missing.returncode == 2
        and missing.stderr.strip()
        == "digest: error: no-such-file.html: cannot read: No such file or directory"
    )


def test_send_before_build_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "digest.toml").write_text("", encoding="utf-8")
    result = run("send", cwd=tmp_path)
    # The data directory is relative to the config's folder; send does not create it.
    data_dir = tmp_path / "config" / ".digest"
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"digest: error: config/digest.toml: data_dir: {data_dir} does not exist yet "
        "(`digest collect` or `digest build` creates it; check data_dir if it should be there)"
    )
    assert not data_dir.exists()
    assert run("subscribers", "add", "ana@example.com", cwd=tmp_path).returncode == 0
    result = run("send", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "digest: error: no edition to send yet: run `digest build` first"
    )


def test_subscribers(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text("", encoding="utf-8")
    env = {"DIGEST_CONFIG": str(tmp_path / "digest.toml")}
    assert (
        run(
            "subscribers", "add", "ana@example.com", "--name", "Ana", cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    bad = run("subscribers", "add", "not-an-address", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and bad.stderr.startswith(
        "digest: error: not-an-address: not a valid email address"
    )
    listed = run("subscribers", "list", cwd=tmp_path, env=env)
    assert listed.stdout == "ana@example.com\tconfirmed\tAna\n"
    assert run("subscribers", "remove", "ana@example.com", cwd=tmp_path, env=env).returncode == 0
    assert run("subscribers", "list", cwd=tmp_path, env=env).stdout == ""


def test_preview_prints_a_file_url_when_there_is_no_browser(
    demo_site: DemoSite, tmp_path: Path
) -> None:
    # The command runs on the real clock: rewrite the site for it.
    demo.write_site(
        demo_site.server.folder, base_url=demo_site.server.base_url, now=datetime.now(UTC)
    )
    result = run(
        "--config",
        str(demo_site.config_path),
        "preview",
        "--collect",
        cwd=tmp_path,
        env={"BROWSER": "false", "DISPLAY": ""},
    )
    assert result.returncode == 0, result.stderr
    url = next(line for line in result.stdout.splitlines() if line.startswith("file://"))
    assert url.endswith("/editions/preview/edition.html")
    # A preview consumes nothing: the real build still gets every article.
    build = run("--config", str(demo_site.config_path), "build", "--no-collect", cwd=tmp_path)
    assert build.returncode == 0 and "stories" in build.stdout


def test_the_module_runs_as_python_m_digest(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("digest, version")
