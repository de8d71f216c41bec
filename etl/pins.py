"""The pins file: per model and source, the entry id to take, or false for 'not in this source'.

``etl match --write-pins`` writes the open decisions (ambiguous names, with their candidates) and
keeps those already made; the config names the file as ``pins_file`` and every run reads it. Pins
written in the config itself win over the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import ModelInfo
from .errors import UsageError
from .files import read_structured

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


def apply_pins(models: list[ModelInfo], path: Path | None) -> list[ModelInfo]:
    """Add the pins file's decisions (an id or false) to the models; pins in the config win."""
    if not path or not path.is_file():
        return models
    pins = read_pins(path)
    for model in models:
        for source, pin in pins.get(model.name, {}).items():
            if pin is not None and source not in model.ids:
                model.ids[source] = pin
    return models


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
    for model in sorted(set(existing) | set(ambiguous) | set(unmatched)):
        lines.append(f"{json.dumps(model)}:")
        decided = {s: v for s, v in existing.get(model, {}).items() if v is not None}
        for source, pin in sorted(decided.items()):
            note = f"  # discovered: {notes[(model, source)]}" if (model, source) in notes else ""
            lines.append(f"  {source}: {json.dumps(pin)}{note}")
        for source, cands in sorted(ambiguous.get(model, {}).items()):
            if source in decided:
                continue
            lines.append(f"  {source}: null  # ambiguous: " + "; ".join(f"{c['id']} = {c['name']}" for c in cands))
            open_items += 1
        left = [s for s in unmatched.get(model, []) if s not in decided]
        if left:
            lines.append(f"  # unmatched in {', '.join(left)}: add `<source>: <id>` if it is there under another name")
        if lines[-1] == f"{json.dumps(model)}:":
            lines.append("  {}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return open_items
