"""The demo email against caniemail.com's data (doiuse-email, tools/email-check/).

Any error for Outlook (Windows, Outlook.com), Gmail or Apple Mail that
tools/email-check/allow.json does not list, with its reason, fails. .ci/run installs the
checker (npm ci); elsewhere the test skips when it is not installed, but never in CI.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, DemoSite

CHECKER = ROOT / "tools" / "email-check"


def test_the_demo_email_uses_only_what_the_mail_clients_support(
    demo_site: DemoSite, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None or not (CHECKER / "node_modules" / "doiuse-email").is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                "the email checker is not installed: .ci/run runs npm ci in tools/email-check"
            )
        pytest.skip("the email checker is not installed (cd tools/email-check && npm ci)")
    report = demo_site.build()
    sample = Path(report.paths["sample.eml"]).read_bytes()
    message = email.message_from_bytes(sample, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    (tmp_path / "demo.html").write_text(html, encoding="utf-8")
    checked = subprocess.run(
        [node, str(CHECKER / "check.mjs"), str(tmp_path / "demo.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "0 not" in checked.stdout
