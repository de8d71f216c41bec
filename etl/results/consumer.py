"""Would the consumer of our files accept this one? A verdict per model, from a schema file.

The consumer's acceptance rules are data (``schemas/llmscoreengine.schema.json``): each rule carries
its reason in ``description`` and a short ``x-requirement`` quoted in the verdict line, and the file
names its consumer in ``x-consumer``. Another consumer is one more schema file, not code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jsonschema.exceptions import ValidationError

from .. import settings
from ..declared.validation import fast_validator, place, validator

#: LLMScoreEngine (LSeu-Open/LLMScoreEngine, validate_model_data): the consumer our files are for.
DEFAULT_CONSUMER_SCHEMA = settings.DEFAULT_CONSUMER_SCHEMA
_RANGE = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


class Status(StrEnum):
    """What the consumer does with a file: scores it, or rejects it whole."""

    SCOREABLE = "scoreable"
    THIN = "scoreable, thin"  # scored, but without a section the consumer asks for (schema's x-thin)
    NOT_SCOREABLE = "not scoreable"


@dataclass(frozen=True)
class Verdict:
    """``reasons``: one line per missing or out-of-range field; ``blocking``: those fields as
    ``section.field``, in the same order (what `etl todo` asks the user for)."""

    status: Status
    reasons: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    thin: list[str] = field(default_factory=list)  # e.g. "no dev benchmark": what a thin file lacks

    @property
    def scoreable(self) -> bool:
        return self.status in (Status.SCOREABLE, Status.THIN)

    @property
    def label(self) -> str:
        """What the recap and coverage print: 'scoreable, thin: no dev benchmark, no community score'."""
        return f"{self.status}: {', '.join(self.thin)}" if self.thin else str(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"status": str(self.status), "reasons": self.reasons, "thin": self.thin}


def consumer_name(schema_name: str = DEFAULT_CONSUMER_SCHEMA) -> str:
    """The consumer a schema file speaks for, as verdict lines name it."""
    schema = validator(schema_name).schema
    return str(schema.get("x-consumer") or schema.get("title") or schema_name)


def _state(error: ValidationError) -> str:
    """How the value breaks the rule, in the user's terms (null and absent are both 'missing')."""
    value = error.instance
    if value is None:
        return "missing"
    shown = json.dumps(value, ensure_ascii=False)
    if error.validator in _RANGE:
        return f"{shown} is out of range"
    if error.validator in ("pattern", "minLength") and isinstance(value, str):
        return "empty"
    return f"{shown} is not accepted"


def _findings(error: ValidationError) -> list[tuple[list[Any], str, dict[str, Any]]]:
    """(place, state, rule schema) for one error; a `required` error names each absent key."""
    if error.validator == "required" and isinstance(error.instance, dict):
        rules = error.schema.get("properties", {})
        return [
            ([*error.absolute_path, key], "missing", rules.get(key, {}))
            for key in error.validator_value
            if key not in error.instance
        ]
    return [(list(error.absolute_path), _state(error), error.schema)]


def verdict(data: Any, schema_name: str = DEFAULT_CONSUMER_SCHEMA) -> Verdict:
    """Scoreable, or not with the exact fields that make the consumer reject the file. The
    compiled plain-Python check answers 'valid' (measured: 4 ms -> 0.1 ms a file); jsonschema
    runs only to say why not."""
    fast = fast_validator(schema_name)
    if fast is not None and fast(data):
        return _scoreable(data, schema_name)
    compiled = validator(schema_name)
    consumer = consumer_name(schema_name)
    reasons: list[str] = []
    blocking: list[str] = []
    errors = sorted(compiled.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for parts, state, rule in _findings(error):
            where = place(parts)
            if where in blocking:
                continue  # one line per field, even when it breaks two rules
            requirement = rule.get("x-requirement") or rule.get("description") or "a valid value"
            reasons.append(f"{where}: {state} ({consumer} requires {requirement})")
            blocking.append(where)
    return Verdict(Status.NOT_SCOREABLE, reasons, blocking) if reasons else _scoreable(data, schema_name)


def _scoreable(data: Any, schema_name: str) -> Verdict:
    """Scoreable; thin when a section the schema's ``x-thin`` names holds no value at all."""
    sections = validator(schema_name).schema.get("x-thin", {}).get("sections", {})
    empty = [
        says for section, says in sections.items() if not any(v is not None for v in (data.get(section) or {}).values())
    ]
    return Verdict(Status.THIN, thin=empty) if empty else Verdict(Status.SCOREABLE)
