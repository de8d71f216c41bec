"""A hostile upstream (issue 12): trickling, endless, bombing, echoing, looping and lying servers.

Every test talks to a local server (tests/replay.py) that misbehaves on purpose, and pins the
one-line failure the user sees. Servers that write forever stop by themselves (bounded loops, and
a write to a closed connection ends them).
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml
from replay import ReplayServer
from typer.testing import CliRunner

from etl import ModelInfo, Pipeline, PipelineConfig, settings
from etl.cli import app
from etl.errors import SourceError, SourceStopped, UsageError
from etl.fetch import Cancelled, RateLimiter
from etl.mappings import load_mappings
from etl.settings import DEFAULT_MAX_BODY_BYTES
from etl.transport import size_text

JSON = {"Content-Type": "application/json"}
OK_BODY = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()
SENTINEL = "sk-sentinel-hostile-7c1d9e2f"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
TESTS = Path(__file__).resolve().parent


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


def _stream_forever(headers: bytes, chunk: bytes, limit: int = 4 * 2**30):
    """A reply that writes ``chunk`` until the client goes away (or ``limit`` bytes)."""

    def handler(h) -> None:
        h.close_connection = True
        try:
            h.wfile.write(headers)
            for _ in range(limit // len(chunk)):
                h.wfile.write(chunk)
        except OSError:
            pass

    return handler


# ----- 5: a total deadline per request ---------------------------------------------------------


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


# ----- 6: a cap on the body, counted decompressed ----------------------------------------------


def _gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzipped: about size / 1000 on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(2**20)
    return b"".join([*(packer.compress(block) for _ in range(size // 2**20)), packer.flush()])


RSS_PROBE = """
import json, resource, sys
sys.path.insert(0, {tests!r})
from dataclasses import replace
from replay import ReplayServer
from test_hostile import _stream_forever, _gzip_bomb
from etl.fetch import FetchSettings, Fetcher
from etl.mappings import load_mappings
kind = sys.argv[1]
with ReplayServer() as server:
    if kind == "endless":
        head = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
        chunk = b"%x\\r\\n" % 2**16 + b"[" * 2**16 + b"\\r\\n"
        server.script("/x", [_stream_forever(head, chunk)])
    elif kind == "huge":  # 2 GB declared and sent, no Content-Encoding
        head = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 2147483648\\r\\n\\r\\n"
        server.script("/x", [_stream_forever(head, b" " * 2**16, 2**31)])
    else:
        bomb = _gzip_bomb(2**29)  # 512 MiB inflated, 0.5 MB on the wire
        server.route("/x", 200, bomb, {{"Content-Type": "application/json", "Content-Encoding": "gzip"}})
    source = replace(load_mappings().sources["openrouter"], url=server.url + "/x")
    from pathlib import Path
    fetcher = Fetcher(FetchSettings(Path(sys.argv[2]), max_retries=0))
    try:
        fetcher.documents(source, source.url)
        message = "no error"
    except Exception as exc:
        message = str(exc)
    fetcher.close()
