"""Two runs on one store: the second is refused with one line while the first writes (their load
histories would interleave: 'UNIQUE constraint failed: loads...'), and no store fault ever tells
the user to delete the store (it holds the load history that keeps values)."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest
from helpers import cli

from etl.errors import StoreError
from etl.store.store import Store
from etl.store.storefile import store_problem


def _busy(path) -> str:
    return (
        f"error: {path}: another etl run (pid {os.getpid()}, since <time>) is writing to this store; wait for it "
        "to end and re-run, or give this run its own --cache-path (do not delete the store: it holds the load "
        "history that keeps values)\n"
    )


@pytest.mark.parametrize("command", [["run"], ["transform"], ["load"]])
def test_a_second_run_on_a_store_another_run_writes_is_refused(example_config, command):
    path = example_config.parent / "etl.sqlite"
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    before = sqlite3.connect(path).execute("SELECT * FROM loads ORDER BY 1, 2, 3").fetchall()
    first = Store(path)
    try:
        with first.writing():
            result = cli(*command, "-c", str(example_config), "--offline")
    finally:
        first.close()
    assert result.exit_code == 1, result.output
    assert re.sub(r"since [^)]+\)", "since <time>)", result.output) == _busy(path)
    assert sqlite3.connect(path).execute("SELECT * FROM loads ORDER BY 1, 2, 3").fetchall() == before
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0  # released: the next run goes


def test_the_lock_is_reentrant_and_released(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with store.writing(), store.writing():
        store.record_fetches([{"url": "u", "source": "s", "status": 200, "outcome": "ok", "message": "", "at": "x"}])
    other = Store(tmp_path / "s.sqlite")
    with other.writing():  # the first store let go
        with pytest.raises(StoreError, match="another etl run"):
            store.record_load([])
    store.close()
    other.close()


class _Fault(sqlite3.Error):
    def __init__(self, name: str, text: str):
        super().__init__(text)
        self.sqlite_errorname = name


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "SQLITE_CONSTRAINT_PRIMARYKEY",
            "UNIQUE constraint failed: loads.generation, loads.model, loads.field",
            "s.sqlite: another process wrote to the store at the same time (UNIQUE constraint failed: "
            "loads.generation, loads.model, loads.field); wait for it to end and re-run, or run with --cache-path elsewhere",
        ),
        (
            "SQLITE_FULL",
            "database or disk is full",
            "s.sqlite: the disk is full; free some space (or run with --cache-path on another disk) and re-run",
        ),
        (
            "SQLITE_IOERR_WRITE",
            "disk I/O error",
            "s.sqlite: the disk failed to read or write the store (disk I/O error): is it full? free some space and re-run",
        ),
        (
            "SQLITE_ERROR",
            "something else",
            "s.sqlite: the store failed (something else); re-run; if it fails again: if it is an etl store, move it "
            "aside (keep it: it holds the load history) and re-run; else point --cache-path (or ETL_CACHE_PATH) at "
            "a store file",
        ),
    ],
)
def test_no_store_fault_advises_deleting_the_store(tmp_path, name, text, expected):
    problem = store_problem(tmp_path / "s.sqlite", _Fault(name, text))
    assert problem == f"{tmp_path}/{expected}"
    assert "delete it" not in problem
