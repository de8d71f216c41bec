"""JSON Schema checks that report every problem, each as one line with its place and a fix.

Shared by the config, the mapping files, the templates and the outputs, so a user sees the same
shape of message wherever the mistake is.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .settings import schemas_dir


@cache
def validator(schema_name: str, definition: str | None = None) -> Draft202012Validator:
    """Compile a schema of ``schemas/`` (or one of its ``$defs``) once per process."""
    schema = json.loads((schemas_dir() / schema_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    if definition:
        schema = {**schema["$defs"][definition], "$defs": schema["$defs"]}
    return Draft202012Validator(schema)


def suggest(word: str, valid: Iterable[str]) -> str:
    """'did you mean X?' when a near name exists, and always the list of valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}valid: {', '.join(valid)}"


def place(parts: Iterable[Any]) -> str:
    """Render a JSON location like ``models[2].name`` (or ``(top level)``)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [str(k) for k in error.instance if k not in allowed]
        return "; ".join(f"unknown key {e!r}: {suggest(e, allowed)}" for e in extras)
    if error.validator == "required":
        return f"missing key: {error.message.split(' is a required')[0]}"
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed: {suggest(str(error.instance), map(str, error.validator_value))}"
    if error.validator == "anyOf" and error.context and all(e.validator == "required" for e in error.context):
        keys = [e.message.split("'")[1] for e in error.context]
        return f"needs one of: {', '.join(keys)}"
    if error.validator == "pattern":
        return f"{error.instance!r} is not valid: expected {error.schema.get('description', 'pattern ' + error.validator_value)}"
    if error.validator == "type":
        return f"expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return error.message.replace("is less than", "is below the").replace("is greater than", "is above the")
    return error.message


def schema_problems(schema_name: str, instance: Any, file: str, definition: str | None = None) -> list[str]:
    """Every violation of ``schemas/<schema_name>`` as ``file: place: problem`` lines."""
    errors = sorted(
        validator(schema_name, definition).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    )
    lines = []
    for error in errors:
        best = error
        if error.context and error.validator != "anyOf":  # oneOf: the deepest sub-error says most
            best = max(error.context, key=lambda e: len(e.absolute_path))
        lines.append(f"{file}: {place(best.absolute_path)}: {_describe(best)}")
    return lines
