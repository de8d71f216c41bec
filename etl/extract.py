"""Extract: fetch every response the transform will need into the cache, and nothing else.

Each catalog is fetched once (all its pages), each per-model source once per model that has the
URL's values: its own, or (second phase) a join key a catalog it is matched in publishes. Sources run in parallel, one thread each, each within its own rate limit, so a run
costs the slowest source rather than the sum. The threads are daemons joined in short slices: on
Ctrl-C or SIGTERM the main thread sets ``cancelled`` (no worker sends again) and returns within a
second or so, even when a worker is stuck in a slow read.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .catalogs import load_catalogs, with_keys
from .config import ModelInfo, PipelineConfig
from .errors import SourceError, SourceStopped
from .fetch import Cancelled, Fetcher, FetchSettings, NotInSource
from .mappings import Source
from .outcomes import ExtractReport, Failure, Progress
from .sources import Sources, url_for
from .store import Store

log = logging.getLogger("etl")

#: how long an interrupted run waits for its workers to notice before it returns anyway
INTERRUPT_GRACE_SECONDS = 1.0


def open_fetcher(config: PipelineConfig, sources: Sources, store: Store, offline: bool) -> Fetcher:
    """One fetcher per stage: online for extract, cache-only for transform."""
    opts = FetchSettings(
        Path(config.cache_path),
        keys=sources.keys,
        rate_limits=dict(sources.rates),
        auth_headers=tuple(sources.auth_headers),
        ttl_hours=config.cache_ttl_hours,
        timeout=config.timeout,
        max_retries=config.max_retries,
        backoff=config.retry_backoff_factor,
        max_wait=config.max_retry_wait,
        refresh=config.refresh,
        offline=offline,
    )
    return Fetcher(opts, known=store.known_outcomes(), key_index=store.cache_keys())


def failure(exc: SourceError) -> Failure:
    return Failure(exc.source, str(exc), exc.url)


class Extractor:
    def __init__(self, config: PipelineConfig, sources: Sources, store: Store):
        self.config, self.sources, self.store = config, sources, store

    def run(self, models: list[ModelInfo], progress: Progress) -> ExtractReport:
        """Two phases: the catalogs, with the per-model sources of models that have their keys;
        then the per-model sources of the models whose keys the catalogs published."""
        report = ExtractReport()
        fetcher = open_fetcher(self.config, self.sources, self.store, offline=False)
        fetcher.on_wait = lambda name, seconds: progress.note(name, f"waiting {seconds:.0f} s (rate limit)")
        try:
            self._parallel(list(self.sources.active.values()), models, fetcher, report, progress)
            discovered = [m for m in self._discover(models) if m.hf_id_from]
            per_model = [s for s in self.sources.active.values() if s.scope != "catalog"]
            if discovered and per_model:
                log.info("join keys found in the catalogs for %d model(s)", len(discovered))
                self._parallel(per_model, discovered, fetcher, report, progress, " (found keys)")
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
            return with_keys(models, load_catalogs(self.sources, reader, []))[0]
        finally:
            reader.close()

    def _parallel(
        self,
        sources: list[Source],
        models: list[ModelInfo],
        fetcher: Fetcher,
        report: ExtractReport,
        progress: Progress,
        label: str = "",
    ) -> None:
        """One daemon thread per source, joined in short slices."""
        errors: list[BaseException] = []

        def work(source: Source) -> None:
            try:
                self._source(source, models, fetcher, report, progress, label)
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
    ) -> None:
        task = source.name + label
        skip = self.sources.missing_key(source.name)
        if skip:
            if f"{source.name}: skipped, {skip}" not in report.skipped:
                report.skipped.append(f"{source.name}: skipped, {skip}")
            progress.done(task, f"skipped, {skip}")
            return
        catalog = source.scope == "catalog"
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
