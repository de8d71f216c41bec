"""The store's faults (damaged, read-only, under a file, disk full, deleted mid-run): one line with the fix.

The tests run as root, which ignores file modes, so a read-only file or folder is made with ``chattr +i``
(immutable: refused even to root); where the filesystem has no such attribute the test is skipped and says so.
Disk full is SQLite's own SQLITE_FULL, raised by capping the store's page count once it is open."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import cli, errors, immutable

from etl.load import Loader
from etl.store import store as store_module

FIX = (
    "if it is an etl store, move it aside (keep it: it holds the load history) and re-run; "
    "else point --cache-path (or ETL_CACHE_PATH) at a store file"
)


def _damage(path: Path, how: str, good: Path) -> None:
    data = good.read_bytes()
    if how == "garbage":
        path.write_bytes(b"not a database at all " * 100)
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "garbage page":
        path.write_bytes(data[:8192] + b"\xff" * 4096 + data[12288:])
    elif how == "a folder":
        path.mkdir()


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("garbage", "not a valid SQLite store (file is not a database); " + FIX),
        ("truncated", "not a valid SQLite store (database disk image is malformed); " + FIX),
        (
            "garbage page",
            "the store is damaged (*** in database main *** Page 3: btreeInitPage() returns error code 11); " + FIX,
        ),
        (
            "a folder",
            "is a folder, not a store file; point --cache-path (or ETL_CACHE_PATH) at a file, e.g. {bad}/etl.sqlite",
        ),
    ],
)
def test_a_damaged_store_is_one_line_naming_the_file_and_the_fix_for_run_and_cache_import(
    example_config, warm_store, how, said
):
    bad = example_config.parent / "bad.sqlite"
    _damage(bad, how, warm_store)
    said = said.format(bad=bad)
    result = cli("run", "-c", str(example_config), "--offline", "--cache-path", str(bad))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {bad}: {said}"]
    cassette = next(Path(__file__).resolve().parent.parent.glob("cassettes/*.yaml"))
    result = cli("cache", "import", str(cassette), "--cache-path", str(bad))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {bad}: {said}"]


def test_a_read_only_store_file_is_refused_before_the_run(example_config):
    store = example_config.parent / "etl.sqlite"
    with immutable(store):
        result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {store}: the store (or its folder) is read-only; make it writable, or run with --cache-path elsewhere"
    ]


def test_a_store_in_a_read_only_folder_is_refused_before_the_run(example_config, warm_store):
    folder = example_config.parent / "ro"
    folder.mkdir()
    shutil.copy(warm_store, folder / "etl.sqlite")
    with immutable(folder):
        result = cli("run", "-c", str(example_config), "--offline", "--cache-path", str(folder / "etl.sqlite"))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {folder / 'etl.sqlite'}: cannot open the store (is its folder read-only, or is it a folder?); {FIX}"
    ]


def test_a_store_path_under_a_file_is_refused(example_config):
    (example_config.parent / "f").write_text("x")
    result = cli("run", "-c", str(example_config), "--offline", "--cache-path", "f/etl.sqlite")
    assert result.exit_code == 2
    assert errors(result) == ["error: f/etl.sqlite: f is a file, not a folder; run with --cache-path elsewhere"]


def test_a_full_disk_mid_run_is_one_line_and_exit_1(example_config, monkeypatch):
    opened = store_module.open_checked

    def capped(path):
        db = opened(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL once the file would grow
        return db

    monkeypatch.setattr(store_module, "open_checked", capped)
    store = example_config.parent / "etl.sqlite"
    sqlite3.connect(store).execute("VACUUM").close()  # no free pages left to fill
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: {store}: the disk is full; free some space (or run with --cache-path on another disk) and re-run"
    ]


def test_a_store_deleted_mid_run_is_one_line_and_exit_1(example_config, monkeypatch):
    store = example_config.parent / "etl.sqlite"
    checked = Loader.check_targets

    def then_delete(self, models):
        checked(self, models)
        store.unlink()  # after the store was opened and checked: as a user's `rm` mid-run

    monkeypatch.setattr(Loader, "check_targets", then_delete)
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: {store}: the store was deleted or replaced during the run; re-run, or run with --cache-path elsewhere"
    ]
