"""Checks before sending: what the bulk-sender rules of the big mailbox providers ask for.

Gmail and Yahoo (since 2024) want SPF, DKIM and DMARC aligned with the From domain, RFC 8058
one-click unsubscribe (which needs https), and a low complaint rate (bounces and complaints
are fed back by ``digest bounces``). :func:`findings` says what the config lacks;
:func:`dns_records` prints the records to publish. Pure: a config (and the DKIM key's public
half, when there is one) in, lines out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from digest.config import Config

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.topic}: {self.message}"


def findings(config: Config) -> list[Finding]:
    """Every check, in the order a reader fixes them: links, signing, alignment, bounces."""
    return [
        _base_url(config),
        _dkim(config),
        _alignment(config),
        _bounces(config),
        _secret(config),
    ]


def one_click_allowed(base_url: str) -> bool:
    """RFC 8058 one-click (List-Unsubscribe-Post) only over https."""
    return base_url.startswith("https://")


def from_domain(config: Config) -> str:
    return config.newsletter.from_address.rpartition("@")[2].lower()


def dkim_domain(config: Config) -> str:
    return (config.dkim.domain or from_domain(config)).lower()


def dns_records(config: Config, *, dkim_public_key: bytes | None) -> list[str]:
    """The DNS records to publish, as zone-file lines (``dkim_public_key``: DER SubjectPublicKeyInfo)."""
    domain = from_domain(config)
    relay = config.smtp.host or "your-smtp-relay.example"
    records = [
        f'{domain}. IN TXT "v=spf1 a:{relay} ~all"'
        "   ; SPF: or the include: your mail provider documents",
    ]
    if dkim_public_key is not None and config.dkim.selector:
        key = base64.b64encode(dkim_public_key).decode()
        chunks = " ".join(f'"{key[i : i + 250]}"' for i in range(0, len(key), 250))
        records.append(
            f'{config.dkim.selector}._domainkey.{dkim_domain(config)}. IN TXT "v=DKIM1; k=rsa; p=" {chunks}'
        )
    else:
        records.append("; DKIM: configure dkim.key_file and dkim.selector to get its record")
    records.append(
        f'_dmarc.{domain}. IN TXT "v=DMARC1; p=none; adkim=r; aspf=r; rua=mailto:dmarc-reports@{domain}"'
        "   ; start with p=none, move to quarantine once reports show aligned mail"
    )
    return records


def _base_url(config: Config) -> Finding:
    url = config.newsletter.base_url
    if not url:
        return Finding(
            "error",
            "newsletter.base_url",
            "not set: messages carry no unsubscribe link that works (Gmail and Yahoo require "
            "one-click unsubscribe for bulk mail); set it to the public address of `digest serve`",
        )
    if not one_click_allowed(url):
        return Finding(
            "warning",
            "newsletter.base_url",
            f"{url} is not https: List-Unsubscribe-Post (RFC 8058 one-click) is left out, "
            "which Gmail and Yahoo require of bulk senders",
        )
    return Finding("ok", "newsletter.base_url", f"{url}: one-click unsubscribe offered")


def _dkim(config: Config) -> Finding:
    if not config.dkim.key_file:
        return Finding(
            "warning",
            "dkim",
            "not configured: messages (and their one-click unsubscribe headers) go out "
            "unsigned; set dkim.key_file and dkim.selector",
        )
    return Finding(
        "ok",
        "dkim",
        f"signing as d={dkim_domain(config)} s={config.dkim.selector}; From, To, Subject, "
        "Date, Reply-To and the List-* headers are oversigned",
    )


def _alignment(config: Config) -> Finding:
    sender, signer = from_domain(config), dkim_domain(config)
    if config.dkim.key_file and not _aligned(sender, signer):
        return Finding(
            "warning",
            "dmarc",
            f"DKIM domain {signer} is not aligned with the From domain {sender}: DMARC fails",
        )
    return Finding("ok", "dmarc", f"From domain {sender}; publish the records below")


def _bounces(config: Config) -> Finding:
    address = config.bounces.address
    if not address:
        return Finding(
            "warning",
            "bounces.address",
            "not set: bounces go to the From address and nothing reads them; set a "
            "return-path mailbox and run `digest bounces`",
        )
    domain = address.rpartition("@")[2].lower()
    if not _aligned(from_domain(config), domain):
        return Finding(
            "warning",
            "bounces.address",
            f"{domain} is not aligned with the From domain {from_domain(config)}: SPF "
            "passes for it, but does not count for DMARC",
        )
    return Finding("ok", "bounces.address", f"each message's return path is {address} + a tag")


def _secret(config: Config) -> Finding:
    if len(config.secret) < 16:
        return Finding(
            "error",
            "delivery.secret_env",
            f"${config.delivery.secret_env} is unset or short: links and return paths "
            "cannot be signed",
        )
    return Finding("ok", "delivery.secret_env", "links and return paths are signed")


def _aligned(domain: str, other: str) -> bool:
    """Relaxed alignment, roughly: one domain is the other or a subdomain of it."""
    return domain == other or domain.endswith("." + other) or other.endswith("." + domain)
