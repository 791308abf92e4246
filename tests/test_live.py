"""`digest serve`'s views of an edition (dark, phone, JSON) and the live preview."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from digest.web.archive import force_dark

from .conftest import ServedDemo


def get(served: ServedDemo, path: str) -> httpx.Response:
    return httpx.get(served.url + path, trust_env=False, timeout=30)


def use_templates(served: ServedDemo, folder: Path) -> None:
    with served.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[render]\ntemplates = "{folder.as_posix()}"\n')


def write_header(folder: Path, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "edition.html").write_text(
        '{% extends "default/edition.html" %}'
        f"{{% block header %}}<tr><td>{text}</td></tr>{{% endblock %}}",
        encoding="utf-8",
    )


def test_the_dark_view_turns_the_dark_rules_on(served_demo: ServedDemo) -> None:
    plain = get(served_demo, f"/editions/{served_demo.key}/").text
    dark = get(served_demo, f"/editions/{served_demo.key}/dark").text
    assert "prefers-color-scheme: dark" in plain
    assert "prefers-color-scheme" not in dark
    assert dark == force_dark(plain)
    assert dark.count("(min-width: 0px)") == 1


def test_force_dark_turns_light_only_rules_off() -> None:
    css = "@media (prefers-color-scheme: light) { a {} } @media screen and (prefers-color-scheme:dark) { b {} }"
    assert force_dark(css) == (
        "@media (max-width: 0px) { a {} } @media screen and (min-width: 0px) { b {} }"
    )


def test_the_json_and_phone_views(served_demo: ServedDemo) -> None:
    data = get(served_demo, f"/editions/{served_demo.key}/json").json()
    assert data["key"] == served_demo.key and data["top"]
    phone = get(served_demo, f"/editions/{served_demo.key}/phone").text
    assert f'<iframe src="/editions/{served_demo.key}/" width="375"' in phone
    assert f'<iframe src="/editions/{served_demo.key}/dark" width="375"' in phone
    assert "<script" not in phone, "only the live preview reloads itself"
    assert "<script" not in get(served_demo, f"/editions/{served_demo.key}/").text


def test_the_preview_renders_again_when_a_template_changes(
    served_demo: ServedDemo, tmp_path: Path
) -> None:
    folder = tmp_path / "theme"
    write_header(folder, "FIRST HEADER")
    use_templates(served_demo, folder)
    first = get(served_demo, "/preview/version").text
    assert get(served_demo, "/preview/version").text == first, "nothing changed: no new render"
    page = get(served_demo, "/editions/preview/")
    assert "FIRST HEADER" in page.text and page.headers["cache-control"] == "no-store"

    write_header(folder, "THE SECOND HEADER")
    second = get(served_demo, "/preview/version").text
    assert second != first
    assert "THE SECOND HEADER" in get(served_demo, "/editions/preview/").text
    assert "<script" in get(served_demo, "/preview").text


def test_the_preview_follows_the_config(served_demo: ServedDemo) -> None:
    before = get(served_demo, "/editions/preview/").text
    assert "The Global Economy Daily" in before
    text = served_demo.config_path.read_text(encoding="utf-8")
    served_demo.config_path.write_text(
        text.replace('name = "The Global Economy Daily"', 'name = "Renamed Weekly"'),
        encoding="utf-8",
    )
    assert "Renamed Weekly" in get(served_demo, "/editions/preview/").text


def test_a_broken_template_is_shown_then_mended(served_demo: ServedDemo, tmp_path: Path) -> None:
    folder = tmp_path / "theme"
    write_header(folder, "GOOD")
    use_templates(served_demo, folder)
    assert "GOOD" in get(served_demo, "/editions/preview/").text
    (folder / "edition.html").write_text("{% if %}", encoding="utf-8")
    page = get(served_demo, "/preview")
    assert page.status_code == 200
    assert "edition.html:1: template syntax error" in page.text
    broken = get(served_demo, "/preview/version").text
    assert get(served_demo, "/preview/version").text == broken, "not retried until it changes"
    assert "GOOD" in get(served_demo, "/editions/preview/").text, "the last good render stays"

    write_header(folder, "MENDED")
    assert "MENDED" in get(served_demo, "/editions/preview/").text
    assert "template syntax error" not in get(served_demo, "/preview").text


def test_an_invalid_config_is_shown_on_the_preview(served_demo: ServedDemo) -> None:
    with served_demo.config_path.open("a", encoding="utf-8") as config:
        config.write("\n[render]\nmax_html_bytes = -1\n")
    page = get(served_demo, "/preview")
    assert "render.max_html_bytes: expected a number above 0, got -1" in page.text


def test_the_archive_links_every_view(served_demo: ServedDemo) -> None:
    page = get(served_demo, "/editions/").text
    for view in ("phone", "dark", "text", "eml", "json"):
        assert f'href="/editions/{served_demo.key}/{view}"' in page
    assert 'href="/preview"' in page
    assert json.loads(get(served_demo, f"/editions/{served_demo.key}/json").text)["number"] == 1
