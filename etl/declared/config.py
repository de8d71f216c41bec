"""Configuration: file (YAML or JSON) < environment and ``.env`` < CLI flags, validated in full.

Every problem is reported at once, each with its file, its place and the fix; unknown keys name
the nearest valid key. Models come from the config's ``models``, ``--models`` (a file or inline
JSON) or a folder of model files (``input_dir``), merged by name so a folder's files can still get
``hf_id`` and pins from the config.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from .. import settings
from ..errors import BIDI, UsageError
from .files import echo, read_structured
from .per_source import Setting, SettingKind, config_properties, declared_settings
from .validation import place, raw_schema, schema_problems

#: config keys that hold paths (relative to the config file)
PATH_KEYS = ("template_path", "input_dir", "output_dir", "cache_path", "pins_file", "values_file", "attribution_file")
_UNSAFE = re.compile(r"[\x00-\x1f<>:\"|?*]")
#: what a Hugging Face repo id looks like: the config schema's `hf_id` pattern, the one place it is
#: declared. One rule for an hf_id, a string pin of a source whose URL takes {hf_id}, and a join
#: key a catalog publishes: one owner/name, no '..', no query, no fragment, no spaces.
REPO_ID = re.compile(raw_schema("config.schema.json")["$defs"]["model"]["properties"]["hf_id"]["pattern"])
#: the PipelineConfig field that holds each kind of per-source setting
_HOLDER = {SettingKind.KEY: "source_keys", SettingKind.RATE: "source_rates"}


@dataclass
class ModelInfo:
    """One model to fill. ``template`` is its own file (folder mode) or None for the shared one."""

    name: str
    hf_id: str | None = None
    ids: dict[str, str | bool] = field(default_factory=dict)
    template: Path | None = None
    #: where a discovered hf_id came from (etl/matching/catalogs.py); None when the user gave it
    hf_id_from: str | None = None

    def __post_init__(self) -> None:
        self.name = nfc(self.name)

    @property
    def file_stem(self) -> str:
        """A safe file name: names with separators or '..' were refused when the model was read."""
        return _UNSAFE.sub("_", self.name).strip(" .") or "model"


def nfc(name: str) -> str:
    """One spelling per name: 'é' typed as one code point or as 'e' + accent is one model, one file."""
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name


def repo_id_problem(value: object) -> str | None:
    """Why ``value`` cannot go into a URL as a Hugging Face repo id, or None (see REPO_ID)."""
    if isinstance(value, str) and REPO_ID.fullmatch(value):
        return None
    return (
        f"{echo(value)} is not a Hugging Face repo id (one owner/name of letters, digits, '.', '_' and '-'; "
        "no '..', '?', '#' or spaces)"
    )


def check_model_name(name: str, where: str) -> str | None:
    """Why a name cannot be a model's (and its file's) name, or None."""
    bad = next((i for i, c in enumerate(name) if unicodedata.category(c) == "Cc" or c in BIDI), None)
    if bad is not None:
        return (
            f"{where}: model name {echo(name)} contains a control character (U+{ord(name[bad]):04X} at "
            f"position {bad + 1}); remove it"
        )
    if not name.strip():
        return f"{where}: empty model name; give the model a name"
    if "/" in name or "\\" in name or ".." in name:
        return (
            f"{where}: model name {echo(name)} contains a path separator or '..'; the name becomes the output "
            "file name: remove them (put a repo id in hf_id)"
        )
    return None


@dataclass
class PipelineConfig:
    """Everything a run needs; build it with :meth:`load` or :meth:`from_dict`."""

    template_path: Path | None = None
    input_dir: Path | None = None
    pins_file: Path | None = None
    output_dir: Path = Path(settings.DEFAULT_OUTPUT_DIR)
    cache_path: Path = field(default_factory=settings.default_store_path)
    cache_ttl_hours: float = settings.DEFAULT_TTL_HOURS
    #: per-source keys and rates the mappings declare (etl/declared/per_source.py): config key -> value
    source_keys: dict[str, str] = field(default_factory=dict)
    source_rates: dict[str, float] = field(default_factory=dict)
    max_retries: int = settings.DEFAULT_MAX_RETRIES
    retry_backoff_factor: float = settings.DEFAULT_RETRY_BACKOFF_FACTOR
    timeout: float = settings.DEFAULT_TIMEOUT
    continue_on_error: bool = settings.DEFAULT_CONTINUE_ON_ERROR
    workers: int | None = None  # None: one per core (etl/store/workers.py)
    overwrite: bool = False
    log_level: str = "INFO"
    models: list[ModelInfo] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    values_file: Path | None = None
    param_count_unit: str = settings.DEFAULT_PARAM_COUNT_UNIT
    require_scoreable: bool = False
    consumer_schema: str = settings.DEFAULT_CONSUMER_SCHEMA
    output_name: str = settings.DEFAULT_OUTPUT_NAME
    in_place: bool = False
    allow_removals: bool = False
    attribution_file: Path | None = None
    # not config-file keys: set by flags or the API
    offline: bool = False
    refresh: bool = False
    mappings_dir: Path | None = None
    max_retry_wait: float = settings.DEFAULT_MAX_RETRY_WAIT
    origin: str = "<config>"  # the file it came from, for messages
    #: where keys are looked up after flags (see etl/declared/sources.py); None: os.environ
    environ: Mapping[str, str] | None = None
    #: keys written in the config file: below the environment in precedence
    file_keys: dict[str, str] = field(default_factory=dict)
    #: names of the config file's models when --models chose others: the values file may name them
    file_models: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        shown = {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.endswith(("_key", "_keys", "environ"))
        }
        return f"PipelineConfig({shown})"

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        file: str = "<config>",
        base_dir: Path | None = None,
        per_source: Mapping[str, Setting] | None = None,
    ) -> PipelineConfig:
        """Validate a config mapping (as in a config file) and build the config. ``per_source``: the
        keys and rates the mappings declare (default: the shipped mappings')."""
        data = dict(data)
        per_source = declared_settings() if per_source is None else per_source
        if isinstance(data.get("models"), list):  # plain names are short for {name: ...}
            data["models"] = [{"name": m} if isinstance(m, str) else m for m in data["models"]]
        problems = non_finite(data, file)  # one line per place: NaN or infinity, not also its bound
        places = tuple(p[: p.rindex(": ") + 2] for p in problems)
        problems += [
            p
            for p in schema_problems("config.schema.json", data, file, extra=config_properties(per_source))
            if not places or not p.startswith(places)
        ]
        for i, model in enumerate(data.get("models") or [] if isinstance(data.get("models"), list) else []):
            if isinstance(model, dict) and isinstance(model.get("name"), str):
                problem = check_model_name(model["name"], f"{file}: models[{i}].name")
                problems += [problem] if problem else []
        if problems:
            raise UsageError(problems)
        base = base_dir or Path.cwd()
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in PATH_KEYS:
                kwargs[key] = _resolve(base, value)
            elif key == "models":
                kwargs[key] = parse_models(value, file, base)
            elif key in per_source:
                kwargs.setdefault(_HOLDER[per_source[key].kind], {})[key] = value
            else:
                kwargs[key] = value
        return cls(**kwargs, origin=file)

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        dotenv: Path | None = Path(settings.DOTENV_FILE),
    ) -> PipelineConfig:
        """Config file, then ``overrides`` (CLI flags); keys not given there come from the environment and
        ``.env`` (looked up per source in etl/declared/sources.py)."""
        data: dict[str, Any] = {}
        file, base = "<flags>", Path.cwd()
        if path is not None:
            path = Path(path)
            file, base = str(path), path.resolve().parent
            data = read_structured(path)
            if not isinstance(data, dict):
                raise UsageError(f"{path}: (top level): expected a mapping of keys, got {type(data).__name__}")
        per_source = declared_settings((overrides or {}).get("mappings_dir"))
        config = cls.from_dict(data, file, base, per_source)
        config.environ = {**read_dotenv(dotenv), **(os.environ if environ is None else environ)}
        # file < environment < flags: the file's keys are looked up after the environment
        config.file_keys, config.source_keys = config.source_keys, {}
        flags = [
            f"--{k.replace('_', '-')}: {v} is not a finite number; give a number"
            for k, v in (overrides or {}).items()
            if isinstance(v, float) and not math.isfinite(v)
        ]
        if flags:
            raise UsageError(flags)
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            if key == "models":
                config.file_models = [m.name for m in config.models]
                config.models = value
            elif key in (*PATH_KEYS, "mappings_dir"):
                setattr(config, key, Path(value))
            elif key in per_source:
                getattr(config, _HOLDER[per_source[key].kind])[key] = value
            else:
                setattr(config, key, value)
        return config


