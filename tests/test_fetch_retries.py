"""Each HTTP outcome of a fetch: what is retried, the waits (headers, limiter), their ceiling, the fix named."""

from __future__ import annotations

import functools
import json
import time
from email.utils import formatdate

import pytest
from helpers import config_dict
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.errors import SourceError, SourceStopped
from etl.http.fetch import NotInSource, RateLimiter

JSON = {"Content-Type": "application/json"}
OK_BODY = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()
OK = (200, JSON, OK_BODY)


@pytest.fixture
def make_with_retries(make):
    """The shared fixture with this module's defaults: three retries, 2 s per read."""
    return functools.partial(make, retries=3, timeout=2.0)


def _slow(handler):
    time.sleep(0.5)
    try:
        handler.send_response(200)
        handler.end_headers()
    except OSError:
        pass


def _reset(handler):
    handler.close_connection = True
    handler.connection.shutdown(2)


def test_429_with_retry_after_seconds_is_honoured(server, make_with_retries):
    server.script("/api/v1/models", [(429, {"Retry-After": "7"}, b""), OK])
    fetcher, source, waits = make_with_retries(server)
    docs = fetcher.documents(source, source.url)
    assert docs[0].body["data"][0]["id"] == "a/b"
    assert server.count() == 2 and waits == [7.0]


def test_429_with_retry_after_http_date(server, make_with_retries):
    server.script("/api/v1/models", [(429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}, b""), OK])
    fetcher, source, waits = make_with_retries(server)
    fetcher.documents(source, source.url)
    assert server.count() == 2 and 27 <= waits[0] <= 31


def test_aa_x_ratelimit_reset_and_hf_ratelimit_header(server, make_with_retries):
    server.script("/api/v1/models", [(429, {"X-RateLimit-Reset": str(int(time.time()) + 20)}, b""), OK])
    server.script("/api/models/a/b", [(429, {"RateLimit": '"api";r=0;t=12'}, b""), (200, JSON, b'{"id": "a/b"}')])
    fetcher, source, waits = make_with_retries(server)
    fetcher.documents(source, source.url)
    hf, hf_source, hf_waits = make_with_retries(server, "huggingface", "/api/models/{hf_id}")
    hf.documents(hf_source, hf_source.url.format(hf_id="a/b"))
    assert 18 <= waits[0] <= 21 and hf_waits == [12.0]


def test_a_wait_beyond_the_ceiling_stops_the_source_with_when_to_come_back(server, make_with_retries):
    server.script("/api/v1/models", [(429, {"Retry-After": "86400"}, b"")])
    fetcher, source, waits = make_with_retries(server, max_wait=120)
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert "asked to wait 86400 s, more than the 120 s ceiling: come back after 20" in str(err.value)
    assert server.count() == 1 and waits == []


def test_5xx_burst_then_success_backs_off_exponentially(server, make_with_retries):
    server.script("/api/v1/models", [(500, JSON, b"{}"), (502, JSON, b"{}"), (503, JSON, b"{}"), OK])
    fetcher, source, waits = make_with_retries(server)
    fetcher.documents(source, source.url)
    assert server.count() == 4
    assert len(waits) == 3
    assert all(b <= w <= b * 1.25 for w, b in zip(waits, [1, 2, 4], strict=True)), waits


def test_5xx_forever_gives_up_after_max_retries(server, make_with_retries):
    server.script("/api/v1/models", [(503, JSON, b'{"error": "busy"}')])
    fetcher, source, waits = make_with_retries(server, retries=2)
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value).endswith("HTTP 503 from " + server.url + "/api/v1/models: busy; gave up after 3 attempts")
    assert server.count() == 3 and len(waits) == 2


def test_timeouts_and_resets_are_retried(server, make_with_retries):
    server.script("/api/v1/models", [_slow, _reset, OK])
    fetcher, source, waits = make_with_retries(server, timeout=0.2)
    fetcher.documents(source, source.url)
    assert server.count() == 3 and len(waits) == 2


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (400, "openrouter", "HTTP 400 from {url}: bad"),
        (401, "artificial_analysis", "set ARTIFICIAL_ANALYSIS_API_KEY (or --aa-key) to a valid key"),
        (403, "artificial_analysis_pro", "a free-tier key cannot use the Pro route"),
        (404, "openrouter", "HTTP 404 from {url}: bad"),
        (410, "artificial_analysis", "use https://artificialanalysis.ai/api/v2/language/models/free"),
    ],
)
def test_client_errors_are_not_retried_and_say_what_to_fix(server, make_with_retries, status, name, expected):
    server.script("/x", [(status, JSON, b'{"error": "bad"}')])
    fetcher, source, waits = make_with_retries(server, name, "/x", key="test-key-0123456789")
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert expected.format(url=server.url + "/x") in str(err.value)
    assert server.count() == 1 and waits == []


