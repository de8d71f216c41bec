"""The ``etl`` command. Only this module turns domain errors into messages and exit codes (the
values are etl/errors.py's ``ExitCode``): 0 every file written or already up to date; 1 some models
or sources failed, or a file is invalid; 2 usage, config, mapping or template error; 3 incomplete:
offline, the cache lacks responses, every other file was written (`etl cache missing` lists them).
Every command formats what the Python API (etl/pipeline.py) returns.
"""

from __future__ import annotations

import inspect
import json
import logging
import signal
import stat
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..declared.config import PipelineConfig
from ..declared.fields_doc import assumed, contract_gaps, fields_table
from ..declared.mappings import load_mappings
from ..declared.pins import write_pins as write_pins_file
from ..declared.sources import Sources
from ..errors import ExitCode, UsageError, printable
from ..load import write_atomic
from ..matching.matching import MatchMethod
from ..pipeline import Pipeline
from ..results.outcomes import ModelResult, all_failures, exit_code
from ..results.todo import todo_skeleton, todo_update
from ..store.storefile import store_errors
from .options import STORE_HELP, pipeline_command
from .report import as_csv, as_html, as_json, as_table, diff_lines
from .terminal import ask_launch, errors_to_exit, progress_for, recap, setup_logging

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


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


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
        typer.echo(printable(line))
    typer.echo(f"{report.sent} request(s) sent; {len(report.failures)} failure(s)")
    for failure in report.failures:
        typer.echo(printable(f"source failure: {failure}"), err=True)
    raise typer.Exit(exit_code([], report.failures))