print(json.dumps({{"message": message, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


@pytest.mark.parametrize("kind", ["endless", "huge", "bomb"])
def test_an_endless_huge_or_bombing_body_is_cut_at_the_limit_with_bounded_memory(tmp_path, kind):
    """Peak RSS (ru_maxrss of a fresh interpreter doing just this fetch, server included) stays
    under 300 MB, against the default limit (settings.DEFAULT_MAX_BODY_BYTES); without the cap each of these reached gigabytes."""
    store = tmp_path / "s.sqlite"
    proc = subprocess.run(
        [sys.executable, "-c", RSS_PROBE.format(tests=str(TESTS)), kind, str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    url = result["message"].split(" from ", 1)[1].split(" ", 1)[0] if " from " in result["message"] else "?"
    assert result["message"] == (
        f"openrouter: the body from {url} is larger than the {size_text(DEFAULT_MAX_BODY_BYTES)} limit (counted decompressed); "
        "nothing kept; if it is genuine, raise sources.openrouter.max_body"
    )
    assert result["peak_mb"] < 300, result
    with sqlite3.connect(store, timeout=0.5) as db:  # nothing cached, and the store is not locked
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone() == (0,)
        db.execute("CREATE TABLE probe (x)")


def test_a_body_just_over_a_small_limit_fails_and_one_at_the_limit_passes(server, make, tmp_path):
    at_limit = json.dumps({"data": [{"id": "a/b", "name": "x" * 100}]}).encode()
    server.route("/api/v1/models", 200, at_limit)
    server.route("/over", 200, at_limit + b" ")
    fetcher, source, _ = make(server, max_body=len(at_limit))
    assert fetcher.documents(source, source.url)[0].body["data"][0]["id"] == "a/b"
    over = replace(source, url=server.url + "/over")
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(over, over.url)
    assert str(err.value) == (
        f"openrouter: the body from {server.url}/over is larger than the {len(at_limit)} bytes limit "
        "(counted decompressed); nothing kept; if it is genuine, raise sources.openrouter.max_body"
    )
    assert server.count("/over") == 2  # never cached
    source = replace(source, max_body=10)  # a source's own limit wins
    fetcher.refresh = True
    with pytest.raises(SourceError, match="larger than the 10 bytes limit"):
        fetcher.documents(source, source.url)
    with sqlite3.connect(tmp_path / "s.sqlite", timeout=0.5) as db:  # the store takes a write at once
        db.execute("CREATE TABLE probe (x)")


# ----- 3: a body that cannot be parsed is never kept, and fails in one line offline too ---------

POISON = [
    (b"[" * 100_000 + b"]" * 100_000, "JSON from {url} is nested too deeply to read; nothing kept"),
    (b"[1, 2]", "unexpected JSON shape from {url}: expected an object at the top level, got a list"),
    (b'{"data": [1, 2]}', "unexpected JSON shape from {url}: $.data.* holds int, expected objects"),
    (b'{"data": "oops"}', "unexpected JSON shape from {url}: $.data holds a string, expected a list of records"),
    (
        b'{"data": [{"id": "\xff"}]}',
        "malformed JSON from {url} ('utf-8' codec can't decode byte 0xff in position 18: invalid start byte; "
        "23 bytes received, truncated?)",
    ),
]


@pytest.mark.parametrize(("body", "message"), POISON, ids=["deep", "list", "ints", "string", "not-utf8"])
def test_a_body_that_cannot_be_read_fails_in_one_line_and_is_never_cached(server, make, body, message):
    server.route("/api/v1/models", 200, body)
    fetcher, source, _ = make(server)
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(source, source.url)
        assert str(err.value) == "openrouter: " + message.format(url=f"{server.url}/api/v1/models")
    assert server.count() == 2  # nothing was cached
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("body", "message"), POISON, ids=["deep", "list", "ints", "string", "not-utf8"])
def test_an_already_cached_poisoned_body_fails_offline_in_one_line(server, make, body, message):
    fetcher, source, _ = make(server)
    response = requests.Response()
    response.status_code, response.url, response._content = 200, source.url, body
    response.headers.update(JSON)
    key = fetcher.session.cache.create_key(requests.Request("GET", source.url).prepare())
    fetcher._save(response, key)  # as an older version of the tool would have cached it
    offline, _, _ = make(server, offline=True)
    with pytest.raises(SourceError) as err:
        offline.documents(source, source.url)
    assert str(err.value) == "openrouter: " + message.format(url=source.url)


def test_offline_run_on_a_poisoned_cache_is_a_source_failure_not_a_traceback(workdir):
    with ReplayServer(["lmarena_rows.yaml"]) as server:
        server.route("/api/v1/models", 200, b"[" * 100_000 + b"]" * 100_000)
        data = {
            "template_path": "templates/template.json",
            "cache_path": "s.sqlite",
            "output_dir": "out",
            "max_retries": 0,
            "sources": server.sources(only=["openrouter", "lmarena"]),
            "models": [{"name": "GLM-4.6"}],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        online = CliRunner().invoke(app, ["run", "-c", "c.yaml"])
        offline = CliRunner().invoke(app, ["run", "-c", "c.yaml", "--offline"])
    for result in (online, offline):
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "RecursionError" not in result.output
        assert f"openrouter: JSON from {server.url}/api/v1/models is nested too deeply to read" in result.output


# ----- 9: pagination that never ends -----------------------------------------------------------


def _pages(same_body: bool, same_ids: bool):
    def reply(key: str):
        page = int(key.rsplit("page=", 1)[1]) if "page=" in key else 1
        ident = "a/b" if same_ids else f"m/{page}"
        body = {"data": [{"id": ident, "slug": ident, "name": ident}], "pagination": {"has_more": True}}
        if not same_body:
            body["generated_at"] = page
        return 200, JSON, json.dumps(body).encode()

    return reply


@pytest.mark.parametrize(
    ("same_body", "same_ids", "message", "pages"),
    [
        (True, True, "the page at page=2 from {url} is identical to the one before: stopped paging after 2 pages", 2),
        (
            False,
            True,
            "the page at page=2 from {url} has no new records (all 1 ids seen on earlier pages): stopped paging after 2 pages",
            2,
        ),
        (
            False,
            False,
            "still more pages after max_pages (4) from {url}: stopped; if the catalog really is that large, "
            "raise pagination.max_pages of artificial_analysis in sources.yaml",
            4,
        ),
    ],
    ids=["identical", "no-new-records", "max-pages"],
)
def test_pagination_that_never_ends_is_a_named_failure(server, make, same_body, same_ids, message, pages):
    server.dynamic.append(_pages(same_body, same_ids))
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key="k-0123456789")
    source = replace(source, pagination={**load_mappings().sources["artificial_analysis"].pagination, "max_pages": 4})
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == "artificial_analysis: " + message.format(url=source.url)
    assert server.count() == pages


# ----- 10: never a key after https -> http -----------------------------------------------------


class _TlsFront:
    """Stands for an https host that redirects to plain http on the same host: answers the https
    URL itself, and lets any other request through to the real (plain-http) session."""

    def __init__(self, real: requests.Session, target: str):
        self.real, self.target, self.seen = real, target, []

    def get(self, url, **kwargs):
        if not url.startswith("https://"):
            return self.real.get(url, **kwargs)
        self.seen.append((url, dict(kwargs.get("headers") or {})))
        response = requests.Response()
        response.status_code, response.url, response._content = 301, url, b""
        response._content_consumed = True
        response.headers["Location"] = self.target
        return response

    def close(self) -> None:
        self.real.close()


def test_an_https_to_http_hop_is_refused_and_the_key_never_goes_in_clear(server, make):
    server.route("/api/v2/language/models/free", 200, OK_BODY)
    host = server.url.split("://", 1)[1]  # 127.0.0.1:port: the same host, only the scheme drops
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key=SENTINEL)
    source = replace(source, url=f"https://{host}/api/v2/language/models/free")
    fetcher.transport.http = _TlsFront(fetcher.transport.http, f"http://{host}/api/v2/language/models/free")
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == (
        f"artificial_analysis: https://{host}/api/v2/language/models/free redirected to plain http "
        f"(http://{host}/api/v2/language/models/free): refused, a request may not drop https"
    )
    assert fetcher.transport.http.seen[0][1] == {"x-api-key": SENTINEL}  # the key went over https only
    assert server.log == []  # the plain-http server heard nothing, key or not
    assert fetcher.outcomes[-1]["outcome"] == "failed"  # remembered: offline reports it, not a miss


@pytest.fixture
def tls_server(tmp_path):
    """A ReplayServer speaking https on 127.0.0.1, with a throw-away self-signed certificate."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv = ReplayServer()
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    srv.url = srv.url.replace("http://", "https://")
    with srv:
        yield srv, cert


def test_a_real_https_server_redirecting_to_plain_http_is_refused(server, tls_server, make, monkeypatch):
    tls, cert = tls_server
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would override the session's verify
        monkeypatch.delenv(var, raising=False)
    plain = f"{server.url}/api/v2/language/models/free"
    tls.route("/api/v2/language/models/free", 301, b"", {"Location": plain})
    server.route("/api/v2/language/models/free", 200, OK_BODY)
    fetcher, source, _ = make(tls, "artificial_analysis", "/api/v2/language/models/free", key=SENTINEL)
    fetcher.transport.http.verify = str(cert)
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == (
        f"artificial_analysis: {tls.url}/api/v2/language/models/free redirected to plain http ({plain}): "
        "refused, a request may not drop https"
    )
    assert tls.log[0]["headers"]["x-api-key"] == SENTINEL  # the key went over TLS
    assert server.log == []  # and nothing at all went in clear


# ----- 11: keys with whitespace or control characters ------------------------------------------


def test_a_key_with_a_control_character_inside_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(UsageError) as err:
        Pipeline(
            PipelineConfig(
                cache_path=tmp_path / "s.sqlite", source_keys={"artificial_analysis_key": f"{SENTINEL}\r\nX-Evil: 1"}
            )
        )
    assert str(err.value) == (
        "the key for artificial_analysis (set via ARTIFICIAL_ANALYSIS_API_KEY (or artificial_analysis_key)) "
        "contains a control character; re-create it without line breaks"
    )
    assert not (tmp_path / "s.sqlite").exists()  # refused before anything opens


def test_a_key_file_ending_in_crlf_works_and_the_key_lands_nowhere(workdir, monkeypatch, capsys):
    monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", f"  {SENTINEL}\r\n")
    with ReplayServer(["artificial_analysis_free.yaml", "openrouter_models.yaml"]) as server:
        data = {
            "template_path": "templates/template.json",
            "cache_path": "store/etl.sqlite",
            "output_dir": "out",
            "max_retries": 0,
            "sources": server.sources(only=["artificial_analysis", "openrouter"]),
            "models": [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        result = CliRunner().invoke(app, ["run", "-c", "c.yaml", "-v"])
        sent = [r["headers"] for r in server.log if r["path"].startswith("/api/v2/")]
    assert result.exit_code == 0, result.output
    assert sent and all(h.get("x-api-key") == SENTINEL for h in sent)  # stripped, and it did travel
    assert SENTINEL not in result.output and SENTINEL not in capsys.readouterr().err
    for path in workdir.rglob("*"):
        if path.is_file() and path.name != "c.yaml":
            assert SENTINEL.encode() not in path.read_bytes(), path


# ----- 12: a server that echoes the key --------------------------------------------------------


def test_a_key_echoed_in_a_200_body_or_header_never_reaches_the_store(server, make, tmp_path):
    body = json.dumps({"data": [{"id": "a/b", "name": "B", "note": f"your key is {SENTINEL}"}]}).encode()
    server.route("/api/v2/language/models/free", 200, body, {**JSON, "X-Echo": f"key={SENTINEL}"})
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key=SENTINEL)
    doc = fetcher.documents(source, source.url)[0]
    assert server.log[0]["headers"]["x-api-key"] == SENTINEL  # the key was sent
    assert doc.body["data"][0]["note"] == "your key is ***"
    fetcher.close()
    offline, _, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", offline=True)
    cached = offline.session.cache.get_response(next(iter(fetcher.new_keys.values())))
    assert cached.headers["X-Echo"] == "key=***" and "x-api-key" not in cached.request.headers
    offline.close()
    files = list(tmp_path.glob("s.sqlite*"))
    assert files and all(SENTINEL.encode() not in f.read_bytes() for f in files)


# ----- 16: absurd 429 headers ------------------------------------------------------------------


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


# ----- 18: the rate limiter keeps a margin -----------------------------------------------------


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
