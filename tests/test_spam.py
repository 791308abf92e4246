"""The demo email as a standard spam filter sees it: SpamAssassin with its local rules only.

`spamassassin -t -L` (Debian's package; .ci/run installs it) runs every rule that needs no
network. A score above 0 means some rule dislikes the email itself (hidden text, a colour
trick, a missing header), which is ours to mend.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from digest.pipeline import ARCHIVE_FILES
from tests.conftest import DemoSite

SPAMASSASSIN = shutil.which("spamassassin")


@pytest.mark.skipif(
    SPAMASSASSIN is None and os.environ.get("CI") != "true",
    reason="needs SpamAssassin (apt-get install spamassassin; .ci/run installs it)",
)
def test_the_demo_email_scores_zero_or_less_with_local_rules(demo_site: DemoSite) -> None:
    assert SPAMASSASSIN is not None, "CI must install spamassassin"
    demo_site.set_newsletter(base_url="https://news.example.com/digest")
    report = demo_site.build()
    assert report.edition is not None and "sample.eml" in ARCHIVE_FILES
    sample = demo_site.config().data_dir / "editions" / report.edition.key / "sample.eml"
    result = subprocess.run(
        [SPAMASSASSIN, "-t", "-L"],
        input=sample.read_bytes(),
        capture_output=True,
        timeout=120,
        check=True,
    )
    out = result.stdout.decode("utf-8", "replace")
    score = float(re.search(r"X-Spam-Status: \w+, score=(-?[\d.]+)", out).group(1))  # type: ignore[union-attr]
    rules = re.findall(r"(?m)^\s*(-?\d+\.\d+) (\w+)\s", out.split("Content analysis details:")[-1])
    hits = {name: float(points) for points, name in rules if float(points) != 0}
    assert score <= 0, f"score {score}: {hits}"
