"""What the store holds is typed: every staged row has the table's columns (one builder), every
match status and method is a member of its enum, and a kept value's origin is a value, not a
marker to split out of a string."""

from __future__ import annotations

import sqlite3

from helpers import cli

from etl.declared.values import ManualValue
from etl.matching.matching import MatchMethod, MatchStatus
from etl.store.store import KEPT, STAGED, STAGED_COLUMNS, LoadedFrom, Store, encode, staged_row


def test_every_status_and_method_of_the_example_run_is_an_enum_member(example_config):
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    with sqlite3.connect(example_config.parent / "etl.sqlite") as db:
        rows = db.execute("SELECT status, method FROM matches").fetchall()
    statuses, methods = {s for s, _ in rows}, {m for _, m in rows if m is not None}
    assert statuses <= set(MatchStatus) and methods <= set(MatchMethod)
    assert {"matched", "ambiguous", "unmatched"} <= statuses  # the example has each of them
    assert MatchMethod.HF_ID in methods  # a per-model document at the model's own hf_id


def test_the_staged_table_and_every_staged_row_have_the_same_columns(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    assert store.db[STAGED].columns_dict == STAGED_COLUMNS
    store.close()
    row = staged_row("m", "model_specs", "param_count", 0, "huggingface", 1, 1, "u", "$.x", "as is")
    assert list(row) == list(STAGED_COLUMNS) and (row["chosen"], row["conflict"]) == (0, 0)
    manual = ManualValue("m", "model_specs", "param_count", 7, "https://cite", "note", "values.yaml", 3)
    assert list(manual.as_row(-1)) == list(STAGED_COLUMNS)
    assert manual.as_row(-1)["path"] == "values.yaml:3" and manual.as_row(-1)["context"] == {"note": "note"}


def test_a_kept_value_reads_back_as_its_source_and_the_load_it_was_kept_from():
    kept = LoadedFrom("openrouter", kept_since="2026-12-01T10:00:00+00:00")
    text = str(kept)
    assert text == f"openrouter{KEPT}2026-12-01T10:00:00+00:00)"  # what `etl diff` and older stores show
    assert LoadedFrom.parse(text) == kept
    assert LoadedFrom.parse("template") == LoadedFrom("template")


def test_the_load_reads_each_match_outcome_alone_for_more_than_one_chunk_of_models(tmp_path):
    """The load reads only a match's outcome (no candidates or nearest entries to decode), for any
    number of models: models are read 500 at a time, and every chunk gets the same columns."""
    store = Store(tmp_path / "s.sqlite")
    models = [f"m{i}" for i in range(1_200)]
    nearest = [{"id": "x", "name": "X", "reason": "missing token 'y'"}]
    rows = [
        {"model": m, "source": "openrouter", "status": "unmatched", "note": "no entry", "nearest": encode(nearest)}
        for m in models
    ]
    with store.replacing() as write:
        write(models, rows, [])
    full, outcome = store.matches_by_model(models), store.matches_by_model(models, outcome_only=True)
    store.close()
    assert len(outcome) == len(full) == 1_200
    assert full["m1100"][0]["nearest"] == nearest  # decoded when asked for everything
    assert outcome["m1100"] == [
        {
            "model": "m1100",
            "source": "openrouter",
            "status": "unmatched",
            "reason": None,
            "url": None,
            "note": "no entry",
        }
    ]
