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
"""

from digest.pipeline.building import (
    ARCHIVE_FILES,
    SAMPLE_RECIPIENT,
    BuildReport,
    StoriesReport,
    build,
    build_all,
    preview,
    stories,
)
from digest.pipeline.collecting import PARALLEL_PAGES, CollectReport, collect
from digest.pipeline.messages import unsubscribe_url
from digest.pipeline.sending import BACKOFF, SendReport, send, send_all, send_test
from digest.store import utcnow

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
    "preview",
    "send",
    "send_all",
    "send_test",
    "stories",
    "unsubscribe_url",
    "utcnow",
]