def non_finite(data: Any, file: str) -> list[str]:
    """NaN and infinities (YAML's ``.nan``, ``.inf``) as problems: JSON Schema's bounds let NaN
    through (every comparison with it is false), and a timeout of NaN fails deep in a request."""
    problems, stack = [], [(data, [])]
    while stack:
        node, at = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            problems.append(f"{file}: {place(at)}: {node} is not a finite number; give a number")
        elif isinstance(node, dict):
            stack += [(v, [*at, k]) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, [*at, i]) for i, v in enumerate(node)]
    return sorted(problems)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def read_dotenv(path: Path | None) -> dict[str, str]:
    """KEY=VALUE lines of a ``.env`` file (python-dotenv's syntax); a missing file is empty."""
    if path is None or not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def parse_models(value: Any, file: str, base: Path | None = None) -> list[ModelInfo]:
    """A list of model dicts (or plain names), validated; names must be unique and file-safe."""
    if isinstance(value, dict) and "models" in value:
        value = value["models"]
    if not isinstance(value, list):
        raise UsageError(f"{file}: models: expected a list of models, got {type(value).__name__}")
    value = [{"name": v} if isinstance(v, str) else v for v in value]
    problems = schema_problems("config.schema.json", {"models": value}, file)
    models, seen, stems = [], set(), {}
    for i, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        name = nfc(raw["name"])
        problem = check_model_name(name, f"{file}: models[{i}].name")
        if problem:
            problems.append(problem)
        elif name in seen:
            form = " (in another Unicode form)" if name != raw["name"] else ""
            problems.append(f"{file}: models[{i}].name: {echo(name)} is listed twice{form}; keep one")
        elif (clash := _stem_clash(name, stems)) is not None:
            problems.append(
                f"{file}: models[{i}].name: {echo(name)} would write the same file as {echo(clash)} "
                f"({ModelInfo(clash).file_stem}_filled.json); rename one"
            )
        seen.add(name)
        template = _resolve(base or Path.cwd(), raw["template"]) if raw.get("template") else None
        models.append(ModelInfo(name, raw.get("hf_id"), dict(raw.get("ids") or {}), template))
    if problems:
        raise UsageError(problems)
    return models


