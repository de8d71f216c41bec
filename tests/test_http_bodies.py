"""Response bodies: endless, huge or bombing ones are cut; unreadable ones fail in one line, never cached."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml
from helpers import import_into
from replay import ReplayServer
from typer.testing import CliRunner

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.cli.cli import app
from etl.errors import SourceError
from etl.http.transport import size_text
from etl.settings import DEFAULT_MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}
TESTS = Path(__file__).resolve().parent


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
from test_http_bodies import _stream_forever, _gzip_bomb
from etl.http.fetch import FetchSettings, Fetcher
from etl.declared.mappings import load_mappings
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


def test_a_tar_bomb_is_cut_at_the_body_limit(workdir):
    """formats._archive_records inflated without a bound: 1 MiB of archive is 1 GiB inflated."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("repo/data/organizations/o/models/m/model.json")
        info.size = 50_000_000
        archive.addfile(info, io.BytesIO(b" " * info.size))
    bomb = gzip.compress(raw.getvalue(), compresslevel=9)
    path = "/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2"
    with ReplayServer() as server:
        server.route(path, 200, bomb, {"Content-Type": "application/gzip"})
        sources = server.sources(only=["llm_stats"])
        sources["llm_stats"]["max_body"] = 10_000_000
        config = PipelineConfig.from_dict(
            {"cache_path": str(workdir / "s.sqlite"), "sources": sources, "max_retries": 0}, "t"
        )
        report = Pipeline(config).extract([ModelInfo("m")])
    assert [str(f) for f in report.failures] == [
        f"llm_stats: the archive from {server.url}{path} inflates beyond the 10,000,000 bytes limit; nothing kept; "
        "if it is genuine, raise sources.llm_stats.max_body"
    ]


def test_offline_with_a_cached_body_that_does_not_parse_fails_fast(workdir, tmp_path):
    cassette = tmp_path / "bad.yaml"
    cassette.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "body": None,
                            "headers": {},
                            "method": "GET",
                            "uri": "https://huggingface.co/api/models/deepseek-ai/DeepSeek-V3",
                        },
                        "response": {
                            "body": {"string": "<html>oops</html>"},
                            "headers": {"Content-Type": ["text/html"]},
                            "status": {"code": 200, "message": "OK"},
                        },
                    }
                ],
            }
        )
    )
    import_into([cassette], workdir / "s.sqlite")
    off = {
        n: {"enabled": False}
        for n in [
            "artificial_analysis",
            "openrouter",
            "lmarena",
            "livebench",
            "bigcodebench",
            "evalplus",
            "open_llm",
            "ugi",
            "open_vlm",
            "huggingface_config",
            *("llm_stats", "arena_hard", "wildbench", "mt_bench", "bfcl", "aider", "swe_bench"),
        ]
    }
    (workdir / "c.yaml").write_text(
        yaml.safe_dump(
            {
                "template_path": "templates/template.json",
                "cache_path": "s.sqlite",
                "output_dir": "out",
                "sources": off,
                "models": [{"name": "DeepSeek V3", "hf_id": "deepseek-ai/DeepSeek-V3"}],
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "run", "-c", "c.yaml", "--offline"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "got an HTML page instead of JSON" in proc.stderr
