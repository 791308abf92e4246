"""Delivery: messages per second over STARTTLS beside plain smtplib, and crash trials.

1. Throughput: one edition to 2,000 recipients through a local aiosmtpd server with
   STARTTLS (a certificate made at run time; the server runs in its own process).
   digest's `pipeline.send` (compose, ledger, SMTP) and its SMTP transport alone, beside
   plain smtplib (one connection, STARTTLS, default socket options) sending the same
   messages to the same server, in the same run.
2. Crash trials: `digest send` to 300 subscribers, SIGKILLed at random moments and run
   again until it finishes; what the server received, counted per subscriber.

Run from the repository root: .venv/bin/python benchmarks/deliver.py [--recipients N]
[--peer-messages N] [--trials N]. Needs the test extra (aiosmtpd, cryptography).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import smtplib
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import pipeline  # noqa: E402
from digest.config import Config, load_config  # noqa: E402
from digest.deliver import Outgoing, make_transport  # noqa: E402
from digest.render import render_email  # noqa: E402
from digest.store import Store, open_store  # noqa: E402
from tests.crash import crash_trial  # noqa: E402
from tests.mailserver import Certificate, MailServer, make_certificate  # noqa: E402
from tests.samples import NOW, sample_edition  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--peer-messages", type=int, default=2000, help="for plain smtplib")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        throughput(Path(tmp), args.recipients, args.peer_messages)
        crash_trials(Path(tmp), args.trials)


# --- throughput ------------------------------------------------------------------------------


def throughput(folder: Path, recipients: int, peer_messages: int) -> None:
    config, control, server = start_sink(folder)
    addresses = [f"reader{i:05}@example.com" for i in range(recipients)]
    messages = _composed(folder / "outbox", config, addresses)
    with open_store(config.data_dir) as store:
        _edition(store, config, addresses)
        rows = [
            _timed(
                "digest send (compose, ledger, SMTP)",
                recipients,
                lambda: pipeline.send(config, store, now=NOW),
                control,
            ),
            _timed(
                "digest SMTP transport alone",
                recipients,
                lambda: _with_digest(config, messages),
                control,
            ),
            _timed(
                "plain smtplib, default socket options",
                min(peer_messages, recipients),
                lambda: _with_smtplib(config, messages[:peer_messages]),
                control,
            ),
        ]
    control.send("stop")
    server.join(10)
    size = sum(len(m.data) for m in messages) / len(messages)
    print(
        f"{recipients} recipients over STARTTLS to aiosmtpd on 127.0.0.1 (its own process), "
        f"one connection each, messages of {size / 1000:.1f} kB"
    )
    print(
        f"{'sender':<38} {'messages':>8} {'received':>8} {'seconds':>8} {'msg/s':>8} {'vs smtplib':>10}"
    )
    peer_rate = rows[-1][4]
    for name, count, received, seconds, rate in rows:
        print(
            f"{name:<38} {count:>8} {received:>8} {seconds:>8.2f} {rate:>8.1f} {rate / peer_rate:>9.1f}x"
        )


def start_sink(folder: Path) -> tuple[Config, Connection, BaseProcess]:
    """aiosmtpd with STARTTLS in a process of its own; a config sending to it, and its control."""
    certificate = make_certificate(folder / "tls")
    control, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(certificate, child), daemon=True
    )
    server.start()
    return _config(folder / "digest", control.recv(), certificate), control, server


def _edition(store: Store, config: Config, addresses: list[str]) -> None:
    email, _ = render_email(sample_edition(12), config.newsletter, config.render)
    store.save_edition(email, number=1, built=NOW, article_ids=[])
    for address in addresses:
        store.add_subscriber(address, now=NOW)


def _composed(folder: Path, config: Config, addresses: list[str]) -> list[Outgoing]:
    """The very messages digest sends, taken from an outbox run, for the transports alone."""
    outbox = replace(config, data_dir=folder, delivery=replace(config.delivery, transport="outbox"))
    with open_store(outbox.data_dir) as store:
        _edition(store, outbox, addresses)
        pipeline.send(outbox, store, now=NOW)
    sender = config.newsletter.from_address
    return [
        Outgoing(sender, a, (folder / "outbox" / "2026-03-10" / f"{a}.eml").read_bytes(), "bench")
        for a in addresses
    ]


def _timed(
    name: str, count: int, send: Callable[[], object], server: Connection
) -> tuple[str, int, int, float, float]:
    server.send("reset")
    server.recv()
    started = time.perf_counter()
    send()
    seconds = time.perf_counter() - started
    server.send("count")
    return name, count, server.recv(), seconds, count / seconds


def _with_digest(config: Config, messages: list[Outgoing]) -> None:
    transport = make_transport(config)
    for message in messages:
        transport.send(message)
    transport.close()


def _with_smtplib(config: Config, messages: list[Outgoing]) -> None:
    context = ssl.create_default_context(cafile=config.smtp.ca_file)
    with smtplib.SMTP(config.smtp.host, config.smtp.port) as connection:
        connection.starttls(context=context)
        for message in messages:
            connection.sendmail(message.sender, [message.recipient], message.data)


def _config(folder: Path, port: int, certificate: Certificate) -> Config:
    folder.mkdir(parents=True)
    path = folder / "digest.toml"
    path.write_text(
        f'data_dir = "{folder / "data"}"\n'
        '[newsletter]\nfrom_address = "daily@news.example.com"\n'
        '[delivery]\ntransport = "smtp"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "starttls"\n'
        f'ca_file = "{certificate.cert}"\n',
        encoding="utf-8",
    )
    return load_config(path)


def _serve(certificate: Certificate, control: Connection) -> None:
    """The SMTP server's process: answers 'count', 'reset' and 'stop' on ``control``."""
    with MailServer(security="starttls", certificate=certificate) as server:
        control.send(server.port)
        while True:
            command = control.recv()
            if command == "stop":
                return
            with server.handler.lock:
                count = len(server.handler.received)
                if command == "reset":
                    server.handler.received.clear()
            control.send(count)


# --- crash trials ----------------------------------------------------------------------------


def crash_trials(folder: Path, trials: int) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(
        f"\ncrash trials: digest send to 300 subscribers, SIGKILLed at random moments (seed {seed})"
    )
    print(
        f"{'trial':>5} {'kills':>5} {'runs':>4} {'missing':>7} {'duplicates':>10} {'ledger':>10} {'seconds':>7}"
    )
    totals: Counter[str] = Counter()
    for number in range(1, trials + 1):
        trial = crash_trial(folder / f"crash{number}", rng, subscribers=300, connections=1)
        totals.update(kills=trial.kills, duplicates=trial.duplicates, missing=trial.missing)
        ledger = "all sent" if trial.ledger == {"sent": 300} else str(dict(trial.ledger))
        print(
            f"{number:>5} {trial.kills:>5} {trial.runs:>4} {trial.missing:>7} "
            f"{trial.duplicates:>10} {ledger:>10} {trial.seconds:>7.1f}"
        )
        assert trial.missing == 0 and trial.duplicates <= trial.kills, trial
    print(
        f"total: {totals['kills']} kills, {totals['duplicates']} duplicate messages "
        f"(at most one per kill allowed), {totals['missing']} subscribers missed"
    )


if __name__ == "__main__":
    main()