def _stem_clash(name: str, stems: dict[str, str]) -> str | None:
    """Another name that maps to the same output file (case-insensitively, as some filesystems
    do); records this one. ``stems`` maps lowercased file stems to the name that took them."""
    stem = ModelInfo(name).file_stem.lower()
    other = stems.setdefault(stem, name)
    return other if other != name else None


def models_from_option(value: str) -> list[ModelInfo]:
    """``--models``: a JSON/YAML file, or inline JSON (a list, or one model object)."""
    text = value.strip()
    if text.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--models: column {exc.colno}: invalid inline JSON ({exc.msg}); fix the JSON") from None
        return parse_models([data] if isinstance(data, dict) and "name" in data else data, "--models")
    path = Path(value)
    return parse_models(read_structured(path), str(path), path.resolve().parent)


def models_from_folder(folder: Path, known: list[ModelInfo]) -> list[ModelInfo]:
    """One model per ``*.json`` file; name from model_specs.model_name, 'name', or the file name."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: input folder not found; pass an existing folder with --input-dir")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise UsageError(f"{folder}: no *.json model files in the input folder; add templates or fix the path")
    by_name = {m.name: m for m in known}
    models, problems, seen, stems = [], [], set(), {}
    for path in files:
        try:
            data = read_structured(path)
        except UsageError as exc:
            problems += exc.problems
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: (top level): a model file is a JSON object; fix the file")
            continue
        specs = data.get("model_specs") if isinstance(data.get("model_specs"), dict) else {}
        name = specs.get("model_name") or data.get("name") or data.get("model_name") or path.stem
        name = nfc(str(name))
        problem = check_model_name(name, f"{path}: model name")
        if problem:
            problems.append(problem)
            continue
        pinned = by_name.get(name)
        hf_id = data.get("hf_id") or (pinned.hf_id if pinned else None)
        found = schema_problems("config.schema.json", {"name": name, "hf_id": hf_id}, str(path), "model")
        if not found and (clash := name if name in seen else _stem_clash(name, stems)):
            found = [
                f"{path}: model name {name!r} is also the name of another file's model ({clash!r}): both would write one file; rename one"
            ]
        if found:
            problems += found
            continue
        seen.add(name)
        models.append(ModelInfo(name, hf_id, dict(pinned.ids) if pinned else {}, path))
    if problems:
        raise UsageError(problems)
    return models
