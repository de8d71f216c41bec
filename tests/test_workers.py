"""etl/store/workers.py: per-model work on forked processes gives the store and the files of one process;
errors cross back as raised; Ctrl-C stops the workers without a traceback."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from helpers import cli

from etl import load, settings
from etl.errors import EtlError, SourceError, UsageError
from etl.http.fetch import CacheMiss
from etl.store import workers
from etl.store.workers import Workers, worker_count

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")


@pytest.fixture
def forks(monkeypatch):
    """Every stage of the 10-model example runs on workers (batches of 3), and each fork is counted."""
    monkeypatch.setattr(settings, "PARALLEL_MIN_MODELS", 1)
    monkeypatch.setattr(settings, "MODELS_PER_BATCH", 3)
    pools: list[bool] = []
    real = Workers._fork

    def fork(self, job, count, start):
        real(self, job, count, start)
        pools.append(self.pool is not None)

    monkeypatch.setattr(Workers, "_fork", fork)
    return pools


def _config(example_config: Path, name: str, count: int) -> Path:
    """The example's config with its own store copy, output folder and ``workers``."""
    data = yaml.safe_load(example_config.read_text())
    store = example_config.parent / f"{name}.sqlite"
    store.write_bytes(Path(data["cache_path"]).read_bytes())
    data.update(cache_path=str(store), output_dir=str(example_config.parent / name), workers=count)
    path = example_config.parent / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _tables(store: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(store) as db:
        return {
            "matches": db.execute("SELECT * FROM matches ORDER BY rowid").fetchall(),
            "staged": db.execute("SELECT * FROM staged ORDER BY rowid").fetchall(),
            "loads": db.execute("SELECT model, field, value, source FROM loads ORDER BY rowid").fetchall(),
        }


def test_workers_write_the_store_and_files_of_one_process(example_config, forks):
    one, two = _config(example_config, "one", 1), _config(example_config, "two", 2)
    first = cli("run", "-c", str(one), "--offline")
    assert forks == []  # workers: 1 never forks
    second = cli("run", "-c", str(two), "--offline")
    assert forks == [True, True]  # transform and load each ran on worker processes
    assert first.exit_code == second.exit_code == 0, second.output
    said = [second.output.replace("/two/", "/one/").replace("two.sqlite", "one.sqlite"), first.output]
    assert said[0] == said[1]  # the same recap, model by model
    files = sorted(p.name for p in (example_config.parent / "one").iterdir())
    assert files == sorted(p.name for p in (example_config.parent / "two").iterdir()) and len(files) == 11
    for name in files:
        assert (example_config.parent / "one" / name).read_bytes() == (
            example_config.parent / "two" / name
        ).read_bytes()
    ours, theirs = _tables(example_config.parent / "one.sqlite"), _tables(example_config.parent / "two.sqlite")
    for table in ours:  # the same rows, in the same order ("loads": what was written, not when or where)
        assert ours[table] == theirs[table] and ours[table], table


def test_a_write_refused_in_a_worker_fails_that_model_only(example_config, forks, monkeypatch):
    real = load.write_atomic

    def write(target, text, mode=None):
        if target.name.startswith("GLM-4.6_"):
            raise OSError(28, "No space left on device", str(target))
        return real(target, text, mode)

    monkeypatch.setattr(load, "write_atomic", write)  # before the fork: the workers inherit it
    result = cli("run", "-c", str(_config(example_config, "two", 2)), "--offline")
    assert forks == [True, True]
    assert result.exit_code == 1, result.output
    assert any(
        "GLM-4.6_filled.json: cannot write the model file (No space left on device)" in line
        for line in result.output.splitlines()
    )
    assert len(list((example_config.parent / "two").glob("*_filled.json"))) == 9


def _square_all(batch: list[int]) -> list[int]:
    return [x * x for x in batch]


def test_batches_come_back_in_order_from_workers():
    with Workers(_square_all, 2) as pool:
        assert pool.pool is not None
        assert [x for part in pool.map(list(range(100)), size=7) for x in part] == [x * x for x in range(100)]
    assert multiprocessing.active_children() == []


def _frozen(batch: list[int]) -> list[bool]:
    return [gc.get_freeze_count() > 0 for _ in batch]


def test_what_exists_at_the_fork_is_frozen_until_the_workers_are_gone():
    """No collection in the parent or a worker walks (and so copies) the objects both hold."""
    with Workers(_frozen, 2) as pool:
        assert gc.get_freeze_count() > 0
        assert [x for part in pool.map([1, 2, 3], size=1) for x in part] == [True, True, True]
    assert gc.get_freeze_count() == 0


def _raise_usage(batch: list[int]) -> None:
    raise UsageError([f"models.yaml: models[{batch[0]}]: bad", "second: problem"])


def _raise_source(batch: list[int]) -> None:
    raise SourceError("openrouter", f"HTTP 500 for item {batch[0]}", "http://127.0.0.1/x")


def test_domain_errors_reach_the_parent_as_raised():
    with pytest.raises(UsageError) as usage, Workers(_raise_usage, 2) as pool:
        list(pool.map([1, 2, 3, 4], size=2))
    assert usage.value.problems == ["models.yaml: models[1]: bad", "second: problem"]
    with pytest.raises(SourceError) as source, Workers(_raise_source, 2) as pool:
        list(pool.map([5, 6], size=1))
    assert (source.value.source, source.value.detail, source.value.url) == (
        "openrouter",
        "HTTP 500 for item 5",
        "http://127.0.0.1/x",
    )
    assert multiprocessing.active_children() == []


def _die_on_13(batch: list[int]) -> list[int]:
    if 13 in batch:
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
    time.sleep(0.01)
    return batch


def test_a_worker_that_dies_is_one_error_not_a_hang():
    with pytest.raises(EtlError, match="a worker process died"), Workers(_die_on_13, 2) as pool:
        list(pool.map(list(range(40)), size=1))
    assert multiprocessing.active_children() == []


#: a parent whose loop fails on the first batch while the workers are sending 500 KB results: the
#: pool is closed without killing a worker mid-send (which would leave it waiting forever)
STOP_WHILE_SENDING = """
from etl.store.workers import Workers
try:
    with Workers(lambda batch: b"x" * 500_000, 2) as pool:
        for part in pool.map(list(range(40)), size=1):
            raise OSError(28, "No space left on device")
except OSError:
    print("closed")
"""


def test_stopping_while_workers_send_large_results_does_not_hang():
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", STOP_WHILE_SENDING], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout == "closed\n", done.stderr[-2000:]
        assert "Traceback" not in done.stderr


def test_a_fork_refused_leaves_the_work_to_this_process(monkeypatch, caplog):
    def refuse():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    with Workers(_square_all, 2) as pool:
        assert pool.pool is None
        assert list(pool.map([1, 2, 3], size=2)) == [[1, 4], [9]]
    assert "worker processes could not start ([Errno 11] Resource temporarily unavailable)" in caplog.text
    assert gc.get_freeze_count() == 0


@pytest.fixture
def no_worker_left():
    """A test of a pool that did not start: the workers it left would keep pytest from exiting."""
    yield
    left = multiprocessing.active_children()
    for worker in left:
        worker.kill()
        worker.join()
    assert left == []


def test_a_fork_refused_after_the_first_leaves_no_worker_behind(monkeypatch, caplog, no_worker_left):
    """The process limit reached at the second fork: the first worker, given no batch, would wait
    for one forever, and the parent for it when it exits (`etl run` done, but never returning)."""
    real, forks = os.fork, []

    def second_refused():
        forks.append(1)
        if len(forks) > 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real()

    monkeypatch.setattr(os, "fork", second_refused)
    with Workers(_square_all, 2) as pool:
        assert pool.pool is None
        assert list(pool.map([1, 2, 3], size=2)) == [[1, 4], [9]]
    assert "worker processes could not start ([Errno 11] Resource temporarily unavailable)" in caplog.text
    assert multiprocessing.active_children() == [] and gc.get_freeze_count() == 0


def test_a_pool_whose_thread_cannot_start_leaves_the_work_to_this_process(monkeypatch, caplog, no_worker_left):
    """The workers forked, then the pool's own thread refused (the same process limit): the stage
    runs here, and neither the workers nor the collector's freeze outlive the pool."""
    from concurrent.futures import process

    def refused(thread):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(process._ExecutorManagerThread, "start", refused)
    with Workers(_square_all, 2) as pool:
        assert pool.pool is None
        assert list(pool.map([1, 2, 3], size=2)) == [[1, 4], [9]]
    assert "worker processes could not start (can't start new thread)" in caplog.text
    assert multiprocessing.active_children() == [] and gc.get_freeze_count() == 0


def test_the_freeze_is_undone_by_the_last_pool_and_never_when_the_program_froze_first():
    """gc.freeze is the process's: a pool closed while another is open (two pipelines in threads)
    leaves it, and a program that froze its own objects (a pre-fork server) keeps them frozen."""
    with Workers(_frozen, 2) as outer:
        with Workers(_frozen, 2):
            pass
        assert gc.get_freeze_count() > 0  # the outer pool's workers still share those pages
        assert list(outer.map([1], size=1)) == [[True]]
    assert gc.get_freeze_count() == 0
    gc.freeze()  # the program's own
    try:
        with Workers(_frozen, 2):
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def _raise_cache_miss(batch: list[int]) -> None:
    raise CacheMiss("openrouter", f"http://127.0.0.1/models?page={batch[0]}")


def test_an_error_that_cannot_cross_arrives_as_its_text():
    """CacheMiss(source, url) does not pickle back (its args are its message): the parent gets an
    EtlError with the same text, not "a worker process died"."""
    with pytest.raises(EtlError) as error, Workers(_raise_cache_miss, 2) as pool:
        list(pool.map([7, 8], size=1))
    assert str(error.value) == "CacheMiss: openrouter http://127.0.0.1/models?page=7"


def _cannot_start() -> None:
    raise OSError("the cache cannot be opened here")


def test_a_worker_that_cannot_start_leaves_the_work_to_this_process(caplog):
    caplog.set_level("DEBUG", logger="etl")
    with Workers(_square_all, 2, start=_cannot_start) as pool:
        assert pool.pool is None
        assert list(pool.map([1, 2, 3], size=2)) == [[1, 4], [9]]
    assert "worker processes did not start (OSError: the cache cannot be opened here)" in caplog.text  # a warning
    assert multiprocessing.active_children() == []
    assert gc.get_freeze_count() == 0


def _slow(batch: list[int]) -> list[int]:
    time.sleep(0.2)
    return batch


def test_ctrl_c_stops_the_workers_without_a_traceback(capfd):
    """SIGINT reaches the parent and every worker (as a terminal's Ctrl-C reaches the process
    group): the workers ignore it, the parent stops them, nothing prints a traceback."""
    with Workers(_slow, 2) as pool:
        children = multiprocessing.active_children()
        assert len(children) == 2

        def interrupt() -> None:
            time.sleep(0.5)
            for child in children:
                os.kill(child.pid, signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        got = []
        with pytest.raises(KeyboardInterrupt):
            for part in pool.map(list(range(200)), size=1):
                got += part
    assert got == list(range(len(got))) and len(got) < 200
    assert multiprocessing.active_children() == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("platform", "models", "configured", "expected"),
    [
        ("linux", 199, None, 1),  # below PARALLEL_MIN_MODELS: forking costs more than it saves
        ("linux", 200, 1, 1),
        ("linux", 10_000, 3, 3),
        ("darwin", 10_000, 3, 1),  # fork is not macOS's safe default
        ("win32", 10_000, None, 1),
    ],
)
def test_worker_count(monkeypatch, platform, models, configured, expected):
    monkeypatch.setattr(workers.sys, "platform", platform)
    assert worker_count(models, configured) == expected


def test_worker_count_defaults_to_the_cores_up_to_the_bound(monkeypatch):
    monkeypatch.setattr(workers.sys, "platform", "linux")
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _: set(range(16)))
    assert worker_count(10_000) == settings.MAX_WORKERS
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _: {0})
    assert worker_count(10_000) == 1
