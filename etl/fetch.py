"""Getting documents: the cache (requests-cache on the SQLite store), rate limits, retries, paging.

A response is read from the cache when it is there (and fresh, unless ``refresh``); only real
sends wait for the source's rate limiter. Offline, the cache is read directly, whatever the age of
the entry, and nothing is sent. Sends go through a plain session (``http_body``: a total deadline
per request, a cap on the decompressed body); the Fetcher saves a response itself, and only a 200
whose body parses and has the shape its source declares, with every known key redacted from its
body and headers and no request headers at all. Keys travel in headers only, never after an
https -> http hop, and the headers that carry them are also in requests-cache's
``ignored_parameters`` (extending its defaults), so they are never part of a cache key. Paging
stops as a failure on a page that repeats the one before or brings no new record, and at
``max_pages``: a server that ignores the page parameter is not asked 200 times.

Retries are ours, not tenacity's or urllib3's ``Retry``: a wait must come from three services' own
headers (``Retry-After`` in seconds or as a date, AA's ``X-RateLimit-Reset`` in epoch seconds or
milliseconds, Hugging Face's ``RateLimit: ...;t=``), and a wait beyond the ceiling must stop the source
for the run instead of sleeping; neither library does both, and each would hide the attempt count
the messages report.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests_cache import CachedSession
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from . import settings
from .errors import SourceError, SourceStopped
from .http_body import (
    BodyTooLarge,
    RateLimiter,
    Watch,
    Watchdog,
    beyond_ceiling,
    check_shape,
    check_shrink,
    error_detail,
    parse_body,
    plain_session,
    read_body,
    retry_after,
    size_text,
)
from .mappings import Source, first_value

log = logging.getLogger("etl")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class CacheMiss(Exception):
    """Offline, and the cache lacks this response."""

    def __init__(self, source: str, url: str):
        self.source, self.url = source, url
        super().__init__(f"{source} {url}")


class Cancelled(Exception):
    """The run was interrupted (Ctrl-C, SIGTERM): workers stop before their next send."""


class NotInSource(Exception):
    """The source answered that it does not know this model (e.g. Hugging Face 404)."""


@dataclass
class Document:
    source: str
    url: str
    body: Any
    fetched_at: str
    context: dict[str, Any] = field(default_factory=dict)

    companions: dict[str, Any] = field(default_factory=dict)

    def records(self, source: Source) -> list[Any]:
        """The entries of this response: a list, or an object keyed by model (``key_field``)."""
        out = []
        for match in source.records.find(self.body):
            value = match.value
            if source.key_field and isinstance(value, dict):
                entries = [
                    {**v, source.key_field: k} if isinstance(v, dict) else {source.key_field: k, "value": v}
                    for k, v in value.items()
                ]
            else:
                entries = [value]
            out += [e for e in entries if source.keeps(e)]
        return source.one_row_each(out)


def cached_expiry(ttl_seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)


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


def _same(a: Any, b: Any) -> bool:
    try:
        return a == b
    except RecursionError:
        return False


@dataclass(frozen=True)
class FetchSettings:
    """Everything a Fetcher needs, in one object; the defaults are settings.py's named ones."""

    store_path: Path
    keys: dict[str, str] = field(default_factory=dict)  # source -> key, already clean (etl/sources.py)
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


LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
        self.http = plain_session(settings.USER_AGENT)
        self.cancelled = threading.Event()
        self.watchdog = Watchdog(self.cancelled, settings.CANCEL_GRACE)
        sleep = sleep or self._interruptible_sleep
        #: called with (source, seconds) before a wait of 2 s or more, for progress displays
        self.on_wait: Callable[[str, float], None] = lambda name, seconds: None
        self.limiters = {
            name: RateLimiter(rate, sleep=sleep, on_wait=lambda s, n=name: self.on_wait(n, s))
            for name, rate in opts.rate_limits.items()
        }
        self.timeout, self.max_retries = opts.timeout, opts.max_retries
        self.backoff, self.max_wait = opts.backoff, opts.max_wait
        self.deadline, self.max_body = opts.deadline, opts.max_body
        self.refresh, self.offline, self.sleep = opts.refresh, opts.offline, sleep
        self.known = known or {}  # URL -> (outcome, epoch, message) of its last non-200 answer
        self.key_index = dict(key_index or {})  # URL -> requests-cache key
        self.new_keys: dict[str, str] = {}
        self.ttl = opts.ttl_hours * 3600
        self.sent = 0  # real requests, for reports and tests
        self.outcomes: list[dict[str, Any]] = []  # one row per network fetch, for the fetches table
        self._auth_headers = {h.lower() for h in opts.auth_headers if h}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.watchdog.close()
        self.http.close()
        self.session.close()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise Cancelled()

    def documents(self, source: Source, url: str) -> list[Document]:
        """All pages of a catalog, or the one document of a per-model URL. A page that repeats
        the one before, or brings no new record, stops paging as a failure (a server ignoring the
        page parameter would otherwise be asked ``max_pages`` times); so does reaching ``max_pages``."""
        pag = source.pagination
        params = dict(source.params)
        if not pag:
            return [self.get(source, url, params)]
        docs: list[Document] = []
        seen: set[str] = set()
        value, step, max_pages = pag.get("start", 1), pag.get("step", 1), pag.get("max_pages", 100)
        for _ in range(max_pages):
            params[pag["param"]] = value
            doc = self.get(source, url, params)
            docs.append(doc)
            records = [m.value for m in source.records.find(doc.body)]
            if not records:
                return docs
            self._check_progress(source, url, f"{pag['param']}={value}", docs, records, seen)
            if "has_more" in pag and not first_value(pag["has_more"], doc.body):
                return docs
            if "total" in pag:
                total = first_value(pag["total"], doc.body)
                if not isinstance(total, int) or value + step >= total:
                    return docs
            value += step
        raise SourceError(
            source.name,
            f"still more pages after max_pages ({max_pages}) from {url}: stopped; if the catalog really is "
            f"that large, raise pagination.max_pages of {source.name} in sources.yaml",
            url,
        )

    @staticmethod
    def _check_progress(source: Source, url: str, page: str, docs: list, records: list, seen: set[str]) -> None:
        if len(docs) > 1 and _same(docs[-1].body, docs[-2].body):
            raise SourceError(
                source.name,
                f"the page at {page} from {url} is identical to the one before: stopped paging after {len(docs)} pages",
                url,
            )
        ids = set()
        for record in records:
            rid = next((v for e in source.identity.ids if (v := first_value(e, record)) is not None), None)
            try:
                ids.add(json.dumps(record if rid is None else rid, sort_keys=True, default=str))
            except RecursionError:  # a record too deep to compare counts as new
                ids.add(f"#{len(seen) + len(ids)}")
        if not ids - seen:
            raise SourceError(
                source.name,
                f"the page at {page} from {url} has no new records (all {len(ids)} ids seen on earlier pages): "
                f"stopped paging after {len(docs)} pages",
                url,
            )
        seen |= ids

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
            return self._document(source, cached, key, from_cache=True)
        full_url = requests.Request("GET", url, params=params).prepare().url
        outcome, at, message = self.known.get(full_url, ("", 0.0, ""))
        if outcome == "not_found" and (self.offline or (time.time() - at < self.ttl and not self.refresh)):
            # a not-found answer is remembered for the TTL (outside the HTTP cache, which keeps 200s only)
            raise NotInSource(f"not in {source.name} (answered not-found when fetched)")
        if self.offline:
            if outcome == "failed":  # the last fetch failed: that is a failure to report, not a miss
                when = datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")
                raise SourceError(source.name, f"{message} (fetch of {when})", full_url)
            raise CacheMiss(source.name, full_url)
        response = self._send(source, url, params, full_url)
        try:
            doc = self._document(source, response, key, from_cache=False)
            self._check_shrink(source, doc, cached, key)
        except SourceError as exc:
            self._record(source, full_url, response.status_code, "failed", exc.detail)
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
            body = parse_body(source, response.url, response.content, response.headers.get("Content-Type", ""))
            check_shape(source, response.url, body)
        except SourceError:
            if from_cache and not self.offline:  # offline, the transform's transaction holds the store
                self.session.cache.delete(key)  # a cached body that does not parse is not kept
            raise
        created = getattr(response, "created_at", None) or datetime.now(timezone.utc)
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
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

    def _headers(self, source: Source) -> dict[str, str]:
        auth = source.auth or {}
        key = self.keys.get(source.name)
        return {auth["header"]: auth.get("prefix", "") + key} if auth and key else {}

    def _record(self, source: Source, url: str, status: int | None, outcome: str, message: str = "") -> None:
        row = {
            "url": url,
            "source": source.name,
            "status": status,
            "outcome": outcome,
            "message": redact(message, self.secrets),
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        with self._lock:
            self.outcomes.append(row)

    def _may_carry_key(self, source: Source, origin: Any, here: Any) -> bool:
        """The key goes to the URL the run was asked for, on the host the source declares, over
        https; a loopback origin (a local mirror, a test server) may use plain http. A config that
        points a source at another host gets no key sent there."""
        local = origin.hostname in LOOPBACK
        declared = self.opts.key_hosts.get(source.name)
        return (
            here.netloc == origin.netloc
            and (local or declared is None or here.netloc == declared)
            and (local or here.scheme == "https")
        )

    def _follow(self, source: Source, url: str, params: dict[str, Any], watch: Watch) -> requests.Response:
        """GET, following redirects by hand: requests keeps custom key headers across hosts. The
        key goes to the source's own host only, and never over plain http once https was used:
        a hop from https to http is refused. The response is returned unread (streaming)."""
        origin, asked = urlsplit(url), requests.Request("GET", url, params=params).prepare().url
        response = None
        for _ in range(MAX_REDIRECTS + 1):
            here = urlsplit(url)
            own = self._may_carry_key(source, origin, here)
            wait = max(min(self.timeout, watch.remaining()), 0.01)
            response = self.http.get(
                url,
                params=params,
                headers=self._headers(source) if own else {},
                timeout=wait,
                allow_redirects=False,
                stream=True,
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                return response
            response.close()
            target = urljoin(response.url, location)
            if here.scheme == "https" and urlsplit(target).scheme != "https":
                msg = f"{response.url} redirected to plain http ({target}): refused, a request may not drop https"
                self._record(source, asked, response.status_code, "failed", msg)
                raise SourceError(source.name, msg, asked)
            url, params = target, {}
        return response

    def _fetch_once(self, source: Source, url: str, params: dict[str, Any], full_url: str) -> requests.Response:
        """One attempt, within the source's deadline and body limit; the body is read and redacted."""
        deadline = source.deadline or self.deadline
        limit = source.max_body or self.max_body
        with self.watchdog.watch(deadline) as watch:
            try:
                response = self._follow(source, url, params, watch)
                body = read_body(response, limit, watch)
            except BodyTooLarge:
                msg = (
                    f"the body from {full_url} is larger than the {size_text(limit)} limit (counted decompressed); "
                    f"nothing kept; if it is genuine, raise sources.{source.name}.max_body"
                )
                self._record(source, full_url, None, "failed", msg)
                raise SourceError(source.name, msg, full_url) from None
            except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
                if watch.fired == "cancelled" or self.cancelled.is_set():
                    raise Cancelled() from None
                if watch.fired == "deadline" or watch.remaining() <= 0:
                    msg = (
                        f"no complete answer within {deadline:g} s from {full_url} (the server sends too slowly); "
                        f"try later, or raise sources.{source.name}.deadline"
                    )
                    self._record(source, full_url, None, "failed", msg)
                    raise SourceError(source.name, msg, full_url) from None
                if isinstance(
                    exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
                ):
                    raise
                msg = f"{type(exc).__name__} on {full_url}"  # the type only: an exception's text may hold a header
                self._record(source, full_url, None, "failed", msg)
                raise SourceError(source.name, msg, full_url) from None
        for secret in self.secrets:  # a server may echo the key: it never goes further than here
            body = body.replace(secret.encode(), b"***")
        response._content = body  # noqa: SLF001
        return response

    def _send(self, source: Source, url: str, params: dict[str, Any], full_url: str) -> requests.Response:
        limiter = self.limiters.get(source.name) or RateLimiter(None)
        last = ""
        for attempt in range(self.max_retries + 1):
            if self.cancelled.is_set():
                raise Cancelled()
            limiter.wait()
            wait = self.backoff * 2**attempt * (1 + random.random() / 4)
            try:
                with self._lock:
                    self.sent += 1
                response = self._fetch_once(source, url, params, full_url)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last = f"{type(exc).__name__} on {full_url}"
            else:
                status = response.status_code
                if status == 200:
                    self._record(source, full_url, status, "ok")
                    return response
                if status in source.not_found:
                    self._record(source, full_url, status, "not_found")
                    raise NotInSource(f"not in {source.name} (HTTP {status} for {full_url})")
                # the server's text may echo the key: redacted here, before the cut (the URL carries no key)
                detail = redact(error_detail(response), self.secrets)[:200]
                hint = source.hints.get(status, "")
                last = (
                    f"HTTP {status} from {full_url}" + (f": {detail}" if detail else "") + (f"; {hint}" if hint else "")
                )
                if status not in RETRY_STATUSES:
                    self._record(source, full_url, status, "failed", last)
                    raise SourceError(source.name, last, full_url)
                told = retry_after(response, time.time())
                if told is not None:
                    if told > self.max_wait:
                        msg = f"{last}; {beyond_ceiling(told, self.max_wait)}"
                        self._record(source, full_url, status, "failed", msg)
                        raise SourceStopped(source.name, msg, full_url)
                    wait = told
            # only retriable failures get here: a time-out, a reset, a 429 or a 5xx
            log.warning("%s: %s (attempt %d of %d)", source.name, last, attempt + 1, self.max_retries + 1)
            if attempt < self.max_retries:
                self.on_wait(source.name, wait)
                self.sleep(wait)
        message = f"{last}; gave up after {self.max_retries + 1} attempts"
        self._record(source, full_url, None, "failed", message)
        raise SourceError(source.name, message, full_url)
