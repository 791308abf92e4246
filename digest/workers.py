"""Worker processes for the CPU-bound step of a big run: extracting article pages.

The pool starts on first use, only on a machine with more than one CPU, and
with ``spawn`` (a forked child of a process that has threads can deadlock).
A spawned worker would run the parent's main module again (the ``digest``
script imports the whole CLI, a benchmark its own harness: seconds of CPU each);
here it runs none, and imports only the modules it is told to preload and those
its tasks name. Anything sent to a worker must be picklable: top-level
functions, frozen dataclasses, bytes.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from digest.errors import SourceError

T = TypeVar("T")
MAX_WORKERS = 4


class Workers:
    """A process pool started on the first task given to it; without one, work runs here."""

    def __init__(self, *, preload: tuple[str, ...] = ()) -> None:
        """``preload``: modules each worker imports as it starts, before its first task."""
        self._pool: ProcessPoolExecutor | None = None
        self._starting = threading.Lock()  # callers in several threads start one pool
        self.count = min(os.cpu_count() or 1, MAX_WORKERS)
        self.preload = preload

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def executor(self) -> Executor | None:
        """The pool (started now if needed), or None on a single-CPU machine."""
        if self.count < 2:
            return None
        with self._starting:
            return self._started()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(
                self.count, mp_context=context, initializer=_preload, initargs=(self.preload,)
            )
            with _no_main_module():
                # Each submit to a pool short of idle workers starts one: all start here.
                for _ in range(self.count):
                    pool.submit(os.getpid)
            self._pool = pool
        return self._pool

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``function(*args)`` in a worker, or here when there is no pool.

        A pool one of whose processes died (killed for memory, say) takes no more tasks:
        it is replaced by a new one. (The tasks it held fail, each on its own.)
        """
        pool = self.executor()
        if pool is None:
            return run_here(function, *args)
        try:
            return pool.submit(function, *args)
        except BrokenProcessPool:
            self._replace(pool)
            replaced = self.executor()
            assert replaced is not None
            return replaced.submit(function, *args)

    def _replace(self, broken: Executor) -> None:
        with self._starting:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)


def _preload(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


@contextmanager
def _no_main_module() -> Iterator[None]:
    """Processes spawned in this block run no main module (multiprocessing would run ours
    again in each, reading ``__spec__`` and ``__file__`` of ``sys.modules["__main__"]``)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def run_here(function: Callable[..., T], *args: Any) -> Future[T]:
    """``function(*args)`` run now, as a finished Future (holding its exception, if it raised)."""
    done: Future[T] = Future()
    try:
        done.set_result(function(*args))
    except Exception as error:  # kept for the caller, as a worker process would
        done.set_exception(error)
    return done


def within_budget(seconds: float, what: str, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, stopped with SourceError when it runs longer than ``seconds``.

    The budget is a timer signal, so it interrupts Python code and regular
    expressions alike; it needs the main thread, which worker processes always
    run their tasks on. Called from another thread it runs without a budget
    (the pipeline sends such work to the worker processes).
    """
    with _alarm(seconds, what):
        return function(*args)


def can_budget_here() -> bool:
    """True when :func:`within_budget` can enforce its budget in this thread."""
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


class _OverBudget(BaseException):
    """Raised by the timer inside the budgeted call (a BaseException, so no except Exception eats it)."""


@contextmanager
def _alarm(seconds: float, what: str) -> Iterator[None]:
    if not can_budget_here() or seconds <= 0:
        yield
        return

    def ring(signum: int, frame: FrameType | None) -> None:
        raise _OverBudget

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _OverBudget:
        raise SourceError(f"{what} took longer than {seconds:g}s; given up") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
