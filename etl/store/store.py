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
import hashlib
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

from ..errors import StoreError, UsageError
from .storefile import MOVED, acquire_lock, inode, open_checked, store_errors, store_problem

FETCHES, MATCHES, STAGED, KEYS, LOADS = "fetches", "matches", "staged", "cache_keys", "loads"
INDEXES, RESPONSES = "catalog_indexes", "responses"  # the second is requests-cache's: key, value
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
        self._inode = inode(path)
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
                self._lock_file = acquire_lock(self.path)
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
        if inode(self.path) != self._inode:
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
        if INDEXES not in self.db.table_names():
            self.db[INDEXES].create(
                {"source": str, "version": str, "keys": str, "digest": str, "value": bytes}, pk="source"
            )
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

    def kept_index(self, source: str, version: str) -> tuple[list[str], str, bytes] | None:
        """A catalog's index kept by an earlier run of this code and these mappings: the cache keys
        of the responses it was built from, their digest, the pickled index (etl/matching/catalogs.py)."""
        rows = list(self.db[INDEXES].rows_where("source = ? AND version = ?", [source, version]))
        return (json.loads(rows[0]["keys"]), rows[0]["digest"], rows[0]["value"]) if rows else None

    def keep_index(self, source: str, version: str, keys: list[str], digest: str, value: bytes) -> None:
        with self.writing():
            row = {"source": source, "version": version, "keys": json.dumps(keys), "digest": digest, "value": value}
            self.db[INDEXES].upsert(row, pk="source")

    def responses_size(self, keys: list[str]) -> int | None:
        """Bytes of the cached responses under these keys, or None when one is gone."""
        size, found = 0, 0
        for start in range(0, len(keys), 500):
            chunk = sorted(set(keys[start : start + 500]))
            sql = f"SELECT count(*), sum(length(value)) FROM {RESPONSES} WHERE key IN ({','.join('?' * len(chunk))})"
            count, total = self.db.execute(sql, chunk).fetchone()
            found, size = found + count, size + (total or 0)
        return size if found == len(set(keys)) else None

    def responses_digest(self, keys: list[str]) -> str | None:
        """sha256 of the cached responses under these keys (requests-cache's own rows: any re-fetch
        changes them), read one at a time; None when one is gone."""
        digest = hashlib.sha256()
        for key in keys:
            row = self.db.execute(f"SELECT value FROM {RESPONSES} WHERE key = ?", [key]).fetchone()
            if row is None:
                return None
            digest.update(key.encode() + b"\0" + row[0] + b"\0")
        return digest.hexdigest()

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
