"""The send-rate governor: does `delivery.rate_limit` hold across several senders?

Three `digest send` processes share one data directory and send one edition to 600
subscribers with `delivery.rate_limit = 20`, to a local aiosmtpd sink in a process of its own
that stamps each accepted message. Beside them, the same run measures what per-worker limits
give (a Celery-style rate_limit, or a sleep in each worker): three smtplib workers, each held
to 20 messages per second by itself, sending 200 messages each to the same sink.

The table shows the rate each achieved over the run and the busiest second.

Run from the repository root: .venv/bin/python benchmarks/governor.py [--rate R] [--seconds S]
[--senders N]. Needs the test extra (aiosmtpd).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import load_config  # noqa: E402
from digest.render import render_email  # noqa: E402
from digest.store import open_store  # noqa: E402
from tests.mailserver import free_port  # noqa: E402
from tests.samples import NOW, sample_edition  # noqa: E402

SECRET = "a-long-enough-secret-for-the-benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=3)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    control, port = start_sink()
    with tempfile.TemporaryDirectory(prefix="digest-governor-") as tmp:
        digest = _digest(Path(tmp), port, control, args.rate, count, args.senders)
    peer = _per_worker(port, control, args.rate, count, args.senders)
    load = os.getloadavg()[0]
    print(
        f"\nsend-rate limit {args.rate:g}/s, {count} messages, {args.senders} senders, load {load:.1f}"
    )
    print(
        f"{'':44} {'messages':>8} {'seconds':>8} {'rate/s':>7} {'vs limit':>8} {'busiest 1 s':>11}"
    )
    for name, stamps in (
        ("digest: one governor in the store", digest),
        ("peer: each worker limits itself", peer),
    ):
        seconds = max(stamps) - min(stamps)
        rate = (len(stamps) - 1) / seconds if seconds else float("inf")
        busiest = max(Counter(int(s - min(stamps)) for s in stamps).values())
        print(
            f"{name:44} {len(stamps):>8} {seconds:>8.1f} {rate:>7.1f} "
            f"{rate / args.rate:>7.2f}x {busiest:>11}"
        )
    control.send("stop")


def _digest(
    folder: Path, port: int, control: Connection, rate: float, count: int, senders: int
) -> list[float]:
    config_file = folder / "digest.toml"
    config_file.write_text(
        f'data_dir = "{folder / "data"}"\n'
        '[newsletter]\nname = "Daily Digest"\nfrom_address = "daily@news.example.com"\n'
        'base_url = "https://news.example.com/digest"\n'
        f'[delivery]\ntransport = "smtp"\nrate_limit = {rate}\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
        encoding="utf-8",
    )
    config = load_config(config_file)
    with open_store(config.data_dir) as store:
        email, _ = render_email(sample_edition(12), config.newsletter, config.render)
        store.save_edition(email, number=1, built=NOW, article_ids=[])
        for i in range(count):
            store.add_subscriber(f"reader{i:05}@example.com", now=NOW)
    control.send("reset")
    control.recv()
    env = {**os.environ, "DIGEST_SECRET": SECRET}
    command = [sys.executable, "-m", "digest", "--config", str(config_file), "send"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(senders)
    ]
    for process in processes:
        out, err = process.communicate(timeout=count / rate * 3 + 120)
        if process.returncode:
            raise SystemExit(f"digest send failed: {err.decode()}")
        print(f"digest send: {out.decode().strip().splitlines()[-1]}")
    control.send("stamps")
    stamps: list[float] = control.recv()
    return stamps


def _per_worker(
    port: int, control: Connection, rate: float, count: int, senders: int
) -> list[float]:
    control.send("reset")
    control.recv()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(port, rate, count // senders, n))
        for n in range(senders)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    control.send("stamps")
    stamps: list[float] = control.recv()
    return stamps


def _worker(port: int, rate: float, messages: int, number: int) -> None:
    body = b"Subject: test\r\n\r\n" + (b"x" * 76 + b"\r\n") * 260
    with smtplib.SMTP("127.0.0.1", port) as connection:
        last = 0.0
        for i in range(messages):
            delay = last + 1 / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            last = time.monotonic()
            connection.sendmail("daily@news.example.com", [f"w{number}-{i}@example.com"], body)


# --- the sink ------------------------------------------------------------------------------------


def start_sink() -> tuple[Connection, int]:
    control, child = multiprocessing.Pipe()
    port = free_port()
    multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, child), daemon=True
    ).start()
    control.recv()
    return control, port


class _Stamper:
    def __init__(self) -> None:
        self.stamps: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.stamps.append(time.time())
        return "250 2.0.0 Accepted"


def _serve(port: int, control: Connection) -> None:
    from aiosmtpd.controller import Controller

    handler = _Stamper()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    control.send("ready")
    while True:
        command = control.recv()
        if command == "reset":
            handler.stamps.clear()
            control.send("ok")
        elif command == "stamps":
            control.send(list(handler.stamps))
        else:
            controller.stop()
            return


if __name__ == "__main__":
    main()
