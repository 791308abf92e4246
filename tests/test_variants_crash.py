"""Send-once per reader with variants: `digest send` to readers of three variants of one
edition, SIGKILLed at random moments and run again until it finishes (real processes, a real
aiosmtpd server). Every reader gets the edition, their own variant only, and a kill costs at
most one duplicate per connection (tests/test_crash.py does the same without variants)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from digest import pipeline
from digest.config import load_config
from digest.models import DEFAULT_NEWSLETTER, Membership
from digest.store import open_store

from .crash import _finish, _kill_at, _send
from .mailserver import MailServer
from .samples import NOW
from .test_newsletters import _articles

READERS = 150
CONNECTIONS = 2
CHOICES = (
    Membership(DEFAULT_NEWSLETTER),
    Membership(DEFAULT_NEWSLETTER, sections=("Markets",), language="de"),
    Membership(DEFAULT_NEWSLETTER, sections=("Economy",)),
)


def _config(folder: Path, server: MailServer, database_url: str) -> Path:
    path = folder / "digest.toml"
    sources = "".join(
        f'[[sources]]\nname = "{name}"\nurl = "{url}"\nsection = "{section}"\n'
        for name, url, section in (
            ("EconoTimes", "https://a.example/feed", "Economy"),
            ("Wire", "https://b.example/feed", "Markets"),
            ("Miner", "https://c.example/feed", "Commodities"),
        )
    )
    path.write_text(
        f'data_dir = "{folder / "data"}"\n'
        + (f'database_url = "{database_url}"\n' if database_url else "")
        + '[newsletter]\nfrom_address = "daily@news.example.com"\nlanguages = ["de"]\n'
        '[delivery]\ntransport = "smtp"\n'
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n'
        f"connections = {CONNECTIONS}\n" + sources,
        encoding="utf-8",
    )
    return path


def test_killed_sends_give_each_reader_their_variant_once(tmp_path: Path, engine_url: str) -> None:
    """On SQLite and on PostgreSQL (tests/conftest.py: engine_url)."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with MailServer() as server:
        config = load_config(_config(tmp_path, server, engine_url))
        with open_store(config.data_dir, url=engine_url) as store:
            for i in range(READERS):
                address = f"reader{i:04}@example.com"
                store.add_subscriber(address, now=NOW)
                store.set_memberships(address, [CHOICES[i % 3]], now=NOW)
            _articles(store, NOW)
            (built,) = pipeline.build_all(config, store, now=NOW)
            assert built.variants == 3
            record = store.edition("2026-03-10")
            assert record is not None
            subjects = {"": record.email.subject} | {
                name: email.subject for name, email in store.edition_variants(record.key).items()
            }
        assert len(set(subjects.values())) == 3  # each variant leads with another story
        kills = runs = 0
        planned = rng.randint(1, 2)
        while True:
            runs += 1
            sender = _send(config)
            left = READERS - len(server.per_recipient())
            if (
                kills < planned
                and left > 1
                and _kill_at(sender, server, rng.randint(1, left - 1), rng)
            ):
                kills += 1
                continue
            _finish([sender])
            break
        got: dict[str, Counter[str]] = {}
        for received in server.received:
            for address in received.recipients:
                got.setdefault(address, Counter())[str(received.message["Subject"])] += 1
    where = f"seed {seed}: {kills} kills, {runs} runs"
    assert kills >= 1 and len(got) == READERS, where
    duplicates = sum(sum(c.values()) - 1 for c in got.values())
    assert duplicates <= kills * CONNECTIONS, where
    with open_store(config.data_dir, url=engine_url) as store:
        ledger = store.deliveries("2026-03-10")
    assert Counter(d.status for d in ledger) == {"sent": READERS}, where
    names = ("", "de:Markets", "*:Economy")
    for d in ledger:
        i = int(d.email[6:10])
        assert d.variant == names[i % 3], where
        assert set(got[d.email]) == {subjects[d.variant]}, f"{where}: {d.email}"
