"""Bounded HTTP: a total deadline per request and a cap on the (decompressed) body size.

``requests``' timeout bounds each ``recv``, not the request: a server sending one byte a second
keeps it alive forever. So every socket a request opens (or reuses) is registered with a
watchdog thread that shuts it down when the request's deadline passes or the run is cancelled;
the blocked read then returns at once. Bodies are streamed and counted after decompression
(urllib3 >= 2.6 never inflates more than the chunk asked for), so a gzip bomb or an endless
stream is cut at the limit with a bounded memory peak.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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
