"""Bounce and complaint reports in the shapes real mail servers send, written for these tests.

Each builder returns the bytes a mailbox would hold: the report as the named server composes
it, addressed to ``return_path`` (the VERP address the original went out with).
"""

from __future__ import annotations

ORIGINAL = """\
Return-Path: <{return_path}>
From: The Daily Brief <news@brief.example>
To: {recipient}
Subject: The Daily Brief: Rates hold steady
Message-ID: <edition-2026-11-30.abc@brief.example>
List-Id: The Daily Brief <daily.brief.example>
"""


def postfix_dsn(return_path: str, recipient: str, *, status: str, diagnostic: str) -> bytes:
    """Postfix's bounce: multipart/report with a message/delivery-status part (RFC 3464)."""
    return _crlf(f"""\
Return-Path: <>
Delivered-To: {return_path}
From: MAILER-DAEMON@mx.brief.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {return_path}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B1.1700000000/mx.brief.example"

--B1.1700000000/mx.brief.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.brief.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B1.1700000000/mx.brief.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.brief.example
X-Postfix-Queue-ID: 4ABCD12345
Arrival-Date: Mon, 30 Nov 2026 07:00:03 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {"failed" if status.startswith("5") else "delayed"}
Status: {status}
Remote-MTA: dns; mx.reader.example
Diagnostic-Code: smtp; {diagnostic}

--B1.1700000000/mx.brief.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{ORIGINAL.format(return_path=return_path, recipient=recipient)}
--B1.1700000000/mx.brief.example--
""")


def exchange_dsn(return_path: str, recipient: str) -> bytes:
    """Exchange/Outlook.com's NDR: an HTML notice, then the report with the original attached."""
    return _crlf(f"""\
From: postmaster@outlook.example
To: <{return_path}>
Subject: Undeliverable: The Daily Brief: Rates hold steady
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_000_exchange_ndr_"
X-MS-Exchange-Message-Is-Ndr:

--_000_exchange_ndr_
Content-Type: text/html; charset="us-ascii"

<html><body><p><b>Your message to {recipient} couldn't be delivered.</b></p>
<p>{recipient.split("@")[0]} wasn't found at {recipient.split("@")[1]}.</p></body></html>

--_000_exchange_ndr_
Content-Type: message/delivery-status

Reporting-MTA: dns;BN8PR.outlook.example
Received-From-MTA: dns;mx.brief.example
Arrival-Date: Mon, 30 Nov 2026 07:00:04 +0000

Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--_000_exchange_ndr_
Content-Type: message/rfc822

{ORIGINAL.format(return_path=return_path, recipient=recipient)}
Hello, this was the edition.

--_000_exchange_ndr_--
""")


def gmail_dsn(return_path: str, recipient: str) -> bytes:
    """Gmail's "Delivery Status Notification (Failure)", with a mailbox-full 4.2.2 delay."""
    return _crlf(f"""\
Delivered-To: {return_path}
From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>
To: {return_path}
Subject: Delivery Status Notification (Delay)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000gmail"; report-type=delivery-status

--000000000000gmail
Content-Type: text/plain; charset="UTF-8"

The recipient's inbox is out of storage space. We'll keep trying.

--000000000000gmail
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.example
Arrival-Date: Mon, 30 Nov 2026 07:00:05 -0800

Final-Recipient: rfc822; {recipient}
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452-4.2.2 The recipient's inbox is out of storage space.
Will-Retry-Until: Thu, 03 Dec 2026 07:00:05 -0800

--000000000000gmail
Content-Type: message/rfc822

{ORIGINAL.format(return_path=return_path, recipient=recipient)}
The edition.

--000000000000gmail--
""")


def exim_bounce(return_path: str, recipient: str) -> bytes:
    """Exim's default, non-standard bounce: plain text, the failed address indented."""
    return _crlf(f"""\
Return-path: <>
Envelope-to: {return_path}
From: Mail Delivery System <Mailer-Daemon@mx.reader.example>
To: {return_path}
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied
Content-Type: text/plain

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    mailbox is unavailable

------ This is a copy of the message, including all the headers. ------

{ORIGINAL.format(return_path=return_path, recipient=recipient)}
The edition.
""")


def arf_complaint(return_path: str, recipient: str, *, feedback_type: str = "abuse") -> bytes:
    """A feedback-loop complaint (ARF, RFC 5965), sent to the FBL address, not the return path."""
    return _crlf(f"""\
From: feedback-loop@mail.provider.example
To: fbl@brief.example
Subject: FW: The Daily Brief: Rates hold steady
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
\tboundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP
192.0.2.1 on Mon, 30 Nov 2026 07:00:06 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{return_path}>
Arrival-Date: Mon, 30 Nov 2026 07:00:06 +0000
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

{ORIGINAL.format(return_path=return_path, recipient="redacted@mail.provider.example")}
The edition.

--part1_13d.2e68ed54_boundary--
""")


def vacation_reply(return_path: str) -> bytes:
    """An out-of-office answer: addressed to the return path, but no bounce."""
    return _crlf(f"""\
From: reader@reader.example
To: {return_path}
Subject: Out of office
Auto-Submitted: auto-replied
Content-Type: text/plain

I am away until Monday.
""")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
