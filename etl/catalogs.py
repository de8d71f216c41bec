"""Catalogs read from the cache and indexed once, and the join keys their entries publish.

A model without an ``hf_id`` can still be fetched from the per-model sources (Hugging Face model
info, config.json) when a catalog it is matched in publishes the repo id of its entry (OpenRouter's
``hugging_face_id``, BigCodeBench's ``link``...): that is the source's declared ``identity.hf_id``,
and the per-model URL's ``{hf_id}`` placeholder says which sources use it. Only a match by pin or
by name counts; an ambiguous one never does. Catalogs that publish different repo ids leave the
model without a key and report both, as any ambiguity. Extract (phase two) and transform discover
the same keys from the same cached catalogs, so an offline re-run needs no request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from .config import REPO_ID, ModelInfo
from .errors import SourceError
from .fetch import CacheMiss, Document, Fetcher, NotInSource
from .mappings import Source
from .matching import HF_PREFIX, CatalogIndex, Match, MatchMethod, MatchStatus
from .outcomes import Reason
from .paths import KeyPath, first_value
from .sources import Sources

log = logging.getLogger("etl")


@dataclass
class Catalog:
    """A catalog's entries, indexed, and the page each entry came from (for provenance)."""

    index: CatalogIndex
    docs: list[Document]
    owner: list[int]  # entry position -> page


def load_catalog(source: Source, fetcher: Fetcher, sources: Sources, misses: list[str]) -> Catalog | Match:
    """The indexed catalog from the cache, or the Match every model gets when it cannot be read."""
    try:
        docs = fetcher.documents(source, source.url)
    except CacheMiss as miss:
        if skip := sources.missing_key(source.name):
            return Match(MatchStatus.SKIPPED, note=skip, reason=Reason.NO_KEY)
        misses.append(f"{miss.source} {miss.url}")
        return Match(MatchStatus.SKIPPED, note="not fetched", reason=Reason.NOT_FETCHED)
    except SourceError as exc:
        return Match(MatchStatus.FAILED, note=str(exc), url=exc.url)
    except NotInSource as exc:
        return Match(MatchStatus.FAILED, note=str(exc))
    entries, owner, seen = [], [], set()
    for d, doc in enumerate(docs):
        for record in doc.records(source):
            twin = _fingerprint(record)
            if twin in seen:  # the same record twice (a page served again): one entry, not an ambiguity
                continue
            seen.add(twin)
            entries.append(record)
            owner.append(d)
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
    return Catalog(CatalogIndex(source, entries), docs, owner)


def _fingerprint(record: Any) -> str:
    try:
        return json.dumps(record, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(id(record))


def load_catalogs(sources: Sources, fetcher: Fetcher, misses: list[str]) -> dict[str, Catalog | Match]:
    return {s.name: load_catalog(s, fetcher, sources, misses) for s in sources.active.values() if s.scope == "catalog"}


@dataclass(frozen=True)
class Discovered:
    """The repo ids a model's catalog entries publish: one (the key) or several (ambiguous)."""

    keys: dict[str, list[str]]  # repo id -> where each came from ("openrouter entry x (hugging_face_id)")

    @property
    def key(self) -> str | None:
        return next(iter(self.keys)) if len(self.keys) == 1 else None

    def describe(self, repo: str) -> str:
        return f"hf_id {repo} from {'; '.join(self.keys[repo])}"


def _path_text(expr: Any) -> str:
    return ".".join(expr) if isinstance(expr, KeyPath) else str(expr)


def discover(model: ModelInfo, catalogs: dict[str, Catalog | Match]) -> Discovered | None:
    """The join keys a model without an hf_id gets from the catalogs it is matched in."""
    if model.hf_id:
        return None
    keys: dict[str, list[str]] = {}
    for name, catalog in catalogs.items():
        if isinstance(catalog, Match) or catalog.index.source.identity.hf_id is None:
            continue
        match = catalog.index.match(model.name, None, model.ids.get(name))
        if match.status != MatchStatus.MATCHED or match.method in (MatchMethod.JOIN, MatchMethod.DISCOVERED):
            continue
        raw = first_value(catalog.index.source.identity.hf_id, match.entry)
        repo = HF_PREFIX.sub("", str(raw or "").strip()).strip("/")
        if not REPO_ID.match(repo):
            continue
        same = next((k for k in keys if k.lower() == repo.lower()), repo)
        where = f"{name} entry {match.entry_id} ({_path_text(catalog.index.source.identity.hf_id)})"
        keys.setdefault(same, []).append(where)
    return Discovered(keys) if keys else None


def with_keys(models: list[ModelInfo], catalogs: dict[str, Catalog | Match]) -> tuple[list[ModelInfo], dict]:
    """The models with their discovered hf_id set (and where it came from), and every discovery."""
    found = {m.name: d for m in models if (d := discover(m, catalogs))}
    out = [
        replace(m, hf_id=d.key, hf_id_from=d.describe(d.key)) if (d := found.get(m.name)) and d.key else m
        for m in models
    ]
    return out, found
