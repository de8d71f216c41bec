"""Per-model work on several processes: transform (match, stage) and load (fill, validate, write)
are CPU spent model after model, in pure Python; a second core halves them only in a second
process (threads share one interpreter lock).

The stages keep their semantics: the parent alone writes the store (one transaction for the
transform, as before), each worker reads it through its own connection (the store is in WAL
mode: readers never wait) and sends its batch's rows back; batches come back in model order, so
the store and the files are byte for byte those of a serial run (a test compares both).

Workers are forked (Linux), so they inherit the indexed catalogs and the compiled mappings
instead of receiving a pickled copy, and open their own SQLite connections (a connection must not
cross a fork). Each opens them before the stage starts writing: requests-cache takes the write
lock once when it opens the cache, and would wait forever behind the transform's transaction.
Elsewhere, below ``settings.PARALLEL_MIN_MODELS`` models, with ``workers: 1``, or when a worker
cannot start, the same batches run in the calling process. Workers ignore Ctrl-C: the parent
receives it, stops them and exits as usual (130); a worker's file write holds SIGTERM
(etl/writes.py), so every model file is old or new.

Measured with ``benchmarks/run.py`` (1,000 and 10,000 models, 2 cores): see the README's table.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from . import settings
from .errors import EtlError

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("etl")

#: the job of the workers being forked, and their start-up and ready queue: set just before the
#: fork and inherited (never pickled); kept while the pool lives
_JOB: tuple[Callable[[Any], Any], Callable[[], None] | None, Any] | None = None


def worker_count(models: int, configured: int | None = None) -> int:
    """How many processes a stage uses for ``models`` models: ``configured`` (the config's
    ``workers``), else one per core up to settings.MAX_WORKERS; 1 where fork is not the
    platform's safe default (macOS, Windows) or below settings.PARALLEL_MIN_MODELS."""
    if not sys.platform.startswith("linux") or models < settings.PARALLEL_MIN_MODELS:
        return 1
    if configured is not None:
        return max(1, configured)
    return max(1, min(settings.MAX_WORKERS, len(os.sched_getaffinity(0))))


class Workers(Generic[T, R]):
    """``job`` over batches of items, in order, on ``count`` forked processes (or here). ``start``
    runs once in each worker before the constructor returns (to open its own connections). The
    job's domain errors (etl/errors.py) reach the caller as raised; a worker that dies (killed,
    out of memory) is one EtlError, never a hang; closing after an error or Ctrl-C stops the
    workers at once. concurrent.futures' pool rather than multiprocessing.Pool: the latter waits
    forever for the batch of a worker that died."""

    def __init__(self, job: Callable[[list[T]], R], count: int, start: Callable[[], None] | None = None):
        self.job: Callable[[list[T]], R] = job
        self.pool: ProcessPoolExecutor | None = None
        if count > 1:
            self._fork(job, count, start)

    def _fork(self, job: Callable[[list[T]], R], count: int, start: Callable[[], None] | None) -> None:
        global _JOB
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Queue()
        _JOB = (job, start, ready)
        self.pool = ProcessPoolExecutor(count, mp_context=ctx, initializer=_worker_start)
        try:
            self.pool.submit(int)  # forks every worker now, before the caller starts writing
            for _ in range(count):
                problem = ready.get(timeout=settings.WORKER_START_TIMEOUT)
                if problem:
                    raise RuntimeError(problem)
        except (queue.Empty, RuntimeError) as exc:  # the stage still runs, in this process
            log.debug("worker processes did not start (%s); running in one process", exc or "timed out")
            self.close(stop=True)
        except BaseException:
            self.close(stop=True)
            raise

    def map(self, items: list[T], size: int | None = None) -> Iterator[R]:
        size = size or settings.MODELS_PER_BATCH
        parts = [items[i : i + size] for i in range(0, len(items), size)]
        if self.pool is None:
            yield from map(self.job, parts)
            return
        try:
            yield from self.pool.map(_run_one, parts)
        except BrokenProcessPool:
            self.close(stop=True)
            raise EtlError(
                "a worker process died (killed, or out of memory?); nothing of its batch was kept: "
                "re-run, with workers: 1 in the config if it happens again"
            ) from None
        except BaseException:
            self.close(stop=True)
            raise

    def close(self, stop: bool = False) -> None:
        """Wait for the workers to finish (or, ``stop``, end them now: SIGTERM, which a worker holds
        while it writes a file) and release them."""
        global _JOB
        if self.pool is None:
            return
        if stop:  # the executor's own process objects: a reaped worker's pid is never signalled
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError, ValueError):
                    process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool, _JOB = None, None

    def __enter__(self) -> Workers[T, R]:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(stop=kind is not None)


def _worker_start() -> None:
    """In each worker: Ctrl-C is the parent's to handle; SIGTERM (the parent stopping the pool)
    ends the worker at once, outside a file write, without a traceback. Then the stage's start-up,
    and a word to the parent: a problem, or "" when ready. A worker that cannot start ends at
    once (no traceback: the executor would log one), and the parent runs the stage itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert _JOB is not None, "a worker runs only the job it was forked with"
    _, start, ready = _JOB
    try:
        if start is not None:
            start()
    except Exception as exc:  # noqa: BLE001 - told to the parent, which runs the stage itself
        ready.put(f"{type(exc).__name__}: {exc}")
        ready.close()
        ready.join_thread()  # the word reaches the parent before this process ends
        os._exit(1)
    ready.put("")


def _run_one(batch: list[Any]) -> Any:
    assert _JOB is not None, "a worker runs only the job it was forked with"
    return _JOB[0](batch)
