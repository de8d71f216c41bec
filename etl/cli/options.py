"""The options every pipeline command shares, declared once, and the decorator that gives them to
a command. Typer has no option groups, and a callback would move these options before the command
name (`etl -c x run`), breaking the documented `etl run -c x`; so the decorator adds them to each
command's signature and hands the command a ready Pipeline, built here from config < env < flags.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import settings
from ..declared.config import PipelineConfig, models_from_option
from ..declared.per_source import Setting, SettingKind, declared_mappings, declared_settings
from ..errors import UsageError
from ..pipeline import Pipeline
from ..store.storefile import store_errors
from .terminal import errors_to_exit, setup_logging

#: what --rate-limit-... accepts (requests per second), as the config schema's $defs.source_rate
RATE_BOUNDS = (0.0001, 1000000)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


_P = "Pipeline"
#: the store's help, shared by every command that opens it
STORE_HELP = (
    f"SQLite store (HTTP cache + staged values); default: ${settings.STORE_ENV}, else {settings.user_store_path()}."
)
COMMON: dict[str, tuple[Any, Any]] = {
    "config": (
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file (YAML or JSON): models, template, keys, sources.", rich_help_panel=_P
        ),
    ),
    "template": (
        Path | None,
        typer.Option("--template", "-t", help="Template JSON every listed model starts from.", rich_help_panel=_P),
    ),
    "models": (
        str | None,
        typer.Option(
            "--models",
            "-m",
            help='Models: a JSON/YAML file, or inline JSON like \'[{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}]\'.',
            rich_help_panel=_P,
        ),
    ),
    "input_dir": (
        Path | None,
        typer.Option("--input-dir", help="Folder of model JSON files, each its own template.", rich_help_panel=_P),
    ),
    "output_dir": (
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Where <Name>_filled.json files go (default: ./filled_models).",
            rich_help_panel=_P,
        ),
    ),
    "cache_path": (
        Path | None,
        typer.Option(
            "--cache-path",
            help=STORE_HELP,
            rich_help_panel=_P,
        ),
    ),
    "mappings_dir": (
        Path | None,
        typer.Option("--mappings", help="Mappings folder (default: the shipped mappings/).", rich_help_panel=_P),
    ),
    "offline": (
        bool,
        typer.Option(
            "--offline",
            help="Send no request: use the cache alone (what it lacks stays `not cached`: exit 3, `etl cache missing`).",
            rich_help_panel=_P,
        ),
    ),
    "overwrite": (
        bool,
        typer.Option(
            "--overwrite", help="Replace values already in the template (default: fill nulls only).", rich_help_panel=_P
        ),
    ),
    "in_place": (
        bool,
        typer.Option(
            "--in-place",
            help="With --input-dir: fill the model files themselves (nulls only unless --overwrite; the original kept as <file>.bak).",
            rich_help_panel=_P,
        ),
    ),
    "allow_removals": (
        bool,
        typer.Option(
            "--allow-removals",
            help="Drop values no source gives any more (default: keep what the last load wrote, and say so).",
            rich_help_panel=_P,
        ),
    ),
    "require_scoreable": (
        bool,
        typer.Option(
            "--require-scoreable",
            help="Exit 1 when a written file is one the consumer (LLMScoreEngine) would reject.",
            rich_help_panel=_P,
        ),
    ),
    "refresh": (
        bool,
        typer.Option("--refresh", help="Ignore fresh cache entries and fetch again.", rich_help_panel=_P),
    ),
    "max_retries": (
        int | None,
        typer.Option(
            "--max-retries",
            min=0,
            max=100,
            help="Retries on 429, 5xx, time-outs (default: 3).",
            rich_help_panel="Network",
        ),
    ),
    "timeout": (
        float | None,
        typer.Option(
            "--timeout", min=0.1, max=3600, help="Seconds per request (default: 30).", rich_help_panel="Network"
        ),
    ),
    "log_level": (
        LogLevel | None,
        typer.Option("--log-level", case_sensitive=False, help="How much to log.", rich_help_panel="Output"),
    ),
    "verbose": (bool, typer.Option("--verbose", "-v", help="Same as --log-level DEBUG.", rich_help_panel="Output")),
}
_FLAG_TO_CONFIG = {"template": "template_path"}


def per_source_options(argv: list[str]) -> dict[str, Setting]:
    """The keys and rates the mappings declare, as flags (``--aa-key``, ``--rate-limit-hf``...):
    those of the folder ``--mappings`` names in ``argv``, else the shipped one. A folder that does not
    load gives no flags here; the command then reports its problems."""
    folder = next((a.split("=", 1)[1] for a in argv if a.startswith("--mappings=")), None)
    if "--mappings" in argv[:-1]:
        folder = argv[argv.index("--mappings") + 1]
    try:
        return {s.param: s for s in declared_settings(folder).values()}
    except (UsageError, OSError):
        return {}


def _option(setting: Setting) -> tuple[Any, Any]:
    if setting.kind is SettingKind.KEY:
        return str | None, typer.Option(setting.flag, help=setting.help, rich_help_panel="Network")
    low, high = RATE_BOUNDS
    opt = typer.Option(setting.flag, min=low, max=high, help=setting.help, rich_help_panel="Network")
    return float | None, opt


def pipeline_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the shared options; it receives a ready ``Pipeline`` as ``pipeline``."""
    hints = typing.get_type_hints(fn, include_extras=True)  # resolve string annotations
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
        if p.name != "pipeline"
    ]
    per_source = per_source_options(sys.argv)
    shared = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[typ, opt], default=False if typ is bool else None
        )
        for name, (typ, opt) in {**COMMON, **{p: _option(s) for p, s in per_source.items()}}.items()
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        options = {k: kwargs.pop(k) for k in COMMON}
        options |= {s.name: kwargs.pop(p) for p, s in per_source.items()}  # by config key
        with errors_to_exit():
            pipeline = build_pipeline(options)
            try:
                with store_errors(pipeline.config.cache_path):  # sqlite3 mid-run -> one line, exit 1
                    return fn(pipeline=pipeline, **kwargs)
            finally:
                pipeline.close()

    wrapper.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + shared}
    return wrapper


def build_pipeline(options: dict[str, Any]) -> Pipeline:
    level = "DEBUG" if options.pop("verbose") else (options.pop("log_level") or None)
    models = options.pop("models")
    overrides = {_FLAG_TO_CONFIG.get(k, k): v for k, v in options.items() if k != "config"}
    for flag in [name for name, (typ, _) in COMMON.items() if typ is bool and name in overrides]:
        if not overrides[flag]:  # an unset switch leaves the config's value
            overrides.pop(flag)
    if models:
        overrides["models"] = models_from_option(models)
    config = PipelineConfig.load(options["config"], overrides)
    if level:
        config.log_level = str(level)
    pipeline = Pipeline(config, declared_mappings(config.mappings_dir))
    setup_logging(config.log_level, pipeline.resolved.secrets)
    return pipeline
