"""The three stages and the Python API: extract (network -> cache), transform (cache -> staged
values, offline), load (staged values + template -> validated files).

Sources are extracted in parallel, one thread per source, each within its own rate limit, so a run
costs the slowest source rather than the sum. Transform never sends a request.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import settings
from .config import ModelInfo, PipelineConfig, models_from_folder, read_structured
from .errors import EtlError, OfflineCacheMiss, SourceError, SourceStopped, UsageError
from .fetch import CacheMiss, Cancelled, Document, Fetcher, NotInSource
from .mappings import Mappings, Source, load_mappings
from .matching import CatalogIndex, Match
from .store import Store, encode
from .transforms import Context, evaluate
from .validation import schema_problems, suggest

log = logging.getLogger("etl")

#: models matched and staged per batch of inserts (bounds memory at 10,000+ models)
TRANSFORM_CHUNK = 1000
#: config flags that set the rate of several sources at once
RATE_FLAG_SOURCES = {"rate_limit_aa": "artificial_analysis", "rate_limit_hf": "huggingface"}


class Progress:
    """Where the stages report progress; this default logs a line now and then. The CLI swaps in
    a progress bar on a terminal. Called from the extract threads: implementations must be
    thread-safe."""

    def __init__(self) -> None:
        self._totals: dict[str, tuple[int, int | None]] = {}

    def start(self, task: str, total: int | None) -> None:
        self._totals[task] = (0, total)

    def advance(self, task: str) -> None:
        done, total = self._totals.get(task, (0, None))
        self._totals[task] = (done + 1, total)
        if total and total >= 50 and ((done + 1) % (total // 10) == 0 or done + 1 == total):
            log.info("%s: %d/%d", task, done + 1, total)

    def note(self, task: str, text: str) -> None:
        log.info("%s: %s", task, text)

    def done(self, task: str, text: str = "") -> None:
        if text:
            log.info("%s: %s", task, text)


@dataclass
class ExtractReport:
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class ModelResult:
    model: str
    status: str  # written | invalid | failed
    output: str | None = None
    filled: int = 0
    fillable: int = 0
    sources: dict[str, list[str]] = field(default_factory=dict)  # match status -> source names
    error: str | None = None
    failures: list[str] = field(default_factory=list)  # why each failed source failed
    conflicts: list[str] = field(default_factory=list)  # fields whose sources disagree (first wins)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "output": self.output,
            "coverage": {
                "filled": self.filled,
                "fillable": self.fillable,
                "sources": self.sources,
                "conflicts": self.conflicts,
            },
            "error": self.error,
        }


class Pipeline:
    """Fill model files from the declared sources. Synchronous; safe to re-run."""

    def __init__(self, config: PipelineConfig | dict[str, Any] | None = None, mappings: Mappings | None = None):
        if config is None:
            config = PipelineConfig()
        elif isinstance(config, dict):
            config = PipelineConfig.from_dict(config, "<config dict>")
        self.config = config
        self.mappings = mappings or load_mappings(config.mappings_dir)
        self._check_source_overrides()
        self.sources = self._effective_sources()
        self._store: Store | None = None
        self.last_extract: ExtractReport | None = None

    # ----- set-up -------------------------------------------------------------------------------
    def _check_source_overrides(self) -> None:
        problems = [
            f"{self.config.origin}: sources.{name}: unknown source: {suggest(name, self.mappings.sources)}"
            for name in self.config.sources
            if name not in self.mappings.sources
        ]
        if problems:
            raise UsageError(problems)

    def _effective_sources(self) -> dict[str, Source]:
        """Sources used by some mapping and enabled (YAML default, then the config's override)."""
        out = {}
        for name, source in self.mappings.sources.items():
            override = self.config.sources.get(name, {})
            if not override.get("enabled", source.enabled) or name not in self.mappings.used_sources():
                continue
            if "url" in override:
                source = replace(source, url=override["url"])
            if "companions" in override:
                merged = {
                    k: {**v, "url": override["companions"].get(k, v["url"])} for k, v in source.companions.items()
                }
                source = replace(source, companions=merged)
            out[name] = source
        return out

    def _rate(self, source: Source) -> float | None:
        override = self.config.sources.get(source.name, {}).get("rate_limit")
        if override:
            return override
        for flag, prefix in RATE_FLAG_SOURCES.items():
            if source.name.startswith(prefix) and getattr(self.config, flag):
                return getattr(self.config, flag)
        return source.rate_limit or settings.DEFAULT_RATE_LIMIT

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.cache_path)
        return self._store

    def _fetcher(self, offline: bool) -> Fetcher:
        return Fetcher(
            self.config.cache_path,
            keys={n: k for n, s in self.sources.items() if (k := self.config.key_for(s.auth))},
            rate_limits={n: self._rate(s) for n, s in self.sources.items()},
            ttl_hours=self.config.cache_ttl_hours,
            timeout=self.config.timeout,
            max_retries=self.config.max_retries,
            backoff=self.config.retry_backoff_factor,
            max_wait=self.config.max_retry_wait,
            refresh=self.config.refresh,
            offline=offline,
            auth_headers=[s.auth["header"] for s in self.mappings.sources.values() if s.auth],
            known=self.store.known_outcomes(),
            key_index=self.store.cache_keys(),
        )

    def models(self) -> list[ModelInfo]:
        """The configured models (plus the input folder's files), at least one."""
        models = list(self.config.models)
        if self.config.input_dir:
            models = models_from_folder(self.config.input_dir, models)
        if not models:
            raise UsageError(
                "no models: list them under 'models:' in the config, pass --models, or point --input-dir at a folder of model files"
            )
        return self.with_pins(models)

    def with_pins(self, models: list[ModelInfo]) -> list[ModelInfo]:
        """Add the pins file's decisions (an id or false) to the models; pins in the config win."""
        if not self.config.pins_file or not self.config.pins_file.is_file():
            return models
        from .report import read_pins

        pins = read_pins(self.config.pins_file)
        for model in models:
            for source, pin in pins.get(model.name, {}).items():
                if pin is not None and source not in model.ids:
                    model.ids[source] = pin
        return models

    def _needs_key(self, source: Source) -> bool:
        return bool(source.auth and source.auth.get("required") and not self.config.key_for(source.auth))

    @staticmethod
    def _url(source: Source, model: ModelInfo) -> str | None:
        values = {"hf_id": model.hf_id, "name": model.name}
        if any(not values.get(p) for p in source.placeholders):
            return None
        return source.url.format(**values)

    # ----- extract ------------------------------------------------------------------------------
    def extract(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> ExtractReport:
        """Fetch every response the transform needs into the cache (catalogs once, per-model once)."""
        models = models if models is not None else self.models()
        report = ExtractReport()
        progress = progress or Progress()
        fetcher = self._fetcher(offline=False)
        fetcher.on_wait = lambda name, seconds: progress.note(name, f"waiting {seconds:.0f} s (rate limit)")

        def run_source(source: Source) -> None:
            if self._needs_key(source):
                report.skipped.append(f"{source.name}: skipped, no key (set {source.auth['env']})")
                progress.done(source.name, report.skipped[-1].split(": ", 1)[1])
                return
            catalog = source.scope == "catalog"
            urls = [source.url] if catalog else sorted({u for m in models if (u := self._url(source, m))})
            progress.start(source.name, None if catalog else len(urls))
            for url in urls:
                try:
                    docs = fetcher.documents(source, url)
                    if catalog:
                        fetcher.companions(source)
                        progress.done(source.name, f"{len(docs)} page(s)")
                except NotInSource:
                    pass
                except Cancelled:
                    return
                except SourceStopped as exc:  # asked to come back later: nothing more to this source
                    report.failures.append(str(exc))
                    log.warning("%s", exc)
                    return
                except SourceError as exc:
                    report.failures.append(str(exc))
                    log.warning("%s", exc)
                if not catalog:
                    progress.advance(source.name)

        pool = ThreadPoolExecutor(max_workers=max(len(self.sources), 1))
        try:
            futures = [pool.submit(run_source, s) for s in self.sources.values()]
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C / SIGTERM: stop every worker before its next send
            fetcher.cancelled.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.store.record_fetches(fetcher.outcomes)  # what was fetched stays fetched
            self.store.record_cache_keys(fetcher.new_keys)
            report.sent = fetcher.sent
            fetcher.close()
        self.last_extract = report
        return report

    # ----- transform ----------------------------------------------------------------------------
    def transform(
        self, models: list[ModelInfo] | None = None, progress: Progress | None = None
    ) -> dict[str, dict[str, str]]:
        """Match every model in every source and stage the candidate values, from the cache only.
        Returns model -> source -> match status."""
        models = models if models is not None else self.models()
        progress = progress or Progress()
        progress.start("transform", len(models))
        fetcher = self._fetcher(offline=True)
        misses: list[str] = []
        catalogs: dict[str, tuple[CatalogIndex, list[Document], list[int]] | Match] = {}
        try:
            for source in self.sources.values():
                if source.scope != "catalog":
                    continue
                try:
                    docs = fetcher.documents(source, source.url)
                except CacheMiss as miss:
                    if self._needs_key(source):
                        catalogs[source.name] = Match("skipped", note=f"no key (set {source.auth['env']})")
                    else:
                        misses.append(f"{miss.source} {miss.url}")
                    continue
                except (SourceError, NotInSource) as exc:
                    catalogs[source.name] = Match("failed", note=str(exc))
                    continue
                entries, owner = [], []
                for d, doc in enumerate(docs):
                    recs = doc.records(source)
                    entries += recs
                    owner += [d] * len(recs)
                try:
                    companions = fetcher.companions(source)
                except CacheMiss as miss:
                    misses.append(f"{miss.source} {miss.url}")
                    companions = {}
                except (SourceError, NotInSource) as exc:  # the catalog still matches; computes on it yield nothing
                    log.warning("%s", exc)
                    companions = {}
                for doc in docs:
                    doc.companions = companions
                catalogs[source.name] = (CatalogIndex(source, entries), docs, owner)
            statuses: dict[str, dict[str, str]] = {}
            with self.store.replacing() as write:  # one transaction; rows go in per chunk: flat memory
                for start in range(0, len(models), TRANSFORM_CHUNK):
                    chunk, match_rows, staged_rows = models[start : start + TRANSFORM_CHUNK], [], []
                    for model in chunk:
                        found: dict[str, tuple[Match, Document | None]] = {}
                        for source in self.sources.values():
                            match, doc = self._match(source, model, catalogs, fetcher, misses)
                            found[source.name] = (match, doc)
                            match_rows.append(_match_row(model, source.name, match, doc))
                        statuses[model.name] = {name: m.status for name, (m, _) in found.items()}
                        staged_rows += self._stage(model, found)
                        progress.advance("transform")
                    write([m.name for m in chunk], match_rows, staged_rows)
                if misses:  # raised inside the transaction: nothing is replaced
                    raise OfflineCacheMiss(sorted(set(misses)))
        finally:
            self.store.record_cache_keys(fetcher.new_keys)
            fetcher.close()
        return statuses

    def _match(self, source, model, catalogs, fetcher, misses) -> tuple[Match, Document | None]:
        pin = model.ids.get(source.name)
        if source.scope == "catalog":
            state = catalogs.get(source.name)
            if isinstance(state, Match) or state is None:
                return (state or Match("skipped", note="not fetched")), None
            index, docs, owner = state
            match = index.match(model.name, model.hf_id, pin)
            if match.status == "matched":
                return match, docs[owner[match.position]]
            return match, None
        if pin is False:
            return Match("skipped", method="pin", note="pinned false: not in this source"), None
        url = self._url(source, model)
        if url is None:
            missing = ", ".join(p for p in source.placeholders if not getattr(model, p, None))
            return Match("skipped", note=f"model has no {missing}"), None
        try:
            docs = fetcher.documents(source, url)
        except CacheMiss as miss:
            if self._needs_key(source):
                return Match("skipped", note=f"no key (set {source.auth['env']})"), None
            misses.append(f"{miss.source} {miss.url}")
            return Match("failed", note="not in cache"), None
        except NotInSource as exc:
            return Match("unmatched", note=str(exc)), None
        except SourceError as exc:
            return Match("failed", note=str(exc)), None
        records = docs[0].records(source)
        if not records:
            return Match("unmatched", note="empty response"), None
        return Match("matched", records[0], model.hf_id, model.hf_id, "hf_id"), docs[0]

    def _stage(self, model: ModelInfo, found: dict[str, tuple[Match, Document | None]]) -> list[dict[str, Any]]:
        rows = []
        for section, fname, candidates in self.mappings.fields():
            field_rows = []
            for cand in candidates:
                match, doc = found.get(cand.source, (None, None))
                if match is None or match.status != "matched" or doc is None:
                    continue
                ctx = Context(datetime.fromisoformat(doc.fetched_at), doc.companions)
                raw, value = evaluate(cand, match.entry, ctx)
                if value is None:
                    continue
                field_rows.append(
                    {
                        "model": model.name,
                        "section": section,
                        "field": fname,
                        "rank": cand.rank,
                        "source": cand.source,
                        "value": value,
                        "raw": encode(raw),
                        "url": doc.url,
                        "path": cand.path or f"compute:{cand.compute}",
                        "transform": cand.describe_transform(),
                        "fetched_at": doc.fetched_at,
                        "context": encode(doc.context),
                        "chosen": int(not field_rows),
                        "entry_id": match.entry_id,
                        "conflict": 0,
                    }
                )
            self._flag_conflicts(section, fname, field_rows)
            for row in field_rows:
                row["value"] = encode(row["value"])
            rows += field_rows
        return rows

    def _flag_conflicts(self, section: str, fname: str, rows: list[dict[str, Any]]) -> None:
        """The first value wins; another that differs beyond the field's tolerance marks both."""
        tolerance = self.mappings.tolerances.get((section, fname))
        if tolerance is None or len(rows) < 2 or not isinstance(rows[0]["value"], int | float):
            return
        for row in rows[1:]:
            if isinstance(row["value"], int | float) and abs(row["value"] - rows[0]["value"]) > tolerance:
                row["conflict"] = rows[0]["conflict"] = 1

    # ----- load ---------------------------------------------------------------------------------
    @functools.cached_property
    def _fillable_fields(self) -> list[tuple[str, str]]:
        """Fields with a candidate from an active source: what a model can get at best."""
        return sorted({(s, f) for s, f, c in self.mappings.fields() if any(x.source in self.sources for x in c)})

    def load_template(self, path: Path | str | None = None) -> dict[str, Any]:
        """Read and check a template: a JSON object whose sections are objects."""
        path = Path(path) if path else self.config.template_path
        if path is None:
            raise UsageError("no template: pass --template FILE, set template_path in the config, or use --input-dir")
        data = read_structured(Path(path))
        problems = []
        if not isinstance(data, dict):
            raise UsageError(f"{path}: (top level): a template is a JSON object of sections; fix the file")
        for section in self.mappings.sections:
            if section in data and not isinstance(data[section], dict):
                problems.append(
                    f"{path}: {section}: expected an object of fields, got {type(data[section]).__name__}; "
                    'write {"field": null, ...}'
                )
        if problems:
            raise UsageError(problems)
        return data

    def check_templates(self, models: list[ModelInfo]) -> None:
        """Read every template the models use; raise one UsageError listing every broken one."""
        problems: list[str] = []
        paths = {m.template for m in models if m.template}
        if any(m.template is None for m in models):
            paths.add(None)
        for path in paths:
            try:
                self.load_template(path)
            except UsageError as exc:
                problems += exc.problems
        if problems:
            raise UsageError(problems)

    def fill_model_data(
        self, template: dict[str, Any], model: ModelInfo, chosen: dict[tuple[str, str], Any] | None = None
    ) -> tuple[dict[str, Any], int, int]:
        """Merge the model's staged values into a copy of the template: (data, filled, fillable)."""
        # only section fields are set, so a two-level copy is enough (0.7 us a template; deepcopy: 37 us)
        data = {k: ({**v} if isinstance(v, dict) else copy.deepcopy(v)) for k, v in template.items()}
        filled = fillable = 0
        if chosen is None:
            rows = self.store.staged_by_model([model.name]).get(model.name, [])
            chosen = {(r["section"], r["field"]): r["value"] for r in rows}
        for section, fname in self._fillable_fields:
            fields = data.setdefault(section, {})
            if fields.get(fname) is not None and not self.config.overwrite:
                continue
            fillable += 1
            if (section, fname) in chosen:
                fields[fname] = chosen[(section, fname)]
                filled += 1
        return data, filled, fillable

    def save_result(self, model: ModelInfo, data: dict[str, Any]) -> Path:
        """Write ``<output_dir>/<name>_filled.json`` atomically (temp file, then rename)."""
        out_dir = self.config.output_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{model.file_stem}_filled.json"
        fd, tmp = tempfile.mkstemp(prefix=f".{model.file_stem}.", suffix=".tmp", dir=out_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=4, ensure_ascii=False, allow_nan=False)
                handle.write("\n")
            # rename is atomic: an interrupted run never leaves half a file. No fsync per file: it
            # tripled the time of a 10,000-model load, and outputs are regenerable from the store.
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def load(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> list[ModelResult]:
        """Merge, validate and write every model; one failing model does not stop the batch."""
        models = models if models is not None else self.models()
        progress = progress or Progress()
        progress.start("load", len(models))
        shared = self.load_template() if any(m.template is None for m in models) else None
        results: list[ModelResult] = []
        used: set[str] = set()
        for start in range(0, len(models), TRANSFORM_CHUNK):  # per chunk: flat memory at 10,000 models
            chunk = models[start : start + TRANSFORM_CHUNK]
            names = [m.name for m in chunk]
            staged, matches = self.store.staged_by_model(names), self.store.matches_by_model(names)
            chosen = {m: {(r["section"], r["field"]): r["value"] for r in rows} for m, rows in staged.items()}
            chosen_sources = {m: {(r["section"], r["field"]): r["source"] for r in rows} for m, rows in staged.items()}
            conflicts = {
                m: [f"{r['section']}.{r['field']}" for r in rows if r["conflict"]] for m, rows in staged.items()
            }
            load_rows: list[dict[str, Any]] = []
            for model in chunk:
                result = ModelResult(model.name, "failed", conflicts=conflicts.get(model.name, []))
                for row in matches.get(model.name, []):
                    result.sources.setdefault(row["status"], []).append(row["source"])
                    if row["status"] == "failed" and row["note"]:
                        result.failures.append(row["note"])
                try:
                    if model.name not in matches:
                        raise EtlError(f"{model.name}: no staged values; run `etl transform` first")
                    template = self.load_template(model.template) if model.template else shared
                    data, result.filled, result.fillable = self.fill_model_data(
                        template, model, chosen.get(model.name, {})
                    )
                    where = str(model.template or self.config.template_path)
                    problems = schema_problems("model.schema.json", data, f"{model.name} (from {where})")
                    if problems:
                        result.status, result.error = "invalid", "\n".join(problems)
                    else:
                        result.output = str(self.save_result(model, data))
                        result.status = "written"
                except EtlError as exc:  # a broken template or a model never transformed: this model only
                    result.error = str(exc)
                    if not self.config.continue_on_error:
                        raise
                results.append(result)
                progress.advance("load")
                if result.status == "written":
                    load_rows += self._loaded_values(model.name, data, chosen_sources.get(model.name, {}))
            self.store.record_load(load_rows)
            used |= {src for per in chosen_sources.values() for src in per.values()}
        if used:
            from .report import write_attribution

            write_attribution(self.config.output_dir, self.mappings, used)
        return results

    def _loaded_values(
        self, model: str, data: dict[str, Any], sources: dict[tuple[str, str], str]
    ) -> list[dict[str, Any]]:
        """What was written for one model, field by field, for ``etl diff``."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return [
            {
                "model": model,
                "field": f"{sec}.{fld}",
                "value": value,
                "source": sources.get((sec, fld), "template"),
                "at": stamp,
            }
            for sec, fld in self._fillable_fields
            if (value := data.get(sec, {}).get(fld)) is not None
        ]

    # ----- all ----------------------------------------------------------------------------------
    def run(self, models: list[ModelInfo] | None = None, progress: Progress | None = None) -> list[ModelResult]:
        models = models if models is not None else self.models()
        self.check_templates(models)  # bad input fails before any request is sent
        if not self.config.offline:
            self.extract(models, progress)
        self.transform(models, progress)
        return self.load(models, progress)

    def process_batch(self, models: Iterable[ModelInfo | dict[str, Any] | str]) -> list[dict[str, Any]]:
        """The seed's batch call: ``[{model, status, output, coverage, error}]``."""
        from .config import parse_models

        infos = [m for m in models if isinstance(m, ModelInfo)]
        raw = [m for m in models if not isinstance(m, ModelInfo)]
        infos += parse_models(raw, "<process_batch>") if raw else []
        return [r.as_dict() for r in self.run(infos)]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _match_row(model: ModelInfo, source: str, match: Match, doc: Document | None) -> dict[str, Any]:
    return {
        "model": model.name,
        "source": source,
        "status": match.status,
        "method": match.method,
        "entry_id": match.entry_id,
        "entry_name": match.entry_name,
        "candidates": encode(match.candidates),
        "note": match.note,
        "url": doc.url if doc else None,
        "at": doc.fetched_at if doc else None,
    }


LLMBenchmarkPipeline = Pipeline
