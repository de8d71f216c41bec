"""Each request's total deadline, and cancelling (or SIGTERM) cutting a stuck request or a wait."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
import yaml
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig, settings
from etl.errors import SourceError
from etl.http.fetch import Cancelled, RateLimiter

OK_BODY = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"


def _trickle(data: bytes, fast: int = 0):
    """A reply written one byte a second after the first ``fast`` bytes (at most 30 s)."""

    def handler(h) -> None:
        h.close_connection = True
        try:
            h.wfile.write(data[:fast])
            for i in range(fast, min(len(data), fast + 30)):
                h.wfile.write(data[i : i + 1])
                time.sleep(1)
        except OSError:
            pass

    return handler


@pytest.mark.parametrize("fast", [0, len(HEAD)], ids=["headers", "body"])
def test_a_trickling_server_fails_the_request_within_its_deadline(server, make, fast):
    server.script("/api/v1/models", [_trickle(HEAD + b" " * 200, fast)])
    fetcher, source, waits = make(server, retries=3, deadline=3.0)
    start = time.monotonic()
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    took = time.monotonic() - start
    assert 2.9 < took < 5, took
    assert str(err.value) == (
        f"openrouter: no complete answer within 3 s from {server.url}/api/v1/models (the server sends too slowly); "
        "try later, or raise sources.openrouter.deadline"
    )
    assert server.count() == 1 and waits == []  # a deadline is not retried


def test_a_source_deadline_overrides_the_default(server, make):
    server.script("/api/v1/models", [_trickle(HEAD + b" " * 200)])
    fetcher, source, _ = make(server, deadline=60.0)
    source = replace(source, deadline=1.0)  # sources.<name>.deadline in YAML or in the config
    start = time.monotonic()
    with pytest.raises(SourceError, match="no complete answer within 1 s"):
        fetcher.documents(source, source.url)
    assert time.monotonic() - start < 3


def test_cancelling_cuts_a_stuck_request_after_a_short_grace(server, make):
    server.script("/api/v1/models", [_trickle(HEAD + b" " * 200)])
    fetcher, source, _ = make(server, deadline=60.0)
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            fetcher.documents(source, source.url)
        except BaseException as exc:  # noqa: BLE001 - the test reads what the worker got
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(1.0)
    cancelled_at = time.monotonic()
    fetcher.cancelled.set()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - cancelled_at < settings.CANCEL_GRACE + 0.5
    assert isinstance(outcome[0], Cancelled)
    assert server.count() == 1


def test_cancelling_interrupts_a_rate_limit_wait(server, make):
    server.route("/api/v1/models", 200, OK_BODY)
    fetcher, source, _ = make(server, sleep=None)
    fetcher.limiters["openrouter"] = RateLimiter(0.05, sleep=fetcher._interruptible_sleep)  # 20 s between sends
    fetcher.limiters["openrouter"].wait()  # the first send is free; the next waits 20 s
    threading.Timer(0.5, fetcher.cancelled.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        fetcher.documents(source, source.url)
    assert time.monotonic() - start < 1.5 and server.count() == 0


def test_a_run_against_a_trickling_server_with_a_3_s_deadline_ends_within_10_s(workdir):
    with ReplayServer(["lmarena_rows.yaml"]) as server:
        server.script("/api/v1/models", [_trickle(HEAD + b" " * 200)])
        sources = server.sources(only=["openrouter", "lmarena"])
        sources["openrouter"]["deadline"] = 3.0  # the config's override of the source's deadline
        config = PipelineConfig.from_dict(
            {
                "template_path": str(workdir / "templates" / "template.json"),
                "cache_path": str(workdir / "s.sqlite"),
                "output_dir": str(workdir / "out"),
                "sources": sources,
            },
            "test",
        )
        config.models = [ModelInfo("GLM-4.6", hf_id="zai-org/GLM-4.6")]
        pipeline = Pipeline(config)
        start = time.monotonic()
        report = pipeline.extract()
        took = time.monotonic() - start
    assert took <= 10, took
    assert [str(f) for f in report.failures] == [
        f"openrouter: no complete answer within 3 s from {server.url}/api/v1/models (the server sends too slowly); "
        "try later, or raise sources.openrouter.deadline"
    ]
    assert server.count("/rows") == 3  # the other source went on


def test_sigterm_during_a_trickling_request_ends_the_run_within_2_s(workdir):
    with ReplayServer() as server:
        server.script("/api/v1/models", [_trickle(HEAD + b" " * 200)])
        data = {
            "template_path": "templates/template.json",
            "cache_path": "s.sqlite",
            "output_dir": "out",
            "sources": server.sources(only=["openrouter"]),
            "models": [{"name": "GLM-4.6"}],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        proc = subprocess.Popen(
            [sys.executable, "-m", "etl", "run", "-c", "c.yaml"], cwd=workdir, stderr=subprocess.PIPE, text=True
        )
        until = time.monotonic() + 30
        while server.count() < 1 and time.monotonic() < until:
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the trickle, far from its 120 s default deadline
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - signalled
    assert took < 2, took
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted: no partial file was written; a re-run resumes from the cache" in err
