"""Delivery over a slow link: round trips overlapped (PIPELINING, several connections).

An aiosmtpd sink (plain SMTP, its own process) behind a TCP proxy on 127.0.0.1 (its own
process) that holds every chunk DELAY ms in each direction, so a round trip costs 2 x DELAY.
Rows, in the same run for each delay:

- plain smtplib with TCP_NODELAY, one connection, `sendmail` per message (the peer);
- digest's SMTP transport on one connection, to a sink without PIPELINING, then with it;
- `digest send` (compose, ledger claims, SMTP) with `smtp.connections` = 1, 4 and 8.

Run from the repository root: .venv/bin/python benchmarks/latency.py [--delays 10,50]
[--messages N] [--recipients N]. Single-connection rows send --messages, the `digest send`
rows --recipients (a fresh ledger each).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import smtplib
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from deliver import _composed, _edition  # noqa: E402

from digest import pipeline  # noqa: E402
from digest.config import Config, DeliveryConfig, NewsletterConfig, SmtpConfig  # noqa: E402
from digest.deliver import Outgoing, make_transport  # noqa: E402
from digest.store import open_store  # noqa: E402
from tests.mailserver import MailServer  # noqa: E402
from tests.samples import NOW  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="10,50", help="ms each way, comma-separated")
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--connections", default="1,4,8")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    sinks = {}
    for pipelining in (True, False):
        control, child = spawn.Pipe()
        spawn.Process(target=_sink, args=(pipelining, child), daemon=True).start()
        sinks[pipelining] = (control, control.recv())
    print(f"load average {os.getloadavg()[0]:.2f} (2 shared cores)")
    with tempfile.TemporaryDirectory(prefix="digest-latency-") as tmp:
        folder = Path(tmp)
        for delay in (float(d) / 1000 for d in args.delays.split(",")):
            ports = {}
            for pipelining, (_, sink_port) in sinks.items():
                control, child = spawn.Pipe()
                spawn.Process(target=_proxy, args=(sink_port, delay, child), daemon=True).start()
                ports[pipelining] = control.recv()
            rows = _rows(folder / f"{delay * 1000:g}ms", ports, args)
            _table(delay, rows)
    for control, _ in sinks.values():
        control.send("stop")


Row = tuple[str, int, float]


def _rows(folder: Path, ports: dict[bool, int], args: argparse.Namespace) -> list[Row]:
    config = _config(folder / "base", ports[True], 1)
    addresses = [f"reader{i:05}@example.com" for i in range(args.messages)]
    messages = _composed(folder / "outbox", config, addresses)
    rows = [
        _timed("smtplib, TCP_NODELAY, 1 connection", len(messages), lambda: _peer(config, messages))
    ]
    plain = _config(folder / "plain", ports[False], 1)
    rows.append(
        _timed(
            "digest transport, 1 conn., no PIPELINING",
            len(messages),
            lambda: _digest(plain, messages),
        )
    )
    rows.append(
        _timed(
            "digest transport, 1 conn., PIPELINING",
            len(messages),
            lambda: _digest(config, messages),
        )
    )
    for n in (int(c) for c in args.connections.split(",")):
        sender = _config(folder / f"send{n}", ports[True], n)
        recipients = [f"reader{i:05}@example.com" for i in range(args.recipients)]
        with open_store(sender.data_dir) as store:
            _edition(store, sender, recipients)
            rows.append(
                _timed(
                    f"digest send, PIPELINING, {n} conn.",
                    len(recipients),
                    partial(_all_sent, sender, store, len(recipients)),
                )
            )
    return rows


def _all_sent(config: Config, store: object, count: int) -> None:
    report = pipeline.send(config, store, now=NOW)  # type: ignore[arg-type]
    assert report.counts["sent"] == count, report


def _table(delay: float, rows: list[Row]) -> None:
    print(f"\nproxy delay {delay * 1000:g} ms each way (round trip {2 * delay * 1000:g} ms)")
    print(f"{'sender':<42} {'messages':>8} {'seconds':>8} {'msg/s':>8} {'vs peer':>8}")
    peer = rows[0][1] / rows[0][2]
    for name, count, seconds in rows:
        rate = count / seconds
        print(f"{name:<42} {count:>8} {seconds:>8.2f} {rate:>8.1f} {rate / peer:>7.1f}x")


def _timed(name: str, count: int, send: Callable[[], object]) -> Row:
    started = time.perf_counter()
    send()
    return name, count, time.perf_counter() - started


def _peer(config: Config, messages: list[Outgoing]) -> None:
    with smtplib.SMTP(config.smtp.host, config.smtp.port) as connection:
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for message in messages:
            connection.sendmail(message.sender, [message.recipient], message.data)


def _digest(config: Config, messages: list[Outgoing]) -> None:
    transport = make_transport(config)
    for message in messages:
        transport.send(message)
    transport.close()


def _config(folder: Path, port: int, connections: int) -> Config:
    return Config(
        data_dir=folder / "data",
        newsletter=NewsletterConfig(from_address="daily@news.example.com"),
        delivery=DeliveryConfig(transport="smtp"),
        smtp=SmtpConfig(host="127.0.0.1", port=port, security="none", connections=connections),
    )


def _sink(pipelining: bool, control: Connection) -> None:
    with MailServer(pipelining=pipelining) as server:
        control.send(server.port)
        control.recv()


def _proxy(target: int, delay: float, control: Connection) -> None:
    """A TCP proxy that holds each chunk ``delay`` seconds in each direction, in order."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def later() -> None:
            while True:
                due, chunk = await queue.get()
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                if not chunk:
                    writer.close()
                    return
                writer.write(chunk)
                await writer.drain()

        task = asyncio.create_task(later())
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
        queue.put_nowait((loop.time() + delay, b""))
        await task

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        for stream in (writer, upstream_writer):
            stream.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            pump(reader, upstream_writer), pump(upstream_reader, writer), return_exceptions=True
        )

    async def serve() -> None:
        server = await asyncio.start_server(client, "127.0.0.1", 0)
        control.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
