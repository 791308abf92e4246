"""Deliverability on the send path, against a real SMTP server: a hard bounce suppresses the
address, every message carries its subscriber's signed return path, and a storm of "slow
down" replies pauses every sender and resumes with nothing lost and nothing doubled."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from digest import pipeline
from digest.bounces import ReturnPath
from digest.config import BouncesConfig, DeliveryConfig
from digest.render import render_email
from digest.store import Store, open_store

from .conftest import digest_command
from .mailserver import MailServer
from .samples import NOW, sample_edition
from .test_smtp import NEWSLETTER, QUICK_RETRIES, SECRET, ledger, smtp_config, subscribe
from .test_smtp import store as store  # the fixture: a store holding one built edition


def test_a_550_at_rcpt_suppresses_the_address_and_return_paths_name_subscribers(
    tmp_path: Path, store: Store
) -> None:
    subscribe(store, "ana@example.com", "gone@example.com", "Zoë@example.com")
    with MailServer(faults={"gone@example.com": ["550"]}) as server:
        config = replace(
            smtp_config(tmp_path, server),
            bounces=BouncesConfig(address="bounces@news.example.com"),
        )
        first = pipeline.send(config, store, now=NOW)
        assert (first.counts["sent"], first.counts["failed"]) == (2, 1)
        assert store.is_suppressed("GONE@example.com")
        assert [s.email for s in store.suppressions()] == ["gone@example.com"]
        paths = ReturnPath("bounces", "news.example.com", SECRET)
        refs = store.subscriber_refs(["ana@example.com", "Zoë@example.com"])
        for received in server.received:
            (recipient,) = received.recipients
            assert received.mail_from == paths.address(refs[recipient])
            assert paths.ref_of(received.mail_from) == refs[recipient]
            # The tag is the reader's opaque ref and its MAC, nothing of the address (a test
            # for "ana" anywhere in it failed now and then: a base32 MAC may spell it).
            ref, _, _mac = received.mail_from.split("@")[0].removeprefix("bounces+").rpartition("-")
            assert ref == refs[recipient] and recipient.split("@")[0].lower() not in ref.lower()
            assert "example" not in received.mail_from.split("@")[0]
        # The next edition is not even planned for the suppressed address.
        email, _ = render_email(sample_edition(2), NEWSLETTER, config.render)
        store.save_edition(
            replace(email, edition_key="2026-03-11"),
            number=2,
            built=NOW,
            article_ids=[],
        )
        second = pipeline.send(config, store, now=NOW)
        assert second.counts["sent"] == 2
        assert "gone@example.com" not in {d.email for d in store.deliveries("2026-03-11")}
    assert server.handler.attempts["gone@example.com"] == 1


def _config_file(tmp_path: Path, server: MailServer, extra: str = "") -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[newsletter]\nname = "Daily Digest"\nfrom_address = "daily@news.example.com"\n'
        'base_url = "https://news.example.com/digest"\n'
        '[delivery]\ntransport = "smtp"\nretry_pause = "50ms"\n'
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n' + extra,
        encoding="utf-8",
    )
    return path


def test_a_storm_of_454_pauses_every_sender_and_loses_and_doubles_nothing(
    tmp_path: Path, store: Store
) -> None:
    addresses = [f"reader{n:03}@example.com" for n in range(60)]
    subscribe(store, *addresses)
    with MailServer() as server:
        config_file = _config_file(tmp_path, server)
        server.handler.storm = 5
        env = {**os.environ, "DIGEST_SECRET": SECRET}
        senders = [
            subprocess.Popen(
                digest_command("--config", str(config_file), "send"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=180) for p in senders]
        assert server.handler.throttled == 5, "the storm happened"
        assert server.per_recipient() == dict.fromkeys(addresses, 1), outputs
    rows = ledger(store)
    assert {status for status, _, _ in rows.values()} == {"sent"}
    # Throttling is nobody's fault: at most the accepted attempt counts.
    assert max(attempts for _, attempts, _ in rows.values()) <= 1
    assert not store.suppressions()


def _reserve(args: tuple[str, int, float]) -> list[float]:
    data_dir, count, interval = args
    from datetime import UTC, datetime

    with open_store(Path(data_dir)) as store:
        return [
            slot
            for _ in range(count)
            if (
                slot := store.reserve_send_slot(
                    now=time.time(), interval=interval, today=datetime.now(UTC), per_day=0
                )
            )
            is not None
        ]


def test_send_slots_are_spaced_across_processes_and_the_daily_limit_holds(
    tmp_path: Path,
) -> None:
    data_dir = str(tmp_path / "data")
    open_store(Path(data_dir)).close()
    with get_context("spawn").Pool(3) as pool:
        slots = sorted(s for part in pool.map(_reserve, [(data_dir, 40, 0.05)] * 3) for s in part)
    assert len(slots) == 120
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 0.05 - 1e-6, "two senders got slots closer than the rate allows"
    from datetime import UTC, datetime

    with open_store(Path(data_dir)) as store:
        today = datetime.now(UTC)
        granted = [
            store.reserve_send_slot(now=time.time(), interval=0.0, today=today, per_day=125)
            for _ in range(10)
        ]
    # 120 slots were handed out today already: five more, then none.
    assert sum(s is not None for s in granted) == 5


def test_the_daily_limit_stops_a_send_and_the_rest_go_out_later(
    tmp_path: Path, store: Store
) -> None:
    subscribe(store, *(f"r{n}@example.com" for n in range(5)))
    with MailServer() as server:
        config = smtp_config(tmp_path, server, delivery=replace(QUICK_RETRIES, daily_limit=3))
        report = pipeline.send(config, store, now=NOW)
        assert report.counts["sent"] == 3
        assert "delivery.daily_limit" in report.stopped
        assert server.count() == 3
        rows = ledger(store)
        assert sorted(status for status, _, _ in rows.values()).count("sent") == 3
        assert all(attempts == 0 for status, attempts, _ in rows.values() if status != "sent")
        unlimited = smtp_config(tmp_path, server, delivery=DeliveryConfig(transport="smtp"))
        assert pipeline.send(unlimited, store, now=NOW).counts["sent"] == 2
        assert server.count() == 5


def test_send_to_one_address_is_a_test_outside_the_ledger(tmp_path: Path, store: Store) -> None:
    subscribe(store, "ana@example.com")
    with MailServer() as server:
        config_file = _config_file(tmp_path, server)
        env = {**os.environ, "DIGEST_SECRET": SECRET}
        result = subprocess.run(
            digest_command("--config", str(config_file), "send", "--to", "editor@example.com"),
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            "edition 2026-03-10: sent to editor@example.com as a test (not in the ledger)"
        )
        # Before sending over SMTP, the checks that fail are said (no DKIM, no bounce address).
        assert result.stderr == "check: dkim, bounces.address: see `digest check`\n"
        assert server.per_recipient() == {"editor@example.com": 1}
    assert store.deliveries("2026-03-10") == []
    assert [s.email for s in store.subscribers(status=None)] == ["ana@example.com"]


def test_digest_check_exits_1_on_an_error_and_prints_the_records(tmp_path: Path) -> None:
    config_file = tmp_path / "digest.toml"
    config_file.write_text(
        '[newsletter]\nfrom_address = "daily@news.example.com"\n', encoding="utf-8"
    )
    result = subprocess.run(
        digest_command("--config", str(config_file), "check"),
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error: newsletter.base_url: not set")
    assert "error: delivery.secret_env: $DIGEST_SECRET is unset or short" in result.stdout
    assert any(line.strip().startswith("_dmarc.news.example.com. IN TXT") for line in lines)


def test_link_tokens_reveal_nothing_and_open_only_for_their_purpose() -> None:
    import base64
    from datetime import UTC, datetime

    from digest import tokens

    issued = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    token = tokens.sign("Élodie@Example.com", "confirm", SECRET, issued=issued)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for shown in ("lodie", "xample", "bG9kaW", "ZXhhbXBsZ"):  # the address, plain or base64
        assert shown.encode() not in raw and shown not in token
    assert tokens.verify_issued(token, "confirm", SECRET) == ("élodie@example.com", issued)
    assert tokens.verify(token, "unsubscribe", SECRET) is None
    assert tokens.verify(token, "confirm", SECRET + "x") is None
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    assert tokens.verify(flipped, "confirm", SECRET) is None
    assert tokens.sign("élodie@example.com", "confirm", SECRET, issued=issued) == token
