"""How the stages reach the sources' documents, shared by extract and transform so that neither
stage imports the other: the fetcher each stage opens (online for extract, cache-only for
transform) and the files a ``listed_by`` source's cached document names for a model.

Both stages must read a listing the same way (extract fetches the files transform later reads),
so the reading is written once, here, rather than in one stage and imported by the other.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..declared.config import ModelInfo, PipelineConfig
from ..declared.listing import TooManyListed
from ..declared.mappings import Source
from ..declared.sources import Sources, url_for
from ..errors import SourceError
from ..http.fetch import CacheMiss, Document, Fetcher, FetchSettings, NotInSource
from ..results.outcomes import Reason
from ..store.store import Store
from .matching import Match, MatchStatus


@dataclass(frozen=True)
class CacheState:
    """What a fetcher reads from the store before it starts: each URL's last fetch outcome and
    the cache keys of known URLs. Read once by a stage; its worker processes reuse it
    (etl/store/workers.py), since they must not share the stage's store connection."""

    known: dict[str, tuple[str, float, str]]
    keys: dict[str, str]

    @classmethod
    def of(cls, store: Store) -> CacheState:
        return cls(store.known_outcomes(), store.cache_keys())


def open_fetcher(config: PipelineConfig, sources: Sources, store: Store | CacheState, offline: bool) -> Fetcher:
    """One fetcher per stage (and per worker): online for extract, cache-only for transform. Each
    opens its own connection to the HTTP cache."""
    state = store if isinstance(store, CacheState) else CacheState.of(store)
    opts = FetchSettings(
        Path(config.cache_path),
        keys=sources.keys,
        rate_limits=dict(sources.rates),
        auth_headers=tuple(sources.auth_headers),
        key_hosts=sources.key_hosts,
        ttl_hours=config.cache_ttl_hours,
        timeout=config.timeout,
        max_retries=config.max_retries,
        backoff=config.retry_backoff_factor,
        max_wait=config.max_retry_wait,
        refresh=config.refresh,
        offline=offline,
    )
    kind = RecentFetcher if offline else Fetcher
    return kind(opts, known=state.known, key_index=state.keys)


class RecentFetcher(Fetcher):
    """Cache-only, a per-model document asked for twice in a row is read from the cache once: a
    model's model info is its own source's document and then the listing of its ``.eval_results``
    files (at 1,000 models, 1,000 of the 3,176 cache reads, each a requests-cache deserialisation).
    Only the last few are kept, so memory stays flat; failures are not kept (asked again, they
    raise again, as before)."""

    KEEP = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._recent: OrderedDict[tuple[str, str], list[Document]] = OrderedDict()

    def documents(self, source: Source, url: str) -> list[Document]:
        if source.scope != "per_model":
            return super().documents(source, url)
        key = (source.name, url)
        if key not in self._recent:
            self._recent[key] = super().documents(source, url)
            if len(self._recent) > self.KEEP:
                self._recent.popitem(last=False)
        return self._recent[key]


class NoListing(Exception):
    """A model's listing document is not there: why (a match note), as which status and reason."""

    def __init__(self, note: str, status: MatchStatus = MatchStatus.SKIPPED, reason: Reason | None = None):
        super().__init__(note)
        self.note, self.status, self.reason = note, status, reason


FetchFailure = CacheMiss | NotInSource | SourceError


def fetch_match(exc: FetchFailure, source: Source, sources: Sources) -> Match:
    """What a read that gave no document means for matching, written once for every caller.

    The cache lacks it: the cells wait for ``etl extract`` (``not cached``, with the URL), or the
    source was skipped for want of a key. The source's declared not-found (a 404 for one repo):
    the model is not in it, but a catalog that is not found is that catalog failing, for every
    model. Any other source error: failed, with the URL it came from."""
    if isinstance(exc, CacheMiss):
        if skip := sources.missing_key(source.name):
            return Match(MatchStatus.SKIPPED, note=skip, reason=Reason.NO_KEY)
        return Match(MatchStatus.SKIPPED, note=f"not cached: {exc.url}", reason=Reason.NOT_CACHED, url=exc.url)
    if isinstance(exc, NotInSource):
        status = MatchStatus.FAILED if source.scope == "catalog" else MatchStatus.UNMATCHED
        return Match(status, note=str(exc))
    return Match(MatchStatus.FAILED, note=str(exc), url=exc.url)


def listed_files(sources: Sources, source: Source, model: ModelInfo, fetcher: Fetcher) -> list[str]:
    """The files of ``source`` that its ``listed_by`` source's cached document lists for the model;
    raises NoListing when that document is not there (extract and transform read the same)."""
    listing = source.listed_by
    parent = sources.active.get(listing.source) if listing else None
    if parent is None:
        raise NoListing(f"{listing.source if listing else '?'} is off, and it lists this source's files")
    if model.ids.get(parent.name) is False:
        raise NoListing(f"pinned false in {parent.name}, which lists this source's files", reason=Reason.PINNED_FALSE)
    url = url_for(parent, model)
    if url is None:
        missing = ", ".join(p for p in parent.placeholders if not getattr(model, p, None))
        raise NoListing(f"model has no {missing}", reason=Reason.NO_JOIN_KEY)
    try:
        doc = fetcher.documents(parent, url)[0]
    except CacheMiss:
        raise NoListing(
            f"{parent.name} not fetched, which lists this source's files", reason=Reason.NOT_FETCHED
        ) from None
    except NotInSource:
        raise NoListing(
            f"not in {parent.name}, which lists this source's files", status=MatchStatus.UNMATCHED
        ) from None
    except SourceError:
        raise NoListing(f"{parent.name} failed, which lists this source's files", reason=Reason.NOT_FETCHED) from None
    try:
        return listing.files(doc.body)
    except TooManyListed as many:
        raise NoListing(
            f"{parent.name} lists {many.count:,} files of {source.name} for this model, more than "
            f"listed_by.max_files ({many.cap}): none fetched; if they are genuine, raise max_files "
            f"in the listed_by of {source.name} (mappings)",
            status=MatchStatus.FAILED,
        ) from None
