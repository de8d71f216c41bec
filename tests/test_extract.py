"""Extract against a local server: request counts, the TTL, offline re-runs, and key hygiene."""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from helpers import cli
from replay import CASSETTES, CORE

from etl import ModelInfo, Pipeline, PipelineConfig

CATALOGS = ["artificial_analysis_free.yaml", "openrouter_models.yaml", "lmarena_rows.yaml"]
SENTINEL = "sk-sentinel-DO-NOT-LEAK-4f9c2a7e1b"


def _synthetic_hf(key: str):
    """Any /api/models/org/name or /org/name/resolve/main/config.json answers like Hugging Face."""
    parts = key.strip("/").split("/")
    if parts[:2] == ["api", "models"] and len(parts) == 4:
        body = {"id": f"{parts[2]}/{parts[3]}", "downloads": 1000, "likes": 10, "createdAt": "2025-01-01T00:00:00.000Z"}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
    if len(parts) == 5 and parts[2:] == ["resolve", "main", "config.json"]:
        return 200, {"Content-Type": "application/json"}, b'{"model_type": "llama"}'
    return None


def _config(tmp_path, server, models, **extra) -> PipelineConfig:
    data = {
        "template_path": str(tmp_path / "templates" / "template.json"),
        "cache_path": str(tmp_path / "store.sqlite"),
        "output_dir": str(tmp_path / "out"),
        "sources": server.sources(only=CORE),
        "max_retries": 0,
        **extra,
    }
    config = PipelineConfig.from_dict(data, "test")
    config.models = models
    return config


def test_fifty_models_one_request_per_page_and_per_model_then_none_within_ttl(workdir, monkeypatch):
    monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", SENTINEL)
    models = [ModelInfo(f"Synthetic {i}", hf_id=f"org/model-{i}") for i in range(50)]
    with __import__("replay").ReplayServer(CATALOGS) as server:
        server.dynamic.append(_synthetic_hf)
        pipeline = Pipeline(_config(workdir, server, models))
        pipeline.run()
        assert server.count("/api/v2/language/models/free") == 3  # AA: pages 1-3
        assert server.count("/api/v1/models") == 1  # OpenRouter: one catalog
        assert server.count("/rows") == 3  # LMArena: offsets 0, 100, 200
        assert server.count("/api/models/") == 50  # Hugging Face: once per model
        assert server.count("/org/") == 50  # config.json: once per model
        assert len(server.log) == 107
        before = len(server.log)
        again = Pipeline(_config(workdir, server, models))
        results = again.run()
        assert len(server.log) == before  # within the TTL: zero requests
        assert again.last_extract.sent == 0
        assert all(r.status == "unchanged" for r in results)  # the same files: not rewritten


def test_each_source_keeps_its_rate_while_sources_run_in_parallel(workdir):
    """What the limiter promises, by the server's clock: never ``rate + 1`` arrivals inside one
    second (its window has a margin for jitter); it still sends at about the rate; and the two
    sources overlap in time rather than taking turns."""
    rate, n = 10, 30
    models = [ModelInfo(f"Synthetic {i}", hf_id=f"org/model-{i}") for i in range(n)]
    with __import__("replay").ReplayServer([]) as server:
        server.dynamic.append(_synthetic_hf)
        config = _config(workdir, server, models)
        for name in ("huggingface", "huggingface_config"):
            config.sources[name]["rate_limit"] = rate
        Pipeline(config).extract(models)
    arrivals = {
        "huggingface": [r["t"] for r in server.log if r["path"].startswith("/api/models/")],
        "huggingface_config": [r["t"] for r in server.log if r["path"].startswith("/org/")],
    }
    for times in arrivals.values():
        assert len(times) == n
        windows = [times[i + rate] - times[i] for i in range(n - rate)]
        assert min(windows) > 1.0, min(windows)  # a strict server window would accept every one
        assert times[-1] - times[0] >= (n - rate) / rate  # limited: not faster than the rate allows
    hf, cfg = arrivals["huggingface"], arrivals["huggingface_config"]
    assert max(hf[0], cfg[0]) < min(hf[-1], cfg[-1])  # in parallel: each started before the other ended


def test_not_found_answers_are_remembered_for_the_ttl(workdir):
    models = [ModelInfo("Ghost", hf_id="nobody/ghost")]
    with __import__("replay").ReplayServer(CATALOGS) as server:
        Pipeline(_config(workdir, server, models)).run()
        assert server.count("/api/models/nobody/ghost") == 1
        Pipeline(_config(workdir, server, models)).run()
        assert server.count("/api/models/nobody/ghost") == 1
        refresh = _config(workdir, server, models)
        refresh.refresh = True
        Pipeline(refresh).run()
        assert server.count("/api/models/nobody/ghost") == 2


