"""JSONPaths, compiled once: plain dotted paths as dict lookups, everything else by jsonpath-ng.

Shared by every stage (fetch reads pagination fields, matching reads identities, transforms read
values), so it lives apart from the mapping loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonpath_ng.ext import parse as _parse_jsonpath

_DOTTED = re.compile(r"^\$((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")


@dataclass(frozen=True)
class _Found:
    value: Any


class KeyPath(tuple):
    """``$.a.b.c`` as plain dict lookups: same answer as jsonpath-ng, ~20x faster on the hot path."""

    def find(self, document: Any) -> list[_Found]:
        for key in self:
            if not isinstance(document, dict) or key not in document:
                return []
            document = document[key]
        return [_Found(document)]


@cache
def compile_path(expression: str) -> Any:
    """Compile a JSONPath once per process (raises on a bad expression)."""
    dotted = _DOTTED.match(expression.strip())
    if dotted:
        return KeyPath(k for k in dotted.group(1).split(".") if k)
    return _parse_jsonpath(expression)


def first_value(expr: Any, document: Any) -> Any:
    """The first non-null match of a compiled JSONPath, or None."""
    if isinstance(expr, KeyPath):
        found = expr.find(document)
        return found[0].value if found else None
    for match in expr.find(document):
        if match.value is not None:
            return match.value
    return None
