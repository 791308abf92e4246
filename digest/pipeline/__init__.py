"""The pipeline: the one place that knows the order of the stages.

    collect   feeds -> articles; teasers completed from their pages (collect + extract)
    build     candidates -> summaries -> stories -> edition -> email (summarize, edition, render)
    send      email -> one message per subscriber, through the delivery ledger (render, deliver)

Each function takes the validated Config and the Store and returns a small
report for the CLI. A config is one newsletter at one frequency; ``build_all`` and
``send_all`` go through each (digest.newsletters.series), and
:mod:`~digest.pipeline.audience` says who reads which variant of an edition, and when. Stages never call each other; they meet here: in
:mod:`~digest.pipeline.collecting`, :mod:`~digest.pipeline.building` (build,
preview, stories) and :mod:`~digest.pipeline.sending`, with
:mod:`~digest.pipeline.messages` making one reader's copy for the last two.

Each of those modules is imported when one of its names is first used: `digest send` never
loads the summarizer (sumy imports all of nltk, and nltk scipy and scikit-learn where they are
installed: about 1.5 s of CPU a process) nor the page extractor (trafilatura).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from digest.store import utcnow

if TYPE_CHECKING:
    from digest.pipeline.building import (
        ARCHIVE_FILES,
        SAMPLE_RECIPIENT,
        BuildReport,
        StoriesReport,
        build,
        build_all,
        preview,
        stories,
        summarize_articles,
        unsummarized,
    )
    from digest.pipeline.collecting import PARALLEL_PAGES, CollectReport, collect
    from digest.pipeline.messages import unsubscribe_url
    from digest.pipeline.sending import (
        BACKOFF,
        SendReport,
        plan,
        send,
        send_all,
        send_due,
        send_test,
        take_over_from_the_dead,
    )

_HOMES = {
    "building": (
        "ARCHIVE_FILES",
        "SAMPLE_RECIPIENT",
        "BuildReport",
        "StoriesReport",
        "build",
        "build_all",
        "preview",
        "stories",
        "summarize_articles",
        "unsummarized",
    ),
    "collecting": ("PARALLEL_PAGES", "CollectReport", "collect"),
    "messages": ("unsubscribe_url",),
    "sending": (
        "BACKOFF",
        "SendReport",
        "plan",
        "send",
        "send_all",
        "send_due",
        "send_test",
        "take_over_from_the_dead",
    ),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
"""The module each name in ``__all__`` but utcnow lives in (tests/test_pipeline.py checks)."""

__all__ = [
    "ARCHIVE_FILES",
    "BACKOFF",
    "PARALLEL_PAGES",
    "SAMPLE_RECIPIENT",
    "BuildReport",
    "CollectReport",
    "SendReport",
    "StoriesReport",
    "build",
    "build_all",
    "collect",
    "plan",
    "preview",
    "send",
    "send_all",
    "send_due",
    "send_test",
    "stories",
    "summarize_articles",
    "take_over_from_the_dead",
    "unsubscribe_url",
    "unsummarized",
    "utcnow",
]


if not TYPE_CHECKING:  # mypy sees the imports above; an unknown name stays an error for it

    def __getattr__(name: str) -> object:
        """A name above, from its module, imported now (and kept here for the next use)."""
        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
