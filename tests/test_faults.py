"""Fault injection against a local server: the outcome, the number of attempts and the waits.

The Fetcher gets a fake sleep that records waits instead of sleeping, so backoff and Retry-After
are asserted exactly (jitter is bounded: factor * 2**attempt * [1, 1.25]).
"""

from __future__ import annotations

import functools
import json
import time
from email.utils import formatdate

import pytest
from helpers import cli
from replay import CORE, ReplayServer

from etl.errors import SourceError
from etl.fetch import NotInSource

JSON = {"Content-Type": "application/json"}
OK_BODY = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()
OK = (200, JSON, OK_BODY)


@pytest.fixture
def make(make):
    """The shared fixture with this module's defaults: three retries, 2 s per read."""
    return functools.partial(make, retries=3, timeout=2.0)


def test_429_with_retry_after_seconds_is_honoured(server, make):
    server.script("/api/v1/models", [(429, {"Retry-After": "7"}, b""), OK])
    fetcher, source, waits = make(server)
    docs = fetcher.documents(source, source.url)
    assert docs[0].body["data"][0]["id"] == "a/b"
    assert server.count() == 2 and waits == [7.0]


def test_429_with_retry_after_http_date(server, make):
    server.script("/api/v1/models", [(429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}, b""), OK])
    fetcher, source, waits = make(server)
    fetcher.documents(source, source.url)
    assert server.count() == 2 and 27 <= waits[0] <= 31


def test_aa_x_ratelimit_reset_and_hf_ratelimit_header(server, make):
    server.script("/api/v1/models", [(429, {"X-RateLimit-Reset": str(int(time.time()) + 20)}, b""), OK])
    server.script("/api/models/a/b", [(429, {"RateLimit": '"api";r=0;t=12'}, b""), (200, JSON, b'{"id": "a/b"}')])
    fetcher, source, waits = make(server)
    fetcher.documents(source, source.url)
    hf, hf_source, hf_waits = make(server, "huggingface", "/api/models/{hf_id}")
    hf.documents(hf_source, hf_source.url.format(hf_id="a/b"))
    assert 18 <= waits[0] <= 21 and hf_waits == [12.0]


def test_a_wait_beyond_the_ceiling_stops_the_source_with_when_to_come_back(server, make):
    server.script("/api/v1/models", [(429, {"Retry-After": "86400"}, b"")])
    fetcher, source, waits = make(server, max_wait=120)
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert "asked to wait 86400 s, more than the 120 s ceiling: come back after 20" in str(err.value)
    assert server.count() == 1 and waits == []


def test_5xx_burst_then_success_backs_off_exponentially(server, make):
    server.script("/api/v1/models", [(500, JSON, b"{}"), (502, JSON, b"{}"), (503, JSON, b"{}"), OK])
    fetcher, source, waits = make(server)
    fetcher.documents(source, source.url)
    assert server.count() == 4
    assert len(waits) == 3
    assert all(b <= w <= b * 1.25 for w, b in zip(waits, [1, 2, 4], strict=True)), waits


def test_5xx_forever_gives_up_after_max_retries(server, make):
    server.script("/api/v1/models", [(503, JSON, b'{"error": "busy"}')])
    fetcher, source, waits = make(server, retries=2)
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value).endswith("HTTP 503 from " + server.url + "/api/v1/models: busy; gave up after 3 attempts")
    assert server.count() == 3 and len(waits) == 2


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


def test_timeouts_and_resets_are_retried(server, make):
    server.script("/api/v1/models", [_slow, _reset, OK])
    fetcher, source, waits = make(server, timeout=0.2)
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
def test_client_errors_are_not_retried_and_say_what_to_fix(server, make, status, name, expected):
    server.script("/x", [(status, JSON, b'{"error": "bad"}')])
    fetcher, source, waits = make(server, name, "/x", key="test-key-0123456789")
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert expected.format(url=server.url + "/x") in str(err.value)
    assert server.count() == 1 and waits == []


