from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from digest.config import Config, example_config, load_config, parse_duration
from digest.errors import ConfigError

from .conftest import ROOT, digest_command


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [p.removeprefix(f"{path}: ") for p in caught.value.problems]


def test_defaults_load_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text("", encoding="utf-8")
    config = load_config(path)
    assert config.data_dir == tmp_path / ".digest", "relative to the config file's folder"
    assert config.collect.window == timedelta(hours=24)
    assert config.summary.sentences == 3
    assert config.path == path


def test_relative_paths_are_relative_to_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "srv" / "mynews" / "config"
    (folder / "feeds").mkdir(parents=True)
    (folder / "feeds" / "local.xml").write_text("<rss/>", encoding="utf-8")
    (folder / "ca.pem").write_text("", encoding="utf-8")
    other = tmp_path / "other.xml"
    other.write_text("<rss/>", encoding="utf-8")
    (folder / "digest.toml").write_text(
        'data_dir = "../data"\n'
        '[render]\ntemplates = "../templates"\n'
        '[smtp]\nca_file = "ca.pem"\n'
        '[[sources]]\nname = "Local"\nurl = "feeds/local.xml"\n'
        '[[sources]]\nname = "Web"\nurl = "https://news.example.com/feed.xml"\n'
        '[[sources]]\nname = "Absolute"\nurl = "' + other.as_posix() + '"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "cron"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../srv/mynews/config/digest.toml"))
    mynews = tmp_path / "srv" / "mynews"
    assert config.data_dir == mynews / "data"
    assert config.render.templates == str(mynews / "templates")
    assert config.smtp.ca_file == str(folder / "ca.pem")
    assert [s.url for s in config.sources] == [
        str(folder / "feeds" / "local.xml"),
        "https://news.example.com/feed.xml",
        str(other),
    ]


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>", encoding="utf-8")
    found = problems(
        tmp_path,
        f"""
newsleter = "x"
[newsletter]
from_address = "not an address"
timezone = "Mars/Olympus"
[summary]
sentences = "three"
[collect]
window = "tomorrow"
[delivery]
transport = "pigeon"
[[sources]]
name = "ok"
url = "{feed.as_posix()}"
[[sources]]
name = "bad"
url = "ftp:/x"
[[sources]]
url = "https://example.com/feed"
""",
    )
    assert found == [
        "newsleter: unknown option (did you mean 'newsletter'?)",
        "newsletter.from_address: expected an email address, got 'not an address'",
        "newsletter.timezone: expected an IANA time zone such as 'Europe/London', got 'Mars/Olympus'",
        "collect.window: expected a duration like '90s', '30m', '6h' or '1d', got 'tomorrow'",
        "summary.sentences: expected a whole number, got 'three'",
        "delivery.transport: expected one of 'outbox', 'smtp', got 'pigeon'",
        "sources[1].url: expected an http(s) URL or a file path, got 'ftp:/x'",
        "sources[2].name: expected a non-empty string, got nothing",
    ]


def test_a_missing_local_feed_file_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, '[[sources]]\nname = "x"\nurl = "feeds/nope.xml"\n')
    assert found == [
        "sources[0].url: expected an http(s) URL or a file path "
        f"(no such file: {tmp_path / 'feeds' / 'nope.xml'}), got 'feeds/nope.xml'"
    ]


def test_smtp_transport_needs_a_host(tmp_path: Path) -> None:
    found = problems(tmp_path, '[delivery]\ntransport = "smtp"\n')
    assert found == ["smtp.host: expected a host name when delivery.transport is 'smtp', got ''"]


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "[newsletter\nname = 1\n")
    assert len(found) == 1 and found[0].startswith("invalid TOML: ")


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("soon") is None
    assert parse_duration("") is None


def test_the_committed_example_config_is_generated_from_the_declarations() -> None:
    committed = (ROOT / "config" / "digest.example.toml").read_text(encoding="utf-8")
    assert committed == example_config(), (
        "regenerate: python -m digest.config > config/digest.example.toml"
    )


def test_the_example_config_loads_and_equals_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "digest.toml"
    # The example's one source is a remote URL, valid as it stands.
    path.write_text(example_config(), encoding="utf-8")
    config = load_config(path)
    assert config.newsletter == Config().newsletter
    assert config.collect == Config().collect
    assert len(config.sources) == 1


def test_the_demo_config_is_valid() -> None:
    config = load_config(ROOT / "config" / "demo.toml")
    assert len(config.sources) == 7


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such config file (create one with `digest init`)"),
        ("[newsletter]\nnmae = 'x'\n", "unknown option (did you mean 'name'?)"),
        ("[summary]\nsentences = true\n", "summary.sentences: expected a whole number, got true"),
        (
            '[[sources]]\nname = "a"\nurl = "htp//example.com/rss"\n',
            "sources[0].url: expected an http(s) URL",
        ),
    ],
)
def test_the_cli_prints_one_line_per_problem_and_exits_2(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "missing.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = subprocess.run(
        digest_command("--config", str(path), "build"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: ")
    assert expected in lines[0]


def test_locale_and_date_format_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[newsletter]\nlocale = "xx_NOWHERE"\ndate_format = "%A, %-d %B %Y"\n',
    )
    assert found == [
        "newsletter.locale: expected a locale such as 'en_GB', 'de' or 'pt_BR', got 'xx_NOWHERE'",
        "newsletter.date_format: expected full, long, medium, short or a CLDR pattern such as 'EEEE d MMMM y', got '%A, %-d %B %Y'",
    ]
    path = tmp_path / "ok.toml"
    path.write_text('[newsletter]\nlocale = "pt-BR"\ndate_format = "EEEE d MMMM y"\n')
    assert load_config(path).newsletter.locale == "pt-BR"


def test_section_weights_are_a_table_of_positive_numbers(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(
        '[edition]\nsection_weights = { Politics = 1.5, "Central Banks" = 2 }\n', encoding="utf-8"
    )
    weights = load_config(path).edition.section_weights
    assert (weights.get("Politics"), weights.get("Central Banks"), weights.get("Sport")) == (
        1.5,
        2.0,
        1.0,
    )
    assert problems(tmp_path, '[edition]\nsection_weights = { Politics = "high" }\n') == [
        "edition.section_weights: expected a table of names and numbers, e.g. { Politics = 1.5 }, got a table"
    ]
    assert problems(tmp_path, "[edition]\nsection_weights = { Politics = 0 }\n") == [
        "edition.section_weights: expected weights above 0, got a table"
    ]
