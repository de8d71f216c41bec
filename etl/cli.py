"""The ``etl`` command. Only this module turns domain errors into messages and exit codes:
0 all written; 1 some models or sources failed, or a file is invalid; 2 usage, config, mapping or
template error; 3 ``--offline`` and the cache lacks a response.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import signal
import typing
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .config import PipelineConfig, models_from_folder, models_from_option
from .errors import UsageError
from .mappings import contract_gaps, fields_table, load_mappings
from .outcomes import ModelResult, all_failures, exit_code
from .pins import write_pins as write_pins_file
from .pipeline import Pipeline
from .report import Coverage, as_csv, as_html, as_json, as_table, build_coverage, diff_lines
from .sources import Sources
from .terminal import errors_to_exit, progress_for, recap, setup_logging

app = typer.Typer(
    help=(
        "Fill LLM model files (benchmarks, Arena Elo, Hugging Face popularity, prices, context, size, "
        "architecture) from public sources declared in mappings/*.yaml, with the provenance of every value.\n\n"
        "Stages: extract (network -> SQLite cache), transform (cache -> staged values, offline), "
        "load (validate and write <Name>_filled.json). `run` does all three.\n\n"
        "Try it offline: etl cache import cassettes/*.yaml && etl run -c examples/config.yaml --offline"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
mappings_app = typer.Typer(help="Check the mapping files.", no_args_is_help=True)
cache_app = typer.Typer(help="Manage the SQLite cache (import recorded cassettes).", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")
app.add_typer(cache_app, name="cache")
log = logging.getLogger("etl")


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


# ----- options shared by every command that runs the pipeline -----------------------------------
# Typer has no option groups, and a callback would move these options before the command name
# (`etl -c x run`), breaking the documented `etl run -c x`; so one decorator adds them to each
# command's signature and hands the command a ready Pipeline.
_P = "Pipeline"
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
            help="SQLite store (HTTP cache + staged values) (default: .etl/etl.sqlite).",
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
            help="Send no request: use the cache alone (exit 3 if it lacks a response).",
            rich_help_panel=_P,
        ),
    ),
    "overwrite": (
        bool,
        typer.Option(
            "--overwrite", help="Replace values already in the template (default: fill nulls only).", rich_help_panel=_P
        ),
    ),
    "refresh": (
        bool,
        typer.Option("--refresh", help="Ignore fresh cache entries and fetch again.", rich_help_panel=_P),
    ),
    "aa_key": (
        str | None,
        typer.Option(
            "--aa-key",
            help="Artificial Analysis key (better: ARTIFICIAL_ANALYSIS_API_KEY in the environment or .env).",
            rich_help_panel="Network",
        ),
    ),
    "hf_key": (
        str | None,
        typer.Option("--hf-key", help="Hugging Face token (better: HUGGINGFACE_API_KEY).", rich_help_panel="Network"),
    ),
    "max_retries": (
        int | None,
        typer.Option(
            "--max-retries", min=0, help="Retries on 429, 5xx, time-outs (default: 3).", rich_help_panel="Network"
        ),
    ),
    "rate_limit_aa": (
        float | None,
        typer.Option(
            "--rate-limit-aa", min=0.0001, help="Requests per second to Artificial Analysis.", rich_help_panel="Network"
        ),
    ),
    "rate_limit_hf": (
        float | None,
        typer.Option(
            "--rate-limit-hf", min=0.0001, help="Requests per second to Hugging Face.", rich_help_panel="Network"
        ),
    ),
    "timeout": (
        float | None,
        typer.Option("--timeout", min=0.1, help="Seconds per request (default: 30).", rich_help_panel="Network"),
    ),
    "log_level": (
        LogLevel | None,
        typer.Option("--log-level", case_sensitive=False, help="How much to log.", rich_help_panel="Output"),
    ),
    "verbose": (bool, typer.Option("--verbose", "-v", help="Same as --log-level DEBUG.", rich_help_panel="Output")),
}
_FLAG_TO_CONFIG = {
    "template": "template_path",
    "aa_key": "artificial_analysis_key",
    "hf_key": "huggingface_key",
}


def pipeline_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the shared options; it receives a ready ``Pipeline`` as ``pipeline``."""
    hints = typing.get_type_hints(fn, include_extras=True)  # resolve string annotations
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
        if p.name != "pipeline"
    ]
    shared = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[typ, opt], default=False if typ is bool else None
        )
        for name, (typ, opt) in COMMON.items()
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        options = {k: kwargs.pop(k) for k in COMMON}
        with errors_to_exit():
            pipeline = build_pipeline(options)
            try:
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
    for flag in ("offline", "overwrite", "refresh"):
        if not overrides[flag]:
            overrides.pop(flag)
    if models:
        overrides["models"] = models_from_option(models)
    config = PipelineConfig.load(options["config"], overrides)
    if level:
        config.log_level = str(level)
    pipeline = Pipeline(config)
    setup_logging(config.log_level, pipeline.resolved.secrets)
    return pipeline


