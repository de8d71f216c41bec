"""Everything HTTP: one requests-cache session on the SQLite store, rate limits, retries, parsing.

A response is read from the cache when it is there (and fresh, unless ``refresh``); only real
sends wait for the source's rate limiter. Offline, the cache is read directly, whatever the age of
the entry, and nothing is sent. Only 200 responses that parse are kept: error responses are never
cached, and a 200 whose body does not parse is deleted again. Keys travel in headers only, and the
headers that carry them are added to requests-cache's ``ignored_parameters`` (extending its
defaults, not replacing them), so they are neither part of the cache key nor stored.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests_cache import CachedSession
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from . import formats, settings
from .errors import SourceError, SourceStopped
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


class RateLimiter:
    """At most ``rate`` sends per second for one source, shared by its threads."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic, sleep=time.sleep, on_wait=None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep, self._on_wait = clock, sleep, on_wait

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            if delay >= 2 and self._on_wait:
                self._on_wait(delay)
            self._sleep(delay)


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


def _retry_after(response: requests.Response, now: float) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date), X-RateLimit-Reset or RateLimit t=."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and reset.replace(".", "", 1).isdigit():
        return max(float(reset) - now, 0.0)
    ratelimit = response.headers.get("RateLimit", "")
    for part in ratelimit.split(";"):
        if part.strip().startswith("t="):
            try:
                return max(float(part.strip()[2:]), 0.0)
            except ValueError:
                pass
    return None


def _error_detail(response: requests.Response) -> str:
    detail = response.headers.get("X-Error-Message") or ""
    if not detail:
        try:
            body = response.json()
            detail = body.get("error", "") if isinstance(body, dict) else ""
        except ValueError:
            detail = ""
    return str(detail)


def parse_body(source: Source, url: str, content: bytes, content_type: str) -> Any:
    """Parse a 200 body, or raise SourceError saying precisely what is wrong with it."""
    if source.format not in ("json", "csv"):  # yaml, tar.gz: etl/formats.py
        return formats.parse(source, url, content)
    if source.format == "csv":
        try:
            return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(source.name, f"unreadable CSV from {url}: {exc}", url) from None
    if "html" in content_type.lower() or content.lstrip()[:1] == b"<":
        raise SourceError(
            source.name, f"got an HTML page instead of JSON from {url} (content-type {content_type or 'none'})", url
        )
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            source.name, f"malformed JSON from {url} ({exc}; {len(content)} bytes received, truncated?)", url
        ) from None


