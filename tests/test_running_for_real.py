"""Running digest the way a new user does: from cron, in another directory, with real feeds.

Real subprocesses, a real HTTP server for the feeds and a real SMTP server (aiosmtpd).
Each test checks what the command says and its exit status: 0 done, 1 not done, 2 usage
or config.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from .conftest import HttpServer, digest_command, respond
from .mailserver import MailServer

TEXT = (
    "The central bank held its main rate at 4% on Thursday, as most economists expected. "
    "It said inflation was still too high and that it would watch wages closely before acting. "
    "Markets barely moved after the decision, and the currency ended the day flat."
)


def rss(*items: tuple[str, datetime | str]) -> bytes:
    """An RSS feed with one item per (title, date); a str date is written as it is."""
    entries = []
    for n, (title, date) in enumerate(items):
        when = date if isinstance(date, str) else format_datetime(date, usegmt=True)
        entries.append(
            f"<item><title>{title}</title><link>https://news.example.com/{n}</link>"
            f"<guid>https://news.example.com/{n}</guid><pubDate>{when}</pubDate>"
            f"<description>{TEXT}</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        digest_command(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        env={**os.environ, "BROWSER": ""},
    )


def newsletter(tmp_path: Path, feed_url: str, smtp: MailServer | None = None) -> Path:
    """`digest init` in tmp/srv/mynews, with one source (and sending to ``smtp``)."""
    assert run("init", str(tmp_path / "srv" / "mynews"), cwd=tmp_path).returncode == 0
    config = tmp_path / "srv" / "mynews" / "config" / "digest.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("https://www.econotimes.com/rss/economy.xml", feed_url)
    text = text.replace('full_text = "auto"', 'full_text = "never"')
    assert text.count("\nallow_hosts = []\n") == 1
    text = text.replace("\nallow_hosts = []\n", '\nallow_hosts = ["127.0.0.1"]\n')
    if smtp is not None:
        for old, new in (
            ('transport = "outbox"', 'transport = "smtp"'),
            ('# host = "smtp.example.com"', f'host = "{smtp.host}"'),
            ("port = 587", f"port = {smtp.port}"),
            ('security = "starttls"', 'security = "none"'),
        ):
            assert text.count(f"\n{old}\n") == 1, old
            text = text.replace(f"\n{old}\n", f"\n{new}\n")
    config.write_text(text, encoding="utf-8")
    return config


def test_a_cron_job_in_another_directory_sends_with_the_newsletters_templates(
    http_server: HttpServer, smtp_server: MailServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    http_server.routes["/feed.xml"] = lambda h: respond(
        h, 200, rss(("Rates held at 4%", now - timedelta(hours=2)))
    )
    config = newsletter(tmp_path, http_server.url("feed.xml"), smtp_server)
    elsewhere = tmp_path / "home"  # cron's working directory
    elsewhere.mkdir()
    added = run("--config", str(config), "subscribers", "add", "ana@example.com", cwd=elsewhere)
    assert added.returncode == 0, added.stderr

    result = run("--config", str(config), "run", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert [r.recipients for r in smtp_server.received] == [["ana@example.com"]]
    html = smtp_server.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "#14213d" in html, "the newsletter's own template (digest init's starter) was used"
    assert list(elsewhere.iterdir()) == [], "nothing is created where cron happens to run"
    data_dir = tmp_path / "srv" / "mynews" / ".digest"
    assert (data_dir / "digest.sqlite3").is_file()
    status = run("--config", str(config), "status", cwd=elsewhere)
    assert status.stdout.splitlines()[:3] == [
        f"config        {config}",
        f"data          {data_dir}",
        f"templates     {tmp_path / 'srv' / 'mynews' / 'templates'}, then the default theme",
    ]


def test_exit_status_says_whether_the_job_was_done(http_server: HttpServer, tmp_path: Path) -> None:
    http_server.routes["/down.xml"] = lambda h: respond(h, 503, b"down")
    config = newsletter(tmp_path, http_server.url("down.xml"))
    here = config.parent.parent

    collected = run("collect", cwd=here)
    assert collected.returncode == 1, collected.stderr
    assert collected.stderr.splitlines()[-1] == (
        "not one source could be fetched: see the lines above"
    )
    built = run("build", cwd=here)
    assert built.returncode == 1, built.stderr
    ran = run("run", cwd=here)
    assert ran.returncode == 1, ran.stderr
    assert "not one source could be fetched; the next `digest run` tries again" in ran.stderr
    again = run("run", cwd=here)  # a failed morning does not settle the day
    assert again.returncode == 1 and "already" not in again.stderr

    # Nobody to send to is not a sent newsletter.
    now = datetime.now(UTC)
    http_server.routes["/down.xml"] = lambda h: respond(h, 200, rss(("News", now)))
    assert run("build", cwd=here).returncode == 0
    nobody = run("send", cwd=here)
    assert nobody.returncode == 1
    assert "nobody to send it to: no confirmed subscribers" in nobody.stderr

    # A config without sources is a config error.
    config.write_text(config.read_text(encoding="utf-8").split("[[sources]]")[0], encoding="utf-8")
    empty = run("collect", cwd=here)
    assert empty.returncode == 2
    assert empty.stderr.strip() == (
        "config/digest.toml: sources: expected at least one [[sources]] table, got none"
    )


def test_a_rebuild_after_the_send_says_it_was_sent(
    http_server: HttpServer, smtp_server: MailServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    http_server.routes["/feed.xml"] = lambda h: respond(h, 200, rss(("News", now)))
    config = newsletter(tmp_path, http_server.url("feed.xml"), smtp_server)
    here = config.parent.parent
    assert run("subscribers", "add", "ana@example.com", cwd=here).returncode == 0
    assert run("build", cwd=here).returncode == 0
    assert run("send", cwd=here).returncode == 0
    rebuilt = run("build", "--no-collect", cwd=here)
    assert rebuilt.returncode == 0
    assert "already being sent" not in rebuilt.stdout
    assert "was already sent (1 sent); kept as it is" in rebuilt.stdout


def test_no_edition_says_how_old_the_articles_are_and_which_option_to_change(
    http_server: HttpServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    http_server.routes["/feed.xml"] = lambda h: respond(
        h,
        200,
        rss(("Old news", now - timedelta(days=3, hours=2)), ("Older", now - timedelta(days=9))),
    )
    config = newsletter(tmp_path, http_server.url("feed.xml"))
    here = config.parent.parent
    why = (
        "no edition: 0 new articles (need 1); 2 collected articles are older than "
        "collect.window (24h), the newest published 3d 2h ago: raise collect.window in "
        "config/digest.toml to include them"
    )
    built = run("build", cwd=here)
    assert built.returncode == 0, built.stderr
    assert why in built.stdout.splitlines()
    stories = run("stories", cwd=here)
    assert why in stories.stdout.splitlines()
    preview = run("preview", "--no-browser", cwd=here)
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    assert lines[:2] == [
        why,
        "previewing the 2 latest collected articles instead (already sent or not, any age): "
        "this is not what `digest build` would make",
    ]


PORTUGUESE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Notícias</title><language>pt-BR</language>
<item><title>Eleição: candidatos fazem último debate</title><link>https://noticias.example.com/1</link>
<pubDate>Seg, 24 Set 2018 19:42:40 -0300</pubDate><description>Os candidatos à presidência
fizeram o último debate antes do primeiro turno. O encontro durou três horas e tratou de
saúde, segurança e emprego. Analistas dizem que ninguém saiu vencedor.</description></item>
<item><title>Pesquisa mostra empate técnico</title><link>https://noticias.example.com/2</link>
<pubDate>Dom, 23 Set 2018 08:15:00 -0300</pubDate><description>Uma nova pesquisa de intenção
de voto mostra dois candidatos empatados dentro da margem de erro. O levantamento ouviu
duas mil pessoas em todos os estados.</description></item>
<item><title>Tribunal divulga calendário</title><link>https://noticias.example.com/3</link>
<pubDate>Sáb, 22 Set 2018 21:00:00 -0300</pubDate><description>O tribunal eleitoral divulgou
o calendário da apuração. Os primeiros resultados devem sair às oito da noite.</description></item>
<item><title>Sem data: nota da redação</title><link>https://noticias.example.com/4</link>
<description>A redação informa que a edição impressa de amanhã terá um caderno especial
sobre cultura, com entrevistas, resenhas e a agenda da semana na cidade.</description></item>
</channel></rss>"""


