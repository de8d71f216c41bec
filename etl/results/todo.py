"""``etl todo``: what keeps each model from being scoreable, and the values file it writes.

The items come from the coverage matrix (etl/results/coverage.py): per blocking field, the sources tried
and why each was empty, and the pins to write first where a source that fills it is ambiguous. The
values file (etl/declared/values.py reads it) gets an open (null) entry per blocking field: as a fresh
skeleton, or inserted into the user's own file with every line already there kept as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..declared.files import load_yaml
from ..declared.values import DEFAULT_PRECEDENCE, key_lines, read_values_file, structure_problems
from ..errors import UsageError, printable
from .coverage import Cell, Coverage

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass
class TodoItem:
    """One field that keeps a model from being scoreable: the sources tried and why each was
    empty; ``pins``: where a source that fills it has the model ambiguous, its candidates (pin
    one first: the source then fills the field, no hand-entered value needed)."""

    model: str
    field: str
    tried: list[str]
    pins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def todo_items(coverage: Coverage, models: list[str]) -> list[TodoItem]:
    """Per model the consumer would reject, each blocking field with what was tried."""
    items = []
    for model in models:
        found = coverage.verdicts.get(model)
        if found is None or found.scoreable:
            continue
        cells = coverage.cells.get(model, {})
        for name in found.blocking:
            cell = cells.get(name)
            said = sources_tried(cell)
            pins = {}
            if cell is not None and cell.status == "ambiguous":
                sources = cell.detail.split(": ", 1)[1].split(", ")
                pins = {s: coverage.pins.get(model, {}).get(s, []) for s in sources}
            items.append(TodoItem(model, name, said, pins))
    return items


def sources_tried(cell: Cell | None) -> list[str]:
    """'source: why empty' for each source a coverage cell names."""
    if cell is None or ": " not in cell.detail:
        return [cell.detail] if cell is not None and cell.detail else []
    reason, sources = cell.detail.split(": ", 1)
    return [f"{source}: {reason}" for source in sources.split(", ")]


def _yaml_key(text: str) -> str:
    """The key as YAML reads it back as the same string: 'true', 'null', 'on' are quoted."""
    plain = _PLAIN_KEY.fullmatch(text) and yaml.safe_load(text) == text
    return text if plain else json.dumps(text, ensure_ascii=False)


def _scalar(value: Any) -> str:
    """JSON text, except that an exponent float keeps a dot: PyYAML reads 2e-07 as a string, 2.0e-07 as a float."""
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e")
    return text


def _flow(entry: dict[str, Any]) -> str:
    """An entry as one YAML flow mapping (JSON scalars are valid YAML)."""
    parts = [f"{k}: {_scalar(entry[k])}" for k in ("value", "source", "note") if k in entry]
    return "{" + ", ".join(parts) + "}"


def _decisions(existing_path: Path | None) -> tuple[str | None, dict[str, dict[str, dict[str, Any]]]]:
    """(precedence, model -> field -> entry) already decided in the file; null entries are open."""
    if existing_path is None or not existing_path.is_file():
        return None, {}
    data, _, lines = read_values_file(existing_path)
    problems = structure_problems(data, existing_path, lines)
    if problems:
        raise UsageError(problems)
    decided = {
        str(model): {str(k): e for k, e in (entries or {}).items() if isinstance(e, dict)}
        for model, entries in (data.get("models") or {}).items()
    }
    return data.get("precedence"), decided


def todo_skeleton(existing_path: Path | str | None, blocking: dict[str, list[tuple[str, list[str]]]]) -> str:
    """The values file with an open (null) entry for every field that keeps a model from being
    scoreable, the sources tried and why each was empty as comments above it, and every decision
    already in ``existing_path`` kept as it was (like `etl match --write-pins`)."""
    precedence, decided = _decisions(Path(existing_path) if existing_path else None)
    lines = [
        "# Values no source publishes, entered by hand with a citation; read through the config's `values_file`.",
        '# Replace each null with {value: ..., source: "URL or citation", note: "optional"}; a null value with',
        "# a source blanks the field. Written by `etl todo --write`: decisions already here are kept.",
        f"precedence: {precedence or DEFAULT_PRECEDENCE}",
        "models:",
    ]
    for model in sorted(set(decided) | set(blocking)):
        kept = decided.get(model, {})
        open_fields = [(f, tried) for f, tried in blocking.get(model, []) if f not in kept]
        if not kept and not open_fields:
            continue  # scoreable, and nothing decided for it: nothing to write
        lines.append(f"  {_yaml_key(model)}:")
        for fname, entry in kept.items():
            lines.append(f"    {_yaml_key(fname)}: {_flow(entry)}")
        for fname, tried in open_fields:
            said = "; ".join(" ".join(t.split()) for t in tried) if tried else "no source publishes this field"
            lines.append(f"    # tried: {printable(said)}")
            lines.append(f"    {_yaml_key(fname)}: null")
    return "\n".join(lines) + "\n"


def todo_update(text: str, blocking: dict[str, list[tuple[str, list[str]]]]) -> str | None:
    """The user's own values file with the new open entries inserted where they belong, every
    line already there (comments included) kept as it is: under a model's key, or new models at
    the end of the ``models:`` block (wherever it is among the top-level keys). None when the
    file's layout does not allow it (no block ``models:``, a flow mapping, odd indents): the
    caller then writes the skeleton."""
    lines = key_lines(text)
    rows = text.splitlines()
    top = [i for i, row in enumerate(rows) if row[:1] not in ("", " ", "#", "-")]
    start = next((i for i in top if rows[i].startswith("models:")), None)
    if start is None:
        return None
    end = next((i for i in top if i > start), len(rows))  # the next top-level key, or the end
    last = max((i for i in range(start, end) if rows[i][:1] == " "), default=start)  # the block's last line
    inserts: dict[int, list[str]] = {}
    tail: list[str] = []
    for model, fields in blocking.items():
        new = [(f, tried) for f, tried in fields if (model, f) not in lines]
        block = [
            part
            for fname, tried in new
            for part in (
                f"    # tried: {printable('; '.join(' '.join(t.split()) for t in tried) or 'nothing')}",
                f"    {_yaml_key(fname)}: null",
            )
        ]
        if not block:
            continue
        if (model,) in lines:
            inserts.setdefault(lines[(model,)], []).extend(block)  # right under the model's key
        else:
            tail += [f"  {_yaml_key(model)}:", *block]
    if not inserts and not tail:
        return text
    if tail:
        inserts.setdefault(last + 1, []).extend(tail)  # line numbers are 1-based: after row ``last``
    out: list[str] = []
    for number, row in enumerate(rows, 1):
        out.append(row)
        out += inserts.get(number, [])
    updated = "\n".join(out) + "\n"
    try:  # a layout this cannot follow (a flow mapping, odd indents): the caller writes the skeleton
        models = (load_yaml(updated) or {}).get("models") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    wanted = all(f in (models.get(m) or {}) for m, fields in blocking.items() for f, _ in fields)
    return updated if wanted else None
