"""Transport: one request on the wire, without trusting the other side. A plain session whose
sockets a watchdog can cut, a total deadline per request, redirects followed by hand (the key goes
to the source's own host, over https), and a body read within a size limit (counted decompressed).

``requests``' timeout bounds each ``recv``, not the request: a server sending one byte a second
keeps it alive forever. So every socket a request opens (or reuses) is registered with a
watchdog thread that shuts it down when the request's deadline passes or the run is cancelled;
the blocked read then returns at once. Bodies are streamed and counted after decompression
(urllib3 >= 2.6 never inflates more than the chunk asked for), so a gzip bomb or an endless
stream is cut at the limit with a bounded memory peak.

Why not requests-cache's own session for sending: its adapters would cache a 200 as received,
before the body is bounded, parsed and shape-checked, and with any key the server echoes; the
Fetcher (etl/http/fetch.py) saves only checked, redacted copies itself. Our adapter (``WatchedAdapter``)
is a transport adapter in requests' own sense, mounted on the plain session: that is the hook
requests offers for per-socket control, and the only code of ours here that requests lacks.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .. import settings
from ..declared.mappings import Source
from ..errors import SourceError

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: what a retry may cure: a reset, a time-out of one read, a body cut short
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class Cancelled(Exception):
    """The run was interrupted (Ctrl-C, SIGTERM): workers stop before their next send."""


class TransportFailure(SourceError):
    """A request that failed for good on the wire (a refused redirect, a deadline, a body past the
    limit): the Fetcher records it with ``status`` (the last HTTP status seen, if any)."""

    def __init__(self, source: str, message: str, url: str, status: int | None = None):
        super().__init__(source, message, url)
        self.status = status

    def __reduce__(self) -> tuple:
        return type(self), (self.source, self.detail, self.url, self.status)


#: bytes asked of the decoder per read: the most a single read can inflate to
CHUNK = 64 * 1024
_current = threading.local()


class Watch:
    """One request's deadline, and the socket to cut when it passes (or when the run is cancelled)."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.fired = ""  # "deadline" or "cancelled" once the watchdog cut the socket
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self.sock = sock
            fired = self.fired
        if fired:
            _cut(sock)

    def fire(self, reason: str) -> None:
        with self._lock:
            if self.fired:
                return
            self.fired = reason
            sock = self.sock
        _cut(sock)


def _cut(sock: socket.socket | None) -> None:
    """Shut the socket down: a read blocked on it in another thread returns at once."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _register(sock: socket.socket | None) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(sock)


class _WatchedHTTP(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock

    def request(self, *args, **kwargs) -> None:  # a kept-alive connection is reused: watch it too
        if self.sock is not None:
            _register(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPS(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock

    def request(self, *args, **kwargs) -> None:
        if self.sock is not None:
            _register(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections register their sockets with the current thread's Watch."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def plain_session(user_agent: str) -> requests.Session:
    """The session that sends (no cache: the Fetcher saves checked, redacted responses itself)."""
    session = requests.Session()
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


class Watchdog:
    """One thread per Fetcher: cuts the socket of every request past its deadline, and of every
    request still in flight ``grace`` seconds after ``cancelled`` is set (Ctrl-C, SIGTERM): an
    answer arriving within the grace is kept (a re-run need not fetch it again), a stuck one is not
    waited for. Checks every ``tick`` seconds."""

    def __init__(self, cancelled: threading.Event, grace: float = 0.5, tick: float = 0.05):
        self.cancelled, self.grace, self.tick = cancelled, grace, tick
        self._cancelled_at: float | None = None
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Watch]:
        """Watch the requests the calling thread sends inside the block."""
        watch = Watch(seconds)
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="etl-watchdog", daemon=True)
                self._thread.start()
        _current.watch = watch
        try:
            yield watch
        finally:
            _current.watch = None
            with self._lock:
                self._watches.discard(watch)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            if self._cancelled_at is None and self.cancelled.is_set():
                self._cancelled_at = now
            cancelled = self._cancelled_at is not None and now - self._cancelled_at >= self.grace
            with self._lock:
                due = [w for w in self._watches if cancelled or now >= w.deadline]
            for watch in due:
                watch.fire("cancelled" if cancelled else "deadline")

    def close(self) -> None:
        self._stop.set()


class BodyTooLarge(Exception):
    """The body passed the size limit (counted after decompression)."""


def read_body(response: requests.Response, limit: int, watch: Watch) -> bytes:
    """The whole decompressed body, or BodyTooLarge as soon as it passes ``limit`` bytes.

    Connection errors propagate (the caller tells a cut by the watchdog from a reset by
    ``watch.fired``); the response is closed either way, so its connection is never reused half-read.
    """
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit and not response.headers.get("Content-Encoding"):
            raise BodyTooLarge()
        parts, size = [], 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            parts.append(chunk)
            if watch.fired:
                raise requests.ConnectionError(f"request {watch.fired}")
        body = b"".join(parts)
    finally:
        response.close()
    response._content = body  # noqa: SLF001 - requests' own slot for a consumed body
    response._content_consumed = True  # noqa: SLF001
    return body


def size_text(n: int) -> str:
    """Bytes for people: 64 MiB, 10 KiB, 500 bytes."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


