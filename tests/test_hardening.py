"""Regressions found in review: redirects and keys, companion failures, offline with a bad cached
body, log redaction in library use, the wait ceiling, folder-mode checks, file-name clashes."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import yaml
from helpers import cli, config_dict, import_into
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.settings import mappings_dir

KEY = "sk-sentinel-review-9f8e7d6c5b4a"


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


def test_a_failed_companion_does_not_stop_the_batch(workdir):
    with ReplayServer(["livebench.yaml", "openrouter_models.yaml"]) as server:
        server.route("/categories_2026_01_08.json", 500, {"error": "boom"})
        config = config_dict(
            server, ["livebench", "openrouter"], models=[{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}]
        )
        (workdir / "c.yaml").write_text(yaml.safe_dump(config))
        result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 1, result.output
    assert "source failure: livebench: HTTP 500 from" in result.output
    filled = json.loads((workdir / "out" / "GLM-4.6_filled.json").read_text())
    assert filled["entity_benchmarks"]["Livebench"] is None and filled["model_specs"]["input_price"] == 0.5


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


def test_folder_mode_checks_hf_ids_duplicates_and_file_clashes(workdir):
    folder = workdir / "Models"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"name": "Same", "model_specs": {}}))
    (folder / "b.json").write_text(json.dumps({"name": "Same", "model_specs": {}}))
    (folder / "c.json").write_text(json.dumps({"name": "X", "hf_id": "../../../api/whoami-v2", "model_specs": {}}))
    result = cli("run", "--input-dir", "Models")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert (
        lines[0]
        == "error: Models/b.json: model name 'Same' is also the name of another file's model ('Same'): both would write one file; rename one"
    )
    assert lines[1].startswith(
        "error: Models/c.json: hf_id: '../../../api/whoami-v2' is not valid: expected a Hugging Face repo id"
    )


def test_names_that_would_write_one_file_are_refused(workdir):
    result = cli("run", "-t", "templates/template.json", "-m", '["GLM-4.6: x", "GLM-4.6? x"]')
    assert result.exit_code == 2
    assert (
        "error: --models: models[1].name: 'GLM-4.6? x' would write the same file as 'GLM-4.6: x' (GLM-4.6_ x_filled.json); rename one"
        in result.output
    )


def test_small_gaps(workdir, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(mappings_dir(), folder)
    text = (
        (folder / "sources.yaml")
        .read_text()
        .replace('      401: "Artificial Analysis rejected', '      unauthorized: "Artificial Analysis rejected', 1)
    )
    (folder / "sources.yaml").write_text(text)
    result = cli("mappings", "check", str(folder))
    assert (
        result.exit_code == 2
        and "Traceback" not in result.output
        and "sources.artificial_analysis.hints" in result.output
    )
    (workdir / "pins.yaml").write_text('"GLM-4.6": [a, b]\n')
    (workdir / "c.yaml").write_text("template_path: templates/template.json\npins_file: pins.yaml\nmodels: [GLM-4.6]\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert "pins.yaml: GLM-4.6: expected `source: id` (or false) lines under the model name" in result.output
    (workdir / "k.yaml").write_text("artificial_analysis_key: 0x1234abcd\n")
    result = cli("run", "-c", "k.yaml")
    assert (
        result.exit_code == 2
        and "305441741" not in result.output
        and "artificial_analysis_key: expected string, got int (quote it)" in result.output
    )
