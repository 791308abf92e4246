"""The network guard (issue 13 point 4): internal addresses are refused unless allowed by name.

Each run has a healthy feed on 127.0.0.1 (allowed through collect.allow_hosts)
beside the hostile ones, and runs `digest collect` under the hostile-input limits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from digest.collect.guard import Allowed, RefusedAddress, vetted
from digest.store import open_store

from .conftest import HttpServer, respond
from .test_hostile import HEALTHY, collect, item, rss, titles

HOSTILE = {
    "Metadata": (
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254 is an internal address (link-local)",
    ),
    "Mapped": (
        "http://[::ffff:169.254.169.254]/feed",
        "::ffff:169.254.169.254 is an internal address (link-local)",
    ),
    "Decimal": (
        "http://2852039166/feed",
        "2852039166 (169.254.169.254) is an internal address (link-local)",
    ),
    "Octal": (  # httpx.URL refuses to read it at all
        "http://0251.0376.0251.0376/feed",
        "invalid URL: Invalid IPv4 address: '0251.0376.0251.0376'",
    ),
    "Private": ("http://10.1.2.3/feed", "10.1.2.3 is an internal address (private)"),
    "Loopback": ("http://127.0.0.2/feed", "127.0.0.2 is an internal address (loopback)"),
    "Six": ("http://[::1]/feed", "::1 is an internal address (loopback)"),
    "Multicast": ("http://224.0.0.1/feed", "224.0.0.1 is an internal address (multicast)"),
    "Zero": ("http://0.0.0.0/feed", "0.0.0.0 is an internal address (unspecified)"),
}


def write_config(tmp_path: Path, sources: dict[str, str], *, allow: str = '["127.0.0.1"]') -> Path:
    lines = [
        f'data_dir = "{(tmp_path / "data").as_posix()}"',
        "[collect]",
        f"allow_hosts = {allow}",
    ]
    for name, url in sources.items():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"']
    config = tmp_path / "digest.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def failures(stderr: str) -> dict[str, str]:
    """source name -> message, from `digest collect`'s failed lines."""
    lines = (line.split(None, 2)[1:] for line in stderr.splitlines() if line.startswith("failed"))
    return {name.rstrip(":"): message for name, message in lines}


def test_feeds_at_internal_addresses_are_refused_in_every_form(
    http_server: HttpServer, tmp_path: Path
) -> None:
    http_server.routes["/healthy.xml"] = lambda h: respond(h, 200, HEALTHY)
    sources = {"Healthy": http_server.url("healthy.xml")}
    sources |= {name: url for name, (url, _) in HOSTILE.items()}
    result = collect(write_config(tmp_path, sources))
    refused = failures(result.stderr)
    assert sorted(refused) == sorted(HOSTILE)
    for name, (_, what) in HOSTILE.items():
        if not what.startswith("invalid URL"):
            what = (
                f"refused: {what}; "
                "internal hosts are fetched only when collect.allow_hosts names them"
            )
        assert refused[name] == what
    assert titles(tmp_path) == {"Healthy news"}


def test_without_allow_hosts_even_this_machine_is_refused(
    http_server: HttpServer, tmp_path: Path
) -> None:
    http_server.routes["/healthy.xml"] = lambda h: respond(h, 200, HEALTHY)
    config = write_config(tmp_path, {"Healthy": http_server.url("healthy.xml")}, allow="[]")
    result = collect(config)
    assert failures(result.stderr) == {
        "Healthy": "refused: 127.0.0.1 is an internal address (loopback); "
        "internal hosts are fetched only when collect.allow_hosts names them"
    }
    assert http_server.hits("healthy.xml") == 0


def test_a_redirect_to_an_internal_host_is_refused_and_not_remembered(
    http_server: HttpServer, tmp_path: Path
) -> None:
    http_server.routes["/healthy.xml"] = lambda h: respond(h, 200, HEALTHY)
    http_server.routes["/moved.xml"] = lambda h: respond(
        h, 301, Location="http://169.254.169.254/latest/meta-data/"
    )
    moved = http_server.url("moved.xml")
    result = collect(
        write_config(tmp_path, {"Healthy": http_server.url("healthy.xml"), "Moved": moved})
    )
    assert failures(result.stderr)["Moved"].startswith(
        "refused: 169.254.169.254 is an internal address (link-local)"
    )
    with open_store(tmp_path / "data") as store:
        assert store.fetch_state(moved).url == moved
    assert titles(tmp_path) == {"Healthy news"}


def test_an_article_link_to_an_internal_host_keeps_its_teaser(
    http_server: HttpServer, tmp_path: Path
) -> None:
    http_server.routes["/healthy.xml"] = lambda h: respond(h, 200, HEALTHY)
    teaser = item("Secrets", "http://169.254.169.254/latest/meta-data/iam", "Teaser only.")
    http_server.routes["/links.xml"] = lambda h: respond(h, 200, rss(teaser))
    sources = {"Healthy": http_server.url("healthy.xml"), "Links": http_server.url("links.xml")}
    result = collect(write_config(tmp_path, sources))
    assert result.returncode == 0, result.stderr
    assert (
        "http://169.254.169.254/latest/meta-data/iam: refused: 169.254.169.254 is an internal"
        in result.stderr
    )
    with open_store(tmp_path / "data") as store:
        texts = {a.title: a.text for a in store.latest_articles(10)}
    assert texts["Secrets"] == "Teaser only."


@pytest.mark.parametrize(
    ("allow", "host", "refused"),
    [
        ((), "localhost", True),
        (("127.0.0.0/8", "::1"), "localhost", False),
        (("localhost",), "localhost", False),
        (("10.0.0.0/8",), "10.9.8.7", False),
        (("10.0.0.0/8",), "192.168.1.1", True),
    ],
)
def test_names_are_resolved_before_the_check(
    allow: tuple[str, ...], host: str, refused: bool
) -> None:
    if refused:
        with pytest.raises(RefusedAddress):
            asyncio.run(vetted(host, 80, Allowed(allow)))
    else:
        assert asyncio.run(vetted(host, 80, Allowed(allow)))