def test_offline_rerun_on_warm_cache_works_with_networking_disabled(workdir, monkeypatch):
    models = [ModelInfo("GLM-4.6 Reasoning", hf_id="zai-org/GLM-4.6", ids={"artificial_analysis": "glm-4-6-reasoning"})]
    monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", SENTINEL)
    with __import__("replay").ReplayServer([*CATALOGS, "huggingface_models.yaml", "huggingface_config.yaml"]) as server:
        online = Pipeline(_config(workdir, server, models)).run()
        assert online[0].status == "written"
    first = json.loads((workdir / "out" / "GLM-4.6 Reasoning_filled.json").read_text())

    def refuse(*args, **kwargs):
        raise OSError("networking disabled")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("ARTIFICIAL_ANALYSIS_API_KEY")
    config = _config(workdir, server, models)
    config.offline = True
    results = Pipeline(config).run()
    assert [r.status for r in results] == ["unchanged"]  # the file already says this
    assert json.loads((workdir / "out" / "GLM-4.6 Reasoning_filled.json").read_text()) == first
    assert first["model_specs"]["architecture"] == "moe"


def test_missing_key_skips_the_source_with_one_clear_line(workdir):
    (workdir / "c.yaml").write_text(yaml.safe_dump({"template_path": "templates/template.json", "max_retries": 0}))
    with __import__("replay").ReplayServer(CATALOGS) as server:
        data = yaml.safe_load((workdir / "c.yaml").read_text())
        data["sources"] = server.sources(only=CORE)
        data["models"] = [{"name": "Claude 3.5 Haiku"}]
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        result = cli("run", "-c", "c.yaml")
        assert server.count("/api/v2/") == 0
    assert "artificial_analysis: skipped, no key (set ARTIFICIAL_ANALYSIS_API_KEY)" in result.output
    assert result.exit_code == 0, result.output


def test_redirected_hugging_face_repo_keeps_the_final_id(workdir):
    models = [ModelInfo("BERT", hf_id="bert-base-uncased/x")]
    with __import__("replay").ReplayServer([]) as server:
        server.route(
            "/api/models/bert-base-uncased/x", 307, b"", {"Location": "/api/models/google-bert/bert-base-uncased"}
        )
        server.route(
            "/api/models/google-bert/bert-base-uncased",
            200,
            {
                "id": "google-bert/bert-base-uncased",
                "downloads": 50,
                "likes": 5,
                "createdAt": "2022-03-02T23:29:04.000Z",
            },
        )
        Pipeline(_config(workdir, server, models)).run()
    config = _config(workdir, server, models)
    config.offline = True
    pipeline = Pipeline(config)
    pipeline.transform()
    row = pipeline.store.staged("BERT", "hf_score")[0]
    assert row["url"].endswith("/api/models/google-bert/bert-base-uncased")


@pytest.mark.parametrize("via", ["env", "flag"])
def test_a_sentinel_key_lands_nowhere_but_the_request_header(workdir, monkeypatch, capsys, via):
    with __import__("replay").ReplayServer([*CATALOGS, "huggingface_models.yaml", "huggingface_config.yaml"]) as server:
        data = {
            "template_path": "templates/template.json",
            "cache_path": "store/etl.sqlite",
            "output_dir": "out",
            "sources": server.sources(only=CORE),
            "max_retries": 0,
            "models": [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}, {"name": "Ghost", "hf_id": "nobody/ghost"}],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        server.route("/api/v1/models", 401, {"error": f"Invalid API key. {SENTINEL}"})  # a server echoing the key
        args = ["run", "-c", "c.yaml", "-v"]
        if via == "env":
            monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", SENTINEL)
            monkeypatch.setenv("HUGGINGFACE_API_KEY", SENTINEL)
        else:
            args += ["--aa-key", SENTINEL, "--hf-key", SENTINEL]
        result = cli(*args)
        sent = [r["headers"] for r in server.log]
    # the key did travel, in its header only (so the greps below are not vacuous)
    assert any(h.get("x-api-key") == SENTINEL for h in sent)
    assert any(h.get("Authorization") == f"Bearer {SENTINEL}" for h in sent)
    assert result.exit_code == 1  # openrouter failed
    assert SENTINEL not in result.output
    assert SENTINEL not in capsys.readouterr().err
    for path in workdir.rglob("*"):
        if path.is_file() and path.name != "c.yaml":
            assert SENTINEL.encode() not in path.read_bytes(), path
    for cassette in CASSETTES.glob("*.yaml"):  # recordings carry no key and no auth header at all
        text = cassette.read_text().lower()
        assert SENTINEL.lower() not in text and "x-api-key" not in text and "authorization" not in text, cassette
