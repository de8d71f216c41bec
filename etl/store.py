"""The staged tables, in the same SQLite file as the HTTP cache (open it in Datasette to browse).

``fetches``: the latest outcome of each URL sent (so an offline run knows a 404 from a miss).
``matches``: per model and source, how the model was found (or why not), with the candidates.
``cache_keys``: URL -> requests-cache key (computing a key normalizes the URL: slow at 10k models).
``staged``: every candidate value with its provenance; ``chosen`` marks the one that fills the field.
A transform replaces the rows of the models it processes in one transaction: a crash leaves the
previous state, never half of each.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import StoreError, UsageError
from .settings import STORE_ENV, STORE_FILE

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two runs on one store are not refused there
    fcntl = None  # type: ignore[assignment]

FETCHES, MATCHES, STAGED, KEYS, LOADS = "fetches", "matches", "staged", "cache_keys", "loads"
#: the staged table's columns and their types, in order; every staged row is built by staged_row()
STAGED_COLUMNS: dict[str, type] = {
    "model": str,
    "section": str,
    "field": str,
    "rank": int,
    "source": str,
    "value": str,
    "raw": str,
    "url": str,
    "path": str,
    "transform": str,
    "fetched_at": str,
    "context": str,
    "chosen": int,
    "entry_id": str,
    "conflict": int,
    "rejected": str,
}
#: how a kept value's source reads in the loads table and `etl diff`
KEPT = " (kept from the load of "


def staged_row(
    model: str,
    section: str,
    field: str,
    rank: int,
    source: str,
    value: Any,
    raw: Any,
    url: str | None,
    path: str,
    transform: str,
    *,
    fetched_at: str | None = None,
    context: Any = None,
    entry_id: str | None = None,
    rejected: str | None = None,
) -> dict[str, Any]:
    """One candidate's value for one model's field, with its provenance: a row of STAGED_COLUMNS
    (value, raw and context not yet JSON-encoded). The one builder, so a source's rows, the values
    file's rows and the table cannot drift apart; not chosen, no conflict until the field is ranked."""
    return {
        "model": model,
        "section": section,
        "field": field,
        "rank": rank,
        "source": source,
        "value": value,
        "raw": raw,
        "url": url,
        "path": path,
        "transform": transform,
        "fetched_at": fetched_at,
        "context": context,
        "chosen": 0,
        "entry_id": entry_id,
        "conflict": 0,
        "rejected": rejected,
    }


@dataclass(frozen=True)
class LoadedFrom:
    """Where a loaded value came from: its source (or 'template', or 'removed: why') and, for a
    value kept because nothing gives it now, the time of the load it was kept from. Stored as one
    text column of the loads table (``str()``: what `etl diff` shows); last_loaded reads it back
    into this, so no caller splits strings."""

    source: str
    kept_since: str | None = None

    def __str__(self) -> str:
        return f"{self.source}{KEPT}{self.kept_since})" if self.kept_since else self.source

    @classmethod
    def parse(cls, text: str) -> LoadedFrom:
        source, marker, rest = text.partition(KEPT)
        return cls(source, rest.removesuffix(")") if marker else None)


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


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        self._still_there()
        with store_errors(self.path):
            return method(self, *args, **kwargs)

    return guarded


