"""What a candidate's value is evidence of: its variant, its version, and which of several rows.

A source such as LLM Stats files one model's scores as rows (``benchmark_id``, ``score``,
``analysis_method``): one id may name a benchmark without its variant (``gpqa``: main set or
Diamond?), hold several rows with different values, or mix versions (``bfcl``: V2 for some
models, V3 for others). A mapping therefore declares, per candidate:

- ``evidence``: what the source states that makes the value the field's variant (the id, the
  definition file, the row's method, the source as a whole), or that it is ``assumed`` (and why that
  is safe; never in a field that names a variant);
- ``version``: which version the values are (constant, or read from the row or the page);
- ``select``: which row to take when several rows give different values.

Without a rule, several distinct values are ambiguous: nothing is staged but a refused row that
lists every value and where it came from. This module compiles those declarations and judges the
rows; it never guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .paths import compile_path, first_value

#: the prefix of a refusal that is an ambiguity (coverage shows it as such, not as a wrong value)
AMBIGUOUS = "ambiguous"


class EvidenceKind(StrEnum):
    """What states that a candidate's value is the field's variant."""

    ID = "id"  # the source's own id, key or column names the variant (gpqa-diamond, MMMU_VAL)
    DEFINITION = "definition"  # the source's definition of the benchmark describes the variant
    SOURCE = "source"  # the whole source is that benchmark (a board that runs one variant)
    ROW = "row"  # each row says it (its method matches `matches`); rows that do not are refused
    ASSUMED = "assumed"  # nothing states it: `states` says why it is safe (not in a variant field)


#: kinds that state the variant; an `assumed` candidate never fills a field that names a variant
STATED = frozenset(EvidenceKind) - {EvidenceKind.ASSUMED}


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    states: str
    #: ROW only: the JSONPath into the row (the object holding the value) and the regex it must match
    path: Any = None
    matches: re.Pattern[str] | None = None
    at: str = ""  # the JSONPath as written, for messages
    #: what the source does not state about the variant (a split, a metric), and why that is safe
    assumes: str | None = None


@dataclass(frozen=True)
class Version:
    """The version of a candidate's values: ``value`` as declared, or read from the row (``path``)
    or the page (``context``, a key of the source's ``context:``) with ``pattern`` (group 1 or the
    whole match); ``otherwise`` is what the source states where the row says nothing."""

    value: str | None = None
    path: Any = None
    context: str | None = None
    pattern: re.Pattern[str] | None = None
    otherwise: str | None = None


@dataclass(frozen=True)
class Select:
    """Of several rows with different values, keep those whose ``path`` matches (or does not
    match) ``regex``; one distinct value left is the value, ``why`` says why that row is right."""

    path: Any
    regex: re.Pattern[str]
    keep_matching: bool
    why: str


def _regex(pattern: str, where: str, problems: list[str]) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as exc:
        problems.append(f"{where}: regex {pattern!r} does not compile ({exc}); fix the pattern")
        return None


def _path(expression: str, where: str, problems: list[str]) -> Any:
    try:
        return compile_path(expression)
    except Exception as exc:  # jsonpath-ng raises several unrelated types
        problems.append(f"{where}: JSONPath {expression!r} does not parse ({str(exc)[:80]}); fix the path")
        return None


def build_evidence(raw: Any, where: str, problems: list[str]) -> Evidence | None:
    """Compile a schema-valid ``evidence:`` block (None when absent or invalid)."""
    if not isinstance(raw, dict) or raw.get("kind") not in set(EvidenceKind) or not isinstance(raw.get("states"), str):
        return None  # the schema check reports it
    kind = EvidenceKind(raw["kind"])
    if kind == EvidenceKind.ROW:
        if "path" not in raw or "matches" not in raw:
            problems.append(f"{where}.evidence: kind row needs `path` (into the row) and `matches` (a regex)")
            return None
        return Evidence(
            kind,
            raw["states"],
            _path(raw["path"], f"{where}.evidence.path", problems),
            _regex(raw["matches"], f"{where}.evidence.matches", problems),
            raw["path"].removeprefix("$."),
            raw.get("assumes"),
        )
    if "path" in raw or "matches" in raw:
        problems.append(f"{where}.evidence: `path` and `matches` are for kind row only")
    return Evidence(kind, raw["states"], assumes=raw.get("assumes"))


def build_version(raw: Any, where: str, problems: list[str]) -> Version | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return Version(value=str(raw))
    if ("path" in raw) == ("context" in raw):
        problems.append(f"{where}.version: give exactly one of `path` (into the row) or `context` (the page's)")
        return None
    return Version(
        path=_path(raw["path"], f"{where}.version.path", problems) if "path" in raw else None,
        context=raw.get("context"),
        pattern=_regex(raw["pattern"], f"{where}.version.pattern", problems) if "pattern" in raw else None,
        otherwise=str(raw["otherwise"]) if "otherwise" in raw else None,
    )


def build_select(raw: Any, where: str, problems: list[str]) -> Select | None:
    if not isinstance(raw, dict) or "path" not in raw:
        return None
    ops = [k for k in ("matches", "not_matches") if k in raw]
    if len(ops) != 1:
        problems.append(f"{where}.select: give exactly one of matches, not_matches")
        return None
    regex = _regex(raw[ops[0]], f"{where}.select.{ops[0]}", problems)
    path = _path(raw["path"], f"{where}.select.path", problems)
    return Select(path, regex, ops[0] == "matches", str(raw.get("why", ""))) if regex and path else None


def same_version(a: Any, b: Any) -> bool:
    """'V4', 'v4' and 4 are one version; '4.1' and 4.1 too."""
    return str(a).strip().lower().removeprefix("v") == str(b).strip().lower().removeprefix("v")


@dataclass
class Row:
    """One value a candidate's path found, with the object holding it (a benchmark row)."""

    value: Any
    parent: Any
    refused: str | None = None