def test_retired_aa_route_gets_the_new_route_named(server, make_with_retries):
    server.script("/api/v2/data/llms/models", [(410, {"Deprecation": "true"}, b"Gone")])
    fetcher, source, _ = make_with_retries(
        server, "artificial_analysis", "/api/v2/data/llms/models", key="test-key-0123456789"
    )
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == (
        f"artificial_analysis: HTTP 410 from {server.url}/api/v2/data/llms/models; this route is retired "
        "(sunset 2026-11-04): use https://artificialanalysis.ai/api/v2/language/models/free "
        "(remove the sources.artificial_analysis.url override)"
    )


@pytest.mark.parametrize("status", [401, 404])
def test_hugging_face_404_or_401_means_not_on_hugging_face(server, make_with_retries, status):
    server.script("/api/models/a/b", [(status, {"X-Error-Code": "RepoNotFound"}, b"{}")])
    fetcher, source, waits = make_with_retries(server, "huggingface", "/api/models/{hf_id}")
    with pytest.raises(NotInSource):
        fetcher.documents(source, source.url.format(hf_id="a/b"))
    assert server.count() == 1 and waits == []


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((200, JSON, b'{"data": [{"id": "a/b", "na'), "malformed JSON from {url} (Unterminated string"),
        (
            (200, {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>"),
            "got an HTML page instead of JSON from {url} (content-type text/html)",
        ),
        ((200, {"Content-Type": "application/octet-stream"}, b"\x89PNG\r\n"), "malformed JSON from {url}"),
    ],
)
def test_bad_bodies_fail_precisely_and_are_never_cached(server, make_with_retries, reply, message):
    server.script("/api/v1/models", [reply])
    fetcher, source, _ = make_with_retries(server, retries=0)
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(source, source.url)
        assert message.format(url=server.url + "/api/v1/models") in str(err.value)
    assert server.count() == 2  # the second call went to the server again: nothing was cached


def test_truncated_body_is_retried(server, make_with_retries):
    def truncated(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(OK_BODY)))
        handler.end_headers()
        handler.wfile.write(OK_BODY[:10])
        handler.close_connection = True

    server.script("/api/v1/models", [truncated, OK])
    fetcher, source, waits = make_with_retries(server)
    fetcher.documents(source, source.url)
    assert server.count() == 2 and len(waits) == 1


def test_x_ratelimit_reset_in_epoch_milliseconds_is_read_as_such(server, make):
    reset = str(int((time.time() + 20) * 1000))
    server.script("/api/v1/models", [(429, {"X-RateLimit-Reset": reset}, b""), (200, JSON, OK_BODY)])
    fetcher, source, waits = make(server, retries=1)
    fetcher.documents(source, source.url)
    assert len(waits) == 1 and 18 <= waits[0] <= 21, waits


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "inf"},
        {"Retry-After": "1e400"},
        {"Retry-After": "nan"},
        {"X-RateLimit-Reset": "9" * 20},
        {"RateLimit": '"api";r=0;t=inf'},
    ],
    ids=["inf", "1e400", "nan", "20-digit-reset", "t=inf"],
)
def test_an_absurd_wait_is_beyond_the_ceiling_never_an_overflow(server, make, headers):
    server.script("/api/v1/models", [(429, headers, b"")])
    fetcher, source, waits = make(server, retries=3)
    with pytest.raises(SourceStopped) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == (
        f"openrouter: HTTP 429 from {server.url}/api/v1/models; asked to wait an absurd time, "
        "more than the 60 s ceiling: come back later"
    )
    assert server.count() == 1 and waits == []


@pytest.mark.parametrize("rate", [0.5, 1, 2.5, 10])
def test_the_limiter_leaves_a_margin_in_every_rolling_window(rate):
    """With a fake clock and zero-cost sends: any ``count + 1`` sends span the window plus the
    margin, so 50 ms of jitter cannot squeeze ``rate + 1`` arrivals into one second."""
    now = [0.0]
    sent: list[float] = []
    limiter = RateLimiter(rate, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s), margin=0.1)
    for _ in range(40):
        limiter.wait()
        sent.append(now[0])
    count = max(1, int(rate))
    spans = [sent[i + count] - sent[i] for i in range(len(sent) - count)]
    assert min(spans) >= count / rate + 0.1 - 1e-9
    assert sent[-1] <= (len(sent) / count) * (count / rate + 0.1)  # and it does not wait more than that


def test_a_wait_beyond_the_ceiling_stops_the_whole_source(workdir):
    with ReplayServer() as server:
        server.dynamic.append(
            lambda key: (429, {"Retry-After": "86400"}, b"{}") if key.startswith("/api/models/") else None
        )
        models = [ModelInfo(f"M{i}", f"org/m{i}") for i in range(20)]
        config = PipelineConfig.from_dict(
            config_dict(server, ["huggingface"]) | {"cache_path": str(workdir / "s.sqlite")}
        )
        report = Pipeline(config).extract(models)
        assert server.count("/api/models/") == 1
    assert len(report.failures) == 1 and "come back after" in str(report.failures[0])
