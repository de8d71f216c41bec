"""API keys: sent only to the declared host over https, never after a redirect, never stored or logged."""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
from dataclasses import replace

import pytest
import requests
import yaml
from helpers import cli, config_dict
from replay import ReplayServer
from typer.testing import CliRunner

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.cli.cli import app
from etl.errors import SourceError, UsageError

JSON = {"Content-Type": "application/json"}
OK_BODY = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()
SENTINEL = "sk-sentinel-hostile-7c1d9e2f"


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


SENTINEL_2 = "sk-sentinel-review-5b0e3a71"
KEY = "sk-sentinel-review-9f8e7d6c5b4a"


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


def test_a_key_echoed_in_the_reason_phrase_of_a_200_never_reaches_the_store(server, make, tmp_path):
    """fetch.Fetcher._save copies ``response.reason`` unredacted into the cached response."""
    body = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()

    def echo(handler) -> None:
        handler.send_response(200, f"OK {SENTINEL}")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.script("/api/v2/language/models/free", [echo])
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key=SENTINEL_2)
    fetcher.documents(source, source.url)
    assert server.log[0]["headers"]["x-api-key"] == SENTINEL_2  # the key was sent
    fetcher.close()
    files = list(tmp_path.glob("s.sqlite*"))
    assert files and all(SENTINEL_2.encode() not in f.read_bytes() for f in files)


def test_a_key_that_http_headers_cannot_carry_is_refused_before_anything_opens(tmp_path):
    """A key with U+2028 (a line separator) or another non-ASCII character inside passes the
    control-character check, then the first request dies with UnicodeEncodeError ('latin-1' codec)
    instead of a one-line error. (Around the key, U+2028 is whitespace and is stripped.)"""
    with pytest.raises(UsageError) as err:
        Pipeline(
            PipelineConfig(cache_path=tmp_path / "s.sqlite", source_keys={"huggingface_key": f"{SENTINEL}\u2028x"})
        )
    assert str(err.value).startswith("the key for huggingface (set via HUGGINGFACE_API_KEY or HF_TOKEN")
    assert SENTINEL_2 not in str(err.value)
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize(
    ("asked", "hop", "carries"),
    [
        ("https://huggingface.co/api/models/a/b", "https://huggingface.co/api/models/c/d", True),  # the declared host
        ("https://mirror.example/api/models/a/b", "https://mirror.example/api/models/a/b", False),  # another host
        ("http://huggingface.co/api/models/a/b", "http://huggingface.co/api/models/a/b", False),  # plain http
        ("https://huggingface.co/api/models/a/b", "https://cdn.example/x", False),  # a hop elsewhere
        ("http://127.0.0.1:8000/api/models/a/b", "http://127.0.0.1:8000/api/models/a/b", True),  # a local mirror
    ],
)
def test_a_key_goes_only_to_the_declared_host_over_https_or_to_loopback(tmp_path, asked, hop, carries):
    """A config that points a keyed source at another host (or plain http) sends no key there."""
    from urllib.parse import urlsplit

    from etl.declared.mappings import load_mappings
    from etl.http.fetch import Fetcher, FetchSettings

    fetcher = Fetcher(
        FetchSettings(
            tmp_path / "s.sqlite", keys={"huggingface": SENTINEL_2}, key_hosts={"huggingface": "huggingface.co"}
        )
    )
    try:
        source = load_mappings().sources["huggingface"]
        assert fetcher.transport.may_carry_key(source, urlsplit(asked), urlsplit(hop)) is carries
    finally:
        fetcher.close()


def test_redirects_keep_keys_out_of_the_store_and_off_other_hosts(workdir, monkeypatch):
    monkeypatch.setenv("HUGGINGFACE_API_KEY", KEY)
    with ReplayServer() as server:
        other = server.url.replace("127.0.0.1", "localhost")  # another host, same server
        server.route("/api/models/old/name", 307, b"", {"Location": "/api/models/new/name"})
        server.route(
            "/api/models/new/name",
            200,
            {"id": "new/name", "downloads": 10, "likes": 3, "createdAt": "2024-01-01T00:00:00Z"},
        )
        server.route("/api/models/far/away", 302, b"", {"Location": f"{other}/api/models/elsewhere/x"})
        server.route(
            "/api/models/elsewhere/x",
            200,
            {"id": "elsewhere/x", "downloads": 10, "likes": 3, "createdAt": "2024-01-01T00:00:00Z"},
        )
        models = [{"name": "Renamed", "hf_id": "old/name"}, {"name": "Moved", "hf_id": "far/away"}]
        (workdir / "c.yaml").write_text(yaml.safe_dump(config_dict(server, ["huggingface"], models=models)))
        result = cli("run", "-c", "c.yaml")
        sent = {r["path"]: r["headers"] for r in server.log}
    assert result.exit_code == 0, result.output
    assert sent["/api/models/old/name"].get("Authorization") == f"Bearer {KEY}"
    assert sent["/api/models/new/name"].get("Authorization") == f"Bearer {KEY}"  # same host
    assert "Authorization" not in sent["/api/models/elsewhere/x"]  # another host never gets the key
    for path in workdir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    offline = cli("run", "-c", "c.yaml", "--offline")
    assert offline.exit_code == 0, offline.output  # the original URL finds the redirected response


def test_library_logs_are_redacted_too(workdir, caplog):
    with ReplayServer() as server:
        server.route("/api/v1/models", 503, {"error": f"quota exceeded for key {KEY}"})
        config = PipelineConfig.from_dict(
            config_dict(server, ["openrouter"], max_retries=1) | {"cache_path": str(workdir / "s.sqlite")}
        )
        config.sources["openrouter"]["rate_limit"] = 1000
        config.source_keys["artificial_analysis_key"] = KEY
        pipeline = Pipeline(config)
        pipeline.mappings.sources["openrouter"] = pipeline.sources["openrouter"] = pipeline.sources[
            "openrouter"
        ].__class__(
            **{
                **pipeline.sources["openrouter"].__dict__,
                "auth": {"header": "x-api-key", "env": "X", "config_key": "artificial_analysis_key"},
            }
        )
        with caplog.at_level(logging.INFO, logger="etl"):
            report = pipeline.extract([ModelInfo("x")])
    assert report.failures and KEY not in " ".join(map(str, report.failures))
    assert KEY not in caplog.text and "quota exceeded for key ***" in caplog.text