def found_rows(expr: Any, entry: Any) -> list[Row]:
    """Every non-null value the path finds, with its parent object (the entry for a top-level key)."""
    rows = []
    for match in expr.find(entry):
        if match.value is None:
            continue
        parent = match.context.value if getattr(match, "context", None) is not None else None
        rows.append(Row(match.value, parent if isinstance(parent, dict) else entry))
    return rows


def _text(path: Any, row: Any) -> str | None:
    value = first_value(path, row) if path is not None and isinstance(row, dict) else None
    return None if value is None else str(value)


def version_of(version: Version, row: Any, context: dict[str, Any]) -> str | None:
    """The version a row (or its page) states, else ``otherwise``; None: none stated."""
    if version.value is not None:
        return version.value
    text = _text(version.path, row) if version.path is not None else context.get(version.context or "")
    if text is not None and version.pattern is not None:
        found = version.pattern.search(str(text))
        text = None if found is None else (found.group(1) if found.groups() else found.group(0))
    return version.otherwise if text is None or str(text) == "" else str(text)


def refusal(
    evidence: Evidence | None, version: Version | None, means: tuple[str, str] | None, row: Any, context: dict
) -> str | None:
    """Why a row is not the field's variant or version (None: it is). ``means`` is the field's
    (version, where it is declared)."""
    if evidence is not None and evidence.kind == EvidenceKind.ROW and evidence.matches is not None:
        said = _text(evidence.path, row)
        if said is None or not evidence.matches.search(said):
            return f"the row does not state the variant ({evidence.at}: {said!r}; {evidence.states})"
    if means is not None and version is not None:
        stated = version_of(version, row, context)
        if stated is None:
            where = f"the page states no {version.context}" if version.context else "no version stated"
            return f"{where}; this field holds {means[0]} only ({means[1]})"
        if not same_version(stated, means[0]):
            return f"version {stated}, not the {means[0]} this field holds ({means[1]}): another benchmark"
    return None


def describe_row(row: Row, keys: tuple[str, ...]) -> dict[str, Any]:
    """Where a value came from: the declared provenance keys of its row."""
    parent = row.parent if isinstance(row.parent, dict) else {}
    return {"value": row.value, **{k: parent.get(k) for k in keys}}


def select_rows(rows: list[Row], select: Select | None) -> list[Row]:
    """The rows a declared ``select`` keeps (all of them without one)."""
    if select is None:
        return rows
    kept = []
    for row in rows:
        said = _text(select.path, row.parent)
        hit = said is not None and select.regex.search(said) is not None
        if hit == select.keep_matching:
            kept.append(row)
    return kept


def ambiguity(values: list[tuple[Any, dict[str, Any]]], where: str, select: Select | None = None) -> str:
    """The refusal text of several rows with different values: each value and where it came from,
    and how to choose."""
    shown = "; ".join(
        f"{v} ({', '.join(f'{k} {d[k]!r}' for k in d if k != 'value') or 'no row detail'})" for v, d in values
    )
    fix = f"its `select:` ({select.why}) does not leave one" if select else "declare `select:`"
    return f"{AMBIGUOUS}: {len(values)} rows give different values: {shown}; {fix} at {where} to choose"
