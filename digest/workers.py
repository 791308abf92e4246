"""Worker processes for the CPU-bound steps of a big run: parsing feeds, extracting pages.

The pool starts on first use, only on a machine with more than one CPU, and
with ``spawn`` (a forked child of a process that has threads can deadlock).
Anything sent to a worker must be picklable: top-level functions, frozen
dataclasses, bytes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
MAX_WORKERS = 4


class Workers:
    """A lazily started process pool; without one, work runs here and now."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self.count = min(os.cpu_count() or 1, MAX_WORKERS)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def executor(self) -> Executor | None:
        """The pool (started now if needed), or None on a single-CPU machine."""
        if self.count < 2:
            return None
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.count, mp_context=context)
        return self._pool

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``function(*args)`` in a worker, or here when there is no pool."""
        pool = self.executor()
        if pool is not None:
            return pool.submit(function, *args)
        return run_here(function, *args)


def run_here(function: Callable[..., T], *args: Any) -> Future[T]:
    """``function(*args)`` run now, as a finished Future (holding its exception, if it raised)."""
    done: Future[T] = Future()
    try:
        done.set_result(function(*args))
    except Exception as error:  # kept for the caller, as a worker process would
        done.set_exception(error)
    return done
