"""The Python API: one object that runs the three stages (etl/extract.py, etl/transform.py,
etl/load.py) on the configured models. It only wires them together; each stage owns its work.

    pipeline = Pipeline(PipelineConfig.load("examples/config.yaml", {"offline": True}))
    rows = pipeline.process_batch(["Claude 3.5 Haiku", ModelInfo("DeepSeek V3", hf_id="deepseek-ai/DeepSeek-V3")])
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .declared.config import ModelInfo, PipelineConfig, models_from_folder, parse_models
from .declared.mappings import Mappings, load_mappings
from .declared.per_source import settings_of
from .declared.pins import apply_pins, key_problems
from .declared.sources import Sources
from .declared.values import ManualValues, load_values
from .errors import UsageError
from .extract import Extractor
from .load import Loader
from .results.consumer import Verdict, verdict
from .results.coverage import Coverage, build_coverage
from .results.outcomes import ExtractReport, Missing, ModelResult, Progress
from .results.todo import TodoItem, todo_items
from .store.store import Store
from .transform import Transformer


class Pipeline:
    """Fill model files from the declared sources. Synchronous; safe to re-run."""

    def __init__(self, config: PipelineConfig | dict[str, Any] | None = None, mappings: Mappings | None = None):
        if config is None:
            config = PipelineConfig()
        elif isinstance(config, dict):
            per_source = settings_of(mappings) if mappings else None  # their keys and rates are config keys
            config = PipelineConfig.from_dict(config, "<config dict>", per_source=per_source)
        self.config = config
        self.mappings = mappings or load_mappings(config.mappings_dir)
        self.resolved = Sources(self.mappings, config)
        self.sources = self.resolved.active
        self._store: Store | None = None
        self.last_extract: ExtractReport | None = None
        self.last_missing: list[Missing] = []  # what the last transform lacked in the cache
        self._manual: tuple[tuple, ManualValues] | None = None  # (models and file version, values)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.cache_path)
        return self._store

    @functools.cached_property
    def loader(self) -> Loader:
        return Loader(self.config, self.mappings, set(self.sources), self.store)

    def models(self) -> list[ModelInfo]:
        """The configured models (plus the input folder's files) with their pins, at least one."""
        models = list(self.config.models)
        if self.config.input_dir:
            models = models_from_folder(self.config.input_dir, models)
        if not models:
            raise UsageError(
                "no models: list them under 'models:' in the config, pass --models, or point --input-dir at a folder of model files"
            )
        return self.with_pins(models)

    def with_pins(self, models: list[ModelInfo]) -> list[ModelInfo]:
        """The models with the pins file's decisions; every repo id a URL will take checked."""
        self.check_keys(models)  # the config's own pins (and hf_id), before the file's are added
        return apply_pins(models, self.config.pins_file, self.repo_sources)

    @functools.cached_property
    def repo_sources(self) -> frozenset[str]:
        """The sources whose URL takes a repo id (``{hf_id}``): a string pin for them is one."""
        return frozenset(name for name, source in self.mappings.sources.items() if "hf_id" in source.placeholders)

    def check_keys(self, models: list[ModelInfo]) -> None:
        """Every hf_id and repo pin is a repo id, before any URL is built from it."""
        problems = key_problems(models, self.repo_sources)
        if problems:
            raise UsageError(problems)

    # ----- the stages ---------------------------------------------------------------------------
    def extract(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> ExtractReport:
        """Fetch every response the transform needs into the cache (catalogs once, per-model once)."""
        models = models if models is not None else self.models()
        self.check_keys(models)
        with self.store.writing():  # another run on this store is refused before any request
            self.last_extract = Extractor(self.config, self.resolved, self.store).run(models, progress or Progress())
        return self.last_extract

    def transform(
        self, models: list[ModelInfo] | None = None, progress: Progress | None = None, nearest: bool = False
    ) -> dict[str, dict[str, str]]:
        """Match and stage, from the cache only: model -> source -> match status. ``nearest``: keep
        each unmatched model's nearest entries for :meth:`matches` (a run has no use for them)."""
        models = models if models is not None else self.models()
        manual = self.manual_values(models)
        stage = Transformer(self.config, self.mappings, self.resolved, self.store, manual, nearest)
        with self.store.writing():
            statuses = stage.run(models, progress or Progress())
        self.last_missing = stage.missing
        return statuses

    def load(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> list[ModelResult]:
        """Merge, validate and write every model; one failing model does not stop the batch."""
        models = models if models is not None else self.models()
        with self.store.writing():
            return self.loader.run(models, progress or Progress())

    def run(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> list[ModelResult]:
        models = models if models is not None else self.models()
        self.check(models)
        with self.store.writing():  # one run's extract, transform and load: no other run in between
            if not self.config.offline:
                self.extract(models, progress)
            self.transform(models, progress)
            return self.load(models, progress)

    def process_batch(self, models: Iterable[ModelInfo | dict[str, Any] | str]) -> list[dict[str, Any]]:
        """The seed's batch call: ``[{model, status, output, coverage, error}]``, in input order;
        any iterable of ModelInfo, model dicts and plain names."""
        items = list(models)
        raw = [m for m in items if not isinstance(m, ModelInfo)]
        parsed = iter(parse_models(raw, "<process_batch>") if raw else [])
        infos = [m if isinstance(m, ModelInfo) else next(parsed) for m in items]
        return [r.as_dict() for r in self.run(self.with_pins(infos))]

    def check(self, models: list[ModelInfo]) -> None:
        """Bad input fails before any request: templates, output targets, the values file."""
        self.loader.check_templates(models)
        self.loader.check_targets(models)
        self.manual_values(models)

    def manual_values(self, models: list[ModelInfo]) -> ManualValues | None:
        """The values file's hand-entered values, checked against the configured models (and these)
        and the mappings."""
        if self.config.values_file is None:
            return None
        configured = [*self.config.file_models, *(m.name for m in self.config.models)]
        names = tuple(dict.fromkeys([*configured, *(m.name for m in models)]))
        path = Path(self.config.values_file)
        key = (names, path.stat().st_mtime_ns if path.is_file() else None)
        if self._manual is None or self._manual[0] != key:  # run() checks it, then transform uses it: read once
            values = load_values(path, list(names), self.mappings, self.config.param_count_unit)
            self._manual = (key, values)
        return self._manual[1]

    def verdicts(self, models: list[ModelInfo]) -> dict[str, Verdict]:
        """What the consumer would do with each model's file as the staged values make it (no
        file written); run ``transform`` first."""
        return {name: found for name, (found, _) in self._as_filled(models).items()}

    def _as_filled(self, models: list[ModelInfo]) -> dict[str, tuple[Verdict, tuple[int, int]]]:
        """Per model, the verdict and (filled, fillable) of its file as the staged values make it."""
        shared = self.loader.load_template() if any(m.template is None for m in models) else None
        out = {}
        for model in models:
            template = self.loader.load_template(model.template) if model.template else shared
            data, filled, fillable = self.loader.fill(template, model)
            out[model.name] = (verdict(data, self.config.consumer_schema), (filled, fillable))
        return out

    # ----- what the CLI's reports show, as data -------------------------------------------------
    def coverage(self, models: list[ModelInfo] | None = None) -> Coverage:
        """The models x fields matrix from the cache (transform runs first): each cell filled,
        or why it is empty; the pins to write; each model's verdict and (filled, fillable)."""
        models = models if models is not None else self.models()
        self.transform(models)
        names = [m.name for m in models]
        filled = self._as_filled(models)
        return build_coverage(
            self.mappings,
            set(self.sources),
            self.store.matches_by_model(names),
            self.store.staged_by_model(names, rejected=True),
            {name: found for name, (found, _) in filled.items()},
            {name: counts for name, (_, counts) in filled.items()},
        )

    def matches(self, models: list[ModelInfo] | None = None) -> list[dict[str, Any]]:
        """How each model was found in each source (transform runs first): one dict per (model,
        source) with status, method, entry_id, entry_name, candidates, nearest, note, reason, url."""
        models = models if models is not None else self.models()
        self.transform(models, nearest=True)
        return [row for rows in self.store.matches_by_model([m.name for m in models]).values() for row in rows]

    def explain(self, model: str, field: str | None = None) -> list[dict[str, Any]]:
        """Where a model's values came from (all fields, or one): every staged candidate with
        source, URL, JSONPath, raw value, transform, fetch time, and whether it was chosen or
        rejected. Raises UsageError when nothing is staged for it."""
        rows = self.store.staged(model, field)
        if not rows:
            raise UsageError(
                f"{model}: no staged value{' for field ' + repr(field) if field else ''}; "
                + (
                    "the field may have no source for this model (see `etl match`)"
                    if self.store.has_model(model)
                    else "run `etl transform` (or `etl run`) for this model first"
                )
            )
        return rows

    def missing(self, models: list[ModelInfo] | None = None) -> list[Missing]:
        """Every response the cache lacks for these models (transform runs first), with who waits."""
        self.transform(models if models is not None else self.models())
        return self.last_missing

    def changes(self) -> list[dict[str, Any]]:
        """What the last load changed since the one before: {model, field, old, new, source}."""
        return self.store.load_changes()

    def todo(self, models: list[ModelInfo] | None = None) -> list[TodoItem]:
        """What keeps each model from being scoreable: per blocking field, the sources tried and
        why each was empty, and the pins to write first where a source that fills it is ambiguous."""
        models = models if models is not None else self.models()
        return todo_items(self.coverage(models), [m.name for m in models])

    # ----- the seed system's helpers (README's Python API; tests/test_api.py keeps them) ---------
    def load_template(self, path: Path | str | None = None) -> dict[str, Any]:
        return self.loader.load_template(path)

    def fill_model_data(
        self, template: dict[str, Any], model: ModelInfo, chosen: dict[tuple[str, str], Any] | None = None
    ) -> tuple[dict[str, Any], int, int]:
        return self.loader.fill(template, model, chosen)

    def save_result(self, model: ModelInfo, data: dict[str, Any]) -> Path:
        return self.loader.save(model, data)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


LLMBenchmarkPipeline = Pipeline
