"""Read bounce and complaint reports and apply them: suppress, unsubscribe, count soft bounces.

One report is applied at most once (the store remembers each report's digest); applying is
idempotent anyway (a suppression exists once, a soft bounce counts once a day), so two
`digest bounces` at once, or a crash half-way, count nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from digest.bounces import Finding, ReturnPath, read_report
from digest.config import Config
from digest.mailboxes import Reports
from digest.store import Store


@dataclass
class BounceReport:
    counts: Counter[str] = field(default_factory=Counter)
    """read, already, ignored, unknown, hard, soft, complaint, suppressed."""
    lines: list[str] = field(default_factory=list)


def return_paths(config: Config) -> ReturnPath | None:
    """How this newsletter's return paths are made, or None when bounces.address is unset."""
    address = config.bounces.address
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    secret = config.require_secret("the return paths (bounces.address is set)")
    return ReturnPath(local=local, domain=domain, secret=secret)


def read_bounces(config: Config, store: Store, source: Reports, *, now: datetime) -> BounceReport:
    report = BounceReport()
    paths = return_paths(config)
    if paths is None:
        return report
    for handle, data in source.messages():
        report.counts["read"] += 1
        digest = hashlib.sha256(data).hexdigest()
        if store.report_seen(digest):
            report.counts["already"] += 1
        else:
            _apply(config, store, read_report(data, paths), report, now=now)
            store.first_reading(digest, now=now)
        source.done(handle)
    return report


def _apply(
    config: Config, store: Store, finding: Finding | None, report: BounceReport, *, now: datetime
) -> None:
    if finding is None:
        report.counts["ignored"] += 1
        return
    email = store.email_by_ref(finding.ref)
    if email is None:
        report.counts["unknown"] += 1
        return
    report.counts[finding.kind] += 1
    if finding.kind == "soft":
        settings = config.bounces
        score = store.add_soft_bounce(
            email, today=now.date(), stale_before=(now - settings.stale_after).date(), now=now
        )
        if score < settings.soft_threshold:
            report.lines.append(
                f"{email}: soft bounce {score}/{settings.soft_threshold}: {finding.detail}"
            )
            return
    if finding.kind == "complaint":
        store.set_subscriber_status(email, "unsubscribed", now=now)
    reason = {"hard": "hard bounce", "soft": "soft bounces", "complaint": "complaint"}[finding.kind]
    if store.suppress(email, reason=reason, detail=finding.detail, now=now):
        report.counts["suppressed"] += 1
        report.lines.append(f"{email}: suppressed ({reason}): {finding.detail}")
