"""Policy: when to send and when to try again. A rate limiter per source (a rolling window with a
margin), retries with backoff on what a retry may cure (a reset, a time-out, 429, 5xx), and the
waits the services themselves ask for, parsed defensively.

Retries are ours, not tenacity's or urllib3's ``Retry``: a wait must come from three services' own
headers (``Retry-After`` in seconds or as a date, AA's ``X-RateLimit-Reset`` in epoch seconds or
milliseconds, Hugging Face's ``RateLimit: ...;t=``), and a wait beyond the ceiling must stop the
source for the run instead of sleeping; neither library does both, and each would hide the attempt
count the messages report. requests-cache has no pacing or retry of its own to reuse here.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from .. import settings
from ..declared.mappings import Source
from ..errors import SourceError, SourceStopped
from ..results.outcomes import FetchOutcome
from .transport import TRANSIENT, Cancelled

log = logging.getLogger("etl")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class NotInSource(Exception):
    """The source answered that it does not know this model (e.g. Hugging Face 404)."""


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
    when = datetime.fromtimestamp(time.time() + told, UTC).isoformat(timespec="minutes")
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


#: what a send reports for the fetches table: (status, outcome, message)
Record = Callable[[int | None, FetchOutcome, str], None]


@dataclass
class Retries:
    """How many attempts, how long between them, and the longest wait a server may ask for."""

    max_retries: int = settings.DEFAULT_MAX_RETRIES
    backoff: float = settings.DEFAULT_RETRY_BACKOFF_FACTOR
    max_wait: float = settings.DEFAULT_MAX_RETRY_WAIT

    def send(
        self,
        source: Source,
        full_url: str,
        attempt: Callable[[], requests.Response],
        *,
        limiter: RateLimiter,
        record: Record,
        redact: Callable[[str], str],
        sleep: Callable[[float], None],
        on_wait: Callable[[float], None],
        cancelled: threading.Event,
    ) -> requests.Response:
        """A 200, or NotInSource for a status the source declares 'not found', or SourceError
        (SourceStopped when asked to wait beyond ``max_wait``) once retries are spent."""
        last = ""
        for number in range(self.max_retries + 1):
            if cancelled.is_set():
                raise Cancelled()
            limiter.wait()
            wait = self.backoff * 2**number * (1 + random.random() / 4)
            try:
                response = attempt()
            except TRANSIENT as exc:
                last = f"{type(exc).__name__} on {full_url}"
            else:
                status = response.status_code
                if status == 200:
                    record(status, FetchOutcome.OK, "")
                    return response
                if status in source.not_found:
                    record(status, FetchOutcome.NOT_FOUND, "")
                    raise NotInSource(f"not in {source.name} (HTTP {status} for {full_url})")
                # the server's text may echo the key: redacted here, before the cut (the URL carries no key)
                detail = redact(error_detail(response))[:200]
                hint = source.hints.get(status, "")
                last = (
                    f"HTTP {status} from {full_url}" + (f": {detail}" if detail else "") + (f"; {hint}" if hint else "")
                )
                if status not in RETRY_STATUSES:
                    record(status, FetchOutcome.FAILED, last)
                    raise SourceError(source.name, last, full_url)
                told = retry_after(response, time.time())
                if told is not None:
                    if told > self.max_wait:
                        msg = f"{last}; {beyond_ceiling(told, self.max_wait)}"
                        record(status, FetchOutcome.FAILED, msg)
                        raise SourceStopped(source.name, msg, full_url)
                    wait = told
            # only retriable failures get here: a time-out, a reset, a 429 or a 5xx
            log.warning("%s: %s (attempt %d of %d)", source.name, last, number + 1, self.max_retries + 1)
            if number < self.max_retries:
                on_wait(wait)
                sleep(wait)
        message = f"{last}; gave up after {self.max_retries + 1} attempts"
        record(None, FetchOutcome.FAILED, message)
        raise SourceError(source.name, message, full_url)


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
