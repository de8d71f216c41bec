"""The pins file: per model and source, the entry id to take, or false for 'not in this source'.

``etl match --write-pins`` writes the open decisions (ambiguous names, with their candidates) and
keeps those already made; the config names the file as ``pins_file`` and every run reads it. Pins
written in the config itself win over the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError, printable
from .config import ModelInfo, repo_id_problem
from .files import read_structured

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Pins = dict[str, dict[str, str | bool | None]]


def read_pins(path: Path) -> Pins:
    """model -> source -> id, false, or null (undecided); a malformed file is a UsageError."""
    data = read_structured(path) or {}
    problems = (
        [] if isinstance(data, dict) else [f"{path}: (top level): expected model names, each with source: id lines"]
    )
    for model, pins in data.items() if isinstance(data, dict) else []:
        if pins is not None and not (
            isinstance(pins, dict) and all(isinstance(v, str | bool) or v is None for v in pins.values())
        ):
            problems.append(f"{path}: {model}: expected `source: id` (or false) lines under the model name")
    if problems:
        raise UsageError(problems)
    return {str(m): dict(v or {}) for m, v in data.items()}


def apply_pins(models: list[ModelInfo], path: Path | None, repo_sources: Collection[str] = ()) -> list[ModelInfo]:
    """Add the pins file's decisions (an id or false) to the models; pins in the config win. A
    string pin of a source in ``repo_sources`` (its URL takes {hf_id}) must be a repo id."""
    if not path or not path.is_file():
        return models
    pins = read_pins(path)
    problems = []
    for model in models:
        for source, pin in pins.get(model.name, {}).items():
            if pin is None or source in model.ids:
                continue
            if source in repo_sources and isinstance(pin, str) and (problem := repo_id_problem(pin)):
                problems.append(f"{path}: {json.dumps(model.name)}.{source}: {problem}; {PIN_FIX}")
                continue
            model.ids[source] = pin
    if problems:
        raise UsageError(problems)
    return models


#: the fix for a string pin that is not a repo id
PIN_FIX = "write the repo as owner/name (as on huggingface.co), or false for 'not in this source'"


def key_problems(models: list[ModelInfo], repo_sources: Collection[str]) -> list[str]:
    """The models' hf_id and their string pins of sources whose URL takes {hf_id}, checked by the
    one rule (config.REPO_ID) before any URL is built from them: '../../whoami-v2' would send the
    token to another path of the host."""
    problems = []
    for model in models:
        if model.hf_id is not None and (problem := repo_id_problem(model.hf_id)):
            problems.append(f"model {json.dumps(model.name)}: hf_id: {problem}; write it as owner/name")
        for source, pin in model.ids.items():
            if source in repo_sources and isinstance(pin, str) and (problem := repo_id_problem(pin)):
                problems.append(f"model {json.dumps(model.name)}: ids.{source}: {problem}; {PIN_FIX}")
    return problems


def _key(text: str) -> str:
    """A key written so YAML reads back the same string: plain when it is, else JSON-quoted."""
    return text if _PLAIN_KEY.fullmatch(text) and yaml.safe_load(text) == text else json.dumps(text)


def write_pins(
    path: Path,
    ambiguous: dict[str, dict[str, list[dict[str, Any]]]],
    unmatched: dict[str, list[str]],
    discovered: dict[str, dict[str, tuple[str, str]]] | None = None,
) -> int:
    """Write the ambiguous (model, source) pairs with their candidates, keeping what the user
    already decided (an id, or false); unmatched sources are listed as a comment. Join keys found
    in the catalogs (model -> per-model source -> (repo id, where from)) are written as pins, to
    keep or correct. Returns how many decisions are still open."""
    existing = read_pins(path) if path.is_file() else {}
    for model, per_source in (discovered or {}).items():
        for source, (repo, _) in per_source.items():
            existing.setdefault(model, {}).setdefault(source, repo)
    notes = {(m, s): where for m, per in (discovered or {}).items() for s, (_, where) in per.items()}
    lines = [
        "# Pins: for each model and source, the id to take, or false for 'not in this source'.",
        "# Written by `etl match --write-pins`; read through the config's `pins_file`. Decisions are kept across runs.",
    ]
    open_items = 0
    # every string from upstream (entry ids and names, where a key was found) is escaped: in a
    # comment a line break would end it and inject keys; values and keys are JSON-quoted
    for model in sorted(set(existing) | set(ambiguous) | set(unmatched)):
        lines.append(f"{json.dumps(model)}:")
        decided = {s: v for s, v in existing.get(model, {}).items() if v is not None}
        for source, pin in sorted(decided.items()):
            note = f"  # discovered: {printable(notes[(model, source)])}" if (model, source) in notes else ""
            lines.append(f"  {_key(source)}: {json.dumps(pin)}{note}")
        for source, cands in sorted(ambiguous.get(model, {}).items()):
            if source in decided:
                continue
            said = "; ".join(f"{c['id']} = {c['name']}" for c in cands)
            lines.append(f"  {_key(source)}: null  # ambiguous: {printable(said)}")
            open_items += 1
        left = [s for s in unmatched.get(model, []) if s not in decided]
        if left:
            lines.append(
                f"  # unmatched in {printable(', '.join(left))}: add `<source>: <id>` if it is there under another name"
            )
        if lines[-1] == f"{json.dumps(model)}:":
            lines.append("  {}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return open_items
