"""What the terminal shows: logging (keys redacted), progress bars, the per-model recap, and domain
errors turned into one-line messages and exit codes. Kept apart from the commands in cli.py."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from ..declared.config import ModelInfo, models_from_folder
from ..declared.per_source import SettingKind, declared_settings
from ..errors import INTERRUPTED, EtlError, ExitCode, UsageError, printable
from ..results.outcomes import Failure, Missing, ModelResult, ModelStatus, Progress


class _SecretFilter(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = printable(message), ()  # upstream text never moves the cursor
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(level: str, secrets: list[str]) -> None:
    """One line per record on stderr, every key of every source redacted."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_SecretFilter(secrets))
    for name in ("etl", "requests_cache", "urllib3"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level if name == "etl" else max(logging.WARNING, logging.getLevelName(level)))
        logger.propagate = False


class BarProgress(Progress):
    """A rich progress bar per source (requests done / total, and the wait when rate-limited) and
    per stage; used only on a terminal and at INFO or DEBUG."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self.bars = Bars(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bars.stop()

    def start(self, task: str, total: int | None) -> None:
        self.tasks[task] = self.bars.add_task(task, total=total, note="")

    def advance(self, task: str) -> None:
        self.bars.update(self.tasks[task], advance=1, note="")

    def note(self, task: str, text: str) -> None:
        if task in self.tasks:
            self.bars.update(self.tasks[task], note=text)

    def done(self, task: str, text: str = "") -> None:
        if task not in self.tasks:
            self.start(task, 1)
        self.bars.update(
            self.tasks[task],
            completed=self.bars.tasks[self.tasks[task]].total or 1,
            total=self.bars.tasks[self.tasks[task]].total or 1,
            note=text,
        )


def progress_for(log_level: str) -> Any:
    """A bar on a terminal at INFO or DEBUG; otherwise the default (a log line now and then)."""
    if sys.stderr.isatty() and log_level in ("INFO", "DEBUG"):
        return BarProgress()
    return contextlib.nullcontext(None)


@contextlib.contextmanager
def errors_to_exit() -> Iterator[None]:
    """Domain errors -> one line each on stderr and their exit code; Ctrl-C -> 130, nothing partial."""
    try:
        yield
    except EtlError as exc:
        lines = exc.problems if isinstance(exc, UsageError) else [str(exc)]
        for line in lines:
            typer.echo("error: " + printable(" ".join(str(line).splitlines())), err=True)  # one line each, always
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(INTERRUPTED, err=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None


#: above this many models the recap lists only the models with a problem, plus totals per source
RECAP_DETAIL_LIMIT = 50


def recap(
    results: list[ModelResult], failures: list[Failure], store: Path | None = None, missing: list[Missing] | None = None
) -> None:
    """Print the per-model recap (only the models with a problem beyond RECAP_DETAIL_LIMIT, plus
    totals per source), the run's totals by the same counts, the store used, every failure once
    and, offline, how many responses the cache lacked."""
    detailed = len(results) <= RECAP_DETAIL_LIMIT
    for r in results:
        if detailed or not r.saved or r.not_cached:
            _model_lines(r)
    if not detailed:
        totals: dict[str, Counter[str]] = {}
        for r in results:
            for status, names in r.sources.items():
                for name in names:
                    totals.setdefault(name, Counter())[status] += 1
        for name, counts in sorted(totals.items()):
            typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    statuses = Counter(r.status for r in results)
    saved = [r for r in results if r.saved]
    failed_sources = len(failures)  # the failures printed below (a catalog's counts once, not per model)
    scoreable = [r for r in saved if r.verdict and r.verdict.scoreable]
    thin = sum(bool(r.verdict.thin) for r in scoreable if r.verdict)
    kept, removed = sum(len(r.kept) for r in results), sum(len(r.removed) for r in results)
    losses = (f"; {kept} value(s) kept from the last load" if kept else "") + (
        f"; {removed} removed" if removed else ""
    )
    filled, fillable = sum(r.filled for r in saved), sum(r.fillable for r in saved)
    typer.echo(
        f"{statuses[ModelStatus.WRITTEN]} written, {statuses[ModelStatus.UNCHANGED]} unchanged, "
        f"{len(results) - len(saved)} failed; {filled}/{fillable} fields filled; {failed_sources} source failure(s); "
        f"{len(scoreable)}/{len(saved)} scoreable" + (f" ({thin} thin)" if thin else "") + losses
    )
    if store is not None:
        typer.echo(f"store: {store}")
    lacked = len(missing or []) or len({url for r in results for url in r.not_cached})
    if lacked:
        typer.echo(
            f"incomplete: the cache lacks {lacked} response(s) (cells `not cached`): `etl cache missing` "
            "lists them; `etl extract` (with network) fetches them"
        )
    for failure in failures:
        typer.echo(printable(f"source failure: {failure}"), err=True)


_STATUS_LABEL = {
    ModelStatus.WRITTEN: "ok  ",
    ModelStatus.UNCHANGED: "ok  ",
    ModelStatus.INVALID: "INVALID",
    ModelStatus.FAILED: "FAILED",
}


def _model_lines(r: ModelResult) -> None:
    parts = ", ".join(f"{k} {len(v)} ({', '.join(v)})" for k, v in sorted(r.sources.items()))
    typer.echo(
        f"{_STATUS_LABEL[r.status]} {r.model}: {r.filled}/{r.fillable} fields filled; sources: {parts or 'none'}"
    )
    if r.output:
        typer.echo(
            f"      -> {r.output}" + (" (unchanged: not rewritten)" if r.status == ModelStatus.UNCHANGED else "")
        )
    if r.verdict is not None:
        typer.echo(f"      {r.verdict.label}" + (": `etl todo` lists what is missing" if r.verdict.reasons else ""))
        for reason in r.verdict.reasons:
            typer.echo(f"        {reason}")
    if r.conflicts:
        typer.echo(f"      conflicts (first source kept; `etl explain` shows both): {', '.join(r.conflicts)}")
    if r.kept:
        typer.echo(
            f"      kept from the last load (no source gives them now; --allow-removals drops them): {', '.join(r.kept)}"
        )
    if r.removed:
        typer.echo(f"      removed (--allow-removals; `etl diff` lists them): {', '.join(r.removed)}")
    for url in r.not_cached:
        typer.echo(f"      not cached (`etl cache missing` lists every one): {url}")
    for line in (r.error or "").splitlines():
        typer.echo(printable(f"      error: {line}"))


# ----- guided mode ------------------------------------------------------------------------------
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


def ask_launch() -> tuple[dict[str, Any], list[ModelInfo]]:
    """The guided mode's questions: keys (hidden), folder, which models, output folder, verbosity.
    Returns the config overrides and the chosen models."""
    typer.echo("Fill model files from public sources. Keys are optional; Enter skips.")
    keys = {
        s.name: typer.prompt(s.label, default="", hide_input=True, show_default=False) or None
        for s in declared_settings().values()
        if s.kind is SettingKind.KEY
    }
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
    answers = {
        **keys,
        "output_dir": output,
        "input_dir": folder,
        "log_level": "DEBUG" if verbose else "INFO",
    }
    return answers, models