class Fetcher:
    """Gets a source's documents for a run (``offline=False``) or from the cache alone."""

    def __init__(
        self,
        store_path: Path,
        *,
        keys: dict[str, str],
        rate_limits: dict[str, float | None],
        ttl_hours: float = settings.DEFAULT_TTL_HOURS,
        timeout: float = settings.DEFAULT_TIMEOUT,
        max_retries: int = settings.DEFAULT_MAX_RETRIES,
        backoff: float = settings.DEFAULT_RETRY_BACKOFF_FACTOR,
        max_wait: float = settings.DEFAULT_MAX_RETRY_WAIT,
        refresh: bool = False,
        offline: bool = False,
        auth_headers: list[str] = (),
        known: dict[str, tuple[str, float, str]] | None = None,
        key_index: dict[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.session = open_session(store_path, ttl_hours, list(auth_headers))
        self.session.headers["User-Agent"] = settings.USER_AGENT
        self.keys = keys  # source name -> key
        self.secrets = [k for k in keys.values() if k]
        self.cancelled = threading.Event()
        sleep = sleep or self._interruptible_sleep
        #: called with (source, seconds) before a wait of 2 s or more, for progress displays
        self.on_wait: Callable[[str, float], None] = lambda name, seconds: None
        self.limiters = {
            name: RateLimiter(rate, sleep=sleep, on_wait=lambda s, n=name: self.on_wait(n, s))
            for name, rate in rate_limits.items()
        }
        self.timeout, self.max_retries, self.backoff, self.max_wait = timeout, max_retries, backoff, max_wait
        self.refresh, self.offline, self.sleep = refresh, offline, sleep
        self.known = known or {}  # URL -> (outcome, epoch, message) of its last non-200 answer
        self.key_index = dict(key_index or {})  # URL -> requests-cache key
        self.new_keys: dict[str, str] = {}
        self.ttl = ttl_hours * 3600
        self.sent = 0  # real requests, for reports and tests
        self.outcomes: list[dict[str, Any]] = []  # one row per network fetch, for the fetches table
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise Cancelled()

    def documents(self, source: Source, url: str) -> list[Document]:
        """All pages of a catalog, or the one document of a per-model URL."""
        pag = source.pagination
        params = dict(source.params)
        docs = []
        value = pag.get("start", 1) if pag else None
        for _ in range(pag.get("max_pages", 100) if pag else 1):
            if pag:
                params[pag["param"]] = value
            doc = self.get(source, url, params)
            docs.append(doc)
            if not pag or not source.records.find(doc.body):
                break
            if "has_more" in pag and not first_value(pag["has_more"], doc.body):
                break
            step = pag.get("step", 1)
            if "total" in pag:
                total = first_value(pag["total"], doc.body)
                if not isinstance(total, int) or value + step >= total:
                    break
            value += step
        return docs

    def companions(self, source: Source) -> dict[str, Any]:
        """The extra documents a catalog declares (fetched once, like the catalog)."""
        out = {}
        for name, spec in source.companions.items():
            companion = replace(source, url=spec["url"], format=spec.get("format", "json"), params={}, pagination=None)
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
            return self._document(source, cached, key)
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
        if response.url != full_url:  # redirected: the original URL must find it offline too
            self.session.cache.save_response(response, cache_key=key, expires=cached_expiry(self.ttl))
        try:
            return self._document(source, response, key)
        except SourceError as exc:
            self._record(source, full_url, response.status_code, "failed", exc.detail)
            raise

    def _document(self, source: Source, response: Any, key: str) -> Document:
        try:
            body = parse_body(source, response.url, response.content, response.headers.get("Content-Type", ""))
        except SourceError:
            if not self.offline:  # offline, the transform's transaction holds the store: leave it be
                self.session.cache.delete(key)  # a 200 that does not parse is never kept
            raise
        created = getattr(response, "created_at", None) or datetime.now(timezone.utc)
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        context = {k: first_value(expr, body) for k, expr in source.context.items()}
        return Document(source.name, response.url, body, created.isoformat(timespec="seconds"), context)

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

    def _follow(self, source: Source, url: str, params: dict[str, Any]) -> requests.Response:
        """GET, following redirects by hand: requests-cache would pickle each hop's request with its
        auth headers, and requests keeps custom key headers across hosts. The key goes to the
        source's own host only; the final response is the one cached."""
        host = urlsplit(url).netloc
        response = None
        for _ in range(MAX_REDIRECTS + 1):
            headers = self._headers(source) if urlsplit(url).netloc == host else {}
            response = self.session.get(
                url, params=params, headers=headers, timeout=self.timeout, force_refresh=True, allow_redirects=False
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                return response
            url, params = urljoin(response.url, location), {}
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
                response = self._follow(source, url, params)
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
                detail = redact(_error_detail(response), self.secrets)[:200]
                hint = source.hints.get(status, "")
                last = (
                    f"HTTP {status} from {full_url}" + (f": {detail}" if detail else "") + (f"; {hint}" if hint else "")
                )
                if status not in RETRY_STATUSES:
                    self._record(source, full_url, status, "failed", last)
                    raise SourceError(source.name, last, full_url)
                told = _retry_after(response, time.time())
                if told is not None:
                    if told > self.max_wait:
                        when = datetime.fromtimestamp(time.time() + told, timezone.utc).isoformat(timespec="minutes")
                        msg = f"{last}; asked to wait {told:.0f} s, more than the {self.max_wait:.0f} s ceiling: come back after {when}"
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
