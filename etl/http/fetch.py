"""Getting documents through the cache: the one place that decides what is read from it, what is
sent (through etl/http/policy.py and etl/http/transport.py) and what is saved. The HTTP layer by job:

    transport.py  session, deadline watchdog, redirects, bounded body
    policy.py     rate limiter, retries, the waits servers ask for
    formats.py    one parser per body format, and the bounds every body must keep
    documents.py  records, paging, shape and shrink checks
    fetch.py      the cache: read, send, check, save; what each URL's last answer was

A response is read from the cache when it is there (and fresh, unless ``refresh``); only real
sends wait for the source's rate limiter. Offline, the cache is read directly, whatever the age of
the entry, and nothing is sent. The Fetcher saves a response itself, and only a 200 whose body
parses and has the shape its source declares, with every known key redacted from its body and
headers and no request headers at all. Keys travel in headers only, and the headers that carry
them are also in requests-cache's ``ignored_parameters`` (extending its defaults), so they are
never part of a cache key.

What requests-cache gives and what we keep, tried one by one:
- Its storage is ours: ``create_key``, ``get_response``, ``save_response``, ``delete`` on one
  SQLite backend, and ``ignored_parameters`` for the key headers.
- ``only_if_cached`` (a 504 for a miss) is not used for offline runs: an offline read must tell a
  miss from a remembered 404 or a remembered failure (the ``fetches`` table), read an entry of any
  age, and cost no session round trip per URL (the key of each URL is kept, see ``key_index``:
  normalising a URL costs ~0.5 ms, ~10% of an offline run). ``get_response`` does all of that.
- ``expire_after`` per URL (``urls_expire_after``) is not used for ``frozen_since``: the rule is
  declared per source, whose URL a config may point at a mirror, and it must hold for entries
  imported from cassettes, which carry their own expiry. One line in ``get`` does it.
- Its session and adapters do not send: they would cache a 200 as received, before it is
  bounded, parsed, shape-checked and redacted (etl/http/transport.py says more).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests_cache import CachedSession
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from .. import settings
from ..declared.mappings import Source, first_value
from ..errors import SourceError
from ..results.outcomes import FetchOutcome
from .documents import Document, check_shape, check_shrink, pages
from .formats import parse
from .policy import NotInSource, RateLimiter, Retries
from .transport import Cancelled, Transport, TransportFailure

__all__ = ["CacheMiss", "Cancelled", "Document", "FetchSettings", "Fetcher", "NotInSource", "RateLimiter"]


class CacheMiss(Exception):
    """Offline, and the cache lacks this response."""

    def __init__(self, source: str, url: str):
        self.source, self.url = source, url
        super().__init__(f"{source} {url}")


def cached_expiry(ttl_seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=ttl_seconds)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def open_session(store_path: Path, ttl_hours: float, auth_headers: list[str]) -> CachedSession:
    store_path.parent.mkdir(parents=True, exist_ok=True)
    return CachedSession(
        str(store_path),
        backend="sqlite",
        expire_after=ttl_hours * 3600,
        allowable_codes=(200,),
        allowable_methods=("GET",),
        ignored_parameters=list(DEFAULT_IGNORED_PARAMS) + [h for h in auth_headers if h],
        cache_control=False,
        wal=True,  # readers never block the writer; synchronous=NORMAL: safe, and far fewer fsyncs
        busy_timeout=30_000,
    )


@dataclass(frozen=True)
class FetchSettings:
    """Everything a Fetcher needs, in one object; the defaults are settings.py's named ones."""

    store_path: Path
    keys: dict[str, str] = field(default_factory=dict)  # source -> key, already clean (etl/declared/sources.py)
    rate_limits: dict[str, float | None] = field(default_factory=dict)
    auth_headers: tuple[str, ...] = ()  # headers that carry keys: never a cache key part, never stored
    key_hosts: dict[str, str] = field(default_factory=dict)  # source -> the host its YAML declares
    ttl_hours: float = settings.DEFAULT_TTL_HOURS
    timeout: float = settings.DEFAULT_TIMEOUT
    max_retries: int = settings.DEFAULT_MAX_RETRIES
    backoff: float = settings.DEFAULT_RETRY_BACKOFF_FACTOR
    max_wait: float = settings.DEFAULT_MAX_RETRY_WAIT
    deadline: float = settings.DEFAULT_DEADLINE
    max_body: int = settings.DEFAULT_MAX_BODY_BYTES
    refresh: bool = False
    offline: bool = False