# ----- commands ---------------------------------------------------------------------------------
@app.command()
@pipeline_command
def extract(pipeline: Pipeline) -> None:
    """Fetch every response the models need into the cache: each catalog once (all pages), each
    per-model source once per model. Fresh entries (within the TTL) are not fetched again."""
    if pipeline.config.offline:
        raise UsageError("--offline: extract is the stage that uses the network; drop --offline")
    with progress_for(pipeline.config.log_level) as bar:
        report = pipeline.extract(progress=bar)
    for line in report.skipped:
        typer.echo(line)
    typer.echo(f"{report.sent} request(s) sent; {len(report.failures)} failure(s)")
    for failure in report.failures:
        typer.echo(f"source failure: {failure}", err=True)
    raise typer.Exit(exit_code([], report.failures))


@app.command()
@pipeline_command
def transform(pipeline: Pipeline) -> None:
    """Match each model in each source and stage values with provenance, from the cache alone."""
    statuses = pipeline.transform()
    counts = Counter(str(status) for per_model in statuses.values() for status in per_model.values())
    typer.echo(f"{len(statuses)} model(s) staged; matches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    raise typer.Exit(1 if counts.get("failed") else 0)


@app.command()
@pipeline_command
def load(pipeline: Pipeline) -> None:
    """Merge staged values into each template (nulls only unless --overwrite), validate against
    schemas/model.schema.json, write <output_dir>/<Name>_filled.json atomically, print a recap."""
    raise typer.Exit(_recap(pipeline, pipeline.load()))


@app.command()
@pipeline_command
def run(pipeline: Pipeline) -> None:
    """extract + transform + load. With --offline: transform + load from the cache, zero requests."""
    with progress_for(pipeline.config.log_level) as bar:
        results = pipeline.run(progress=bar)
    for line in pipeline.last_extract.skipped if pipeline.last_extract else []:
        typer.echo(line)
    raise typer.Exit(_recap(pipeline, results))


def _recap(pipeline: Pipeline, results: list[ModelResult]) -> int:
    """Print the recap; the exit code. A failed refresh of a source that is still cached is in
    the extract report only (the stale copy filled the fields)."""
    failures = all_failures(results, pipeline.last_extract)
    recap(results, failures)
    return exit_code(results, failures)


@app.command()
@pipeline_command
def match(
    pipeline: Pipeline,
    write_pins: Annotated[
        Path | None,
        typer.Option("--write-pins", help="Write the ambiguous and unmatched models to this pins file to edit."),
    ] = None,
) -> None:
    """Show how each model was found in each source (from the cache): matched entry and method,
    or the candidates of an ambiguous name and the pin to write. With --write-pins, the open
    decisions go to a file you edit (an id, or false) and name in the config as pins_file."""
    models = pipeline.models()
    pipeline.transform(models)
    rows = [r for r in pipeline.store.matches() if r["model"] in {m.name for m in models}]
    if write_pins:
        coverage = _coverage(pipeline, models)
        left = write_pins_file(write_pins, coverage.pins, coverage.unmatched)
        typer.echo(f"{write_pins}: {left} decision(s) to make; then set pins_file: {write_pins} in the config")
    for row in rows:
        what = row["entry_id"] or ""
        if row["status"] == "matched":
            what = f"{row['entry_id']} ({row['entry_name']}) by {row['method']}"
        typer.echo(f"{row['model']:<28} {row['source']:<24} {row['status']:<10} {what} {row['note'] or ''}".rstrip())
        for cand in row["candidates"] or []:
            typer.echo(f"{'':<28} {'':<24} {'':<10} candidate: {cand['id']} ({cand['name']})")


@app.command()
@pipeline_command
def explain(
    pipeline: Pipeline,
    model: Annotated[str, typer.Argument(help="Model name as in the config or input folder.")],
    field: Annotated[str | None, typer.Argument(help="Field name, e.g. input_price (default: all).")] = None,
) -> None:
    """Where did a value come from? Source, URL, JSONPath, raw value, transform and fetch time,
    for the chosen value and every other candidate that had one."""
    rows = pipeline.store.staged(model, field)
    if not rows:
        known = pipeline.store.has_model(model)
        raise UsageError(
            f"{model}: no staged value{' for field ' + repr(field) if field else ''}; "
            + (
                "the field may have no source for this model (see `etl match`)"
                if known
                else "run `etl transform` (or `etl run`) for this model first"
            )
        )
    for r in rows:
        mark = ("chosen" if r["chosen"] else "also  ") + (", CONFLICT" if r.get("conflict") else "")
        typer.echo(f"{r['section']}.{r['field']} = {json.dumps(r['value'])}  [{mark}]")
        typer.echo(f"    source:     {r['source']} (entry {r['entry_id']})")
        typer.echo(f"    url:        {r['url']}")
        typer.echo(f"    jsonpath:   {r['path']}")
        typer.echo(f"    raw:        {json.dumps(r['raw'])}")
        typer.echo(f"    transform:  {r['transform']}")
        typer.echo(f"    fetched_at: {r['fetched_at']}")
        if r["context"] and any(v is not None for v in r["context"].values()):
            typer.echo(f"    context:    {json.dumps(r['context'])}")


def _coverage(pipeline: Pipeline, models: list) -> Coverage:
    names = [m.name for m in models]
    return build_coverage(
        pipeline.mappings,
        set(pipeline.sources),
        pipeline.store.matches_by_model(names),
        pipeline.store.staged_by_model(names),
    )


@app.command()
@pipeline_command
def coverage(
    pipeline: Pipeline,
    format: Annotated[Format, typer.Option("--format", "-f", help="What to print.")] = Format.TABLE,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The models x fields matrix, from the cache: what is filled (and from where), and why each
    empty cell is empty (ambiguous, failed, no key, not published, unmatched, source off, no source),
    with the pins to write. --format html gives one page to open in a browser."""
    renderers = {Format.TABLE: as_table, Format.JSON: as_json, Format.CSV: as_csv, Format.HTML: as_html}
    models = pipeline.models()
    pipeline.transform(models)
    text = renderers[format](_coverage(pipeline, models))
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{output}: coverage of {len(models)} model(s) written")
    else:
        typer.echo(text, nl=False)


@app.command()
@pipeline_command
def diff(pipeline: Pipeline) -> None:
    """What the last load changed since the load before it, per model and field: old -> new, and
    the source of the new value."""
    changes = pipeline.store.load_changes()
    for line in diff_lines(changes):
        typer.echo(line)
    typer.echo(f"{len(changes)} change(s) since the previous load")


def _pick(spec: str, count: int) -> list[int]:
    """'1,3-4' -> [0, 2, 3]; raises ValueError on anything else."""
    picked: list[int] = []
    for part in spec.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= count:
            raise ValueError(part)
        picked += range(first - 1, last)
    return sorted(set(picked))


@app.command()
def launch(
    cache_path: Annotated[
        Path | None, typer.Option("--cache-path", help="SQLite store (default: .etl/etl.sqlite).")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use the cache alone.")] = False,
) -> None:
    """Guided mode: keys (Enter to skip), the folder of model files, which models, the output
    folder, verbose or not; then the run and a recap of what was saved and what failed."""
    with errors_to_exit():
        typer.echo("Fill model files from public sources. Keys are optional; Enter skips.")
        aa_key = typer.prompt("Artificial Analysis API key", default="", hide_input=True, show_default=False)
        hf_key = typer.prompt("Hugging Face token", default="", hide_input=True, show_default=False)
        while True:
            folder = Path(typer.prompt("Folder of model JSON files", default="Models"))
            try:
                models = models_from_folder(folder, [])
                break
            except UsageError as exc:
                typer.echo(f"  {exc.problems[0]}")
        typer.echo(f"Found {len(models)} model(s):")
        for i, model in enumerate(models, 1):
            typer.echo(f"  {i}. {model.name}  ({model.template.name if model.template else ''})")
        if not typer.confirm(f"Fill all {len(models)}?", default=True):
            while True:
                try:
                    models = [models[i] for i in _pick(typer.prompt("Which ones (e.g. 1,3-4)"), len(models))]
                    break
                except ValueError:
                    typer.echo(f"  give numbers between 1 and {len(models)}, like 1,3-4")
        output = Path(typer.prompt("Output folder", default="filled_models"))
        verbose = typer.confirm("Verbose output?", default=False)
        overrides = {
            "artificial_analysis_key": aa_key or None,
            "huggingface_key": hf_key or None,
            "output_dir": output,
            "cache_path": cache_path,
            "offline": offline or None,
            "input_dir": folder,
        }
        config = PipelineConfig.load(None, overrides)
        config.log_level = "DEBUG" if verbose else "INFO"
        pipeline = Pipeline(config)
        setup_logging(config.log_level, pipeline.resolved.secrets)
        try:
            with progress_for(config.log_level) as bar:
                results = pipeline.run(pipeline.with_pins(models), progress=bar)
        finally:
            pipeline.close()
        typer.echo("")
        code = _recap(pipeline, results)
        saved = [r for r in results if r.output]
        typer.echo(f"Saved {len(saved)} file(s) in {output}; {len(results) - len(saved)} failed.")
        raise typer.Exit(code)


@mappings_app.command("check")
def mappings_check(
    folder: Annotated[Path | None, typer.Argument(help="Mappings folder (default: the shipped mappings/).")] = None,
) -> None:
    """Validate every mapping file against schemas/mapping.schema.json (all problems at once),
    compile every JSONPath, and check that every field of the output contract is listed."""
    with errors_to_exit():
        mappings = load_mappings(folder)
        gaps = contract_gaps(mappings)
        if gaps:
            raise UsageError(gaps)
        fields = mappings.fields()
        mapped = sum(1 for _, _, c in fields if c)
        typer.echo(
            f"ok: {len(mappings.sources)} sources, {len(fields)} fields "
            f"({mapped} with candidates, {len(fields) - mapped} with no source yet)"
        )


@mappings_app.command("table")
def mappings_table(
    folder: Annotated[Path | None, typer.Argument(help="Mappings folder (default: the shipped mappings/).")] = None,
) -> None:
    """Print the Markdown table of every field: sources in order, JSONPath, transform, variant
    (the shipped one is mappings/FIELDS.md)."""
    with errors_to_exit():
        typer.echo(fields_table(load_mappings(folder)), nl=False)


@cache_app.command("import")
def cache_import(
    cassettes: Annotated[list[Path], typer.Argument(help="vcrpy cassette files (e.g. cassettes/*.yaml).")],
    cache_path: Annotated[
        Path | None, typer.Option("--cache-path", help="SQLite store (default: .etl/etl.sqlite).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config file (for cache_path).")] = None,
) -> None:
    """Load recorded responses into the cache so `etl run --offline` can replay them."""
    from .cassettes import import_cassettes

    with errors_to_exit():
        cfg = PipelineConfig.load(config, {"cache_path": cache_path})
        missing = [str(p) for p in cassettes if not p.is_file()]
        if missing:
            raise UsageError([f"{p}: cassette not found; check the path" for p in missing])
        sources = Sources(load_mappings(cfg.mappings_dir), cfg)
        counts = import_cassettes(cassettes, cfg.cache_path, cfg.cache_ttl_hours, sources)
        typer.echo(
            f"{cfg.cache_path}: {counts['cached']} response(s) cached, {counts['redirects']} redirect(s), "
            f"{counts['not_found']} not-found noted, from {len(cassettes)} cassette(s)"
        )


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same clean path as Ctrl-C


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()
