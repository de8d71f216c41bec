"""Load: merge each model's chosen values into its template, validate the result against the
output contract (schemas/model.schema.json, every problem listed), and write it atomically.

Only fields that are null in the template are filled, unless ``overwrite``. One failing model
does not stop the batch. Each load also writes the attribution file the sources ask for, and
records what it wrote so ``etl diff`` can tell what changed.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .declared.config import ModelInfo, PipelineConfig
from .declared.files import read_structured
from .declared.mappings import Mappings
from .declared.validation import schema_problems
from .declared.values import MANUAL_SOURCE
from .errors import EtlError, UsageError, WriteFailed
from .results.consumer import verdict
from .results.outcomes import Failure, ModelResult, ModelStatus, Progress, Reason
from .results.writes import (
    ATTRIBUTION_FILE,
    ATTRIBUTION_STEM,
    check_folder,
    remove_stale_temps,
    write_atomic,
    write_attribution,
    write_problem,
)
from .store.store import LoadedFrom, Store
from .store.workers import Workers, worker_count

log = logging.getLogger("etl")
Chosen = dict[tuple[str, str], Any]  # (section, field) -> value


@dataclass
class LoadBatch:
    """What loading some models gives (etl/store/workers.py sends it back from a worker): each model's
    result, the rows recording what was written, and the sources the written values came from."""

    results: list[ModelResult] = field(default_factory=list)
    load_rows: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)


class Loader:
    def __init__(self, config: PipelineConfig, mappings: Mappings, active: set[str], store: Store):
        self.config, self.mappings, self.active, self.store = config, mappings, active, store
        self._shared: dict[str, Any] | None = None  # the shared template of the current run

    @functools.cached_property
    def fillable_fields(self) -> list[tuple[str, str]]:
        """Fields with a candidate from an active source: what any model can get from the sources."""
        return sorted({(s, f) for s, f, c in self.mappings.fields() if any(x.source in self.active for x in c)})

    def model_fields(self, chosen: Chosen, last: dict | None = None) -> list[tuple[str, str]]:
        """What one model can get: the sources' fields, plus every field it has a staged value for
        (a hand-entered value fills a field no active source covers: that is what the values file
        is for), plus every field the last load wrote for it (so a value kept or removed is seen)."""
        extra = set(chosen) | {tuple(name.split(".", 1)) for name in last or ()}
        return sorted(set(self.fillable_fields) | extra) if extra - set(self.fillable_fields) else self.fillable_fields

    # ----- templates ----------------------------------------------------------------------------
    def load_template(self, path: Path | str | None = None) -> dict[str, Any]:
        """Read and check a template: a JSON object whose sections are objects."""
        path = Path(path) if path else self.config.template_path
        if path is None:
            raise UsageError("no template: pass --template FILE, set template_path in the config, or use --input-dir")
        data = read_structured(Path(path))
        if not isinstance(data, dict):
            raise UsageError(f"{path}: (top level): a template is a JSON object of sections; fix the file")
        problems = [
            f"{path}: {section}: expected an object of fields, got {type(data[section]).__name__}; "
            'write {"field": null, ...}'
            for section in self.mappings.sections
            if section in data and not isinstance(data[section], dict)
        ]
        if problems:
            raise UsageError(problems)
        return data

    def check_templates(self, models: list[ModelInfo]) -> None:
        """Read every template the models use; raise one UsageError listing every broken one."""
        problems: list[str] = []
        paths = {m.template for m in models}
        for path in paths:
            try:
                self.load_template(path)
            except UsageError as exc:
                problems += exc.problems
        if problems:
            raise UsageError(problems)

    def fill(self, template: dict[str, Any], model: ModelInfo, chosen: Chosen | None = None) -> tuple[dict, int, int]:
        """Merge the model's chosen values into a copy of the template: (data, filled, fillable)."""
        # only section fields are set, so a two-level copy is enough (0.7 us a template; deepcopy: 37 us)
        data = {k: ({**v} if isinstance(v, dict) else copy.deepcopy(v)) for k, v in template.items()}
        if chosen is None:
            rows = self.store.staged_by_model([model.name]).get(model.name, [])
            chosen = {(r["section"], r["field"]): r["value"] for r in rows}
        for section, fname in self.model_fields(chosen):
            fields = data.setdefault(section, {})
            if fields.get(fname) is not None and not self.config.overwrite:
                continue
            if (section, fname) in chosen:  # a hand-entered null with a citation blanks the field
                fields[fname] = chosen[(section, fname)]
        return (data, *self.count(data, chosen))

    def count(self, data: dict[str, Any], chosen: Chosen) -> tuple[int, int]:
        """The one definition the recap, the run total and coverage share: (filled, fillable).
        Fillable: a field some active source can fill, or one with a staged (hand-entered) value
        for this model; filled: such a field with a value in the file (whoever gave it: a source,
        the values file, the template, the last load)."""
        fields = self.model_fields(chosen)
        filled = sum(isinstance(data.get(s), dict) and data[s].get(f) is not None for s, f in fields)
        return filled, len(fields)

    def target(self, model: ModelInfo) -> Path:
        """Where a model's file goes: its own file in place, else ``output_dir/output_name``."""
        if self.config.in_place and model.template is not None:
            return model.template
        return self.config.output_dir / self.config.output_name.format(name=model.file_stem)

    def check_targets(self, models: list[ModelInfo]) -> None:
        """Before any request: in-place needs model files, no output may overwrite an input, and
        each output folder must be a writable folder holding names of that length. Temp files a
        killed run left there are removed."""
        if self.config.in_place:
            problems = [
                f"--in-place: model {m.name!r} has no file of its own (it comes from the config); "
                "use --input-dir with in-place, or drop --in-place"
                for m in models
                if m.template is None
            ]
        else:
            inputs = {m.template.resolve(): m.name for m in models if m.template}
            if self.config.template_path:
                inputs[Path(self.config.template_path).resolve()] = "the shared template"
            problems = [
                f"{self.target(m)}: would overwrite the input file of {inputs[self.target(m).resolve()]!r}; "
                "pass --in-place to fill the model files themselves, or choose another --output-dir or output_name"
                for m in models
                if self.target(m).resolve() in inputs
            ]
        if problems:
            raise UsageError(problems)
        by_folder: dict[Path, list[tuple[str, Path]]] = {}
        for model in models:
            target = self.target(model)
            by_folder.setdefault(target.parent, []).append((model.name, target))
        for folder, targets in by_folder.items():
            problems += check_folder(folder, targets, backups=self.config.in_place)
        attribution = self.attribution_path()
        if attribution.parent not in by_folder and check_folder(attribution.parent, [], backups=False):
            problems.append(
                f"{attribution}: cannot write the attribution file there; set attribution_file in the config "
                "to a path in a writable folder"
            )
        if problems:
            raise UsageError(problems)
        for folder, targets in by_folder.items():
            remove_stale_temps(folder, [t.stem for _, t in targets] + [t.name for _, t in targets] + [ATTRIBUTION_STEM])

    def save(self, model: ModelInfo, data: dict[str, Any]) -> Path:
        """Write the model's file atomically (temp file, then rename); in place, the original is
        kept once as ``<file>.bak``. An unchanged file is not rewritten."""
        self._save(model, data)
        return self.target(model)

    def _save(self, model: ModelInfo, data: dict[str, Any], template: dict[str, Any] | None = None) -> bool:
        """Write the file unless it already says this; True when it was written. In place, a
        file the run adds nothing to (``data == template``) is left alone: same bytes, same mtime,
        no ``.bak``, even when our formatting would differ from the user's."""
        target = self.target(model)
        in_place = self.config.in_place and target == model.template
        if in_place and template is not None and data == template and target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=4, ensure_ascii=False, allow_nan=False) + "\n"
        if target.is_file() and target.read_text(encoding="utf-8", errors="replace") == text:
            return False
        mode = None
        if in_place:
            backup = target.with_name(target.name + ".bak")
            # the user's file keeps its mode (its backup too), and a link stays a link: the file it
            # points to is filled
            target, mode = target.resolve(), stat.S_IMODE(target.stat().st_mode)
            if not backup.exists():
                write_atomic(backup, target.read_bytes(), mode)  # the original, byte for byte (CRLF too)
        # rename is atomic: an interrupted run never leaves half a file. No fsync per file: it
        # tripled the time of a 10,000-model load, and outputs are regenerable from the store.
        write_atomic(target, text, mode)
        return True

    def attribution_path(self) -> Path:
        """Where ATTRIBUTION.md goes: the config's ``attribution_file``; else next to the outputs;
        in place, beside the model folder (``Models_ATTRIBUTION.md``), never among the model files."""
        if self.config.attribution_file is not None:
            return Path(self.config.attribution_file)
        if self.config.in_place and self.config.input_dir:
            folder = Path(self.config.input_dir).resolve()
            return folder.parent / f"{folder.name}_{ATTRIBUTION_FILE}"
        return self.config.output_dir / ATTRIBUTION_FILE

    # ----- the stage ----------------------------------------------------------------------------
    def run(self, models: list[ModelInfo], progress: Progress) -> list[ModelResult]:
        """Merge, validate and write every model, in batches (flat memory at 10,000 models), on
        worker processes for a large run (etl/store/workers.py); this process records each batch's load."""
        progress.start("load", len(models))
        self._shared = self.load_template() if any(m.template is None for m in models) else None
        results: list[ModelResult] = []
        used: set[str] = set()

        def reopen() -> None:  # in a worker: its own connection to the store
            self.store = Store(self.store.path)

        # continue_on_error false stops at the first failed model: one process, model after model
        count = worker_count(len(models), self.config.workers) if self.config.continue_on_error else 1
        with Workers(self._batch, count, start=reopen) as workers:
            for part in workers.map(models):
                self.store.record_load(part.load_rows)
                results += part.results
                used |= part.used
                for _ in part.results:
                    progress.advance("load")
        if used - {MANUAL_SOURCE}:
            try:
                write_attribution(self.attribution_path(), self.mappings, used - {MANUAL_SOURCE})
            except OSError as exc:  # the models are written; say why their attribution is not
                log.error("%s", write_problem(self.attribution_path(), exc, "the attribution file"))
        return results

    def _batch(self, chunk: list[ModelInfo]) -> LoadBatch:
        """Fill, validate and write some models (here or in a worker)."""
        names = [m.name for m in chunk]
        staged, matches = self.store.staged_by_model(names), self.store.matches_by_model(names, outcome_only=True)
        last = self.store.last_loaded(names)
        part = LoadBatch()
        for model in chunk:
            rows = staged.get(model.name, [])
            result, data = self._model(model, rows, matches.get(model.name), self._shared, last.get(model.name, {}))
            part.results.append(result)
            if result.saved:
                by_field = {f"{r['section']}.{r['field']}": r for r in rows}
                part.load_rows += self._loaded_values(model, data, by_field, last.get(model.name, {}), result)
                part.used |= {r["source"] for r in rows}
        return part

    def _model(
        self, model: ModelInfo, rows: list[dict], matches: list[dict] | None, shared: dict | None, last: dict
    ) -> tuple[ModelResult, dict[str, Any]]:
        result = ModelResult(model.name, ModelStatus.FAILED, conflicts=[_name(r) for r in rows if r["conflict"]])
        data: dict[str, Any] = {}
        for row in matches or []:
            not_cached = row.get("reason") == Reason.NOT_CACHED
            result.sources.setdefault(Reason.NOT_CACHED if not_cached else row["status"], []).append(row["source"])
            if not_cached and row["url"] not in result.not_cached:
                result.not_cached.append(row["url"])
            if row["status"] == "failed" and row["note"]:
                result.failures.append(Failure(row["source"], row["note"], row["url"]))
        try:
            if matches is None:
                raise EtlError(f"{model.name}: no staged values; run `etl transform` first")
            template = self.load_template(model.template) if model.template else shared
            chosen = {(r["section"], r["field"]): r["value"] for r in rows}
            data, result.filled, result.fillable = self.fill(template, model, chosen)
            self._keep_lost(model, template, data, chosen, last, result)
            result.filled, result.fillable = self.count(data, chosen)  # kept values are in the file too
            where = str(model.template or self.config.template_path)
            problems = schema_problems("model.schema.json", data, f"{model.name} (from {where})")
            if problems:
                result.status, result.error = ModelStatus.INVALID, "\n".join(problems)
            else:
                try:
                    written = self._save(model, data, template)
                except OSError as exc:  # disk full, read-only, immutable: this model failed, the batch goes on
                    raise WriteFailed(write_problem(self.target(model), exc)) from None
                result.output = str(self.target(model))
                result.status = ModelStatus.WRITTEN if written else ModelStatus.UNCHANGED
                result.verdict = verdict(data, self.config.consumer_schema)
        except EtlError as exc:  # a broken template, a model never transformed, a file that cannot
            result.status, result.error = ModelStatus.FAILED, str(exc)  # be written: this model only
            if not self.config.continue_on_error:
                raise
        return result, data

    def _keep_lost(
        self, model: ModelInfo, template: dict, data: dict, chosen: Chosen, last: dict, result: ModelResult
    ) -> None:
        """A value the last load wrote that nothing gives now (a source dropped the model, a refresh
        came back smaller) is kept, unless allow_removals: one bad refresh never erases data. A
        field blanked on purpose (a hand-entered null) is not a loss, nor is a hand-entered value
        the user deleted; and only what was written to this same file counts."""
        target = str(self.target(model))
        for sec, fld in self.model_fields(chosen, last):
            name = f"{sec}.{fld}"
            if name not in last or (sec, fld) in chosen or data.get(sec, {}).get(fld) is not None:
                continue
            if (template.get(sec) or {}).get(fld) is not None and not self.config.overwrite:
                continue
            if last[name].get("target") not in (None, target):
                continue  # written to another file (another config's output): not this file's value
            if self.config.allow_removals or last[name]["source"].source == MANUAL_SOURCE:
                result.removed.append(name)
            else:
                data.setdefault(sec, {})[fld] = last[name]["value"]
                result.kept.append(name)

    def _loaded_values(
        self, model: ModelInfo, data: dict[str, Any], rows: dict[str, dict], last: dict, result: ModelResult
    ) -> list[dict[str, Any]]:
        """What was written for one model (and to which file), field by field, for ``etl diff``
        and the next load."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        row = {"model": model.name, "target": str(self.target(model))}
        out = []
        chosen = {(r["section"], r["field"]): None for r in rows.values()}
        for sec, fld in self.model_fields(chosen, last):
            name = f"{sec}.{fld}"
            value = data.get(sec, {}).get(fld)
            if name in result.kept:
                source = LoadedFrom(last[name]["source"].source, kept_since=last[name]["at"])
                out.append({**row, "field": name, "value": value, "source": source, "at": last[name]["at"]})
            elif name in result.removed:
                manual = last[name]["source"].source == MANUAL_SOURCE
                why = "no longer in the values file" if manual else "no source gives it now (--allow-removals)"
                out.append({**row, "field": name, "value": None, "source": f"removed: {why}", "at": stamp})
            elif value is not None:
                source = rows[name]["source"] if name in rows else "template"
                out.append({**row, "field": name, "value": value, "source": source, "at": stamp})
        return out


def _name(row: dict[str, Any]) -> str:
    return f"{row['section']}.{row['field']}"
