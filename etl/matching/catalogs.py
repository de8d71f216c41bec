"""Catalogs read from the cache and indexed once, and the join keys their entries publish.

A model without an ``hf_id`` can still be fetched from the per-model sources (Hugging Face model
info, config.json) when a catalog it is matched in publishes the repo id of its entry (OpenRouter's
``hugging_face_id``, BigCodeBench's ``link``...): that is the source's declared ``identity.hf_id``,
and the per-model URL's ``{hf_id}`` placeholder says which sources use it. Only a match by pin or
by name counts; an ambiguous one never does. A published key is evidence, not truth: it is used only
when its repo name has the entry's own tokens (the source's ``harmless`` words aside: LLM Stats'
``qwen2-72b-instruct`` publishing the base ``Qwen/Qwen2-72B`` is refused) and when no other catalog
publishes it for another entry than the one the model's name matches there; a refused key is kept
with its reason for ``etl match``. Catalogs that publish different repo ids leave the model without
a key and report both, as any ambiguity. Extract (phase two) and transform discover the same keys
from the same cached catalogs, so an offline re-run needs no request.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import pickle
import sys
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import settings
from ..declared.config import REPO_ID, ModelInfo
from ..declared.identity import HF_PREFIX, dates, hf_key, snapshot_dates, token_diff, tokens, tokens_key
from ..declared.mappings import Source
from ..declared.paths import KeyPath, first_value
from ..declared.sources import Sources
from ..errors import SourceError
from ..http.fetch import CacheMiss, Document, Fetcher, NotInSource
from ..results.outcomes import Reason
from ..store.store import Store
from .access import fetch_match
from .matching import CatalogIndex, Match, MatchMethod, MatchStatus

log = logging.getLogger("etl")


@dataclass
class Catalog:
    """A catalog's entries, indexed, and the page each entry came from (for provenance)."""

    index: CatalogIndex
    docs: list[Document]
    owner: list[int]  # entry position -> page
    complete: bool = True  # False: a companion could not be read (never kept: its miss must be seen again)


def load_catalog(source: Source, fetcher: Fetcher, sources: Sources, misses: list[str]) -> Catalog | Match:
    """The indexed catalog from the cache, or the Match every model gets when it cannot be read."""
    try:
        docs = fetcher.documents(source, source.url)
    except (CacheMiss, NotInSource, SourceError) as exc:
        failed = fetch_match(exc, source, sources)
        if failed.reason == Reason.NOT_CACHED:
            misses.append(f"{source.name} {failed.url}")
        return failed
    entries, owner, seen = [], [], set()
    for d, doc in enumerate(docs):
        for record in doc.records(source):
            twin = _fingerprint(record)
            if twin in seen:  # the same record twice (a page served again): one entry, not an ambiguity
                continue
            seen.add(twin)
            entries.append(record)
            owner.append(d)
    complete = True
    try:
        companions = fetcher.companions(source)
    except CacheMiss as miss:
        misses.append(f"{miss.source} {miss.url}")
        companions, complete = {}, False
    except (SourceError, NotInSource) as exc:  # the catalog still matches; computes on it yield nothing
        log.warning("%s", exc)
        companions, complete = {}, False
    # the pages' bodies are not kept: their records are the index's entries, and a page is read
    # again only for its provenance (URL, time, context, companions)
    docs = [replace(doc, body=None, companions=companions) for doc in docs]
    return Catalog(CatalogIndex(source, entries, sources.names), docs, owner, complete)


