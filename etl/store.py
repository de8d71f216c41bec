"""The staged tables, in the same SQLite file as the HTTP cache (open it in Datasette to browse).

``fetches``: the latest outcome of each URL sent (so an offline run knows a 404 from a miss).
``matches``: per model and source, how the model was found (or why not), with the candidates.
``cache_keys``: URL -> requests-cache key (computing a key normalizes the URL: slow at 10k models).
``staged``: every candidate value with its provenance; ``chosen`` marks the one that fills the field.
A transform replaces the rows of the models it processes in one transaction: a crash leaves the
previous state, never half of each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

FETCHES, MATCHES, STAGED, KEYS, LOADS = "fetches", "matches", "staged", "cache_keys", "loads"


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self._ensure()

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
                {"generation": str, "model": str, "field": str, "value": str, "source": str, "at": str},
                pk=("generation", "model", "field"),
            )
        if KEYS not in self.db.table_names():
            self.db[KEYS].create({"ident": str, "key": str}, pk="ident")
        if STAGED not in self.db.table_names():
            self.db[STAGED].create(
                {
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
                },
                pk=("model", "section", "field", "rank"),
            )
            self.db[STAGED].create_index(["model"])
        for column, kind in (("conflict", int), ("rejected", str)):  # stores made before these were kept
            if column not in self.db[STAGED].columns_dict:
                self.db[STAGED].add_column(column, kind)
        for column in ("reason", "nearest"):  # stores made before these were kept
            if column not in self.db[MATCHES].columns_dict:
                self.db[MATCHES].add_column(column, str)

    def cache_keys(self) -> dict[str, str]:
        return {r["ident"]: r["key"] for r in self.db[KEYS].rows}

    def record_cache_keys(self, keys: dict[str, str]) -> None:
        if keys:
            self.db[KEYS].upsert_all(({"ident": i, "key": k} for i, k in keys.items()), pk="ident", batch_size=1000)

    def record_fetches(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
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

        try:
            conn.execute("BEGIN IMMEDIATE")
            yield write
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()

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

    def _rows_for(self, table: str, models: list[str], extra: str = "") -> Iterable[dict[str, Any]]:
        for start in range(0, len(models), 500):
            chunk = models[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self.db.execute(f"SELECT * FROM {table} WHERE model IN ({marks}){extra}", chunk)
            columns = [c[0] for c in cursor.description]
            for values in cursor:
                yield dict(zip(columns, values, strict=True))

    def record_load(self, rows: list[dict[str, Any]]) -> None:
        """Keep the values of this load and of the one before (for ``etl diff``), per model."""
        models = sorted({r["model"] for r in rows})
        with self.db.conn:
            for start in range(0, len(models), 500):
                chunk = models[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM {LOADS} WHERE generation = 'previous' AND model IN ({marks})", chunk)
                self.db.execute(
                    f"UPDATE {LOADS} SET generation = 'previous' WHERE generation = 'current' AND model IN ({marks})",
                    chunk,
                )
            self.db.conn.executemany(
                f"INSERT INTO {LOADS} (generation, model, field, value, source, at) VALUES ('current', ?, ?, ?, ?, ?)",
                [(r["model"], r["field"], encode(r["value"]), r["source"], r["at"]) for r in rows],
            )

    def last_loaded(self, models: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """What the last load wrote per model and field (non-null values), with its source."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self._rows_for(LOADS, models, " AND generation = 'current' AND value != 'null'"):
            out.setdefault(row["model"], {})[row["field"]] = {**row, "value": json.loads(row["value"])}
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

    def matches_by_model(self, models: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows_for(MATCHES, models, " ORDER BY model, source"):
            out.setdefault(row["model"], []).append(_decode(row))
        return out

    def has_model(self, model: str) -> bool:
        return bool(self.db.execute(f"SELECT 1 FROM {MATCHES} WHERE model = ? LIMIT 1", [model]).fetchone())

    def close(self) -> None:
        self.db.close()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("value", "raw", "candidates", "context", "nearest"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


def encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