@app.command()
@pipeline_command
def transform(pipeline: Pipeline) -> None:
    """Match each model in each source and stage values with provenance, from the cache alone."""
    statuses = pipeline.transform()
    counts = Counter(str(status) for per_model in statuses.values() for status in per_model.values())
    typer.echo(f"{len(statuses)} model(s) staged; matches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if pipeline.last_missing:
        typer.echo(
            f"incomplete: the cache lacks {len(pipeline.last_missing)} response(s); `etl cache missing` lists them"
        )
    code = ExitCode.FAILED if counts.get("failed") else ExitCode.INCOMPLETE if pipeline.last_missing else ExitCode.OK
    raise typer.Exit(code)


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
        typer.echo(printable(line))
    raise typer.Exit(_recap(pipeline, results))


def _recap(pipeline: Pipeline, results: list[ModelResult]) -> int:
    """Print the recap; the exit code. A failed refresh of a source that is still cached is in
    the extract report only (the stale copy filled the fields)."""
    failures = all_failures(results, pipeline.last_extract)
    missing = pipeline.last_missing
    recap(results, failures, pipeline.config.cache_path, missing)
    return exit_code(results, failures, pipeline.config.require_scoreable, missing)


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
    if write_pins:
        writable(write_pins)
    models = pipeline.models()
    rows = pipeline.matches(models)
    if write_pins:
        coverage = pipeline.coverage(models)
        discovered: dict[str, dict[str, tuple[str, str]]] = {}
        for row in rows:
            if row["status"] == "matched" and row["method"] == MatchMethod.DISCOVERED:
                discovered.setdefault(row["model"], {})[row["source"]] = (row["entry_id"], row["note"])
        left = write_pins_file(write_pins, coverage.pins, coverage.unmatched, discovered)
        typer.echo(f"{write_pins}: {left} decision(s) to make; then set pins_file: {write_pins} in the config")
    pad = " " * 64
    for row in rows:
        what = row["entry_id"] or ""
        if row["status"] == "matched":
            what = f"{row['entry_id']} ({row['entry_name']}) by {row['method']}"
        line = f"{row['model']:<28} {row['source']:<24} {row['status']:<10} {what} {row['note'] or ''}"
        typer.echo(printable(line.rstrip()))  # entry ids and names are upstream text
        for cand in row["candidates"] or []:
            typer.echo(printable(f"{pad}candidate: {cand['id']} ({cand['name']})"))
        for near in row["nearest"] or []:
            typer.echo(printable(f"{pad}nearest: {near['id']} ({near['name']}): {near['reason']}"))


@app.command()
@pipeline_command
def explain(
    pipeline: Pipeline,
    model: Annotated[str, typer.Argument(help="Model name as in the config or input folder.")],
    field: Annotated[str | None, typer.Argument(help="Field name, e.g. input_price (default: all).")] = None,
) -> None:
    """Where did a value come from? Source, URL, JSONPath, raw value, transform and fetch time,
    for the chosen value and every other candidate that had one."""
    rows = pipeline.explain(model, field)
    for r in rows:
        mark = ("chosen" if r["chosen"] else "also") + (", CONFLICT" if r.get("conflict") else "")
        if r.get("rejected"):
            mark = f"REJECTED: {r['rejected']}"
        lines = [
            f"{r['section']}.{r['field']} = {json.dumps(r['value'])}  [{mark}]",
            f"    source:     {r['source']}" + ("" if r["entry_id"] is None else f" (entry {r['entry_id']})"),
            f"    url:        {r['url']}",
            f"    jsonpath:   {r['path']}",
            f"    raw:        {json.dumps(r['raw'])}",
            f"    transform:  {r['transform']}",
            f"    fetched_at: {r['fetched_at']}",
        ]
        if r["context"] and any(v is not None for v in r["context"].values()):
            lines.append(f"    context:    {json.dumps(r['context'])}")
        for line in lines:  # entry ids, URLs, rejections: upstream text
            typer.echo(printable(line))


@app.command()
@pipeline_command
def coverage(
    pipeline: Pipeline,
    format: Annotated[Format, typer.Option("--format", "-f", help="What to print.")] = Format.TABLE,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The models x fields matrix, from the cache: what is filled (and from where), and why each
    empty cell is empty (ambiguous, failed, not cached, rejected, no key, not published, unmatched,
    source off, no source),
    with the pins to write. --format html gives one page to open in a browser."""
    renderers = {Format.TABLE: as_table, Format.JSON: as_json, Format.CSV: as_csv, Format.HTML: as_html}
    if output:
        writable(output)
    models = pipeline.models()
    text = renderers[format](pipeline.coverage(models))
    if output:
        write_atomic(output, text)
        typer.echo(f"{output}: coverage of {len(models)} model(s) written")
    else:
        typer.echo(text, nl=False)


@app.command()
@pipeline_command
def todo(
    pipeline: Pipeline,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Write the list as a values file to fill in (decisions already there are kept)."),
    ] = None,
) -> None:
    """What keeps each model from being scoreable by the consumer (LLMScoreEngine): the missing or
    out-of-range fields, with the sources tried and why each was empty. With --write FILE, a
    values-file skeleton: fill each `value` with its `source` citation and name the file as
    values_file in the config; the next run stages them as the source `manual`."""
    if write:
        writable(write)
    items = pipeline.todo()
    blocking: dict[str, list[tuple[str, list[str]]]] = {}
    ambiguous: dict[tuple[str, str], tuple[list[str], list[dict[str, Any]]]] = {}
    for item in items:
        if item.pins:  # a pin lets the source fill it: proposed first, not asked by hand
            for source, cands in item.pins.items():
                ambiguous.setdefault((item.model, source), ([], cands))[0].append(item.field)
        else:
            blocking.setdefault(item.model, []).append((item.field, item.tried))
    pins = [_pin_line(model, source, fields, cands) for (model, source), (fields, cands) in ambiguous.items()]
    existing = write.read_text(encoding="utf-8") if write and write.is_file() else None
    text = (existing is not None and todo_update(existing, blocking)) or todo_skeleton(write, blocking)
    fields = sum(len(v) for v in blocking.values())
    if pins:
        pins.append("Write them with `etl match --write-pins pins.yaml` (then pins_file: pins.yaml), and run again.")
    if write:
        target = write.resolve()  # a link stays a link (the file it points to is written), and keeps its mode
        write_atomic(target, text, stat.S_IMODE(target.stat().st_mode) if target.is_file() else None)
        for line in pins:
            typer.echo(printable(line))  # candidates' ids and names: upstream text
        typer.echo(f"{write}: {fields} field(s) to fill for {len(blocking)} model(s); then set values_file: {write}")
    else:
        typer.echo("".join(f"# {printable(line)}\n" for line in pins) + text, nl=False)


def _pin_line(model: str, source: str, fields: list[str], cands: list[dict[str, Any]]) -> str:
    ids = ", ".join(f"{c['id']} ({c['name']})" for c in cands)
    return (
        f"pin first: {model} is ambiguous in {source}, which fills {', '.join(fields)}: "
        f"ids: {{{source}: <id>}}; candidates: {ids}"
    )


def writable(path: Path) -> Path:
    """Refuse, before any work, a report path that cannot be written: one line saying why."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist; create it or choose another path")
    return path


@app.command()
@pipeline_command
def diff(pipeline: Pipeline) -> None:
    """What the last load changed since the load before it, per model and field: old -> new, and
    the source of the new value."""
    changes = pipeline.changes()
    for line in diff_lines(changes):
        typer.echo(printable(line))
    typer.echo(f"{len(changes)} change(s) since the previous load")


@app.command()
def launch(
    cache_path: Annotated[Path | None, typer.Option("--cache-path", help=STORE_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use the cache alone.")] = False,
) -> None:
    """Guided mode: keys (Enter to skip), the folder of model files, which models, the output
    folder, verbose or not; then the run and a recap of what was saved and what failed."""
    with errors_to_exit():
        answers, models = ask_launch()
        config = PipelineConfig.load(None, {**answers, "cache_path": cache_path, "offline": offline or None})
        pipeline = Pipeline(config)
        setup_logging(config.log_level, pipeline.resolved.secrets)
        try:
            with progress_for(config.log_level) as bar, store_errors(config.cache_path):
                results = pipeline.run(pipeline.with_pins(models), progress=bar)
        finally:
            pipeline.close()
        typer.echo("")
        code = _recap(pipeline, results)
        saved = [r for r in results if r.output]
        typer.echo(f"Saved {len(saved)} file(s) in {config.output_dir}; {len(results) - len(saved)} failed.")
        raise typer.Exit(code)


@mappings_app.command("check")
def mappings_check(
    folder: Annotated[Path | None, typer.Argument(help="Mappings folder (default: the shipped mappings/).")] = None,
    list_assumed: Annotated[
        bool, typer.Option("--assumed", help="List every candidate whose variant is assumed, with why it is safe.")
    ] = False,
) -> None:
    """Validate every mapping file against schemas/mapping.schema.json (all problems at once),
    compile every JSONPath, and check that every field of the output contract is listed."""
    with errors_to_exit():
        mappings = load_mappings(folder)
        gaps = contract_gaps(mappings)
        if gaps:
            raise UsageError(gaps)
        if list_assumed:
            lines = assumed(mappings)
            for line in lines:
                typer.echo(line)
            typer.echo(f"{len(lines)} candidate(s) assume their variant or a detail of it (each says why)")
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
    cache_path: Annotated[Path | None, typer.Option("--cache-path", help=STORE_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config file (for cache_path).")] = None,
) -> None:
    """Load recorded responses into the cache so `etl run --offline` can replay them."""
    from ..http.cassettes import import_cassettes

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


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@cache_app.command("missing")
@pipeline_command
def cache_missing(
    pipeline: Pipeline,
    format: Annotated[
        ListFormat, typer.Option("--format", "-f", help="table, or json for scripts.")
    ] = ListFormat.TABLE,
) -> None:
    """List every response an offline run needs and the cache lacks (source, URL, the models
    waiting for it). Exit 3 when there is one (`etl extract` fetches them), 0 when none."""
    missing = pipeline.missing()
    if format is ListFormat.JSON:
        typer.echo(json.dumps([m.as_dict() for m in missing], indent=2, ensure_ascii=False))
    else:
        for m in missing:
            typer.echo(f"{m.source} {m.url}  ({', '.join(m.models)})")
        typer.echo(f"{len(missing)} response(s) not in the cache {pipeline.config.cache_path}")
    raise typer.Exit(ExitCode.INCOMPLETE if missing else ExitCode.OK)


def _rewrap(typer_app: typer.Typer) -> None:
    """Help text from each docstring with its source line breaks removed, so rich wraps it to the
    terminal (the panel of `etl --help` shows the first paragraph)."""
    for info in typer_app.registered_commands:
        paragraphs = [" ".join(p.split()) for p in (inspect.getdoc(info.callback) or "").split("\n\n")]
        info.help = info.help or "\n\n".join(paragraphs)
        info.short_help = info.short_help or paragraphs[0]
    for group in typer_app.registered_groups:
        _rewrap(group.typer_instance)


_rewrap(app)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same clean path as Ctrl-C


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()
