"""Extract: fetch every response the transform will need into the cache, and nothing else.

Each catalog is fetched once (all its pages), each per-model source once per model that has the
URL's values: its own, or (second phase) a join key a catalog it is matched in publishes. A source
``listed_by`` another fetches, last, only the files the other's cached document lists for the
model (none: no request). Sources run in parallel, one thread each, each within its own rate limit, so a run
costs the slowest source rather than the sum. The threads are daemons joined in short slices: on
Ctrl-C or SIGTERM the main thread sets ``cancelled`` (no worker sends again) and returns within a
second or so, even when a worker is stuck in a slow read.
"""

from __future__ import annotations

import logging
import threading
import time

from .declared.config import ModelInfo, PipelineConfig
from .declared.mappings import Source
from .declared.sources import Sources, url_for
from .errors import SourceError, SourceStopped
from .http.fetch import Cancelled, Fetcher, NotInSource
from .matching.access import NoListing, listed_files, open_fetcher
from .matching.catalogs import load_catalogs, with_keys
from .matching.matching import MatchStatus
from .results.outcomes import ExtractReport, Failure, Progress
from .store.store import Store

log = logging.getLogger("etl")

#: how long an interrupted run waits for its workers to notice before it returns anyway
INTERRUPT_GRACE_SECONDS = 1.0


def failure(exc: SourceError) -> Failure:
    return Failure(exc.source, str(exc), exc.url)


class Extractor:
    def __init__(self, config: PipelineConfig, sources: Sources, store: Store):
        self.config, self.sources, self.store = config, sources, store

    def run(self, models: list[ModelInfo], progress: Progress) -> ExtractReport:
        """Three phases: the catalogs, with the per-model sources of models that have their keys;
        the per-model sources of the models whose keys the catalogs published; then the files that
        the per-model documents list (``listed_by``), for every model with a key."""
        report = ExtractReport()
        fetcher = open_fetcher(self.config, self.sources, self.store, offline=False)
        fetcher.on_wait = lambda name, seconds: progress.note(name, f"waiting {seconds:.0f} s (rate limit)")
        active = [s for s in self.sources.active.values() if s.listed_by is None]
        listed = [s for s in self.sources.active.values() if s.listed_by is not None]
        try:
            self._parallel(active, models, fetcher, report, progress)
            keyed = self._discover(models)
            discovered = [m for m in keyed if m.hf_id_from]
            per_model = [s for s in active if s.scope != "catalog"]
            if discovered and per_model:
                log.info("join keys found in the catalogs for %d model(s)", len(discovered))
                self._parallel(per_model, discovered, fetcher, report, progress, " (found keys)")
            if listed:
                urls = self._listed_urls(listed, keyed)
                self._parallel(listed, keyed, fetcher, report, progress, urls=urls)
        finally:  # interrupted or not, what was fetched stays fetched
            self.store.record_fetches(list(fetcher.outcomes))
            self.store.record_cache_keys(dict(fetcher.new_keys))
            report.sent = fetcher.sent
        fetcher.close()  # not on an interrupt: a stuck worker may still hold the session
        return report

    def _discover(self, models: list[ModelInfo]) -> list[ModelInfo]:
        """The models with the join keys the cached catalogs publish for them."""
        reader = open_fetcher(self.config, self.sources, self.store, offline=True)
        try:
            return with_keys(models, load_catalogs(self.sources, reader, [], self.store))[0]
        finally:
            reader.close()

    def _listed_urls(self, listed: list[Source], models: list[ModelInfo]) -> dict[str, list[str]]:
        """The URL of every file each listed source's cached listing documents name."""
        reader = open_fetcher(self.config, self.sources, self.store, offline=True)
        out: dict[str, list[str]] = {}
        try:
            for source in listed:
                urls: set[str] = set()
                for model in models:
                    if model.ids.get(source.name) is False:
                        continue
                    try:
                        files = listed_files(self.sources, source, model, reader)
                    except NoListing as why:
                        if why.status == MatchStatus.FAILED:
                            log.warning("%s: %s: %s", source.name, model.name, why.note)
                        continue
                    urls |= {u for f in files if (u := url_for(source, model, f))}
                out[source.name] = sorted(urls)
        finally:
            reader.close()
        return out

    def _parallel(
        self,
        sources: list[Source],
        models: list[ModelInfo],
        fetcher: Fetcher,
        report: ExtractReport,
        progress: Progress,
        label: str = "",
        urls: dict[str, list[str]] | None = None,
    ) -> None:
        """One daemon thread per source, joined in short slices; ``urls``: a source's URLs, given."""
        errors: list[BaseException] = []

        def work(source: Source) -> None:
            try:
                given = (urls or {}).get(source.name)
                self._source(source, models, fetcher, report, progress, label, given)
            except Cancelled:
                pass
            except BaseException as exc:  # a bug: re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in sources]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short slices: Ctrl-C reaches the main thread at once
        except BaseException:
            fetcher.cancelled.set()  # no worker sends again; one in flight gets CANCEL_GRACE to finish
            end = time.monotonic() + INTERRUPT_GRACE_SECONDS
            for thread in threads:
                thread.join(max(end - time.monotonic(), 0))
            raise
        if errors:
            raise errors[0]

    def _source(
        self,
        source: Source,
        models: list[ModelInfo],
        fetcher: Fetcher,
        report: ExtractReport,
        progress: Progress,
        label: str = "",
        given: list[str] | None = None,
    ) -> None:
        task = source.name + label
        skip = self.sources.missing_key(source.name)
        if skip:
            if f"{source.name}: skipped, {skip}" not in report.skipped:
                report.skipped.append(f"{source.name}: skipped, {skip}")
            progress.done(task, f"skipped, {skip}")
            return
        catalog = source.scope == "catalog"
        if given is not None:
            urls = given
        else:
            urls = [source.url] if catalog else sorted({u for m in models if (u := url_for(source, m))})
        progress.start(task, None if catalog else len(urls))
        for url in urls:
            try:
                docs = fetcher.documents(source, url)
                if catalog:
                    fetcher.companions(source)
                    progress.done(task, f"{len(docs)} page(s)")
            except NotInSource:
                pass
            except SourceStopped as exc:  # asked to come back later: nothing more to this source
                report.failures.append(failure(exc))
                log.warning("%s", exc)
                return
            except SourceError as exc:
                report.failures.append(failure(exc))
                log.warning("%s", exc)
            if not catalog:
                progress.advance(task)