def _guard_methods(cls: type) -> type:
    """Every public method of the store raises StoreError, never sqlite3's own exceptions."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, _guarded(value))
    return cls


@_guard_methods
class Store:
    def __init__(self, path: Path):
        self.path = path
        self.db = open_checked(path)
        try:
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._ensure()
        except sqlite3.Error as exc:
            self.db.close()
            raise UsageError(store_problem(path, exc)) from None
        self._inode = _inode(path)
        self._lock_file: int | None = None
        self._writers = 0
        self._writers_lock = threading.Lock()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store for this run's writes (re-entrant, across threads): another etl run on
        the same store is refused with one line (its load history would be interleaved with this
        one's) until this one is done. An advisory lock on ``<store>.lock``, released on exit or
        when the process dies."""
        with self._writers_lock:
            if self._writers == 0:
                self._lock_file = _acquire(self.path)
            self._writers += 1
        try:
            yield
        finally:
            with self._writers_lock:
                self._writers -= 1
                if self._writers == 0 and self._lock_file is not None:
                    os.close(self._lock_file)  # closing releases the flock
                    self._lock_file = None

    def _still_there(self) -> None:
        """A store deleted or replaced mid-run would take this run's writes with it, silently."""
        if _inode(self.path) != self._inode:
            raise StoreError(MOVED.format(path=self.path))

    def _ensure(self) -> None:
        if FETCHES not in self.db.table_names():
            self.db[FETCHES].create(
                {"url": str, "source": str, "status": int, "outcome": str, "message": str, "at": str}, pk="url"
            )
        if MATCHES not in self.db.table_names():
            self.db[MATCHES].create(
                {
                    "model": str,
                    "source": str,
                    "status": str,
                    "method": str,
                    "entry_id": str,
                    "entry_name": str,
                    "candidates": str,
                    "note": str,
                    "reason": str,
                    "nearest": str,
                    "url": str,
                    "at": str,
                },
                pk=("model", "source"),
            )
        if LOADS not in self.db.table_names():
            self.db[LOADS].create(
                {"generation": str, "model": str, "field": str, "value": str, "source": str, "at": str, "target": str},
                pk=("generation", "model", "field"),
            )
        if KEYS not in self.db.table_names():
            self.db[KEYS].create({"ident": str, "key": str}, pk="ident")
        if STAGED not in self.db.table_names():
            self.db[STAGED].create(
                STAGED_COLUMNS,
                pk=("model", "section", "field", "rank"),
            )
            self.db[STAGED].create_index(["model"])
        self._migrate()

    def _migrate(self) -> None:
        """Columns that stores made by earlier versions lack."""
        for table, column, kind in (
            (STAGED, "conflict", int),
            (STAGED, "rejected", str),
            (MATCHES, "reason", str),
            (MATCHES, "nearest", str),
            (LOADS, "target", str),
        ):
            if column not in self.db[table].columns_dict:
                self.db[table].add_column(column, kind)

    def cache_keys(self) -> dict[str, str]:
        return {r["ident"]: r["key"] for r in self.db[KEYS].rows}

    def record_cache_keys(self, keys: dict[str, str]) -> None:
        if keys:
            with self.writing():
                self.db[KEYS].upsert_all(({"ident": i, "key": k} for i, k in keys.items()), pk="ident", batch_size=1000)

    def record_fetches(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.writing():
                self.db[FETCHES].upsert_all(rows, pk="url")

    def known_outcomes(self) -> dict[str, tuple[str, float, str]]:
        """URL -> (outcome, epoch seconds, message) for URLs whose last answer was not a 200."""
        rows = self.db[FETCHES].rows_where("outcome != ?", ["ok"])
        return {r["url"]: (r["outcome"], datetime.fromisoformat(r["at"]).timestamp(), r["message"] or "") for r in rows}

    @contextmanager
    def replacing(self) -> Iterator[Callable[[list[str], list[dict], list[dict]], None]]:
        """One transaction in which the rows of some models are replaced, chunk by chunk; an
        exception (or Ctrl-C) rolls all of it back. Raw executemany: sqlite-utils would commit
        per call."""
        conn = self.db.conn

        def write(models: list[str], matches: list[dict], staged: list[dict]) -> None:
            for start in range(0, len(models), 500):
                chunk = models[start : start + 500]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM {MATCHES} WHERE model IN ({marks})", chunk)
                conn.execute(f"DELETE FROM {STAGED} WHERE model IN ({marks})", chunk)
            for table, rows in ((MATCHES, matches), (STAGED, staged)):
                if rows:
                    columns = list(rows[0])
                    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                    conn.executemany(sql, ([row[c] for c in columns] for row in rows))

        with self.writing():
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield write
                conn.commit()
            except sqlite3.Error as exc:
                _rollback(conn)
                raise StoreError(store_problem(self.path, exc)) from None
            except BaseException:
                _rollback(conn)
                raise

    def matches(self, model: str | None = None) -> list[dict[str, Any]]:
        where, args = ("model = ?", [model]) if model else (None, None)
        return [_decode(r) for r in self.db[MATCHES].rows_where(where, args, order_by="model, source")]

    def staged(self, model: str, field: str | None = None, chosen_only: bool = False) -> list[dict[str, Any]]:
        where, args = "model = ?", [model]
        if field:
            where += " AND field = ?"
            args.append(field)
        if chosen_only:
            where += " AND chosen = 1"
        return [_decode(r) for r in self.db[STAGED].rows_where(where, args, order_by="section, field, rank")]

    def _rows_for(self, table: str, models: list[str], extra: str = "", select: str = "*") -> Iterable[dict[str, Any]]:
        for start in range(0, len(models), 500):
            chunk = models[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self.db.execute(f"SELECT {select} FROM {table} WHERE model IN ({marks}){extra}", chunk)
            columns = [c[0] for c in cursor.description]
            for values in cursor:
                yield dict(zip(columns, values, strict=True))

    def record_load(self, rows: list[dict[str, Any]]) -> None:
        """Keep the values of this load and of the one before (for ``etl diff``), per model."""
        models = sorted({r["model"] for r in rows})
        with self.writing(), self.db.conn:
            for start in range(0, len(models), 500):
                chunk = models[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM {LOADS} WHERE generation = 'previous' AND model IN ({marks})", chunk)
                self.db.execute(
                    f"UPDATE {LOADS} SET generation = 'previous' WHERE generation = 'current' AND model IN ({marks})",
                    chunk,
                )
            self.db.conn.executemany(
                f"INSERT INTO {LOADS} (generation, model, field, value, source, at, target) "
                "VALUES ('current', ?, ?, ?, ?, ?, ?)",
                [
                    (r["model"], r["field"], encode(r["value"]), str(r["source"]), r["at"], r.get("target"))
                    for r in rows
                ],
            )

    def last_loaded(self, models: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """What the last load wrote per model and field (non-null values), with its source."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self._rows_for(LOADS, models, " AND generation = 'current' AND value != 'null'"):
            loaded = {**row, "value": json.loads(row["value"]), "source": LoadedFrom.parse(row["source"])}
            out.setdefault(row["model"], {})[row["field"]] = loaded
        return out

    def load_changes(self) -> list[dict[str, Any]]:
        """Per model and field, what the last load changed relative to the one before (a removal
        is a null written where a value was, with why as its source)."""
        rows = self.db.execute(
            f"""SELECT c.model, c.field, p.value AS old, c.value AS new, c.source FROM {LOADS} c
                LEFT JOIN {LOADS} p ON p.generation = 'previous' AND p.model = c.model AND p.field = c.field
                WHERE c.generation = 'current' AND (p.value IS NULL OR p.value != c.value)
                  AND c.model IN (SELECT model FROM {LOADS} WHERE generation = 'previous')
                ORDER BY c.model, c.field"""
        ).fetchall()
        return [
            {"model": m, "field": f, "old": None if o is None else json.loads(o), "new": json.loads(n), "source": s}
            for m, f, o, n, s in rows
        ]

    def staged_by_model(self, models: list[str], rejected: bool = False) -> dict[str, list[dict[str, Any]]]:
        """The chosen rows per model (with ``rejected``, also the values refused at transform)."""
        out: dict[str, list[dict[str, Any]]] = {}
        extra = " AND (chosen = 1 OR rejected IS NOT NULL)" if rejected else " AND chosen = 1"
        for row in self._rows_for(STAGED, models, extra):
            out.setdefault(row["model"], []).append(_decode(row))
        return out

    def matches_by_model(self, models: list[str], outcome_only: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Every match row per model; ``outcome_only``: just what the load reports (source, status,
        reason, url, note), without decoding each row's candidates and nearest entries (at 10,000
        models and 20 sources, 200,000 JSON documents the load never reads)."""
        out: dict[str, list[dict[str, Any]]] = {}
        columns = "model, source, status, reason, url, note" if outcome_only else "*"
        for row in self._rows_for(MATCHES, models, " ORDER BY model, source", columns):
            out.setdefault(row["model"], []).append(row if outcome_only else _decode(row))
        return out

    def has_model(self, model: str) -> bool:
        return bool(self.db.execute(f"SELECT 1 FROM {MATCHES} WHERE model = ? LIMIT 1", [model]).fetchone())

    def close(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
        self.db.close()


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


def _acquire(path: Path) -> int | None:
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


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.Error:  # the connection is broken too: the transaction is gone either way
        pass


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("value", "raw", "candidates", "context", "nearest"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


#: json.dumps(value, ensure_ascii=False, sort_keys=True) without building an encoder per call
#: (a transform encodes ~80 values a model)
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def encode(value: Any) -> str:
    return "null" if value is None else _ENCODE(value)
