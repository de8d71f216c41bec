"""Transform: match every model in every source and stage the candidate values with their
provenance, from the cache alone (no request is ever sent here).

Catalogs are read and indexed once per run; a model's lookup is then a dict access. Every value a
candidate yields is staged (source, URL, JSONPath, raw value, transform, fetch time), the first
one per field is ``chosen``, and values that disagree beyond the field's tolerance are flagged as a
conflict. Rows are written per chunk of models inside one transaction: a crash or Ctrl-C leaves
the previous state, and memory stays flat at 10,000 models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .declared.config import ModelInfo, PipelineConfig
from .declared.mappings import FILE_KEY, Candidate, Mappings, Source
from .declared.rows import same_version
from .declared.sources import Sources, url_for
from .declared.transforms import Context, in_param_count_unit, judge
from .declared.validation import field_check
from .declared.values import ManualValue, ManualValues
from .errors import SourceError
from .http.fetch import CacheMiss, Document, Fetcher, NotInSource
from .matching.access import CacheState, FetchFailure, NoListing, fetch_match, listed_files, open_fetcher
from .matching.catalogs import load_catalogs, match_catalogs, with_keys
from .matching.matching import Match, MatchMethod, MatchStatus
from .results.outcomes import Missing, Progress, Reason
from .store.store import Store, encode, staged_row
from .store.workers import Workers, worker_count

log = logging.getLogger("etl")


@dataclass
class Listed(Document):
    """The files of a ``listed_by`` source for one model, read as one document: ``body`` is the
    union of their rows; ``parts`` (file -> its document) gives each value its own URL and time."""

    parts: dict[str, Document] = field(default_factory=dict)

    def part(self, cand: Candidate, entry: Any) -> Document:
        """The file the candidate's value comes from (its row's FILE_KEY); the first file otherwise."""
        for match in cand.expr.find(entry) if cand.expr is not None else []:
            row = getattr(getattr(match, "context", None), "value", None) if match.value is not None else None
            if isinstance(row, dict) and row.get(FILE_KEY) in self.parts:
                return self.parts[row[FILE_KEY]]
        return next(iter(self.parts.values()))


@dataclass
class Batch:
    """What matching and staging some models gives (etl/store/workers.py sends it back from a worker):
    their match and staged rows, each model's statuses, and what the cache lacked."""

    match_rows: list[dict[str, Any]] = field(default_factory=list)
    staged_rows: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    missed_by: dict[str, list[str]] = field(default_factory=dict)
    new_keys: dict[str, str] = field(default_factory=dict)