def test_a_portuguese_feed_of_2018_makes_no_fresh_story_and_an_undated_entry_shows_no_time(
    http_server: HttpServer, tmp_path: Path
) -> None:
    body = PORTUGUESE.encode()
    http_server.routes["/noticias.xml"] = lambda h: respond(h, 200, body)
    config = newsletter(tmp_path, http_server.url("noticias.xml"))
    here = config.parent.parent

    built = run("build", cwd=here)

    assert built.returncode == 0, built.stderr
    edition = json.loads(next((here / ".digest").glob("editions/*/edition.json")).read_text())
    titles = [i["title"] for s in edition["sections"] for i in s["items"]] + [
        i["title"] for i in edition.get("top", [])
    ]
    assert set(titles) == {"Sem data: nota da redação"}, "the 2018 stories are not today's news"
    text = next((here / ".digest").glob("editions/*/edition.txt")).read_text()
    assert "Sem data: nota da redação" in text
    line = text.splitlines()[text.splitlines().index("Sem data: nota da redação") + 1]
    assert line.strip() == "EconoTimes", "no invented time beside the source"
    stories = run("stories", cwd=here)
    assert " + 0.00 fresh)" in stories.stdout, "undated: no freshness on that basis"
    with closing(sqlite3.connect(here / ".digest" / "digest.sqlite3")) as db:
        dates = dict(db.execute("SELECT title, published FROM articles WHERE dated = 1"))
    assert dates["Eleição: candidatos fazem último debate"] == "2018-09-24T22:42:40+00:00"
