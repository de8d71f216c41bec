"""The ``manual`` source: values no source publishes, entered by hand with a citation.

The values file (config key ``values_file``, shape in ``schemas/values.schema.json``) is the store
of these values: output files are rewritten by every run, this file only by the user and by
``etl todo --write``, which keeps every decision already in it.

    precedence: first            # or last; default first
    models:
      Claude 3.5 Haiku:
        model_specs.context_window: {value: 200000, source: "https://...", note: "vendor's table"}
        model_specs.param_count: null      # still to decide (written by `etl todo`)
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from ..errors import UsageError
from ..store.store import staged_row
from .files import load_yaml, yaml_problem
from .mappings import Mappings, load_mappings
from .transforms import DEFAULT_PARAM_COUNT_UNIT, PARAM_COUNT_UNITS, RAW_COUNT_THRESHOLD
from .validation import place, schema_problems, suggest, validator

#: the source name manual values are staged under (provenance, coverage cell, `etl explain`)
MANUAL_SOURCE = "manual"
SCHEMA = "values.schema.json"
DEFAULT_PRECEDENCE = "first"
#: a schema problem's ending -> the fix appended to it
_FIXES = {
    "missing key: 'source'": "add `source:` with the URL or citation the value comes from (required)",
    "missing key: 'value'": "add `value:` (null blanks the field)",
}
_LINE = re.compile(r" \(line (\d+)\): ")


@dataclass(frozen=True)
class ManualValue:
    """One value entered by hand, with where it was written (for provenance and messages)."""

    model: str
    section: str
    field: str
    value: Any
    source: str
    note: str | None
    file: str
    line: int | None
    version: str | None = None  # the benchmark version the citation measured (fields that hold one)

    def as_row(self, rank: int) -> dict[str, Any]:
        """The staged-row shape of the other sources' values (the value not yet JSON-encoded)."""
        return staged_row(
            self.model,
            self.section,
            self.field,
            rank,
            MANUAL_SOURCE,
            self.value,
            self.value,
            self.source,
            f"{self.file}:{self.line}" if self.line else self.file,
            "as is",
            context={k: v for k, v in (("note", self.note), ("version", self.version)) if v is not None} or None,
        )


@dataclass(frozen=True)
class ManualValues:
    path: Path
    precedence: str
    values: list[ManualValue]
    #: model -> its values, built once: a scan per model was O(models x values) (61 s at 50,000)
    by_model: dict[str, list[ManualValue]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[ManualValue]] = {}
        for value in self.values:
            index.setdefault(value.model, []).append(value)
        object.__setattr__(self, "by_model", index)

    def rank(self, candidates: int) -> int:
        """The rank manual values take among a field's ``candidates`` source candidates."""
        return -1 if self.precedence == "first" else candidates

    def for_model(self, name: str) -> list[ManualValue]:
        return list(self.by_model.get(name, ()))