class Transformer:
    def __init__(
        self,
        config: PipelineConfig,
        mappings: Mappings,
        sources: Sources,
        store: Store,
        manual: ManualValues | None = None,
        nearest: bool = False,
    ):
        self.config, self.mappings, self.sources, self.store = config, mappings, sources, store
        self.manual = manual  # the values file's hand-entered values, staged as the source `manual`
        self.nearest = nearest  # store an unmatched model's nearest entries (for `etl match`)
        self.missing: list[Missing] = []  # responses the cache lacks, after run()
        self._missed_by: dict[str, list[str]] = {}  # url -> models waiting for it, in the current batch
        self._shared: tuple[dict, dict, Fetcher] | None = None  # catalogs, discovered keys, fetcher

    def run(self, models: list[ModelInfo], progress: Progress) -> dict[str, dict[str, str]]:
        """Returns model -> source -> match status. A response the cache lacks leaves its cells
        ``not cached`` (``missing`` lists them); every other value is staged. Models are matched
        and staged in batches, on worker processes for a large run (etl/store/workers.py); this
        process writes every batch's rows, in model order, in one transaction."""
        progress.start("transform", len(models))
        state = CacheState.of(self.store)
        fetcher = open_fetcher(self.config, self.sources, state, offline=True)
        misses: list[str] = []
        missed_by: dict[str, list[str]] = {}
        new_keys: dict[str, str] = {}
        try:
            catalogs = load_catalogs(self.sources, fetcher, misses, self.store)
            models, discovered = with_keys(models, catalogs)
            self._shared = (catalogs, discovered, fetcher)

            def reopen() -> None:  # in a worker: its own connection to the cache
                self._shared = (catalogs, discovered, open_fetcher(self.config, self.sources, state, offline=True))

            statuses: dict[str, dict[str, str]] = {}
            workers = Workers(self._batch, worker_count(len(models), self.config.workers), start=reopen)
            with workers, self.store.replacing() as write:  # one transaction; rows go in per batch: flat memory
                for part in workers.map(models):
                    write(list(part.statuses), part.match_rows, part.staged_rows)
                    statuses.update(part.statuses)
                    misses += part.misses
                    for url, waiting in part.missed_by.items():
                        missed_by.setdefault(url, []).extend(waiting)
                    new_keys.update(part.new_keys)
                    for _ in part.statuses:
                        progress.advance("transform")
            self.missing = self._missing(misses, [m.name for m in models], missed_by)
        finally:
            self.store.record_cache_keys({**fetcher.new_keys, **new_keys})
            fetcher.close()
        return statuses

    def _batch(self, chunk: list[ModelInfo]) -> Batch:
        """Match and stage some models (here or in a worker): their rows, and what the cache lacked."""
        catalogs, discovered, fetcher = self._shared
        self._missed_by = {}
        part = Batch()
        for model in chunk:
            listed = match_catalogs(model, catalogs, self.nearest)  # every catalog's, dates checked across them
            found = {
                s.name: self._match(s, model, catalogs, listed, fetcher, part.misses, discovered.get(model.name))
                for s in self.sources.active.values()
            }
            _refuse_derivatives(found, self.sources.active)
            part.match_rows += [_match_row(model, name, m, doc) for name, (m, doc) in found.items()]
            part.statuses[model.name] = {name: m.status for name, (m, _) in found.items()}
            part.staged_rows += self._stage(model, found)
        part.missed_by, part.new_keys = self._missed_by, dict(fetcher.new_keys)
        return part

    def _match(
        self,
        source: Source,
        model: ModelInfo,
        catalogs: dict,
        listed: dict[str, Match],
        fetcher: Fetcher,
        misses: list[str],
        found=None,
    ) -> tuple[Match, Document | None]:
        pin = model.ids.get(source.name)
        if source.scope == "catalog":
            state = catalogs[source.name]
            if isinstance(state, Match):
                return state, None
            match = listed[source.name]
            if found is not None and (refused := found.refusals(source.name)):  # a key it published, refused
                match.note = "; ".join([match.note, *refused] if match.note else refused)
            return (
                (match, state.docs[state.owner[match.position]])
                if match.status == MatchStatus.MATCHED
                else (match, None)
            )
        if pin is False:
            return Match(
                MatchStatus.SKIPPED,
                method=MatchMethod.PIN,
                note="pinned false: not in this source",
                reason=Reason.PINNED_FALSE,
            ), None
        url = url_for(source, model)
        if source.listed_by is not None:
            return self._match_listed(source, model, fetcher, misses)
        if url is None and found is not None and len(found.keys) > 1 and "hf_id" in source.placeholders:
            cands = [{"id": repo, "name": found.describe(repo)} for repo in found.keys]
            note = "catalogs publish different hf_id for this model; set hf_id in the config to choose"
            return Match(MatchStatus.AMBIGUOUS, method=MatchMethod.DISCOVERED, candidates=cands, note=note), None
        if url is None:
            missing = ", ".join(p for p in source.placeholders if not getattr(model, p, None))
            refused = found.refusals() if found is not None and "hf_id" in source.placeholders else []
            note = "; ".join([f"model has no {missing}", *refused])
            return Match(MatchStatus.SKIPPED, note=note, reason=Reason.NO_JOIN_KEY), None
        try:
            docs = fetcher.documents(source, url)
        except (CacheMiss, NotInSource, SourceError) as exc:
            return self._failed(exc, source, model, misses), None
        records = docs[0].records(source)
        if not records:
            return Match(MatchStatus.UNMATCHED, note="empty response"), None
        return _matched(model, pin, records[0]), docs[0]

    def _failed(self, exc: FetchFailure, source: Source, model: ModelInfo, misses: list[str]) -> Match:
        """A per-model read that gave no document; one the cache lacks is listed for `etl cache missing`."""
        failed = fetch_match(exc, source, self.sources)
        if failed.reason == Reason.NOT_CACHED:
            misses.append(f"{source.name} {failed.url}")
            self._missed_by.setdefault(failed.url, []).append(model.name)
        return failed

    @staticmethod
    def _missing(misses: list[str], models: list[str], missed_by: dict[str, list[str]]) -> list[Missing]:
        """Each response the cache lacks once, with the models waiting for it (all: a catalog)."""
        out = []
        for line in sorted(set(misses)):
            source, url = line.split(" ", 1)
            out.append(Missing(source, url, tuple(dict.fromkeys(missed_by.get(url, models)))))
        return out

    def _match_listed(
        self, source: Source, model: ModelInfo, fetcher: Fetcher, misses: list[str]
    ) -> tuple[Match, Document | None]:
        """The rows of every file the model's listing document names, as one entry (a list)."""
        try:
            files = listed_files(self.sources, source, model, fetcher)
        except NoListing as why:
            parent = self.sources.active.get(source.listed_by.source)
            listing = url_for(parent, model) if parent is not None else None
            if why.reason == Reason.NOT_FETCHED and listing in self._missed_by:  # its listing is not cached
                note = f"not cached: {listing} (it lists this source's files)"
                return Match(MatchStatus.SKIPPED, note=note, reason=Reason.NOT_CACHED, url=listing), None
            return Match(why.status, note=why.note, reason=why.reason), None
        if not files:
            return Match(MatchStatus.UNMATCHED, note=f"{source.listed_by.source} lists no file of this source"), None
        parts: dict[str, Document] = {}
        rows: list[Any] = []
        failed: list[Match] = []
        missed: Match | None = None
        for name in files:
            try:
                doc = fetcher.documents(source, url_for(source, model, name))[0]
            except (CacheMiss, NotInSource, SourceError) as exc:
                outcome = self._failed(exc, source, model, misses)
                if outcome.reason == Reason.NOT_CACHED:
                    missed = missed or outcome
                elif outcome.status == MatchStatus.FAILED:
                    failed.append(outcome)
                continue  # a listed file that is not there: the other files still count
            parts[name] = doc
            rows += [{**r, FILE_KEY: name} if isinstance(r, dict) else r for r in doc.records(source)]
        if not parts:
            if failed:
                return failed[0], None
            if missed:
                return missed, None
            return Match(MatchStatus.UNMATCHED, note=f"none of the {len(files)} listed file(s) could be read"), None
        first = next(iter(parts.values()))
        listed = Listed(source.name, first.url, rows, first.fetched_at, {}, {}, parts)
        return _matched(model, model.ids.get(source.name), rows), listed

    def _stage(self, model: ModelInfo, found: dict[str, tuple[Match, Document | None]]) -> list[dict[str, Any]]:
        """Every value each field's candidates yield for the model, hand-entered ones in their
        declared place; the first is chosen, and disagreements beyond tolerance are flagged."""
        manual = {(v.section, v.field): v for v in (self.manual.for_model(model.name) if self.manual else [])}
        rows = []
        for section, fname, candidates in self.mappings.fields():
            every = [row for cand in candidates if (row := self._value(model, cand, found))]
            if (section, fname) in manual:
                hand = manual[(section, fname)]
                row = hand.as_row(self.manual.rank(len(candidates)))
                row["rejected"] = self._wrong_version(section, fname, hand)
                every.insert(0 if row["rank"] < 0 else len(every), row)
            field_rows = [row for row in every if not row["rejected"]]  # refused values are kept, not chosen
            if field_rows:
                field_rows[0]["chosen"] = 1
                self._flag_conflicts(section, fname, candidates, field_rows)
            field_rows = every
            for row in field_rows:
                row["value"], row["raw"], row["context"] = (
                    encode(row["value"]),
                    encode(row["raw"]),
                    encode(row["context"]),
                )
            rows += field_rows
        return rows

    def _wrong_version(self, section: str, fname: str, hand: ManualValue) -> str | None:
        """A hand-entered value is held to the field's one version like a source's: the scorer
        compares the field across models, so a V3 score typed in beside V4 boards is refused."""
        declared = self.mappings.versions.get((section, fname))
        if declared is None or hand.value is None:
            return None
        if hand.version is None:
            return (
                f"no version stated; this field holds {declared[0]} only ({declared[2]}): "
                f"add `version: {declared[0]}` to the entry if the cited source measured that version"
            )
        if not same_version(hand.version, declared[0]):
            return f"version {hand.version}, not the {declared[0]} this field holds ({declared[2]}): another benchmark"
        return None

    def _value(self, model: ModelInfo, cand: Candidate, found: dict) -> dict[str, Any] | None:
        """The staged row of one candidate, with its provenance; None when it yields nothing."""
        match, doc = found.get(cand.source, (None, None))
        if match is None or match.status != MatchStatus.MATCHED or doc is None:
            return None
        if isinstance(doc, Listed):  # the file this value comes from: its URL and fetch time
            doc = doc.part(cand, match.entry)
        ctx = Context(datetime.fromisoformat(doc.fetched_at), doc.companions, self.config.param_count_unit)
        rejected = None
        version = self.mappings.versions.get((cand.section, cand.field))
        means = (version[0], version[2]) if version else None
        try:
            raw, value, rejected = judge(cand, match.entry, ctx, doc.context, means)
        except (ArithmeticError, TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
            raw, value, rejected = None, None, f"could not be transformed ({type(exc).__name__}: {str(exc)[:80]})"
        if value is None and rejected is None:
            return None  # nothing, or a value the transforms turn into nothing (null_if)
        rejected = rejected or field_check("model.schema.json", cand.section, cand.field)(value)
        context = {**doc.context, "hf_id_from": match.note} if match.method == MatchMethod.DISCOVERED else doc.context
        return staged_row(
            model.name,
            cand.section,
            cand.field,
            cand.rank,
            cand.source,
            value,
            raw,
            doc.url,
            cand.path or f"compute:{cand.compute}",
            cand.describe_transform(),
            fetched_at=doc.fetched_at,
            context=context,
            entry_id=match.entry_id,
            rejected=rejected,
        )

    def _flag_conflicts(self, section: str, fname: str, candidates: list[Candidate], rows: list[dict]) -> None:
        """The first value wins; another that differs beyond the field's tolerance marks both. A
        tolerance on a field the param_count rule fills is declared in parameters (raw counts)."""
        tolerance = self.mappings.tolerances.get((section, fname))
        if tolerance is None or len(rows) < 2 or not _numeric(rows[0]["value"]):
            return
        if any(c.compute == "param_count" for c in candidates):
            tolerance = in_param_count_unit(tolerance, self.config.param_count_unit)
        for row in rows[1:]:
            if _numeric(row["value"]) and abs(row["value"] - rows[0]["value"]) > tolerance:
                row["conflict"] = rows[0]["conflict"] = 1


def _matched(model: ModelInfo, pin: Any, entry: Any) -> Match:
    """A per-model document found for the model: by a pin, a discovered key (and where it came
    from), or its own hf_id."""
    if isinstance(pin, str):
        return Match(MatchStatus.MATCHED, entry, pin, pin, MatchMethod.PIN)
    if model.hf_id_from:  # a join key a catalog published: say where it came from
        return Match(
            MatchStatus.MATCHED, entry, model.hf_id, model.hf_id, MatchMethod.DISCOVERED, note=model.hf_id_from
        )
    return Match(MatchStatus.MATCHED, entry, model.hf_id, model.hf_id, MatchMethod.HF_ID)


def _refuse_derivatives(found: dict[str, tuple[Match, Document | None]], sources: dict[str, Source]) -> None:
    """A discovered key that leads to a derivative repo (a quantisation, finetune...) is not the
    model: every per-model source that used it is refused, with the reason."""
    for name, (match, _) in list(found.items()):
        if match.method != MatchMethod.DISCOVERED or match.status != MatchStatus.MATCHED:
            continue
        marker = sources[name].is_derivative(match.entry, match.entry_id or "")
        if marker is None:
            continue
        note = f"the discovered repo {match.entry_id} is a derivative ({marker}), not this model; set hf_id to use it"
        for other, (m, _) in list(found.items()):
            if m.method == MatchMethod.DISCOVERED and m.entry_id == match.entry_id:
                found[other] = (Match(MatchStatus.UNMATCHED, method=MatchMethod.DISCOVERED, note=note), None)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _match_row(model: ModelInfo, source: str, match: Match, doc: Document | None) -> dict[str, Any]:
    return {
        "model": model.name,
        "source": source,
        "status": str(match.status),
        "method": None if match.method is None else str(match.method),
        "entry_id": match.entry_id,
        "entry_name": match.entry_name,
        "candidates": encode(match.candidates),
        "note": match.note,
        "reason": None if match.reason is None else str(match.reason),
        "nearest": encode(match.nearest),
        "url": doc.url if doc else match.url,
        "at": doc.fetched_at if doc else None,
    }
