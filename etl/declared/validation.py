"""JSON Schema checks that report every problem, each as one line with its place and a fix.

Shared by the config, the mapping files, the templates and the outputs, so a user sees the same
shape of message wherever the mistake is.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..settings import schemas_dir
from .files import MAX_ECHO, echo


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace local ``#/$defs/x`` references by their target: resolving a $ref on every instance
    dominated validation time (measured: 70% of a 1,000-model load), and our schemas have no cycles."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            return {**target, **{k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "number": (int, float),
    "integer": (int,),
}
_FAST_KEYWORDS = {
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "properties",
    "additionalProperties",
    "required",
    "description",
    "examples",
    "title",
    "$schema",
    "$id",
    "default",
    "pattern",
    "minLength",
    "items",
}


def _fast(schema: Any) -> Callable[[Any], bool] | None:
    """A plain-Python check for the few keywords the output contract uses, or None if the schema
    uses any other keyword. It only says 'valid' when jsonschema would; on 'no', jsonschema runs and
    reports. Measured: ~30x faster than jsonschema on a filled model file."""
    if schema is True or schema == {}:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or {k for k in schema if not k.startswith("x-")} - _FAST_KEYWORDS:
        return None  # x- keys are annotations (a consumer's reason texts): no effect on validity
    checks: list[Callable[[Any], bool]] = []
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        exact = {t for k in kinds for t in _PY_TYPES[k]}  # type(v), not isinstance: True is no number
        if "integer" in kinds and "number" not in kinds:
            checks.append(lambda v: type(v) in exact or (type(v) is float and v.is_integer()))
        else:
            checks.append(lambda v: type(v) in exact)

    def numeric(v: Any) -> bool:
        return type(v) in (int, float)

    for key, violated in (  # written as jsonschema tests them, so NaN behaves the same
        ("minimum", lambda v, b: v < b),
        ("maximum", lambda v, b: v > b),
        ("exclusiveMinimum", lambda v, b: v <= b),
        ("exclusiveMaximum", lambda v, b: v >= b),
    ):
        if key in schema:
            checks.append(lambda v, b=schema[key], bad=violated: not numeric(v) or not bad(v, b))
    if "enum" in schema:
        allowed = schema["enum"]
        checks.append(lambda v: any(v == a and type(v) is type(a) for a in allowed))
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
    if "minLength" in schema:
        checks.append(lambda v, n=schema["minLength"]: not isinstance(v, str) or len(v) >= n)
    if "items" in schema:
        item = _fast(schema["items"])
        if item is None:
            return None
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    if "required" in schema:
        required = schema["required"]
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))
    if "properties" in schema or "additionalProperties" in schema:
        check_object = _fast_object(schema)
        if check_object is None:
            return None
        checks.append(check_object)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def _fast_object(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    props = {k: _fast(sub) for k, sub in schema.get("properties", {}).items()}
    extra = _fast(schema.get("additionalProperties", True))
    if extra is None or any(c is None for c in props.values()):
        return None

    def check_object(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all((props[k] if k in props else extra)(item) for k, item in v.items())

    return check_object


@cache
def fast_validator(schema_name: str, extra: tuple[tuple[str, str], ...] = ()) -> Callable[[Any], bool] | None:
    return _fast(validator(schema_name, None, extra).schema)


@cache
def raw_schema(schema_name: str) -> dict[str, Any]:
    """A schema of ``schemas/`` as written (with its ``$defs``), read once per process."""
    return json.loads((schemas_dir() / schema_name).read_text(encoding="utf-8"))  # checked by the tests


@cache
def validator(
    schema_name: str, definition: str | None = None, extra: tuple[tuple[str, str], ...] = ()
) -> Draft202012Validator:
    """Compile a schema of ``schemas/`` (or one of its ``$defs``) once per process; ``extra`` adds
    top-level properties (name, ``$defs`` entry), such as the per-source keys the mappings declare."""
    schema = raw_schema(schema_name)
    defs = schema.get("$defs", {})
    if definition:
        schema = defs[definition]
    if extra:
        added = {name: {"$ref": f"#/$defs/{entry}"} for name, entry in extra}
        schema = {**schema, "properties": {**schema.get("properties", {}), **added}}
    return Draft202012Validator(_inline_refs(schema, defs))


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
        part = part if isinstance(part, int) else str(part)[:MAX_ECHO]  # a key can be as long as a value
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [str(k) for k in error.instance if k not in allowed]
        more = f"; and {len(extras) - 5} more unknown key(s)" if len(extras) > 5 else ""
        return "; ".join(f"unknown key {echo(e)}: {suggest(e[:MAX_ECHO], allowed)}" for e in extras[:5]) + more
    if error.validator == "required":
        return f"missing key: {error.message.split(' is a required')[0]}"
    if error.validator == "enum":
        shown = str(error.instance)[:MAX_ECHO]
        return f"{echo(error.instance)} is not allowed: {suggest(shown, map(str, error.validator_value))}"
    if error.validator == "anyOf" and error.context and all(e.validator == "required" for e in error.context):
        keys = [e.message.split("'")[1] for e in error.context]
        return f"needs one of: {', '.join(keys)}"
    if error.validator == "propertyNames":
        return f"{echo(error.instance)} is not allowed as a key here: {_clipped(error)}"
    if error.validator == "pattern":
        return f"{echo(error.instance)} is not valid: expected {error.schema.get('description', 'pattern ' + error.validator_value)}"
    if error.validator == "type":
        if any(str(p).endswith("_key") for p in error.absolute_path):  # never echo a key back
            return f"expected {error.validator_value}, got {type(error.instance).__name__} (quote it)"
        return f"expected {error.validator_value}, got {type(error.instance).__name__} {echo(error.instance)}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        said = _clipped(error).replace("is less than the", "is below the")
        return said.replace("is greater than the", "is above the")
    return _clipped(error)


def _clipped(error: ValidationError) -> str:
    """jsonschema's message with the echoed value cut to MAX_ECHO characters."""
    whole = repr(error.instance)
    return error.message.replace(whole, echo(error.instance)) if len(whole) > MAX_ECHO else error.message


def schema_problems(
    schema_name: str,
    instance: Any,
    file: str,
    definition: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    """Every violation of ``schemas/<schema_name>`` as ``file: place: problem`` lines. ``extra``:
    top-level keys known only at run time, each with the ``$defs`` entry describing its value."""
    fast = fast_validator(schema_name, extra) if definition is None else None
    if fast is not None and fast(instance):
        return []
    errors = sorted(
        validator(schema_name, definition, extra).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    )
    lines = []
    for error in errors:
        best = error
        if error.context and error.validator != "anyOf":  # oneOf: the deepest sub-error says most
            best = max(error.context, key=lambda e: len(e.absolute_path))
        lines.append(f"{file}: {place(best.absolute_path)}: {_describe(best)}")
    return lines


@cache
def field_check(schema_name: str, section: str, fname: str) -> Callable[[Any], str | None]:
    """A check of one field of an output schema: None when a value fits, else why not (one line).
    Used at transform time, so a wrong value is refused with its source and the next is tried."""
    spec = validator(schema_name).schema.get("properties", {}).get(section, {}).get("properties", {}).get(fname)
    if spec is None:
        return lambda value: None
    compiled = Draft202012Validator(spec)
    fast = _fast(spec)

    def check(value: Any) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number"
        if fast is not None and fast(value):
            return None
        error = next(iter(compiled.iter_errors(value)), None)
        return None if error is None else _describe(error)

    return check