def read_values_file(path: Path) -> tuple[Any, str, dict[tuple[str, ...], int]]:
    """(data, text, line of each model and field key); every failure is one line naming the file
    and the place."""
    if not path.is_file():
        raise UsageError(
            f"{path}: values file not found; create it (`etl todo -c CONFIG --write {path}` writes a skeleton) "
            "or fix `values_file` in the config"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: byte {exc.start}: not UTF-8 text; save the file as UTF-8") from None
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise UsageError(yaml_problem(path, exc)) from None
    lines = key_lines(text)
    problems = _foreign_values(data, path, lines)
    if problems:
        raise UsageError(problems)
    return data, text, lines


#: YAML values that JSON (the output) cannot hold -> what the user wrote, and the fix
_FOREIGN = {
    datetime.date: ("{text} reads as a date in YAML", 'write a number, or quote it ("{text}") to mean text'),
    set: ("a YAML !!set", "write a list, or a number"),
    bytes: ("YAML !!binary", "write a number, or the text itself in quotes"),
}


def _foreign_values(data: Any, path: Path, lines: dict[tuple[str, ...], int]) -> list[str]:
    """One line per value JSON cannot hold (a date, a set, binary), with its place, line and fix:
    each would end in a TypeError deep in a check or a write (walked iteratively: no recursion)."""
    problems, stack = [], [(data, ())]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            stack += [(v, (*at, k)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, (*at, i)) for i, v in enumerate(node)]
        elif kind := next((k for k in _FOREIGN if isinstance(node, k)), None):
            text = node.isoformat() if isinstance(node, datetime.date) else ""
            what, fix = (part.format(text=text) for part in _FOREIGN[kind])
            keys = tuple(str(k) for k in at[1:3]) if at[:1] == ("models",) else ()
            line = lines.get(keys) or lines.get(keys[:1]) or "?"
            problems.append(f"{path}: {place(at)} (line {line}): {what}, not a value JSON can hold; {fix}")
    return sorted(problems, key=_line_of)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of each model and each field key under ``models:`` (1-based), from the YAML node tree."""
    lines: dict[tuple[str, ...], int] = {}
    try:  # libyaml when present: the pure composer took 70 s on a file of 50,000 entries
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, node in root.value:
        if key.value != "models" or not isinstance(node, yaml.MappingNode):
            continue
        for model_key, fields in node.value:
            lines[(model_key.value,)] = model_key.start_mark.line + 1
            if isinstance(fields, yaml.MappingNode):
                for field_key, _ in fields.value:
                    lines[(model_key.value, field_key.value)] = field_key.start_mark.line + 1
    return lines


def structure_problems(data: Any, path: Path, lines: dict[tuple[str, ...], int]) -> list[str]:
    """Schema problems, each with its line where the place is a model or field key, and its fix."""
    places = {".".join(("models", *key)): n for key, n in lines.items()}
    out = []
    for line in schema_problems(SCHEMA, data, str(path)):
        where = line[len(str(path)) + 2 :].split(": ", 1)[0]
        if where in places:
            line = line.replace(f": {where}: ", f": {where} (line {places[where]}): ", 1)
        fix = next((f for end, f in _FIXES.items() if line.endswith(end)), None)
        out.append(f"{line}; {fix}" if fix else line)
    return out


def _field_rules() -> dict[tuple[str, str], dict[str, Any]]:
    """(section, field) -> the output contract's rule for a value (refs inlined)."""
    schema = validator("model.schema.json").schema
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    for section, spec in schema["properties"].items():
        for fname, rule in spec.get("properties", {}).items():
            rules[(section, fname)] = rule
        rules[(section, "*")] = spec.get("additionalProperties") if isinstance(spec, dict) else True
    return rules


def _value_problem(value: Any, rule: Any) -> str | None:
    """Why ``value`` does not fit the output contract's ``rule``, or None."""
    if not isinstance(rule, dict):
        return None
    error = next(iter(Draft202012Validator(rule).iter_errors(value)), None)
    if error is None:
        return None
    if error.validator == "type":
        kinds = [error.validator_value] if isinstance(error.validator_value, str) else error.validator_value
        wanted = " or ".join(k for k in kinds if k != "null")
        return f"expected {wanted}, got {type(value).__name__} {json.dumps(value, ensure_ascii=False)}"
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
        return f"{json.dumps(value, ensure_ascii=False)} is not allowed: valid: {allowed}"
    return error.message


def _unit_problem(fname: str, value: Any, unit: str) -> str | None:
    """A param_count written in the other unit is the mistake the issue was filed for: refuse it."""
    if fname != "param_count" or isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    if unit == "count" and value <= RAW_COUNT_THRESHOLD:
        count = int(value * PARAM_COUNT_UNITS["billions"])
        return (
            f"{value} looks like billions, but param_count_unit is count; write the raw count ({count}) "
            "or set `param_count_unit: billions` in the config"
        )
    return None  # a raw count in billions mode is unambiguous: converted (see _in_unit)


def _in_unit(fname: str, value: Any, unit: str) -> Any:
    """A raw parameter count, written where the config counts in billions, in billions (the values
    file then works in both units, like the sources do)."""
    if fname == "param_count" and unit == "billions" and _plain_number(value) and value > RAW_COUNT_THRESHOLD:
        return round(value / PARAM_COUNT_UNITS["billions"], 2)
    return value


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _entry_problems(
    where: str, section: str, fname: str, entry: dict[str, Any], rules: dict[tuple[str, str], Any], unit: str
) -> list[str]:
    rule = rules.get((section, fname), rules.get((section, "*")))
    value = entry.get("value")
    if value is None:
        return []  # a cited null blanks the field
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {value} is not a finite number; write a number (or null to blank the field)"]
    problem = _value_problem(value, rule)
    if problem is not None:
        return [f"{where}: {problem}; fix the value (schemas/model.schema.json, {section}.{fname})"]
    problem = _unit_problem(fname, value, unit)
    return [f"{where}: {problem}"] if problem else []


def _unknown_field(key: str, mappings: Mappings) -> str | None:
    """Why ``section.field`` is not a field of the mappings, with the nearest names."""
    section, _, fname = key.partition(".")
    fields = mappings.sections.get(section)
    if fields is not None and fname in fields:
        return None
    if fields is None:
        return f"unknown field {key!r}: {suggest(key, [f'{s}.{f}' for s, f, _ in mappings.fields()])}"
    return f"unknown field {key!r}: {suggest(key, [f'{section}.{f}' for f in fields])}"


def load_values(
    path: Path | str,
    models: Iterable[str],
    mappings: Mappings | None = None,
    param_count_unit: str = DEFAULT_PARAM_COUNT_UNIT,
) -> ManualValues:
    """Read and check a values file against the config's models and the mappings' fields; raise
    UsageError with every problem (unknown model, unknown field, wrong type, no source), one line each."""
    path = Path(path)
    data, _, lines = read_values_file(path)
    problems = structure_problems(data, path, lines)
    mappings = mappings or load_mappings()
    known = list(models)
    configured = set(known)  # a list scanned per model was O(models x models)
    rules = _field_rules()
    values: list[ManualValue] = []
    shaped = isinstance(data, dict) and isinstance(data.get("models"), dict)
    for model, entries in (data["models"] if shaped else {}).items():
        model = str(model)
        if model not in configured:
            at = f"{path}: models.{model} (line {lines.get((model,), '?')})"
            problems.append(f"{at}: unknown model {model!r} (not in the config): {suggest(model, known)}")
        for key, entry in (entries if isinstance(entries, dict) else {}).items():
            key = str(key)
            where = f"{path}: models.{model}.{key} (line {lines.get((model, key), '?')})"
            unknown = _unknown_field(key, mappings)
            if unknown:
                problems.append(f"{where}: {unknown}")
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry["source"].strip():
                continue  # null: still to decide; a missing source is a schema problem already
            section, _, fname = key.partition(".")
            found = _entry_problems(where, section, fname, entry, rules, param_count_unit)
            if found:  # refused: never converted (a 4,000-digit count overflows a float)
                problems += found
                continue
            line = lines.get((model, key))
            values.append(
                ManualValue(
                    model,
                    section,
                    fname,
                    _in_unit(fname, entry.get("value"), param_count_unit),
                    entry["source"],
                    entry.get("note"),
                    str(path),
                    line,
                    None if entry.get("version") is None else str(entry["version"]),
                )
            )
    if problems:
        raise UsageError(sorted(problems, key=_line_of))
    precedence = data.get("precedence", DEFAULT_PRECEDENCE) if isinstance(data, dict) else DEFAULT_PRECEDENCE
    return ManualValues(path, precedence, values)


def _line_of(problem: str) -> int:
    found = _LINE.search(problem)
    return int(found.group(1)) if found else 0
