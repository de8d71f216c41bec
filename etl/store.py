"""The staged tables, in the same SQLite file as the HTTP cache (open it in Datasette to browse).

``fetches``: the latest outcome of each URL sent (so an offline run knows a 404 from a miss).
``matches``: per model and source, how the model was found (or why not), with the candidates.
``staged``: every candidate value with its provenance; ``chosen`` marks the one that fills the field.
A transform replaces the rows of the models it processes in one transaction: a crash leaves the
previous state, never half of each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

FETCHES, MATCHES, STAGED = "fetches", "matches", "staged"


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
                    "url": str,
                    "at": str,
                },
                pk=("model", "source"),
            )
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
                },
                pk=("model", "section", "field", "rank"),
            )
            self.db[STAGED].create_index(["model"])

    def record_fetches(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            self.db[FETCHES].upsert_all(rows, pk="url")

    def known_outcomes(self) -> dict[str, tuple[str, float, str]]:
        """URL -> (outcome, epoch seconds, message) for URLs whose last answer was not a 200."""
        rows = self.db[FETCHES].rows_where("outcome != ?", ["ok"])
        return {r["url"]: (r["outcome"], datetime.fromisoformat(r["at"]).timestamp(), r["message"] or "") for r in rows}

    def replace_model_rows(self, models: list[str], matches: list[dict], staged: list[dict]) -> None:
        with self.db.conn:
            for chunk_start in range(0, len(models), 500):
                chunk = models[chunk_start : chunk_start + 500]
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM {MATCHES} WHERE model IN ({marks})", chunk)
                self.db.execute(f"DELETE FROM {STAGED} WHERE model IN ({marks})", chunk)
            if matches:
                self.db[MATCHES].insert_all(matches, batch_size=1000)
            if staged:
                self.db[STAGED].insert_all(staged, batch_size=1000)

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

    def has_model(self, model: str) -> bool:
        return bool(self.db.execute(f"SELECT 1 FROM {MATCHES} WHERE model = ? LIMIT 1", [model]).fetchone())

    def close(self) -> None:
        self.db.close()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("value", "raw", "candidates", "context"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


def encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
