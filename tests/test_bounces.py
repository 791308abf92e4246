"""Reading bounces and complaints: each server's shape names the right subscriber and kind."""

from __future__ import annotations

import pytest

from digest.bounces import MAX_MESSAGE_BYTES, Finding, ReturnPath, read_report
from tests import reports

PATHS = ReturnPath(local="bounces", domain="brief.example", secret="s3cret-s3cret-s3cret")
REF = "k7q2m4xw9t"
RETURN_PATH = PATHS.address(REF)
RECIPIENT = "reader@reader.example"


def test_return_path_round_trip_and_reveals_no_address() -> None:
    assert RETURN_PATH.startswith("bounces+k7q2m4xw9t-")
    assert RETURN_PATH.endswith("@brief.example")
    assert "reader" not in RETURN_PATH
    assert PATHS.ref_of(RETURN_PATH) == REF
    assert PATHS.ref_of(f"<{RETURN_PATH.upper()}>") is None  # the MAC is lower-case base32
    assert PATHS.ref_of(RETURN_PATH.replace("@brief.example", "@BRIEF.example")) == REF


@pytest.mark.parametrize(
    "address",
    [
        RETURN_PATH.replace(REF, "k7q2m4xw9u"),  # another subscriber's ref, same MAC
        RETURN_PATH[: -len("@brief.example") - 1] + "a@brief.example",  # MAC altered
        RETURN_PATH.replace("@brief.example", "@evil.example"),
        RETURN_PATH.replace("bounces+", "other+"),
        f"bounces+{REF}@brief.example",  # no MAC at all
        ReturnPath("bounces", "brief.example", "another-secret-entirely").address(REF),
    ],
)
def test_forged_or_altered_return_paths_name_nobody(address: str) -> None:
    assert PATHS.ref_of(address) is None
    report = reports.postfix_dsn(address, RECIPIENT, status="5.1.1", diagnostic="550 no")
    assert read_report(report, PATHS) is None


def test_postfix_hard_bounce() -> None:
    report = reports.postfix_dsn(
        RETURN_PATH,
        RECIPIENT,
        status="5.1.1",
        diagnostic="550 5.1.1 <reader@reader.example>: Recipient address rejected: User unknown",
    )
    finding = read_report(report, PATHS)
    assert finding == Finding(
        REF,
        "hard",
        "5.1.1 smtp; 550 5.1.1 <reader@reader.example>: Recipient address rejected: User unknown",
    )


def test_postfix_delay_is_soft() -> None:
    report = reports.postfix_dsn(
        RETURN_PATH, RECIPIENT, status="4.4.1", diagnostic="451 4.4.1 connection timed out"
    )
    finding = read_report(report, PATHS)
    assert finding is not None and finding.kind == "soft"
    assert finding.detail.startswith("4.4.1 ")


def test_exchange_ndr_is_hard() -> None:
    finding = read_report(reports.exchange_dsn(RETURN_PATH, RECIPIENT), PATHS)
    assert finding is not None
    assert (finding.ref, finding.kind) == (REF, "hard")
    assert "RecipientNotFound" in finding.detail


def test_gmail_mailbox_full_is_soft() -> None:
    finding = read_report(reports.gmail_dsn(RETURN_PATH, RECIPIENT), PATHS)
    assert finding is not None and (finding.ref, finding.kind) == (REF, "soft")
    assert finding.detail.startswith("4.2.2 ")


def test_exim_plain_text_bounce_is_hard() -> None:
    finding = read_report(reports.exim_bounce(RETURN_PATH, RECIPIENT), PATHS)
    assert finding is not None and (finding.ref, finding.kind) == (REF, "hard")


def test_arf_complaint_names_the_subscriber_by_the_original_return_path() -> None:
    finding = read_report(reports.arf_complaint(RETURN_PATH, RECIPIENT), PATHS)
    assert finding == Finding(REF, "complaint", "feedback-type: abuse")


def test_arf_not_spam_report_is_no_complaint() -> None:
    report = reports.arf_complaint(RETURN_PATH, RECIPIENT, feedback_type="not-spam")
    assert read_report(report, PATHS) is None


def test_out_of_office_reply_is_no_bounce() -> None:
    assert read_report(reports.vacation_reply(RETURN_PATH), PATHS) is None


def test_huge_report_is_read_only_up_to_its_cap() -> None:
    report = reports.postfix_dsn(RETURN_PATH, RECIPIENT, status="5.1.1", diagnostic="550 gone")
    padded = report + b"X" * (MAX_MESSAGE_BYTES * 8)
    finding = read_report(padded, PATHS)
    assert finding is not None and finding.kind == "hard"