def test_retired_aa_route_gets_the_new_route_named(server, make):
    server.script("/api/v2/data/llms/models", [(410, {"Deprecation": "true"}, b"Gone")])
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/data/llms/models", key="test-key-0123456789")
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == (
        f"artificial_analysis: HTTP 410 from {server.url}/api/v2/data/llms/models; this route is retired "
        "(sunset 2026-11-04): use https://artificialanalysis.ai/api/v2/language/models/free "
        "(remove the sources.artificial_analysis.url override)"
    )


@pytest.mark.parametrize("status", [401, 404])
def test_hugging_face_404_or_401_means_not_on_hugging_face(server, make, status):
    server.script("/api/models/a/b", [(status, {"X-Error-Code": "RepoNotFound"}, b"{}")])
    fetcher, source, waits = make(server, "huggingface", "/api/models/{hf_id}")
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
def test_bad_bodies_fail_precisely_and_are_never_cached(server, make, reply, message):
    server.script("/api/v1/models", [reply])
    fetcher, source, _ = make(server, retries=0)
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(source, source.url)
        assert message.format(url=server.url + "/api/v1/models") in str(err.value)
    assert server.count() == 2  # the second call went to the server again: nothing was cached


def test_truncated_body_is_retried(server, make):
    def truncated(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(OK_BODY)))
        handler.end_headers()
        handler.wfile.write(OK_BODY[:10])
        handler.close_connection = True

    server.script("/api/v1/models", [truncated, OK])
    fetcher, source, waits = make(server)
    fetcher.documents(source, source.url)
    assert server.count() == 2 and len(waits) == 1


def test_a_failing_source_does_not_stop_the_batch_and_the_recap_lists_it(workdir):
    import yaml

    with ReplayServer(["lmarena_rows.yaml", "huggingface_models.yaml", "huggingface_config.yaml"]) as server:
        server.route("/api/v1/models", 200, b"<html>maintenance</html>", {"Content-Type": "text/html"})
        server.route("/api/models/deepseek-ai/DeepSeek-V3", 200, b'{"id": "deepseek-ai/DeepSeek-V3", "downl', JSON)
        config = {
            "template_path": "templates/template.json",
            "cache_path": "s.sqlite",
            "output_dir": "out",
            "max_retries": 0,
            "sources": server.sources(only=CORE),
            "models": [
                {"name": "DeepSeek V3", "hf_id": "deepseek-ai/DeepSeek-V3"},
                {"name": "Qwen2.5 72B Instruct", "hf_id": "Qwen/Qwen2.5-72B-Instruct"},
            ],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(config))
        result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 1
    out = result.output
    assert "2 written, 0 unchanged, 0 failed; " in out
    assert "; 2 source failure(s)" in out  # the two printed: openrouter (once), huggingface
    assert (
        out.count(
            f"source failure: openrouter: got an HTML page instead of JSON from {server.url}/api/v1/models (content-type text/html)"
        )
        == 1
    )
    assert f"source failure: huggingface: malformed JSON from {server.url}/api/models/deepseek-ai/DeepSeek-V3" in out
    qwen = json.loads((workdir / "out" / "Qwen2.5 72B Instruct_filled.json").read_text())
    assert qwen["community_score"]["lm_sys_arena_score"] == 1272 and qwen["community_score"]["hf_score"] is not None


def test_a_failed_refresh_is_reported_even_when_the_cached_copy_is_used(workdir):
    import yaml

    with ReplayServer(["openrouter_models.yaml"]) as server:
        config = {
            "template_path": "templates/template.json",
            "cache_path": "s.sqlite",
            "output_dir": "out",
            "max_retries": 0,
            "sources": server.sources(only=["openrouter"]),
            "models": [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(config))
        assert cli("run", "-c", "c.yaml").exit_code == 0
        server.route("/api/v1/models", 503, {"error": "down"})
        result = cli("run", "-c", "c.yaml", "--refresh")
    assert result.exit_code == 1
    assert (
        f"source failure: openrouter: HTTP 503 from {server.url}/api/v1/models: down; gave up after 1 attempts"
        in result.output
    )
    filled = json.loads((workdir / "out" / "GLM-4.6_filled.json").read_text())
    assert filled["model_specs"]["input_price"] == 0.5  # the cached copy, still valid data
