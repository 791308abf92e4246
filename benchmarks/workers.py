"""Send throughput with 1, 2 and 4 `digest worker` processes on the PostgreSQL job queue.

One edition to N recipients (default 3,000) with the store on PostgreSQL (127.0.0.1:5432),
over plain SMTP to an aiosmtpd sink in a process of its own (its CPU time is measured, to say
how much of the machine it takes). Each row starts from an empty database.

- digest worker x W: W `digest worker` processes (workers.enabled, send_batch 250); the clock
  runs from queueing the send (what the leader does at send time) to the sink's last message.
- peers, in the same run: one `digest send` on the same PostgreSQL (one machine, no queue),
  and W `digest send` processes started together (what one would do without workers: the
  ledger's claims already let several senders share one edition).

Every sender keeps `--connections` SMTP connections (default 2). The table gives messages per
second, the ratio to one `digest send`, and the sink's CPU time as a share of the wall time
(of one core; the machine has os.cpu_count() of them), with the load average before each row.

Run from the repository root: .venv/bin/python benchmarks/workers.py [--recipients N].
Needs the test extra and a PostgreSQL that trusts local connections (database `test`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import cycle  # noqa: E402
from digest.config import Config, load_config  # noqa: E402
from digest.render import render_email  # noqa: E402
from digest.store import open_store  # noqa: E402
from tests.databases import empty_schema, postgres_database  # noqa: E402
from tests.mailserver import MailServer  # noqa: E402
from tests.samples import NOW, sample_edition  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--counts", default="1,2,4", help="worker counts, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    control, child = multiprocessing.Pipe()
    sink = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    sink.start()
    port = control.recv()
    rows: list[tuple[str, float, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="digest-workers-") as tmp, postgres_database() as url:
        folder = Path(tmp)
        runs = [("digest send x1 (peer)", "send", 1)]
        for count in counts:
            runs.append((f"digest worker x{count}", "worker", count))
            if count > 1:
                runs.append((f"digest send x{count} at once (peer)", "send", count))
        for number, (name, how, count) in enumerate(runs):
            empty_schema(url)
            config = _prepare(folder / str(number), url, port, args, workers=how == "worker")
            load = os.getloadavg()[0]
            seconds, cpu = _run(config, how, count, args.recipients, control, folder)
            rows.append((name, seconds, args.recipients / seconds, cpu / seconds, load))
            print(f"  {name}: {seconds:.1f} s", file=sys.stderr)
    control.send("stop")
    sink.join(10)
    print(
        f"\nsend: {args.recipients} recipients, store on PostgreSQL, {args.connections} SMTP "
        f"connections per sender, plain SMTP to aiosmtpd on 127.0.0.1 (own process); "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'':36} {'seconds':>8} {'msg/s':>8} {'vs send x1':>10} {'sink CPU':>9} {'load':>5}")
    base = rows[0][2]
    for name, seconds, rate, sink_share, load in rows:
        print(
            f"{name:<36} {seconds:>8.2f} {rate:>8.1f} {rate / base:>9.2f}x "
            f"{sink_share:>8.0%} {load:>5.1f}"
        )
    print("(sink CPU: the sink's CPU seconds over the row's wall seconds; 100% = one core)")


def _prepare(
    folder: Path, url: str, port: int, args: argparse.Namespace, *, workers: bool
) -> Config:
    folder.mkdir(parents=True)
    path = folder / "digest.toml"
    path.write_text(
        f'data_dir = "{folder / "data"}"\ndatabase_url = "{url}"\n'
        '[newsletter]\nfrom_address = "daily@news.example.com"\n'
        '[delivery]\ntransport = "smtp"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = {args.connections}\n"
        + ("[workers]\nenabled = true\nsend_batch = 250\n" if workers else ""),
        encoding="utf-8",
    )
    config = load_config(path)
    email, _ = render_email(sample_edition(12), config.newsletter, config.render)
    with open_store(config.data_dir, url=url) as store, store.db:
        store.save_edition(email, number=1, built=NOW, article_ids=[])
        for i in range(args.recipients):
            store.add_subscriber(f"reader{i:05}@example.com", now=NOW)
    return config


def _run(
    config: Config, how: str, count: int, recipients: int, control: Connection, folder: Path
) -> tuple[float, float]:
    """Wall seconds until the sink has every message, and the sink's CPU seconds meanwhile."""
    processes: list[subprocess.Popen[bytes]] = []
    command = [sys.executable, "-m", "digest", "--config", str(config.path), how]
    if how == "worker":
        logs = [folder / f"worker-{os.getpid()}-{n}.log" for n in range(count)]
        for log in logs:
            with log.open("wb") as output:
                processes.append(
                    subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=ENV)
                )
        deadline = time.monotonic() + 120
        while not all(": taking " in log.read_text() for log in logs):
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start:\n" + logs[0].read_text())
            time.sleep(0.1)
    control.send("reset")
    control.recv()
    started = time.perf_counter()
    if how == "worker":
        with open_store(config.data_dir, url=config.database_url) as store:
            store.record_run("2026-03-10", "started", scheduled=NOW, now=NOW)
            cycle.finish_unfinished(config, store, should_stop=lambda: False)
    else:
        processes = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
            for _ in range(count)
        ]
    last, progress = -1, time.monotonic()
    while True:
        control.send("count")
        received, cpu = control.recv()
        if received >= recipients:
            break
        if received != last:
            last, progress = received, time.monotonic()
        elif time.monotonic() - progress > 120:
            raise SystemExit(f"no progress for 120 s at {received} of {recipients} received")
        if how == "send" and all(p.poll() is not None for p in processes):
            raise SystemExit(f"the sends ended with {received} of {recipients} received")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    for process in processes:
        if how == "worker":
            process.send_signal(signal.SIGTERM)
        process.wait(60)
    return seconds, cpu


def _serve(control: Connection) -> None:
    """The sink's process: 'count' answers (messages, CPU seconds since the last 'reset')."""
    with MailServer() as server:
        control.send(server.port)
        cpu_start = time.process_time()
        while True:
            command = control.recv()
            if command == "count":
                control.send((server.count(), time.process_time() - cpu_start))
            elif command == "reset":  # (the messages kept so far are let go)
                with server.handler.lock:
                    server.handler.received.clear()
                cpu_start = time.process_time()
                control.send(None)
            else:
                return


if __name__ == "__main__":
    main()
