"""A failing source or companion does not stop the batch, and the recap names it."""

from __future__ import annotations

import json

import yaml
from helpers import cli, config_dict
from replay import CORE, ReplayServer

JSON = {"Content-Type": "application/json"}


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
