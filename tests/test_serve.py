from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest import pipeline, web
from digest.models import Email
from digest.store import open_store

from .conftest import DemoSite
from .samples import NOW


@pytest.fixture
def served(demo_site: DemoSite) -> Iterator[str]:
    config = demo_site.config()
    with open_store(config.data_dir) as store:
        pipeline.collect(config, store, now=demo_site.now)
        pipeline.build(config, store, now=demo_site.now)
    server = web.Server(web.Site(demo_site.config_path), port=0)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_latest_archive_and_the_parts_of_an_edition(served: str, demo_site: DemoSite) -> None:
    key = demo_site.now.date().isoformat()
    with httpx.Client(base_url=served, trust_env=False, timeout=30) as client:
        root = client.get("/")
        assert root.status_code == 303 and root.headers["location"] == f"/editions/{key}/"
        assert key in client.get("/editions/").text
        page = client.get(f"/editions/{key}/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Top stories" in page.text
        assert client.get(f"/editions/{key}/text").headers["content-type"].startswith("text/plain")
        eml = client.get(f"/editions/{key}/eml")
        assert (
            eml.headers["content-type"] == "message/rfc822"
            and b"multipart/alternative" in eml.content
        )
        assert client.get("/editions/1999-01-01/").status_code == 404
        assert client.get("/nowhere").status_code == 404
        assert client.post("/editions/").status_code == 405


def test_an_empty_data_directory_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    server = web.Server(web.Site(tmp_path / "digest.toml"), port=0)
    server.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/", trust_env=False, timeout=30)
        assert response.status_code == 404 and "digest build" in response.text
    finally:
        server.stop()


def test_every_newsletter_and_frequency_has_an_archive(tmp_path: Path) -> None:
    """The default newsletter's daily editions at /editions/; each other newsletter's and each
    weekly series at its own path, its editions at /editions/SLUG/PERIOD/; links between them."""
    config = tmp_path / "digest.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[newsletter]\nname = "Daily Economy"\n'
        '[newsletters.markets]\nname = "Markets"\n',
        encoding="utf-8",
    )
    keys = ["2026-03-10", "markets/2026-03-10", "markets/2026-03-09", "default/2026-W11"]
    with open_store(tmp_path / "data") as store:
        for number, key in enumerate(keys, 1):
            store.save_edition(
                Email(key, f"Subject of {key}", "<p>", "t", "p"),
                number=number,
                built=NOW,
                article_ids=[],
            )
            store.write_archive(key, {"edition.html": f"<p>The edition {key}</p>"})
    server = web.Server(web.Site(config), port=0)
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as client:
            daily = client.get("/editions/").text
            assert "Subject of 2026-03-10" in daily and "markets/" not in daily.split("Other")[0]
            assert '<a href="/editions/markets/">Markets</a>' in daily
            assert '<a href="/editions/default/weekly/">Daily Economy (weekly)</a>' in daily
            markets = client.get("/editions/markets/").text
            assert markets.index("markets/2026-03-10") < markets.index("markets/2026-03-09")
            assert "Subject of 2026-03-10<" not in markets and "W11" not in markets
            assert "default/2026-W11" in client.get("/editions/default/weekly/").text
            page = client.get("/editions/markets/2026-03-09/")
            assert page.status_code == 200 and page.text == "<p>The edition markets/2026-03-09</p>"
            weekly = client.get("/editions/default/2026-W11/dark")
            assert weekly.text == "<p>The edition default/2026-W11</p>"
            bare = client.get("/editions/markets/2026-03-09")
            assert bare.status_code == 308
            assert bare.headers["location"] == "/editions/markets/2026-03-09/"
            assert client.get("/editions/default/").headers["location"] == "/editions/"
            for missing in (
                "/editions/nobody/",
                "/editions/markets/2026-03-11/",
                "/editions/markets/weekly/",  # no weekly edition yet: an empty archive
                "/editions/markets/2026-03-10/nothing",
            ):
                answer = client.get(missing)
                assert answer.status_code == (200 if "weekly" in missing else 404), missing
            # Sent as written (httpx would drop a bare '/../' before sending) and decoded by
            # Starlette into the route's rest: '../digest.toml', 'markets/../digest.toml'.
            for outside in ("/editions/%2E%2E/digest.toml", "/editions/markets/..%2Fdigest.toml"):
                answer = client.get(outside)
                assert answer.request.url.raw_path == outside.encode(), outside
                assert answer.status_code == 404 and "data_dir" not in answer.text, outside
            older = client.get("/editions/markets/?before=2026-03-10")
            assert older.status_code == 400
            older = client.get("/editions/markets/?before=markets/2026-03-10").text
            assert "markets/2026-03-09" in older and "markets/2026-03-10/" not in older
    finally:
        server.stop()
