"""Reading the user's YAML and JSON files: every failure becomes one UsageError line naming the
file, the place and the fix. Used for configs, models, templates, pins and mapping files alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster


def load_yaml(text: str) -> Any:
    """YAML with libyaml's speed and the pure loader's (portable) error messages."""
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)  # re-raise with the pure loader's message: the same on every platform


def yaml_problem(path: Path | str, exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: file, line and column, what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown place)"
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{path}: {where}: invalid YAML ({what}); fix the syntax"


def read_text(path: Path) -> str:
    """A file's text; a missing or non-UTF-8 file is a UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: file not found; check the path")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: byte {exc.start}: not UTF-8 text; save the file as UTF-8") from None


def read_structured(path: Path) -> Any:
    """Read a YAML or JSON file (by its suffix), turning every failure into a one-line UsageError."""
    text = read_text(path)
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, parse_constant=_reject_constant)
        return load_yaml(text) or {}
    except json.JSONDecodeError as exc:
        if exc.doc in ("NaN", "Infinity", "-Infinity"):  # from _reject_constant: find where it is
            exc = json.JSONDecodeError(exc.msg, text, max(text.find(exc.doc), 0))
        raise UsageError(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg}); fix the syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(yaml_problem(path, exc)) from None


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON (use null for unknown)", name, 0)