class Transport:
    """Sends for one Fetcher: the plain session, the watchdog, and the rules on where a key goes."""

    def __init__(
        self,
        cancelled: threading.Event,
        keys: dict[str, str],
        key_hosts: dict[str, str],
        secrets: list[str],
        timeout: float,
        deadline: float,
        max_body: int,
    ):
        self.http = plain_session(settings.USER_AGENT)
        self.cancelled = cancelled
        self.watchdog = Watchdog(cancelled, settings.CANCEL_GRACE)
        self.keys, self.key_hosts, self.secrets = keys, key_hosts, secrets
        self.timeout, self.deadline, self.max_body = timeout, deadline, max_body

    def close(self) -> None:
        self.watchdog.close()
        self.http.close()

    def headers(self, source: Source) -> dict[str, str]:
        auth = source.auth or {}
        key = self.keys.get(source.name)
        return {auth["header"]: auth.get("prefix", "") + key} if auth and key else {}

    def may_carry_key(self, source: Source, origin: Any, here: Any) -> bool:
        """The key goes to the URL the run was asked for, on the host the source declares, over
        https; a loopback origin (a local mirror, a test server) may use plain http. A config that
        points a source at another host gets no key sent there."""
        local = origin.hostname in LOOPBACK
        declared = self.key_hosts.get(source.name)
        return (
            here.netloc == origin.netloc
            and (local or declared is None or here.netloc == declared)
            and (local or here.scheme == "https")
        )

    def follow(self, source: Source, url: str, params: dict[str, Any], watch: Watch) -> requests.Response:
        """GET, following redirects by hand: requests keeps custom key headers across hosts. The
        key goes to the source's own host only, and never over plain http once https was used:
        a hop from https to http is refused. The response is returned unread (streaming)."""
        origin, asked = urlsplit(url), requests.Request("GET", url, params=params).prepare().url
        response = None
        for _ in range(MAX_REDIRECTS + 1):
            here = urlsplit(url)
            own = self.may_carry_key(source, origin, here)
            wait = max(min(self.timeout, watch.remaining()), 0.01)
            response = self.http.get(
                url,
                params=params,
                headers=self.headers(source) if own else {},
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
                raise TransportFailure(source.name, msg, asked, response.status_code)
            url, params = target, {}
        return response

    def fetch_once(self, source: Source, url: str, params: dict[str, Any], full_url: str) -> requests.Response:
        """One attempt, within the source's deadline and body limit; the body is read and any known
        key in it replaced. TRANSIENT errors propagate (a retry may cure them)."""
        deadline = source.deadline or self.deadline
        limit = source.max_body or self.max_body
        with self.watchdog.watch(deadline) as watch:
            try:
                response = self.follow(source, url, params, watch)
                body = read_body(response, limit, watch)
            except BodyTooLarge:
                msg = (
                    f"the body from {full_url} is larger than the {size_text(limit)} limit (counted decompressed); "
                    f"nothing kept; if it is genuine, raise sources.{source.name}.max_body"
                )
                raise TransportFailure(source.name, msg, full_url) from None
            except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
                if watch.fired == "cancelled" or self.cancelled.is_set():
                    raise Cancelled() from None
                if watch.fired == "deadline" or watch.remaining() <= 0:
                    msg = (
                        f"no complete answer within {deadline:g} s from {full_url} (the server sends too slowly); "
                        f"try later, or raise sources.{source.name}.deadline"
                    )
                    raise TransportFailure(source.name, msg, full_url) from None
                if isinstance(exc, TRANSIENT):
                    raise
                msg = f"{type(exc).__name__} on {full_url}"  # the type only: an exception's text may hold a header
                raise TransportFailure(source.name, msg, full_url) from None
        for secret in self.secrets:  # a server may echo the key: it never goes further than here
            body = body.replace(secret.encode(), b"***")
        response._content = body  # noqa: SLF001
        return response