class Fetcher:
    """Gets a source's documents for a run (``offline=False``) or from the cache alone."""

    def __init__(
        self,
        opts: FetchSettings,
        *,
        known: dict[str, tuple[str, float, str]] | None = None,
        key_index: dict[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.opts = opts
        self.keys = {name: key for name, key in opts.keys.items() if key}
        # each key as sent and as a JSON string would escape it (a server may echo either)
        self.secrets = sorted({form for key in self.keys.values() for form in (key, json.dumps(key)[1:-1])})
        self.session = open_session(opts.store_path, opts.ttl_hours, list(opts.auth_headers))
        self.cancelled = threading.Event()
        self.transport = Transport(
            self.cancelled, self.keys, opts.key_hosts, self.secrets, opts.timeout, opts.deadline, opts.max_body
        )
        self.retries = Retries(opts.max_retries, opts.backoff, opts.max_wait)
        self.sleep = sleep or self._interruptible_sleep
        #: called with (source, seconds) before a wait of 2 s or more, for progress displays
        self.on_wait: Callable[[str, float], None] = lambda name, seconds: None
        self.limiters = {
            name: RateLimiter(rate, sleep=self.sleep, on_wait=lambda s, n=name: self.on_wait(n, s))
            for name, rate in opts.rate_limits.items()
        }
        self.refresh, self.offline = opts.refresh, opts.offline
        self.known = known or {}  # URL -> (outcome, epoch, message) of its last non-200 answer
        self.key_index = dict(key_index or {})  # URL -> requests-cache key
        self.new_keys: dict[str, str] = {}
        self.read_keys: list[str] = []  # cache keys of the responses read from the cache, in order
        self.ttl = opts.ttl_hours * 3600
        self.sent = 0  # real requests, for reports and tests
        self.outcomes: list[dict[str, Any]] = []  # one row per network fetch, for the fetches table
        self._auth_headers = {h.lower() for h in opts.auth_headers if h}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.transport.close()
        self.session.close()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise Cancelled()

    def documents(self, source: Source, url: str) -> list[Document]:
        """All pages of a catalog, or the one document of a per-model URL (etl/http/documents.py)."""
        return pages(source, url, self.get)

    def companions(self, source: Source) -> dict[str, Any]:
        """The extra documents a catalog declares (fetched once, like the catalog)."""
        out = {}
        for name, spec in source.companions.items():
            companion = replace(
                source, url=spec["url"], format=spec.get("format", "json"), params={}, pagination=None, records=None
            )
            out[name] = self.get(companion, spec["url"], {}).body
        return out

    def get(self, source: Source, url: str, params: dict[str, Any]) -> Document:
        ident = url + ("?" + urlencode(sorted((k, str(v)) for k, v in params.items())) if params else "")
        key = self.key_index.get(ident)
        if key is None:  # requests-cache's key: URL normalization costs ~0.5 ms, so it is kept per URL
            key = self.session.cache.create_key(requests.Request("GET", url, params=params).prepare())
            self.key_index[ident] = self.new_keys[ident] = key
        cached = self.session.cache.get_response(key)
        if cached is not None and (
            self.offline or not ((cached.is_expired and not source.frozen_since) or self.refresh)
        ):
            self.read_keys.append(key)
            return self._document(source, cached, key, from_cache=True)
        full_url = requests.Request("GET", url, params=params).prepare().url
        outcome, at, message = self.known.get(full_url, ("", 0.0, ""))
        if outcome == FetchOutcome.NOT_FOUND and (self.offline or (time.time() - at < self.ttl and not self.refresh)):
            # a not-found answer is remembered for the TTL (outside the HTTP cache, which keeps 200s only)
            raise NotInSource(f"not in {source.name} (answered not-found when fetched)")
        if self.offline:
            if outcome == FetchOutcome.FAILED:  # the last fetch failed: that is a failure to report, not a miss
                when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
                raise SourceError(source.name, f"{message} (fetch of {when})", full_url)
            raise CacheMiss(source.name, full_url)
        response = self._send(source, url, params, full_url)
        try:
            doc = self._document(source, response, key, from_cache=False)
            self._check_shrink(source, doc, cached, key)
        except SourceError as exc:
            self._record(source, full_url, response.status_code, FetchOutcome.FAILED, exc.detail)
            raise
        self._save(response, key)  # under the original URL's key: offline finds a redirected answer too
        return doc

    def _check_shrink(self, source: Source, doc: Document, cached: Any, key: str) -> None:
        """A catalog page that comes back with far fewer records than the copy in the cache is a
        failure, and the cached copy stays in use: one bad answer must not erase filled values."""
        if source.scope != "catalog" or cached is None:
            return
        try:
            before = len(self._document(source, cached, key, from_cache=True).records(source))
        except SourceError:
            return
        check_shrink(source, doc.url, before, len(doc.records(source)))

    def _document(self, source: Source, response: Any, key: str, from_cache: bool) -> Document:
        try:
            body = parse(source, response.url, response.content, response.headers.get("Content-Type", ""))
            check_shape(source, response.url, body)
        except SourceError:
            if from_cache and not self.offline:  # offline, the transform's transaction holds the store
                self.session.cache.delete(key)  # a cached body that does not parse is not kept
            raise
        created = getattr(response, "created_at", None) or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        context = {k: first_value(expr, body) for k, expr in source.context.items()}
        return Document(source.name, response.url, body, created.isoformat(timespec="seconds"), context)

    def _save(self, response: requests.Response, key: str) -> None:
        """Cache a copy that carries no request headers, and no known key in its headers or body
        (a server may echo the key back)."""
        headers = {
            redact(k, self.secrets): redact(v, self.secrets)
            for k, v in response.headers.items()
            if k.lower() not in self._auth_headers
        }
        clean = requests.Response()
        clean.status_code, clean.url = response.status_code, response.url
        clean.reason = redact(response.reason or "", self.secrets)  # a status line can echo a key too
        clean.encoding, clean.elapsed = response.encoding, response.elapsed
        clean.headers = CaseInsensitiveDict(headers)
        clean._content = response.content  # noqa: SLF001 - already redacted when read
        clean.raw = urllib3.HTTPResponse(
            body=b"", headers=headers, status=response.status_code, request_url=response.url, preload_content=False
        )
        clean.request = requests.Request("GET", response.url).prepare()
        self.session.cache.save_response(clean, cache_key=key, expires=cached_expiry(self.ttl))

    def _record(self, source: Source, url: str, status: int | None, outcome: FetchOutcome, message: str = "") -> None:
        row = {
            "url": url,
            "source": source.name,
            "status": status,
            "outcome": outcome,
            "message": redact(message, self.secrets),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self._lock:
            self.outcomes.append(row)

    def _attempt(self, source: Source, url: str, params: dict[str, Any], full_url: str) -> requests.Response:
        """One send, counted; a failure for good on the wire is recorded before it propagates."""
        with self._lock:
            self.sent += 1
        try:
            return self.transport.fetch_once(source, url, params, full_url)
        except TransportFailure as exc:
            self._record(source, exc.url or full_url, exc.status, FetchOutcome.FAILED, exc.detail)
            raise

    def _send(self, source: Source, url: str, params: dict[str, Any], full_url: str) -> requests.Response:
        return self.retries.send(
            source,
            full_url,
            lambda: self._attempt(source, url, params, full_url),
            limiter=self.limiters.get(source.name) or RateLimiter(None),
            record=lambda status, outcome, message: self._record(source, full_url, status, outcome, message),
            redact=lambda text: redact(text, self.secrets),
            sleep=self.sleep,
            on_wait=lambda seconds: self.on_wait(source.name, seconds),
            cancelled=self.cancelled,
        )
