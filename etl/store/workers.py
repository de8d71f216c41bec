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
Elsewhere, below ``settings.PARALLEL_MIN_MODELS`` models, with ``workers: 1``, or when the
workers cannot start (a fork refused, a connection that does not open), the same batches run in
the calling process.

Signals: SIGINT and SIGTERM are blocked while the workers are forked (a signal in the middle of a
fork would leave a half-made worker or be swallowed by an at-fork hook); workers ignore Ctrl-C and
are never killed (but those of a pool that did not start, which hold no batch): on Ctrl-C, an
error, or SIGTERM the parent cancels the batches not started and waits for the few running ones
(a worker killed while it sends its result would leave the pool waiting forever), so every model
file is old or new. A worker that dies (out of memory) is one error. At most ``2 x workers``
batches are in flight: memory stays flat, and a stop is quick.

Memory: what exists at the fork is frozen out of the cyclic collector (``gc.freeze``, as Python's
documentation advises before a fork), so no collection, in the parent or a worker, writes to (and
so copies) the pages of the catalogs every worker reads; it is unfrozen when the last pool of
workers is gone, and never when the calling program had frozen objects of its own (the freeze is
the process's, not a pool's).

Measured with ``benchmarks/run.py`` (1,000 and 10,000 models, 2 cores): see the README's table.
"""

from __future__ import annotations

import collections
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from .. import settings
from ..errors import EtlError

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("etl")
_HELD = {signal.SIGINT, signal.SIGTERM}

#: in a worker: the job it was forked with (set by _worker_start, in the worker only)
_JOB: Callable[[Any], Any] | None = None


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
    job's errors reach the caller as raised (as an EtlError with the same text when they cannot
    cross a process); a worker that dies is one EtlError, never a hang. concurrent.futures' pool
    rather than multiprocessing.Pool: the latter waits forever for the batch of a worker that died."""

    def __init__(self, job: Callable[[list[T]], R], count: int, start: Callable[[], None] | None = None):
        self.job: Callable[[list[T]], R] = job
        self.count = count
        self.pool: ProcessPoolExecutor | None = None
        self._running: collections.deque[Future] = collections.deque()
        self._frozen = False
        if count > 1:
            self._fork(job, count, start)

    def _fork(self, job: Callable[[list[T]], R], count: int, start: Callable[[], None] | None) -> None:
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Queue()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        before = set(multiprocessing.active_children())
        _freeze()  # no collection, here or in a worker, walks (and so copies) what exists at the fork
        self._frozen = True
        try:  # the job travels by the fork itself: initargs of a fork context are never pickled
            self.pool = ProcessPoolExecutor(count, ctx, _worker_start, (job, start, ready, held))
            self.pool.submit(int)  # forks every worker now, before the caller starts writing
        except (OSError, RuntimeError) as exc:  # a fork or the pool's thread refused (process limit, memory)
            log.warning("worker processes could not start (%s); running in one process", exc)
            self._abandon(before)
            return
        except BaseException:
            self._abandon(before)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        try:
            for _ in range(count):
                problem = ready.get(timeout=settings.WORKER_START_TIMEOUT)
                if problem:
                    raise RuntimeError(problem)
        except (queue.Empty, RuntimeError) as exc:
            log.warning("worker processes did not start (%s); running in one process", exc or "timed out")
            self.close()
        except BaseException:
            self.close()
            raise

    def map(self, items: list[T], size: int | None = None) -> Iterator[R]:
        size = size or settings.MODELS_PER_BATCH
        parts = iter([items[i : i + size] for i in range(0, len(items), size)])
        if self.pool is None:
            yield from map(self.job, parts)
            return
        try:
            for part in parts:
                self._running.append(self.pool.submit(_run_one, part))
                if len(self._running) >= 2 * self.count:
                    yield self._running.popleft().result()
            while self._running:
                yield self._running.popleft().result()
        except BrokenProcessPool:
            self.close()
            raise EtlError(
                "a worker process died (killed, or out of memory?); nothing of its batch was kept: "
                "re-run, with workers: 1 in the config if it happens again"
            ) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Cancel the batches not started, wait for the running ones (each is a few models; a
        worker is never killed while it may be sending its result), and release the workers."""
        if self.pool is None:
            self._thaw()
            return
        for running in self._running:
            running.cancel()
        self._running.clear()
        pool, self.pool = self.pool, None
        pool.shutdown(wait=True, cancel_futures=True)
        self._thaw()

    def _abandon(self, before: set[Any]) -> None:
        """A pool that did not start: the workers it forked so far were given no batch and would
        wait for one forever (and the parent for them, when it exits): they are ended here."""
        for worker in set(multiprocessing.active_children()) - before:
            worker.kill()
            worker.join()
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # its thread may never have started: nothing to wait for
        self._thaw()

    def _thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            _unfreeze()

    def __enter__(self) -> Workers[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Frozen:
    """The pools that froze the collector and are not closed yet, and whether the freeze is
    theirs to undo (False: the program had frozen objects of its own before the first)."""

    lock = threading.Lock()
    pools = 0
    ours = False


def _freeze() -> None:
    with _Frozen.lock:
        if not _Frozen.pools:
            _Frozen.ours = gc.get_freeze_count() == 0
        _Frozen.pools += 1
        gc.freeze()


def _unfreeze() -> None:
    """Unfreeze when the last pool is closed (one still open has workers sharing those pages)."""
    with _Frozen.lock:
        _Frozen.pools -= 1
        if not _Frozen.pools and _Frozen.ours:
            gc.unfreeze()


def _worker_start(job: Callable[[Any], Any], start: Callable[[], None] | None, ready: Any, held: set) -> None:
    """In each worker (forked with SIGINT and SIGTERM blocked): Ctrl-C is the parent's to handle,
    SIGTERM ends the worker; then the stage's start-up, and a word to the parent: a problem, or ""
    when ready. A worker that cannot start ends at once, without the traceback the executor would
    log; the parent then runs the stage itself."""
    global _JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    _JOB = job
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
    """The job of one batch; an error that would not arrive whole (a class whose arguments do not
    pickle back) arrives as an EtlError with its text and exit code, not as a dead worker."""
    assert _JOB is not None, "a worker runs only the job it was forked with"
    try:
        return _JOB(batch)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - any failure to cross means: send its text instead
            error = EtlError(f"{type(exc).__name__}: {exc}")
            error.exit_code = getattr(exc, "exit_code", error.exit_code)
            raise error from None
        raise
