"""The wire, without trusting the other side: the pace of sends (a rate limiter with margin), a
total deadline per request, a cap on the (decompressed) body, 429 headers parsed defensively,
and bodies parsed, shape-checked and compared with the cached copy (a catalog that shrinks).

``requests``' timeout bounds each ``recv``, not the request: a server sending one byte a second
keeps it alive forever. So every socket a request opens (or reuses) is registered with a
watchdog thread that shuts it down when the request's deadline passes or the run is cancelled;
the blocked read then returns at once. Bodies are streamed and counted after decompression
(urllib3 >= 2.6 never inflates more than the chunk asked for), so a gzip bomb or an endless
stream is cut at the limit with a bounded memory peak.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from jsonpath_ng import Child
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import formats, settings
from .errors import SourceError
from .mappings import KeyPath, Source

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


def _seconds(text: str) -> float | None:
    """A number of seconds from a header; inf, nan and overflows are all 'absurd' (inf)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else math.inf


def _sane(seconds: float) -> float:
    return math.inf if seconds > settings.ABSURD_WAIT_SECONDS else max(seconds, 0.0)


def retry_after(response: requests.Response, now: float) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date), X-RateLimit-Reset (epoch seconds,
    epoch milliseconds or a delay, told apart by magnitude) or RateLimit t=; inf when absurd."""
    value = response.headers.get("Retry-After", "").strip()
    if value:
        seconds = _seconds(value)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError, OverflowError, IndexError):
                seconds = None
        if seconds is not None:
            return _sane(seconds)
    reset = _seconds(response.headers.get("X-RateLimit-Reset", "").strip() or "-")
    if reset is not None:
        if reset > 1e11:  # epoch milliseconds (epoch seconds reach 1e11 in the year 5138)
            reset /= 1000
        return _sane(reset - now if reset >= 1e9 else reset)
    for part in response.headers.get("RateLimit", "").split(";"):
        if part.strip().startswith("t=") and (told := _seconds(part.strip()[2:])) is not None:
            return _sane(told)
    return None


def beyond_ceiling(told: float, ceiling: float) -> str:
    if math.isinf(told):
        return f"asked to wait an absurd time, more than the {ceiling:.0f} s ceiling: come back later"
    when = datetime.fromtimestamp(time.time() + told, timezone.utc).isoformat(timespec="minutes")
    return f"asked to wait {told:.0f} s, more than the {ceiling:.0f} s ceiling: come back after {when}"


def error_detail(response: requests.Response) -> str:
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
    return formats.parse(source, url, content, content_type)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def check_shape(source: Source, url: str, body: Any) -> None:
    """A JSON body must have the shape ``records`` reads (objects where records are expected):
    anything else would crash or silently empty the transform, in every later run."""
    if source.records is None:
        return
    if source.format != "json":
        formats.check_records(source, url, len(body) if isinstance(body, list) else 0)
        return
    expr = source.records
    wants_object = isinstance(expr, KeyPath) or str(expr)[:2] == "$." and str(expr)[2:3] not in ("*", "[")
    if wants_object and not isinstance(body, dict):
        raise SourceError(
            source.name,
            f"unexpected JSON shape from {url}: expected an object at the top level, got {_kind(body)}",
            url,
        )
    step = expr
    while isinstance(step, Child):  # what a wildcard steps into must be a list or an object
        if str(step.right) in ("*", "[*]"):
            for match in step.left.find(body):
                if not isinstance(match.value, (list, dict)):
                    raise SourceError(
                        source.name,
                        f"unexpected JSON shape from {url}: {step.left} holds {_kind(match.value)}, expected a list of records",
                        url,
                    )
        step = step.left
    found = expr.find(body)
    for match in found:
        if not isinstance(match.value, dict):
            raise SourceError(
                source.name,
                f"unexpected JSON shape from {url}: {expr} holds {_kind(match.value)}, expected objects",
                url,
            )
    formats.check_records(source, url, len(found))


#: below this many cached records only a drop to zero counts as a shrink (small catalogs vary)
SHRINK_MIN_RECORDS = 10


def check_shrink(source: Source, url: str, before: int, now: int) -> None:
    """A catalog page that comes back with far fewer records than the cached copy is a failure
    (the cached copy then stays in use): one bad answer must not erase filled values."""
    limit = source.shrink_limit if source.shrink_limit is not None else settings.DEFAULT_SHRINK_LIMIT
    if before and (now == 0 or (before >= SHRINK_MIN_RECORDS and now < before * (1 - limit))):
        raise SourceError(
            source.name,
            f"{url} answered {now} record(s) where the cached copy has {before} (more than {limit:.0%} "
            f"fewer): kept the cached copy; if the catalog really shrank, raise sources.{source.name}.shrink_limit",
            url,
        )


class RateLimiter:
    """At most ``rate`` sends in any rolling second for one source, shared by its threads.

    A sliding window over the actual send times: a send waits until the ``rate``-th send before
    it is one second plus ``margin`` old. Spacing sends exactly 1/rate apart let network and
    scheduling jitter put ``rate + 1`` arrivals inside one second at the server; the margin
    absorbs up to that much jitter. (For a rate below 1, one send per 1/rate seconds.)
    """

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] | None = None,
        margin: float = settings.DEFAULT_RATE_MARGIN,
    ):
        self.count = max(1, int(rate)) if rate else 0
        self.window = self.count / rate + margin if rate else 0.0
        self._sent: deque[float] = deque(maxlen=self.count or 1)
        self._lock = threading.Lock()
        self._clock, self._sleep, self._on_wait = clock, sleep, on_wait

    def wait(self) -> None:
        if not self.count:
            return
        with self._lock:  # held while sleeping: the threads of one source queue in order
            now = self._clock()
            due = self._sent[0] + self.window if len(self._sent) == self.count else now
            if due > now:
                if due - now >= 2 and self._on_wait:
                    self._on_wait(due - now)
                self._sleep(due - now)
            self._sent.append(max(self._clock(), due))  # the real time, if the sleep overshot
