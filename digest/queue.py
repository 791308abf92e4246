"""The job queue in PostgreSQL that `digest worker` processes take work from (procrastinate).

The leader (the daemon holding the lease, or `digest run`) decides *when* and queues jobs;
any number of workers, on any machines, take them. The queue only spreads the work: what
is done once is guarded by the data (the delivery ledger's claims for send jobs), so a job
run twice, retried after its worker died, or queued twice does no harm.

A job type is a function of the Config and JSON-able keyword arguments, registered by name
in :data:`JOBS` with :func:`job` (digest/jobs.py holds them; each is a thin call into
digest/cycle or digest/pipeline). :func:`defer` queues one; its ``lock`` (procrastinate's
queueing lock) drops a second job with the same lock while the first still waits.

procrastinate's schema is applied on first use, under an advisory lock, by :func:`ready`
(`digest worker` at start-up and the leader before it queues): no manual step.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from digest import logs
from digest.config import Config
from digest.errors import DigestError, StoreError, UsageError
from digest.store.engine import describe, first_line

if TYPE_CHECKING:
    import procrastinate

QUEUE = "digest"
ALONE_QUEUE = "digest-alone"
"""The queue of the job types registered ``alone``: a worker takes them one at a time, beside
its workers.concurrency other jobs (a send job keeps smtp.connections SMTP connections)."""
SWEEP_CRON = "* * * * * */15"
"""How often one of the workers looks for stalled jobs and send work nobody has queued."""
SCHEMA_LOCK = 0x6469676573745171  # 'digestQq': the advisory lock the schema is applied under
RECONNECT_FOR = 10.0
"""Seconds a worker that lost the database tries to reconnect before it gives up (exit 1)."""
STALLED_AFTER = 30.0
"""Seconds without a heartbeat after which a worker is taken for dead (its jobs retried)."""


JobBody = Callable[..., None]
"""``body(config, *, should_stop, **args)``: the args are the job's JSON keyword arguments."""


JOBS: dict[str, JobBody] = {}
"""Every job type, by name: the one registry (filled by digest.jobs)."""
ALONE: set[str] = set()
"""The job types a worker runs one at a time (:data:`ALONE_QUEUE`)."""
SWEEPS: list[Callable[[Config], None]] = []
"""What one worker checks every SWEEP_CRON (work due that nobody queued; filled by digest.jobs)."""


def job(name: str, *, alone: bool = False) -> Callable[[JobBody], JobBody]:
    """Register ``function`` as the job type ``name``; ``alone``: one at a time per worker."""

    def register(function: JobBody) -> JobBody:
        JOBS[name] = function
        if alone:
            ALONE.add(name)
        return function

    return register


def queue_of(name: str) -> str:
    """The queue ``name`` jobs go to (the leader queues them without having run a job)."""
    import digest.jobs  # noqa: F401  (fills JOBS and ALONE)

    return ALONE_QUEUE if name in ALONE else QUEUE


def sweep(function: Callable[[Config], None]) -> Callable[[Config], None]:
    """Register ``function`` to run on one worker every SWEEP_CRON."""
    SWEEPS.append(function)
    return function


def require_database(config: Config, command: str) -> str:
    if not config.database_url:
        raise UsageError(
            f"`digest {command}` needs database_url: the job queue lives in PostgreSQL "
            f"({config.path} uses SQLite in {config.data_dir})"
        )
    return config.database_url


# --- queueing ---------------------------------------------------------------------------------


def defer(config: Config, name: str, args: dict[str, Any], *, lock: str | None = None) -> bool:
    """Queue one ``name`` job; False when a job with the same ``lock`` is already waiting."""
    return defer_many(config, name, [(args, lock)]) == 1


def defer_many(config: Config, name: str, jobs: list[tuple[dict[str, Any], str | None]]) -> int:
    """Queue several ``name`` jobs, each with its arguments and lock; how many were queued."""
    import procrastinate.exceptions

    queued = 0
    queue = queue_of(name)
    with _connected(config) as app:
        for args, lock in jobs:
            try:
                app.configure_task(name, queue=queue, queueing_lock=lock).defer(**args)
                queued += 1
            except procrastinate.exceptions.AlreadyEnqueued:
                pass
    return queued


