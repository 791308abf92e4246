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
            assert "ana" not in received.mail_from and "zo" not in received.mail_from.lower()
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