def _fingerprint(record: Any) -> str:
    try:
        return json.dumps(record, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(id(record))


def load_catalogs(
    sources: Sources, fetcher: Fetcher, misses: list[str], store: Store | None = None
) -> dict[str, Catalog | Match]:
    """Every active catalog, indexed. With a store, an index an earlier run kept is used while the
    cached responses it was built from are unchanged (same code, same mappings); a new one is kept."""
    version = index_version(sources) if store is not None else ""
    out: dict[str, Catalog | Match] = {}
    for source in (s for s in sources.active.values() if s.scope == "catalog"):
        if store is not None and (kept := _kept(store, source.name, version)) is not None:
            out[source.name] = kept
            continue
        first = len(fetcher.read_keys)
        out[source.name] = found = load_catalog(source, fetcher, sources, misses)
        keys = fetcher.read_keys[first:]
        if store is not None and isinstance(found, Catalog) and found.complete and _worth_keeping(store, keys):
            if digest := store.responses_digest(keys):
                store.keep_index(source.name, version, keys, digest, pickle.dumps(found, pickle.HIGHEST_PROTOCOL))
    return out


def _worth_keeping(store: Store, keys: list[str]) -> bool:
    """A catalog whose responses are within settings.KEPT_INDEX_MAX_BYTES: the pickle of a larger
    one (a hostile 31 MiB body) would cost more memory than indexing it again costs time."""
    size = store.responses_size(keys)
    return size is not None and size <= settings.KEPT_INDEX_MAX_BYTES


def _kept(store: Store, source: str, version: str) -> Catalog | None:
    """The kept index, if the responses it was built from are still the cached ones. Pickle, as
    requests-cache's own serializer of the responses in this same file: the store is trusted
    like the cache (measured: ~20x faster than indexing again, 0.7 s of a 1,000-model run)."""
    kept = store.kept_index(source, version)
    if kept is None or store.responses_digest(kept[0]) != kept[1]:
        return None
    try:
        found = pickle.loads(kept[2])
    except Exception:  # noqa: BLE001 - an index that does not load is built again
        return None
    return found if isinstance(found, Catalog) else None


@functools.cache
def _code_digest() -> str:
    """The code that builds an index: any change to the package (or to the libraries that parse
    the responses) makes every kept index stale."""
    digest = hashlib.sha256(sys.version.encode())
    for package in ("jsonpath-ng", "pyyaml", "requests-cache"):  # they parse what is indexed
        digest.update(f"{package} {metadata.version(package)}".encode())
    for name, path in _code_files():
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _code_files() -> list[tuple[str, Path]]:
    """Every module of the package, its subpackages' included, by its path inside the package."""
    package = Path(__file__).parent.parent
    return sorted((path.relative_to(package).as_posix(), path) for path in package.rglob("*.py"))


def index_version(sources: Sources) -> str:
    """What an index depends on besides its responses: this code and the resolved identity of
    every source and of the shared names file (mappings/names.yaml)."""
    digest = hashlib.sha256(_code_digest().encode())
    digest.update(repr(_canonical(sources.names)).encode())
    for source in sorted(sources.active.values(), key=lambda s: s.name):
        digest.update(repr(_canonical(source)).encode())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """``value`` as nested tuples that repr the same in every process (a set's order follows the
    process's string hash seed)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            *((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return tuple(sorted(repr(_canonical(v)) for v in value))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return repr(value)


#: the rules that read a name (an ambiguous result of one of them lists the entries of that name)
BY_NAME = (MatchMethod.NAME, MatchMethod.TOKENS, MatchMethod.EQUIVALENCE, MatchMethod.ONLY_VARIANT, None)


def match_catalogs(model: ModelInfo, catalogs: dict[str, Catalog | Match], nearest: bool = False) -> dict[str, Match]:
    """The model's match in every catalog that could be read, the dates of a bare name checked
    across them (:func:`agree_on_dates`); ``nearest``: with an unmatched name's nearest entries."""
    found = {
        name: c.index.match(model.name, model.hf_id, model.ids.get(name), nearest)
        for name, c in catalogs.items()
        if isinstance(c, Catalog)
    }
    agree_on_dates(model.name, found, catalogs)
    return found


def agree_on_dates(name: str, found: dict[str, Match], catalogs: dict[str, Catalog | Match]) -> None:
    """A name without a date that found a source's only, dated variant ("Command-R+ (Apr '24)")
    stays a match only while no source dates that name otherwise: when the only-variant entries,
    or the candidates of any source's ambiguous match by name, carry dates that disagree (Apr
    2024, Aug 2024), each dated only-variant match becomes ambiguous (in place), with the dated
    entries seen and the pin to write. One date everywhere (Claude 3.5 Haiku) keeps the matches."""
    if dates([name]):
        return
    seen: list[tuple[str, str, set[str]]] = []  # (source, entry, its dates)
    for source, match in found.items():
        index = catalogs[source].index  # type: ignore[union-attr]
        if match.status == MatchStatus.MATCHED and match.method == MatchMethod.ONLY_VARIANT:
            names = index.entry_names[match.position] if match.position is not None else index.names(match.entry)
            seen.append((source, str(match.entry_id), snapshot_dates(name, names, index.rules)))
        elif match.status == MatchStatus.AMBIGUOUS and match.method in BY_NAME:
            for c in match.candidates:
                names = [n for i in index.by_id.get(str(c["id"]).lower(), []) for n in index.entry_names[i]]
                seen.append((source, str(c["id"]), snapshot_dates(name, names or [str(c["name"])], index.rules)))
    every = {d for _, _, ds in seen for d in ds}
    if all(_same_date(a, b) for a in every for b in every):
        return  # one date, or none
    by_date: dict[str, list[str]] = {}
    for source, entry, ds in seen:
        for d in ds:
            by_date.setdefault(d, []).append(f"{source} {entry}")
    listed = "; ".join(f"{d}: {', '.join(entries)}" for d, entries in sorted(by_date.items()))
    for source in sorted({s for s, _, ds in seen if ds and found[s].status == MatchStatus.MATCHED}):
        match = found[source]
        note = (
            f"the sources date {name!r} differently ({listed}); this one lists one date only: "
            f"pin it with ids: {{{source}: {match.entry_id}}} if it is this model, or name the model with its date"
        )
        cand = {"id": match.entry_id, "name": match.entry_name}
        found[source] = Match(MatchStatus.AMBIGUOUS, method=MatchMethod.ONLY_VARIANT, candidates=[cand], note=note)


def _same_date(a: str, b: str) -> bool:
    """Two readings of one snapshot: the same day or month; or a day and a month that is its month
    or the next (a month dates a release, which can follow the snapshot's day: Claude 3 Opus is
    20240229 at LMArena, "Mar 2024" at EvalPlus)."""
    if len(a) == len(b):
        return a == b
    day, month = (a, b) if len(a) > len(b) else (b, a)
    year, mon = int(day[:4]), int(day[5:7])
    following = f"{year + mon // 12}-{mon % 12 + 1:02d}"
    return month in (day[:7], following)


@dataclass(frozen=True)
class Discovered:
    """The repo ids a model's catalog entries publish: one (the key) or several (ambiguous), and
    the ones refused, each with why."""

    keys: dict[str, list[str]]  # repo id -> where each came from ("openrouter entry x (hugging_face_id)")
    refused: dict[str, list[str]] = field(default_factory=dict)  # repo id -> "where: why"

    @property
    def key(self) -> str | None:
        return next(iter(self.keys)) if len(self.keys) == 1 else None

    def describe(self, repo: str) -> str:
        return f"hf_id {repo} from {'; '.join(self.keys[repo])}"

    def refusals(self, source: str | None = None) -> list[str]:
        """``refused hf_id <repo> from <where>: <why>``, of one source's entries or of all."""
        return [
            f"refused hf_id {repo} from {why}"
            for repo, whys in self.refused.items()
            for why in whys
            if source is None or why.startswith(f"{source} ")
        ]


def _path_text(expr: Any) -> str:
    return ".".join(str(step) for step in expr) if isinstance(expr, KeyPath) else str(expr)


def disagreement(index: CatalogIndex, entry: Any, repo: str) -> str | None:
    """Why ``repo`` (published by ``entry``) is not that entry's model, or None when its name has the
    tokens of one of the entry's own names (the source's ``harmless`` words aside, and a first word
    that the repo's org declares as its own prefix in mappings/names.yaml: ``c4ai`` of CohereForAI)."""
    harmless, rules = index.source.identity.harmless, index.rules
    published = [t for t in tokens(repo.split("/")[-1], rules) if t not in harmless]
    own = [[t for t in tokens(n, rules) if t not in harmless] for n in index.names(entry, published=False)]
    readings = [published]
    if len(published) > 1 and index.shared.own_prefix(repo.split("/")[0], published[0]):
        readings.append(published[1:])
    if not own or any(tokens_key(reading) == tokens_key(toks) for reading in readings for toks in own):
        return None
    closest = min(own, key=lambda toks: (len(set(toks) ^ set(published)), len(toks)))
    return f"its repo name has other tokens than the entry ({token_diff(closest, published)})"


def discover(model: ModelInfo, catalogs: dict[str, Catalog | Match]) -> Discovered | None:
    """The join keys a model without an hf_id gets from the catalogs it is matched in."""
    if model.hf_id:
        return None
    keys: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    matched: dict[str, Match] = {}
    for name, match in match_catalogs(model, catalogs).items():
        catalog = catalogs[name]
        if isinstance(catalog, Match) or catalog.index.source.identity.hf_id is None:
            continue
        if match.status != MatchStatus.MATCHED or match.method in (MatchMethod.JOIN, MatchMethod.DISCOVERED):
            continue
        matched[name] = match
        if not catalog.index.source.identity.discover:
            continue
        raw = first_value(catalog.index.source.identity.hf_id, match.entry)
        repo = HF_PREFIX.sub("", str(raw or "").strip()).strip("/")
        if not REPO_ID.match(repo):
            continue
        where = f"{name} entry {match.entry_id} ({_path_text(catalog.index.source.identity.hf_id)})"
        if why := disagreement(catalog.index, match.entry, repo):
            refused.setdefault(repo, []).append(f"{where}: {why}")
            continue
        same = next((k for k in keys if k.lower() == repo.lower()), repo)
        keys.setdefault(same, []).append(where)
    for repo in list(keys):  # another catalog publishes the key for another entry than the name's
        for name, match in matched.items():
            index = catalogs[name].index  # type: ignore[union-attr]
            hits = index.by_hf.get(hf_key(repo) or "", [])
            if hits and hf_key(first_value(index.source.identity.hf_id, match.entry)) != hf_key(repo):
                why = f"{name} publishes it for {index.describe(hits[0])['id']}, but the model's name is {match.entry_id} there"
                refused.setdefault(repo, []).extend(f"{where}: {why}" for where in keys.pop(repo))
                break
    return Discovered(keys, refused) if keys or refused else None


def with_keys(models: list[ModelInfo], catalogs: dict[str, Catalog | Match]) -> tuple[list[ModelInfo], dict]:
    """The models with their discovered hf_id set (and where it came from), and every discovery."""
    found = {m.name: d for m in models if (d := discover(m, catalogs))}
    out = [
        replace(m, hf_id=d.key, hf_id_from=d.describe(d.key)) if (d := found.get(m.name)) and d.key else m
        for m in models
    ]
    return out, found
