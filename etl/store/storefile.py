"""The store as a file: opened and checked before any request, its faults said in one line
naming the file and the fix, and the lock beside it that keeps two runs from writing at once.
etl/store/store.py owns the tables; this module only the file they live in.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlite_utils

from ..errors import StoreError, UsageError
from ..settings import STORE_ENV, STORE_FILE

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two runs on one store are not refused there
    fcntl = None  # type: ignore[assignment]

#: what a store fault tells the user to do. Never "delete it": the store holds the load history
#: that keeps values no source gives any more; a damaged store is moved aside, not deleted
#: the path may be the user's own file (a mistyped --cache-path or ETL_CACHE_PATH): never "delete it"
FIX = (
    "if it is an etl store, move it aside (keep it: it holds the load history) and re-run; "
    f"else point --cache-path (or {STORE_ENV}) at a store file"
)
MOVED = "{path}: the store was deleted or replaced during the run; re-run, or run with --cache-path elsewhere"
#: beside the store: held (flock) while a run writes, so a second run on the same store is refused
LOCK_SUFFIX = ".lock"
BUSY = (
    "{path}: another etl run ({holder}) is writing to this store; wait for it to end and re-run, or give this "
    "run its own --cache-path (do not delete the store: it holds the load history that keeps values)"
)


def store_problem(path: Path, exc: sqlite3.Error | OSError) -> str:
    """One line for a store fault: the file, what SQLite (or the OS) said, the fix."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or getattr(exc, "errno", None) == 28:
        return f"{path}: the disk is full; free some space (or run with --cache-path on another disk) and re-run"
    if name == "SQLITE_READONLY_DBMOVED":
        return MOVED.format(path=path)
    if name.startswith("SQLITE_READONLY") or isinstance(exc, PermissionError):
        return f"{path}: the store (or its folder) is read-only; make it writable, or run with --cache-path elsewhere"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return f"{path}: the store is locked by another process (another etl run?); wait for it, or run with --cache-path elsewhere"
    if name.startswith("SQLITE_CONSTRAINT"):  # two writers at once: the lock keeps etl runs apart
        return (
            f"{path}: another process wrote to the store at the same time ({exc}); wait for it to end and re-run, "
            "or run with --cache-path elsewhere"
        )
    if name.startswith("SQLITE_IOERR"):
        return f"{path}: the disk failed to read or write the store ({exc}): is it full? free some space and re-run"
    if name == "SQLITE_CANTOPEN":
        return f"{path}: cannot open the store (is its folder read-only, or is it a folder?); {FIX}"
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return f"{path}: not a valid SQLite store ({exc}); {FIX}"
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{path}: the store failed ({detail}); re-run; if it fails again: {FIX}"


@contextmanager
def store_errors(path: Path | str) -> Iterator[None]:
    """sqlite3 errors inside -> one-line StoreError naming the file (requests-cache's own
    connections to the same file included: wrap a whole command in it)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(store_problem(Path(path), exc)) from None


def open_checked(path: Path) -> sqlite_utils.Database:
    """Open the store, or say in one line why it cannot be used (a UsageError: before any
    request). Checked here because requests-cache opens the same file later and would fail with a
    raw sqlite3 traceback: damaged pages, a folder at the path, a read-only file or folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in path.parents if p.exists() and not p.is_dir())
        raise UsageError(f"{path}: {blocker} is a file, not a folder; run with --cache-path elsewhere") from None
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot create its folder ({exc.strerror}); run with --cache-path elsewhere"
        ) from None
    if path.exists() and not path.is_file():
        raise UsageError(
            f"{path}: is a folder, not a store file; point --cache-path (or {STORE_ENV}) at a file, "
            f"e.g. {path / STORE_FILE}"
        )
    db = None
    try:
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 30000")  # another run writing: wait, as every later query does
        found = db.execute("PRAGMA quick_check").fetchall()
        if found != [("ok",)]:
            raise UsageError(f"{path}: the store is damaged ({found[0][0]}); {FIX}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {int(version)}")  # a committed write: file and folder are writable
    except (sqlite3.Error, OSError) as exc:
        if db is not None:
            db.close()
        raise UsageError(store_problem(path, exc)) from None
    except UsageError:
        db.close()
        raise
    return db


def acquire_lock(path: Path) -> int | None:
    """The lock file's descriptor, locked; StoreError when another process holds it (the line
    names it by the pid and start time it wrote there)."""
    if fcntl is None:
        return None
    lock = path.with_name(path.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(store_problem(lock, exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "pid unknown"
        os.close(fd)
        raise StoreError(BUSY.format(path=path, holder=holder)) from None
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, since {stamp}".encode(), 0)
    return fd


def inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
