"""Crash trials: `digest send` to many subscribers (one sender, or several at once),
SIGKILLed at random moments, run again until it finishes; then count what the SMTP server
received. Used by tests/test_crash.py and benchmarks/deliver.py.

A kill is aimed at a random message: once the server has accepted it (the most dangerous
moment, when the ledger may not yet say "sent"), the process is killed after a random
0-2 ms, so it lands anywhere between the server's reply and the next message.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config, load_config
from digest.render import render_email
from digest.store import open_store

from .mailserver import MailServer
from .samples import NOW, sample_edition


@dataclass(frozen=True)
class Trial:
    subscribers: int
    kills: int
    runs: int
    received: Counter[str]
    ledger: Counter[str]
    seconds: float

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.received.values() if count > 1)

    @property
    def missing(self) -> int:
        return self.subscribers - len(self.received)


def prepare(
    folder: Path,
    server: MailServer,
    subscribers: int,
    *,
    database_url: str = "",
    connections: int = 4,
    extra: str = "",
    rate_limit: float = 0,
) -> Config:
    """A config sending over SMTP to ``server`` on ``connections`` connections per send (with
    ``extra`` TOML tables after it), a built edition, and the subscribers."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "digest.toml"
    config_path.write_text(
        f'data_dir = "{folder / "data"}"\n'
        + (f'database_url = "{database_url}"\n' if database_url else "")
        + '[newsletter]\nfrom_address = "daily@news.example.com"\n'
        f'[delivery]\ntransport = "smtp"\nrate_limit = {rate_limit}\n'
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n'
        f"connections = {connections}\n" + extra,
        encoding="utf-8",
    )
    config = load_config(config_path)
    email, _ = render_email(sample_edition(8), config.newsletter, config.render)
    with open_store(config.data_dir, url=database_url) as store, store.db:
        store.save_edition(email, number=1, built=NOW, article_ids=[])
        for i in range(subscribers):
            store.add_subscriber(f"reader{i:04}@example.com", now=NOW)
    return config


def crash_trial(
    folder: Path,
    rng: random.Random,
    *,
    subscribers: int = 300,
    max_kills: int = 3,
    senders: int = 1,
    database_url: str = "",
    connections: int = 4,
) -> Trial:
    """One trial: ``senders`` at once, 1 to ``max_kills`` kills, then runs until one finishes.

    With several senders, each round starts them all together and kills one of them (the
    others go on); a round without a kill must end with every sender done and exit 0.
    """
    started = time.monotonic()
    with MailServer() as server:
        config = prepare(
            folder, server, subscribers, database_url=database_url, connections=connections
        )
        planned = rng.randint(1, max_kills)
        kills = runs = 0
        while True:
            runs += 1
            processes = [_send(config) for _ in range(senders)]
            left = subscribers - len(server.per_recipient())
            if kills < planned and left > 1:
                victim = rng.choice(processes)
                if _kill_at(victim, server, rng.randint(1, left - 1), rng):
                    kills += 1
                    processes.remove(victim)
                    _finish(processes)
                    continue
            _finish(processes)
            break
        received = server.per_recipient()
    with open_store(config.data_dir, url=database_url) as store:
        ledger = Counter(d.status for d in store.deliveries("2026-03-10"))
    return Trial(subscribers, kills, runs, received, ledger, time.monotonic() - started)


def _send(config: Config) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config.path), "send"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
    )


def _finish(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        _, err = process.communicate(timeout=300)
        if process.returncode != 0:
            raise AssertionError(f"digest send failed ({process.returncode}): {err.decode()}")


def _kill_at(
    process: subprocess.Popen[bytes], server: MailServer, messages: int, rng: random.Random
) -> bool:
    """SIGKILL ``process`` just after the server accepted ``messages`` more; False if it ended first."""
    target = server.count() + messages
    while server.count() < target and process.poll() is None:
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, 0.002))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.communicate()
    return True
