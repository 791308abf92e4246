from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest import pipeline, web
from digest.store import open_store

from .conftest import DemoSite


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
