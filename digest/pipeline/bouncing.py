"""Read bounce and complaint reports and apply them: suppress, unsubscribe, count soft bounces.

One report is applied at most once (the store remembers each report's digest); applying is
idempotent anyway (a suppression exists once, a soft bounce counts once a day), so two
`digest bounces` at once, or a crash half-way, count nothing twice.
"""

from __future__ import annotations

import hashlib
import imaplib
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from digest.bounces import Finding, ReturnPath, read_report
from digest.config import Config
from digest.errors import MailboxError, UsageError
from digest.mailboxes import Reports, open_reports
from digest.store import Store


@dataclass
class BounceReport:
    counts: Counter[str] = field(default_factory=Counter)
    """read, already, ignored, unknown, hard, soft, complaint, suppressed."""
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        c = self.counts
        return (
            f"{c['read']} messages: {c['hard']} hard bounces, {c['soft']} soft, "
            f"{c['complaint']} complaints, {c['suppressed']} newly suppressed; "
            f"{c['already']} read before, {c['ignored']} not reports, "
            f"{c['unknown']} for nobody known"
        )


def read_mailbox(config: Config, store: Store, location: str, *, now: datetime) -> BounceReport:
    """Read the reports in ``location`` (bounces.mailbox's forms) and apply them."""
    if not config.bounces.address:
        raise UsageError("bounces.address is not set: no message carries a return path to read")
    password = os.environ.get(config.bounces.password_env, "")
    with open_reports(location, password=password, ca_file=config.smtp.ca_file) as source:
        return read_bounces(config, store, source, now=now, where=_shown(location))


def return_paths(config: Config) -> ReturnPath | None:
    """How this newsletter's return paths are made, or None when bounces.address is unset."""
    address = config.bounces.address
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    secret = config.require_secret("the return paths (bounces.address is set)")
    return ReturnPath(local=local, domain=domain, secret=secret)


def read_bounces(
    config: Config, store: Store, source: Reports, *, now: datetime, where: str = "bounces.mailbox"
) -> BounceReport:
    """Apply every report ``source`` holds. Each is applied and remembered before the next is
    read, so a mailbox lost part-way (:class:`MailboxError`) loses nothing already read."""
    report = BounceReport()
    paths = return_paths(config)
    if paths is None:
        return report
    try:
        for handle, data in source.messages():
            report.counts["read"] += 1
            digest = hashlib.sha256(data).hexdigest()
            if store.report_seen(digest):
                report.counts["already"] += 1
            else:
                _apply(config, store, read_report(data, paths), report, now=now)
                store.first_reading(digest, now=now)
            source.done(handle)
    except (imaplib.IMAP4.error, OSError) as error:
        raise MailboxError(
            f"bounces.mailbox: {where}: reading stopped after {report.counts['read']} messages "
            f"({_reason(error)}); those are applied, the next `digest bounces` reads the rest"
        ) from None
    return report


def _shown(location: str) -> str:
    """``location`` without a password that a URL might carry."""
    parts = urlsplit(location)
    if parts.password is None:
        return location
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _reason(error: Exception) -> str:
    reason = error.args[0] if isinstance(error, imaplib.IMAP4.error) and error.args else error
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return text or type(error).__name__


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
