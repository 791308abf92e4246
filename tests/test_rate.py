"""The send rate holds across processes: three senders at delivery.rate_limit = 50 send 50/s in all.

Real processes (spawned), each with its own SMTP connection to one aiosmtpd server, pacing
themselves through the store on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from digest.config import Config, DeliveryConfig, SmtpConfig
from digest.deliver import Outgoing, make_transport
from digest.pipeline.pacing import shared_pace
from digest.store import open_store

from .mailserver import MailServer

RATE = 50.0
PER_WORKER = 50
WORKERS = 3


def _sender(data_dir: Path, url: str, port: int, number: int, start: float) -> None:
    """One worker: PER_WORKER messages through the paced SMTP transport, from ``start`` on."""
    config = Config(
        data_dir=data_dir,
        database_url=url,
        delivery=DeliveryConfig(transport="smtp", rate_limit=RATE),
        smtp=SmtpConfig(host="127.0.0.1", port=port, security="none"),
    )
    with open_store(data_dir, url=url) as store:
        transport = make_transport(config, pace=shared_pace(config, store))
        time.sleep(max(0.0, start - time.time()))
        for n in range(PER_WORKER):
            data = f"Subject: {number}/{n}\r\n\r\nhello\r\n".encode()
            transport.send(Outgoing("news@example.com", f"w{number}-{n}@example.com", data, "t"))
        transport.close()


@pytest.mark.slow
def test_three_workers_hold_the_global_send_rate(fresh_postgres: str, tmp_path: Path) -> None:
    engine_url = fresh_postgres
    open_store(tmp_path, url=engine_url).close()
    with MailServer() as server:
        start = time.time() + 6.0  # all three are connected and waiting by then
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_sender, args=(tmp_path, engine_url, server.port, n, start))
            for n in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0] * WORKERS
        got = server.received
    assert len(got) == WORKERS * PER_WORKER
    # While all three send (a worker that ran out of messages no longer competes):
    times = {
        n: sorted(r.at for r in got if r.recipients[0].startswith(f"w{n}-")) for n in range(WORKERS)
    }
    begin, end = max(t[0] for t in times.values()), min(t[-1] for t in times.values())
    received = sorted(at for at in (r.at for r in got) if begin <= at <= end)
    rate = (len(received) - 1) / (end - begin)
    print(f"{WORKERS} workers at rate_limit {RATE:g}: {rate:.1f} messages/s in all")
    assert RATE * 0.9 <= rate <= RATE * 1.1
    # And at every moment, not only on average: no second holds more than the rate allows.
    every = sorted(r.at for r in got)
    for first, later in zip(every, every[int(RATE * 1.1) :], strict=False):
        assert later - first >= 1.0, "more than 55 messages within one second"