def unfinished(config: Config, name: str) -> int:
    """How many ``name`` jobs wait or run now (whose worker is alive or not yet found dead)."""
    with _connected(config) as app:
        return sum(
            len(app.job_manager.list_jobs(queue=queue_of(name), task=name, status=status))
            for status in ("todo", "doing")
        )


# --- the app ----------------------------------------------------------------------------------


def make_app(
    config: Config, *, should_stop: Callable[[], bool] = lambda: False
) -> procrastinate.App:
    """A procrastinate App on ``database_url`` with every job type of :data:`JOBS` as a task.

    (Queueing needs no task registered: a job is queued by its name.)
    """
    import procrastinate

    url = require_database(config, "worker")
    # A worker's job slots (workers.concurrency, and one for ALONE_QUEUE) each fetch and finish
    # their jobs through it, and each of its two procrastinate workers keeps one to listen.
    connections = max(4, config.workers.concurrency + 1 + 2)
    connector = procrastinate.PsycopgConnector(
        conninfo=url, min_size=1, max_size=connections, timeout=RECONNECT_FOR
    )
    app = procrastinate.App(connector=connector)
    for name, body in JOBS.items():
        app.task(name=name, queue=queue_of(name), pass_context=False)(
            _task(config, body, should_stop)
        )
    _add_sweep(app, config)
    return app


def _task(config: Config, body: JobBody, should_stop: Callable[[], bool]) -> Callable[..., None]:
    def run(**args: Any) -> None:
        try:
            body(config, should_stop=should_stop, **args)
        except DigestError as error:  # one line; what the job left undone is in the data
            logs.error("job", str(error))

    return run


def _add_sweep(app: procrastinate.App, config: Config) -> None:
    """Every SWEEP_CRON, on one worker: close the jobs of dead workers, then run SWEEPS."""

    @app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
    @app.task(name="sweep", queue=QUEUE, queueing_lock="sweep")
    async def sweep(timestamp: int) -> None:
        from procrastinate.jobs import Status

        manager = app.job_manager
        stalled_jobs = [
            job
            for queue in (QUEUE, ALONE_QUEUE)
            for job in await manager.get_stalled_jobs(queue=queue)
        ]
        for stalled in stalled_jobs:
            # Not retried as such: the work it left is in the data, and SWEEPS queue it again.
            logs.warning("worker", f"job {stalled.id} ({stalled.task_name}): its worker died")
            await manager.finish_job(stalled, status=Status.FAILED, delete_job=False)
        for function in SWEEPS:
            await asyncio.to_thread(_swept, config, function)


def _swept(config: Config, function: Callable[[Config], None]) -> None:
    try:
        function(config)
    except DigestError as error:  # one line; the next sweep tries again
        logs.error("sweep", str(error))


@contextmanager
def _connected(config: Config) -> Iterator[procrastinate.App]:
    import procrastinate.exceptions

    url = ready(config)
    app = make_app(config)
    try:
        with app.open():
            yield app
    except procrastinate.exceptions.ConnectorException as error:
        raise StoreError(
            f"{describe(url)}: the job queue failed: {error.__cause__ or error}"
        ) from None


def ready(config: Config) -> str:
    """Apply procrastinate's schema to the database if it is not there yet; the URL.

    Under an advisory lock, so that workers starting together apply it once.
    """
    import psycopg
    from procrastinate import schema

    url = require_database(config, "worker")
    try:
        with (
            psycopg.connect(url, autocommit=True, connect_timeout=10) as connection,
            connection.transaction(),
        ):
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            found = connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if found is None or found[0] is None:
                connection.execute(schema.SchemaManager.get_schema())
                logs.event("queue", f"{describe(url)}: job queue tables created")
    except psycopg.Error as error:
        raise StoreError(
            f"{describe(url)}: cannot prepare the job queue: {first_line(error)}"
        ) from None
    return url


# --- digest worker ----------------------------------------------------------------------------


