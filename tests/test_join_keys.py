"""Join keys discovered from the catalogs (a folder of model files has no hf_id): the same values
as with explicit ids, ambiguity when catalogs disagree, and exactly the per-model requests."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import EXAMPLES
from helpers import cli, config_dict, config_for
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig

HF_FIELDS = [("community_score", "hf_score"), ("model_specs", "param_count"), ("model_specs", "architecture")]
LINKED = ["DeepSeek V3", "GLM-4.6", "Llama 3.1 70B Instruct", "Qwen2.5 72B Instruct"]  # a catalog publishes their repo


def _fields(folder, name):
    data = json.loads((folder / f"{name}_filled.json").read_text())
    return {f"{s}.{f}": data[s][f] for s, f in HF_FIELDS}


def test_a_folder_without_hf_ids_gets_the_hugging_face_fields_a_catalog_links(example_config, workdir):
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    explicit = {name: _fields(workdir / "out", name) for name in LINKED}
    folder = workdir / "Models"
    folder.mkdir()
    template = json.loads((EXAMPLES / "templates" / "template.json").read_text())
    for model in yaml.safe_load((EXAMPLES / "config.yaml").read_text())["models"]:
        name = model if isinstance(model, str) else model["name"]
        (folder / f"{name}.json").write_text(json.dumps(template))  # no hf_id anywhere
    pins = {"models": [{"name": "Llama 3.1 70B Instruct", "ids": {"lmarena": "Meta-Llama-3.1-70B-Instruct"}}]}
    data = yaml.safe_load(example_config.read_text())
    (workdir / "folder.yaml").write_text(
        yaml.safe_dump({**pins, "input_dir": "Models", "output_dir": "folder_out", "cache_path": data["cache_path"]})
    )
    result = cli("run", "-c", "folder.yaml", "--offline")
    assert result.exit_code == 0, result.output
    for name in LINKED:
        found = _fields(workdir / "folder_out", name)
        assert found == explicit[name], name
        assert all(v is not None for v in found.values()), name
    explained = cli("explain", "-c", "folder.yaml", "--offline", "DeepSeek V3", "hf_score").output
    assert (
        '"hf_id_from": "hf_id deepseek-ai/DeepSeek-V3 from openrouter entry deepseek/deepseek-chat (hugging_face_id)'
        in explained
    )
    matched = cli("match", "-c", "folder.yaml", "--offline", "--write-pins", "pins.yaml").output
    assert "deepseek-ai/DeepSeek-V3 (deepseek-ai/DeepSeek-V3) by join:hf_id (discovered)" in matched
    pins_file = (workdir / "pins.yaml").read_text()
    assert (
        '  huggingface: "deepseek-ai/DeepSeek-V3"  # discovered: hf_id deepseek-ai/DeepSeek-V3 from openrouter'
        in pins_file
    )


def _catalogs(server, openrouter_repo, bigcode_link):
    server.route(
        "/api/v1/models",
        body={"data": [{"id": "acme/foo-1", "name": "Acme: Foo 1", "hugging_face_id": openrouter_repo}]},
    )
    server.route("/bigcodebench/results.json", body={"Foo-1": {"link": bigcode_link, "pass@1": {"complete": 50.0}}})
    for repo in {openrouter_repo, bigcode_link.removeprefix("https://huggingface.co/")}:
        body = {"id": repo, "downloads": 1000, "likes": 10, "createdAt": "2024-01-01T00:00:00Z"}
        server.route(f"/api/models/{repo}", body=body)
        server.route(f"/{repo}/resolve/main/config.json", body={"model_type": "llama"})


def test_catalogs_that_link_different_repos_leave_the_model_ambiguous(workdir):
    with ReplayServer() as server:
        _catalogs(server, "acme/foo-1", "https://huggingface.co/other/foo-1")
        only = ["openrouter", "bigcodebench", "huggingface", "huggingface_config"]
        config = PipelineConfig.from_dict(config_dict(server, only, models=["Foo 1"]), "test", base_dir=workdir)
        pipeline = Pipeline(config)
        pipeline.run()
        assert server.count("/api/models/") == 0 and server.count("/acme/") == 0 and server.count("/other/") == 0
    rows = {r["source"]: r for r in pipeline.store.matches("Foo 1")}
    assert rows["huggingface"]["status"] == "ambiguous"
    assert [c["id"] for c in rows["huggingface"]["candidates"]] == ["acme/foo-1", "other/foo-1"]
    assert "set hf_id in the config to choose" in rows["huggingface"]["note"]
    data = json.loads((workdir / "out" / "Foo 1_filled.json").read_text())
    assert data["community_score"]["hf_score"] is None


def test_a_discovered_key_costs_exactly_its_per_model_requests_and_a_warm_rerun_none(workdir):
    with ReplayServer() as server:
        _catalogs(server, "acme/foo-1", "https://huggingface.co/acme/foo-1")
        only = ["openrouter", "bigcodebench", "huggingface", "huggingface_config"]
        data = config_dict(server, only, models=["Foo 1", "Bar"])
        first = Pipeline(PipelineConfig.from_dict(data, "test", base_dir=workdir))
        first.run()
        assert server.count("/api/v1/models") == 1 and server.count("/bigcodebench/") == 1
        # "Bar" is unmatched everywhere and has no key: only Foo 1's two per-model requests
        assert server.count("/api/models/acme/foo-1") == 1 and server.count("/acme/foo-1/resolve/") == 1
        assert len(server.log) == 4
        second = Pipeline(PipelineConfig.from_dict(data, "test", base_dir=workdir))
        second.run()
        assert len(server.log) == 4 and second.last_extract.sent == 0
    shutil.rmtree(workdir / "out")
    offline = PipelineConfig.from_dict(data, "test", base_dir=workdir)
    offline.offline = True
    Pipeline(offline).run()
    assert json.loads((workdir / "out" / "Foo 1_filled.json").read_text())["model_specs"]["architecture"] == "dense"


def test_a_discovered_key_whose_repo_name_is_not_the_entry_is_refused_with_its_reason(workdir):
    """foo-1-GGUF is not "Foo 1": refused where it is published, before any request for it."""
    with ReplayServer() as server:
        _catalogs(server, "acme/foo-1-GGUF", "https://huggingface.co/acme/foo-1-GGUF")
        only = ["openrouter", "bigcodebench", "huggingface", "huggingface_config"]
        pipeline = Pipeline(
            PipelineConfig.from_dict(config_dict(server, only, models=["Foo 1"]), "t", base_dir=workdir)
        )
        pipeline.run()
        assert server.count("/api/models/") == 0 and server.count("/resolve/") == 0
    rows = {r["source"]: r for r in pipeline.store.matches("Foo 1")}
    why = "its repo name has other tokens than the entry (extra token 'gguf')"
    assert rows["openrouter"]["status"] == "matched"
    assert rows["openrouter"]["note"] == (
        f"refused hf_id acme/foo-1-GGUF from openrouter entry acme/foo-1 (hugging_face_id): {why}"
    )
    assert rows["huggingface"]["status"] == "skipped"
    assert rows["huggingface"]["note"].startswith("model has no hf_id; refused hf_id acme/foo-1-GGUF from openrouter")
    data = json.loads((workdir / "out" / "Foo 1_filled.json").read_text())
    assert data["model_specs"]["param_count"] is None and data["model_specs"]["architecture"] is None


def _derivative_run(workdir, tags):
    with ReplayServer() as server:
        _catalogs(server, "acme/Foo-1", "https://huggingface.co/acme/Foo-1")
        info = {"id": "acme/Foo-1", "downloads": 5, "likes": 1, "createdAt": "2024-01-01T00:00:00Z"}
        server.route("/api/models/acme/Foo-1", body=info | {"tags": tags, "safetensors": {"total": 1000}})
        only = ["openrouter", "bigcodebench", "huggingface", "huggingface_config"]
        pipeline = Pipeline(
            PipelineConfig.from_dict(config_dict(server, only, models=["Foo 1"]), "t", base_dir=workdir)
        )
        pipeline.run()
    return {r["source"]: r for r in pipeline.store.matches("Foo 1")}


def test_a_discovered_key_to_a_quantisation_or_another_orgs_finetune_is_refused(workdir):
    for tag in ("base_model:quantized:acme/foo-1-base", "base_model:finetune:other-org/Foo-1"):
        rows = _derivative_run(workdir, ["gguf", tag])
        for source in ("huggingface", "huggingface_config"):
            assert rows[source]["status"] == "unmatched", tag
            assert rows[source]["note"] == (
                f"the discovered repo acme/Foo-1 is a derivative ({tag}), not this model; set hf_id to use it"
            )


def test_the_developers_own_instruct_repo_of_its_base_is_not_a_derivative(workdir):
    """Qwen/Qwen2.5-7B-Instruct says base_model:finetune:Qwen/Qwen2.5-7B; gemma-3-1b-it likewise."""
    rows = _derivative_run(workdir, ["base_model:finetune:acme/Foo-1-base", "base_model:acme/Foo-1-base"])
    assert rows["huggingface"]["status"] == "matched" and rows["huggingface"]["entry_id"] == "acme/Foo-1"
    data = json.loads((workdir / "out" / "Foo 1_filled.json").read_text())
    assert data["model_specs"]["param_count"] is not None  # from the safetensors total


def test_a_key_shared_by_several_entries_keeps_the_entry_the_name_matched(workdir):
    """Issue 18: two entries publish one repo; the key discovered from the one the model matched by
    name must not make it ambiguous (it would lose its price and context window)."""
    price = {"pricing": {"prompt": "0.000001", "completion": "0.000002"}, "context_length": 8192}
    entries = [
        {"id": "acme/foo-1", "name": "Acme: Foo 1", "hugging_face_id": "acme/Foo-1", **price},
        {"id": "acme/foo-1-fast", "name": "Acme: Foo 1 Fast", "hugging_face_id": "acme/Foo-1", **price},
    ]
    with ReplayServer() as server:
        server.route("/api/v1/models", body={"data": entries})
        server.route("/api/models/acme/Foo-1", body={"id": "acme/Foo-1", "downloads": 5, "likes": 1})
        server.route("/acme/Foo-1/resolve/main/config.json", body={"model_type": "llama"})
        only = ["openrouter", "huggingface", "huggingface_config"]
        data = config_dict(server, only, models=["Foo 1", "Foo 1 Fast"])
        pipeline = Pipeline(PipelineConfig.from_dict(data, "t", base_dir=workdir))
        pipeline.run()
    foo = {r["source"]: r for r in pipeline.store.matches("Foo 1")}
    assert (foo["openrouter"]["status"], foo["openrouter"]["entry_id"]) == ("matched", "acme/foo-1")
    assert foo["openrouter"]["note"].startswith("2 entries publish acme/Foo-1; this one by its name")
    assert foo["huggingface"]["status"] == "matched"
    written = json.loads((workdir / "out" / "Foo 1_filled.json").read_text())["model_specs"]
    assert written["input_price"] == 1.0 and written["context_window"] == 8192
    fast = {r["source"]: r for r in pipeline.store.matches("Foo 1 Fast")}  # its repo name lacks 'fast'
    assert fast["openrouter"]["entry_id"] == "acme/foo-1-fast"
    assert "refused hf_id acme/Foo-1" in fast["openrouter"]["note"]


def test_a_key_another_catalog_publishes_for_another_entry_is_refused(workdir):
    """OpenRouter's Foo 1 publishes acme/Foo-1, but BigCodeBench publishes that repo for "Foo-1-Base",
    while the model's name there is "Foo-1": the key disagrees with that catalog and is not used."""
    with ReplayServer() as server:
        entry = {"id": "acme/foo-1", "name": "Acme: Foo 1", "hugging_face_id": "acme/Foo-1"}
        server.route("/api/v1/models", body={"data": [entry]})
        bigcode = {
            "Foo-1": {"pass@1": {"complete": 50.0}},
            "Foo-1-Base": {"link": "https://huggingface.co/acme/Foo-1", "pass@1": {"complete": 20.0}},
        }
        server.route("/bigcodebench/results.json", body=bigcode)
        only = ["openrouter", "bigcodebench", "huggingface", "huggingface_config"]
        pipeline = Pipeline(
            PipelineConfig.from_dict(config_dict(server, only, models=["Foo 1"]), "t", base_dir=workdir)
        )
        pipeline.run()
        assert server.count("/api/models/") == 0
    rows = {r["source"]: r for r in pipeline.store.matches("Foo 1")}
    assert (rows["bigcodebench"]["status"], rows["bigcodebench"]["entry_id"]) == ("matched", "Foo-1")
    assert rows["openrouter"]["note"] == (
        "refused hf_id acme/Foo-1 from openrouter entry acme/foo-1 (hugging_face_id): "
        "bigcodebench publishes it for Foo-1-Base, but the model's name is Foo-1 there"
    )
    assert rows["huggingface"]["status"] == "skipped"


@pytest.mark.parametrize("published", ["acme/..", "https://huggingface.co/acme/.."])
def test_a_catalog_published_repo_id_with_dot_segments_is_not_a_join_key(workdir, published):
    """catalogs.REPO_ID accepts 'acme/..' (the config schema's hf_id pattern refuses '..'):
    Hugging Face is then asked for /api/models/ (every model) and /resolve/main/config.json."""
    with ReplayServer() as server:
        entry = {"id": "acme/m", "name": "M", "hugging_face_id": published}
        server.route("/api/v1/models", body={"data": [entry]})
        only = ["openrouter", "huggingface", "huggingface_config"]
        Pipeline(config_for(workdir, server, [ModelInfo("M")], only=only)).run()
        paths = [r["path"] for r in server.log]
    assert paths == ["/api/v1/models"]
