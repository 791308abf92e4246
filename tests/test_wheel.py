"""An installed wheel, not only a checkout, finds the default theme, the configs and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import ROOT


def test_the_wheel_carries_the_theme_and_the_demo_and_runs_it(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("digest-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "digest/_bundled/templates/base.html",
        "digest/_bundled/templates/edition.html",
        "digest/_bundled/templates/_index.html",
        "digest/_bundled/templates/preheader.txt",
        "digest/render/locale/de/LC_MESSAGES/digest.mo",
        "digest/render/locale/pt/LC_MESSAGES/digest.mo",
        "digest/_bundled/config/demo.toml",
        "digest/_bundled/config/digest.example.toml",
        "digest/demo/articles.toml",
    ):
        assert expected in names

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run(
        [sys.executable, "-c", "import digest.resources as r; print(r.bundled('templates'))"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=60,
    )
    assert where.stdout.strip() == str(installed / "digest" / "_bundled" / "templates")
    demo = subprocess.run(
        [sys.executable, "-m", "digest", "demo"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert len(list((work / ".digest-demo" / "outbox").glob("*/*.eml"))) == 3