def work(config: Config, *, concurrency: int = 1) -> None:
    """`digest worker`: take jobs until SIGTERM/SIGINT; the job in hand stops between steps."""
    import procrastinate.exceptions
    import psycopg
    import psycopg_pool
    from procrastinate import worker

    url = ready(config)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # a loss is reported once, here
    logging.getLogger("procrastinate").addFilter(_lost_in_one_line)
    stopping = threading.Event()
    app = make_app(config, should_stop=stopping.is_set)

    async def run() -> None:
        async with app.open_async():
            # Two of procrastinate's workers: the jobs that run one at a time (sends) do not
            # wait for their turn in the slots of the others (collect, summarize).
            runners = [
                worker.Worker(
                    app=app,
                    queues=[queue],
                    concurrency=slots,
                    install_signal_handlers=False,
                    delete_jobs="successful",
                    stalled_worker_timeout=STALLED_AFTER,
                    name=f"{logs_name()}/{queue}",
                )
                for queue, slots in ((QUEUE, concurrency), (ALONE_QUEUE, 1))
            ]
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(_loss_said_once)

            def stop(received: signal.Signals) -> None:
                logs.event("stop", f"{received.name}: finishing the job in hand, then stopping")
                stopping.set()
                for runner in runners:
                    runner.stop()  # type: ignore[no-untyped-call]

            for received in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(received, stop, received)
            running = [asyncio.create_task(r.run()) for r in runners]  # type: ignore[no-untyped-call]
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for runner in runners:  # one stopped (the database went, say): so does the other
                runner.stop()  # type: ignore[no-untyped-call]
            await asyncio.wait(running)
            errors = [error for task in running if (error := task.exception())]  # each seen
            if errors:
                raise errors[0]  # for the reconnecting loop below

    logs.event(
        "worker",
        f"digest worker on {describe(url)}: taking {', '.join(sorted(JOBS))} jobs"
        + ("" if config.workers.enabled else " (workers.enabled is off: nothing queues them)"),
    )
    failing_since = 0.0
    while not stopping.is_set():
        started = time.monotonic()
        try:
            asyncio.run(run())
            if stopping.is_set():
                break
            reason = f"{describe(url)}: lost the job queue (its worker loop stopped)"
        except (
            procrastinate.exceptions.ConnectorException,
            psycopg.Error,
            psycopg_pool.PoolTimeout,
        ) as error:
            reason = f"{describe(url)}: lost the job queue ({first_line(error.__cause__ or error)})"
        if time.monotonic() - started > RECONNECT_FOR:
            failing_since = 0.0  # it worked for a while: a new outage
        failing_since = failing_since or started
        if time.monotonic() - failing_since > RECONNECT_FOR:
            raise StoreError(f"{reason}; no luck reconnecting for {RECONNECT_FOR:g}s")
        logs.warning("worker", f"{reason}; reconnecting")
        stopping.wait(1.0)
    logs.event("stopped", "stopped cleanly")


def _loss_said_once(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The worker loop's handler of errors no task awaited: a job whose end could not be
    recorded because the database went (procrastinate's task for it ends in that error,
    and nothing asks for it) is said once, by :func:`work`, not again as asyncio's "Task
    exception was never retrieved" at exit, after the worker's last line. The job stays
    'doing' and is taken for a dead worker's; what it did is in the data."""
    if not _expected_loss(context.get("exception")):
        loop.default_exception_handler(context)


def _expected_loss(error: BaseException | None) -> bool:
    """A lost database (or a job's own DigestError): reported in one line, not as a bug."""
    import procrastinate.exceptions
    import psycopg

    expected = (procrastinate.exceptions.ConnectorException, psycopg.OperationalError, DigestError)
    return isinstance(error, expected)


def _lost_in_one_line(record: logging.LogRecord) -> bool:
    """procrastinate's log of a lost database (or a job's own DigestError): one line, no
    traceback; any other exception keeps its traceback (a bug)."""
    error = record.exc_info[1] if record.exc_info else None
    if error is not None and _expected_loss(error):
        record.msg = f"{record.getMessage()} ({first_line(error.__cause__ or error)})"
        record.args, record.exc_info, record.exc_text = None, None, None
    return True


def logs_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}/{os.getpid()}"
